// Launchers of the CUDA dispersion kernels, on raw device pointers (row-major, contiguous).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace omasgan::gpu {

// Bytes of device scratch for the forward (per-block partial sums) and the backward (two [n, n] weights).
template <typename T>
int64_t dispersion_workspace_bytes(int64_t n);
template <typename T>
int64_t dispersion_backward_workspace_bytes(int64_t n);

// out[0] = 1/(n(n-1)) sum_{i != j} ||z_i - z_j||_p^q / (eps + ||b_i - b_j||_p^q); z: [n, dz], b: [n, db], n >= 2.
template <typename T>
cudaError_t dispersion(const T* z, int64_t dz, const T* b, int64_t db, int64_t n, double p, double q, double eps,
                       void* workspace, T* out, cudaStream_t stream);

// grad_z [n, dz], grad_b [n, db] of grad[0] * dispersion(z, b); grad points to device memory.
template <typename T>
cudaError_t dispersion_backward(const T* grad, const T* z, int64_t dz, const T* b, int64_t db, int64_t n, double p,
                                double q, double eps, void* workspace, T* grad_z, T* grad_b, cudaStream_t stream);

}  // namespace omasgan::gpu

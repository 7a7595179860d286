// Launchers of the CUDA pairwise_distance kernels, on raw device pointers (row-major, contiguous).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace omasgan::gpu {

// out[i, j] = ||x_i - y_j||_p^q; x: [n, d], y: [m, d], out: [n, m].
template <typename T>
cudaError_t pairwise_distance(const T* x, int64_t n, const T* y, int64_t m, int64_t d, double p, double q, T* out,
                              cudaStream_t stream);

// Bytes of device scratch that pairwise_distance_backward needs: one [n, m] weight matrix.
template <typename T>
int64_t pairwise_distance_backward_workspace_bytes(int64_t n, int64_t m);

// grad_x [n, d] and grad_y [m, d] of sum_ij grad[i, j] dist[i, j], dist = pairwise_distance(x, y, p, q).
template <typename T>
cudaError_t pairwise_distance_backward(const T* grad, const T* x, int64_t n, const T* y, int64_t m, int64_t d,
                                       const T* dist, double p, double q, void* workspace, T* grad_x, T* grad_y,
                                       cudaStream_t stream);

// The contraction shared with dispersion: given w[n, m] = dL/d dist_ij * q ||u_ij||^(q-p) (zero where
// u_ij = x_i - y_j = 0), grad_x[i] = sum_j w_ij phi(u_ij) and grad_y[j] = -sum_i w_ij phi(u_ij), with
// phi(u)_k = sign(u_k) |u_k|^(p-1) (for p = inf: sign(u_k) at the first k of largest |u_k|, else 0).
// symmetric: y == x and w == w^T; then grad_x receives the sum of both (2 sum_j w_ij phi(u_ij)) and
// grad_y is not used.
template <typename T>
cudaError_t pairwise_grad_from_weights(const T* w, const T* x, int64_t n, const T* y, int64_t m, int64_t d, double p,
                                       bool symmetric, T* grad_x, T* grad_y, cudaStream_t stream);

}  // namespace omasgan::gpu

// Launchers of the CUDA f-divergence bound kernels, on raw device pointers.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace omasgan::gpu {

// Bytes of device scratch (per-block partial sums) for n_p + n_q values.
int64_t f_divergence_bound_workspace_bytes(int64_t n_p, int64_t n_q);

// value[0] = mean g(v_p) - mean f*(g(v_q)) for the divergence `code` (omasgan.divergences._TABLE order).
template <typename T>
cudaError_t f_divergence_bound(const T* v_p, int64_t n_p, const T* v_q, int64_t n_q, int code, void* workspace,
                               T* value, cudaStream_t stream);

// grad_p = grad[0] g'(v_p) / n_p and grad_q = -grad[0] (f* o g)'(v_q) / n_q; grad is a device scalar.
template <typename T>
cudaError_t f_divergence_bound_backward(const T* grad, const T* v_p, int64_t n_p, const T* v_q, int64_t n_q, int code,
                                        T* grad_p, T* grad_q, cudaStream_t stream);

}  // namespace omasgan::gpu

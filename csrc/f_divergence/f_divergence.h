// f_divergence's entry points, one header for both halves: CPU in cpu/f_divergence_cpu.cpp, CUDA in
// cuda/f_divergence_binding.cpp (compiled only where nvcc is there); csrc/ext.cpp binds them as
// omasgan._C.<name>_cpu / <name>_cuda. Inputs: contiguous tensors on the half's device, all float32
// or all float64 (omasgan/ops/_common.py's kernel contract). .cu files include cuda/f_divergence.h (raw
// pointers, no torch headers), never this one.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <tuple>

namespace omasgan {

// v_p: [Np], v_q: [Nq] -> 0-d: mean g(v_p) - mean f*(g(v_q)) for the divergence `code`.
at::Tensor f_divergence_bound_cpu(const at::Tensor& v_p, const at::Tensor& v_q, int64_t code);
// grad: 0-d -> (grad_p [Np] = grad g'(v_p) / Np, grad_q [Nq] = -grad (f* o g)'(v_q) / Nq).
std::tuple<at::Tensor, at::Tensor> f_divergence_bound_backward_cpu(const at::Tensor& grad, const at::Tensor& v_p,
                                                                   const at::Tensor& v_q, int64_t code);

at::Tensor f_divergence_bound_cuda(const at::Tensor& v_p, const at::Tensor& v_q, int64_t code);
std::tuple<at::Tensor, at::Tensor> f_divergence_bound_backward_cuda(const at::Tensor& grad, const at::Tensor& v_p,
                                                                    const at::Tensor& v_q, int64_t code);

}  // namespace omasgan

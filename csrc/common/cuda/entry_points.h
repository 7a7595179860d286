// The CUDA half's entry points, as bound to Python in register.cpp (suffix _cuda; see the kernel
// contract in omasgan/ops/_common.py). Each lives in csrc/<op>/cuda/<op>_binding.cpp.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <tuple>

namespace omasgan {

std::tuple<at::Tensor, at::Tensor> min_distance_cuda(const at::Tensor& x, const at::Tensor& bank, double p, double q);

at::Tensor pairwise_distance_cuda(const at::Tensor& x, const at::Tensor& y, double p, double q);
std::tuple<at::Tensor, at::Tensor> pairwise_distance_backward_cuda(const at::Tensor& grad, const at::Tensor& x,
                                                                   const at::Tensor& y, const at::Tensor& dist,
                                                                   double p, double q);

at::Tensor dispersion_cuda(const at::Tensor& z, const at::Tensor& b, double p, double q, double eps);
std::tuple<at::Tensor, at::Tensor> dispersion_backward_cuda(const at::Tensor& grad, const at::Tensor& z,
                                                            const at::Tensor& b, double p, double q, double eps);

at::Tensor f_divergence_bound_cuda(const at::Tensor& v_p, const at::Tensor& v_q, int64_t code);
std::tuple<at::Tensor, at::Tensor> f_divergence_bound_backward_cuda(const at::Tensor& grad, const at::Tensor& v_p,
                                                                    const at::Tensor& v_q, int64_t code);

}  // namespace omasgan

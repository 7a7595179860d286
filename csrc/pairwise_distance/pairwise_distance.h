// pairwise_distance's entry points, one header for both halves: CPU in cpu/pairwise_distance_cpu.cpp, CUDA in
// cuda/pairwise_distance_binding.cpp (compiled only where nvcc is there); csrc/ext.cpp binds them as
// omasgan._C.<name>_cpu / <name>_cuda. Inputs: contiguous tensors on the half's device, all float32
// or all float64 (omasgan/ops/_common.py's kernel contract). .cu files include cuda/pairwise_distance.h (raw
// pointers, no torch headers), never this one.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <tuple>

namespace omasgan {

// x: [N, D], y: [M, D] -> [N, M] = ||x_i - y_j||_p^q.
at::Tensor pairwise_distance_cpu(const at::Tensor& x, const at::Tensor& y, double p, double q);
// grad, dist: [N, M] -> (grad_x [N, D], grad_y [M, D]).
std::tuple<at::Tensor, at::Tensor> pairwise_distance_backward_cpu(const at::Tensor& grad, const at::Tensor& x,
                                                                  const at::Tensor& y, const at::Tensor& dist,
                                                                  double p, double q);

at::Tensor pairwise_distance_cuda(const at::Tensor& x, const at::Tensor& y, double p, double q);
std::tuple<at::Tensor, at::Tensor> pairwise_distance_backward_cuda(const at::Tensor& grad, const at::Tensor& x,
                                                                   const at::Tensor& y, const at::Tensor& dist,
                                                                   double p, double q);

}  // namespace omasgan

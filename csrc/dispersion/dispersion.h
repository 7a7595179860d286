// dispersion's entry points, one header for both halves: CPU in cpu/dispersion_cpu.cpp, CUDA in
// cuda/dispersion_binding.cpp (compiled only where nvcc is there); csrc/ext.cpp binds them as
// omasgan._C.<name>_cpu / <name>_cuda. Inputs: contiguous tensors on the half's device, all float32
// or all float64 (omasgan/ops/_common.py's kernel contract). .cu files include cuda/dispersion.h (raw
// pointers, no torch headers), never this one.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <tuple>

namespace omasgan {

// z: [N, Dz], b: [N, Db] -> 0-d: mean over i != j of ||z_i - z_j||_p^q / (eps + ||b_i - b_j||_p^q).
at::Tensor dispersion_cpu(const at::Tensor& z, const at::Tensor& b, double p, double q, double eps);
// grad: 0-d -> (grad_z [N, Dz], grad_b [N, Db]).
std::tuple<at::Tensor, at::Tensor> dispersion_backward_cpu(const at::Tensor& grad, const at::Tensor& z,
                                                           const at::Tensor& b, double p, double q, double eps);

at::Tensor dispersion_cuda(const at::Tensor& z, const at::Tensor& b, double p, double q, double eps);
std::tuple<at::Tensor, at::Tensor> dispersion_backward_cuda(const at::Tensor& grad, const at::Tensor& z,
                                                            const at::Tensor& b, double p, double q, double eps);

}  // namespace omasgan

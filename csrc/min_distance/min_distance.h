// min_distance's entry points, one header for both halves: CPU in cpu/min_distance_cpu.cpp, CUDA in
// cuda/min_distance_binding.cpp (compiled only where nvcc is there); csrc/ext.cpp binds them as
// omasgan._C.<name>_cpu / <name>_cuda. Inputs: contiguous tensors on the half's device, all float32
// or all float64 (omasgan/ops/_common.py's kernel contract). .cu files include cuda/min_distance.h (raw
// pointers, no torch headers), never this one.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <tuple>

namespace omasgan {

// x: [N, D], bank: [Q, D] -> (values [N], indices [N] int64): min_j ||x_i - bank_j||_p^q, lowest j on ties.
std::tuple<at::Tensor, at::Tensor> min_distance_cpu(const at::Tensor& x, const at::Tensor& bank, double p, double q);

std::tuple<at::Tensor, at::Tensor> min_distance_cuda(const at::Tensor& x, const at::Tensor& bank, double p, double q);

}  // namespace omasgan

// The torch side of the CUDA entry points: argument checks, scratch allocation, the current stream.
// Only light ATen/c10 headers, so the binding files compile quickly.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdint>

#include "../checks.h"

namespace omasgan::cuda_glue {

inline void check_input(const at::Tensor& t, const char* name, int64_t dims) {
  omasgan::check_input(t, name, dims, c10::DeviceType::CUDA);
}

// Device scratch of `bytes` bytes on like's device, from torch's caching allocator.
inline at::Tensor workspace(int64_t bytes, const at::Tensor& like) {
  return at::empty({bytes}, like.options().dtype(at::kByte));
}

inline cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

}  // namespace omasgan::cuda_glue

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

#include <cmath>
#include <cstdint>

namespace omasgan::cuda_glue {

// t is a contiguous float32/float64 CUDA tensor with `dims` dimensions.
inline void check_input(const at::Tensor& t, const char* name, int64_t dims) {
  TORCH_CHECK(t.defined(), name, " is undefined");
  TORCH_CHECK(t.is_cuda(), name, " must be a CUDA tensor, got one on ", t.device());
  TORCH_CHECK(t.dim() == dims, name, " must be ", dims, "-D, got shape ", t.sizes());
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, name,
              " must be float32 or float64, got ", t.scalar_type());
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

// t sits on ref's device with ref's dtype.
inline void check_like(const at::Tensor& t, const char* name, const at::Tensor& ref, const char* ref_name) {
  TORCH_CHECK(t.device() == ref.device(), name, " and ", ref_name, " must be on one device, got ", t.device(),
              " and ", ref.device());
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), name, " and ", ref_name, " must share a dtype, got ",
              t.scalar_type(), " and ", ref.scalar_type());
}

inline void check_same_width(const at::Tensor& a, const char* a_name, const at::Tensor& b, const char* b_name) {
  TORCH_CHECK(a.size(1) == b.size(1), a_name, " and ", b_name, " must have the same number of columns, got ",
              a.size(1), " and ", b.size(1));
}

inline void check_p_q(double p, double q) {
  TORCH_CHECK(p >= 1.0, "p must be in [1, inf], got ", p);  // also rejects NaN
  TORCH_CHECK(q > 0.0 && std::isfinite(q), "q must be a finite number > 0, got ", q);
}

// Device scratch of `bytes` bytes on like's device, from torch's caching allocator.
inline at::Tensor workspace(int64_t bytes, const at::Tensor& like) {
  return at::empty({bytes}, like.options().dtype(at::kByte));
}

inline cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

}  // namespace omasgan::cuda_glue

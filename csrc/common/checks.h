// Argument checks of the C++ entry points: a misuse from Python raises, it never crashes.
#pragma once

#include <ATen/core/Tensor.h>

#include <cmath>

namespace omasgan {

// t is a contiguous float32/float64 tensor on a `device` device with `dims` dimensions.
inline void check_input(const at::Tensor& t, const char* name, int64_t dims, c10::DeviceType device) {
  TORCH_CHECK(t.defined(), name, " is undefined");
  TORCH_CHECK(t.device().type() == device, name, " must be a ", c10::DeviceTypeName(device),
              " tensor, got one on ", t.device());
  TORCH_CHECK(t.dim() == dims, name, " must be ", dims, "-D, got shape ", t.sizes());
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, name,
              " must be float32 or float64, got ", t.scalar_type());
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

inline void check_cpu_input(const at::Tensor& t, const char* name, int64_t dims) {
  check_input(t, name, dims, c10::DeviceType::CPU);
}

inline void check_same_dtype(const at::Tensor& a, const char* a_name, const at::Tensor& b, const char* b_name) {
  TORCH_CHECK(a.scalar_type() == b.scalar_type(), a_name, " and ", b_name, " must share a dtype, got ",
              a.scalar_type(), " and ", b.scalar_type());
}

inline void check_same_width(const at::Tensor& a, const char* a_name, const at::Tensor& b, const char* b_name) {
  TORCH_CHECK(a.size(1) == b.size(1), a_name, " and ", b_name, " must have the same number of columns, got ",
              a.size(1), " and ", b.size(1));
}

inline void check_p_q(double p, double q) {
  TORCH_CHECK(p >= 1.0, "p must be in [1, inf], got ", p);  // also rejects NaN
  TORCH_CHECK(q > 0.0 && std::isfinite(q), "q must be a finite number > 0, got ", q);
}

}  // namespace omasgan

// Argument checks of the C++ entry points: a misuse from Python raises, it never crashes.
#pragma once

#include <ATen/core/Tensor.h>

#include "op_constants.h"

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

// t sits on ref's device with ref's dtype.
inline void check_like(const at::Tensor& t, const char* name, const at::Tensor& ref, const char* ref_name) {
  TORCH_CHECK(t.device() == ref.device(), name, " and ", ref_name, " must be on one device, got ", t.device(),
              " and ", ref.device());
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), name, " and ", ref_name, " must share a dtype, got ",
              t.scalar_type(), " and ", ref.scalar_type());
}

// The arguments of the dispersion entry points, forward and backward, CPU and CUDA alike.
inline void check_dispersion_args(const at::Tensor& z, const at::Tensor& b, double p, double q, double eps,
                                  c10::DeviceType device) {
  check_input(z, "z", 2, device);
  check_input(b, "b", 2, device);
  check_like(b, "b", z, "z");
  TORCH_CHECK(z.size(0) == b.size(0), "z and b must have the same number of rows, got ", z.size(0), " and ",
              b.size(0));
  TORCH_CHECK(z.size(0) >= 2, "dispersion needs at least 2 rows, got ", z.size(0));
  check_p_q(p, q);
  TORCH_CHECK(eps > 0.0 && std::isfinite(eps), "eps must be a finite number > 0, got ", eps);
}

// The 0-d upstream gradient of a backward entry point: one value on ref's device.
inline void check_upstream_grad(const at::Tensor& grad, const at::Tensor& ref, const char* ref_name) {
  TORCH_CHECK(grad.defined() && grad.numel() == 1, "grad must hold one value, got shape ", grad.sizes());
  TORCH_CHECK(grad.device() == ref.device(), "grad and ", ref_name, " must be on one device, got ", grad.device(),
              " and ", ref.device());
}

// kDivergenceCount, the number of divergences in omasgan.divergences._TABLE (a `code` indexes it):
// op_constants.h.

// The arguments of the f_divergence_bound entry points, forward and backward, CPU and CUDA alike.
inline void check_f_divergence_args(const at::Tensor& v_p, const at::Tensor& v_q, int64_t code,
                                    c10::DeviceType device) {
  check_input(v_p, "v_p", 1, device);
  check_input(v_q, "v_q", 1, device);
  check_like(v_q, "v_q", v_p, "v_p");
  TORCH_CHECK(v_p.numel() > 0 && v_q.numel() > 0, "v_p and v_q must hold at least one value each, got ",
              v_p.numel(), " and ", v_q.numel());
  TORCH_CHECK(code >= 0 && code < kDivergenceCount, "code must index omasgan.divergences._TABLE (0..",
              kDivergenceCount - 1, "), got ", code);
}

}  // namespace omasgan

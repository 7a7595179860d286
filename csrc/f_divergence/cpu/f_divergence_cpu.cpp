// f_divergence_bound on the CPU: bound = mean g(v_p) - mean f*(g(v_q)) and both gradients, in one
// vectorised pass over each input. The divergence is a template parameter, so the switch on its
// code runs once per call, not per element. Means accumulate in float64: each fixed block of
// values is summed in vector lanes, then added to a double; blocks are summed in order, so the
// result does not depend on the thread count.
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <cmath>
#include <vector>

#include "../../common/checks.h"
#include "../../common/cpu_ops.h"

namespace omasgan {
namespace {

constexpr int64_t kBlock = 4096;  // values per float64 partial sum
constexpr double kLog2 = 0.693147180559945309417232121458176568;

enum Code { KL, REVERSE_KL, PEARSON, NEYMAN, SQUARED_HELLINGER, JENSEN_SHANNON, GAN, TOTAL_VARIATION, N_CODES };

template <typename Vec>
Vec softplus(const Vec& v) {  // max(v, 0) + log1p(exp(-|v|)): no overflow for any v
  return at::vec::maximum(v, Vec(0)) + v.abs().neg().exp().log1p();
}

template <typename Vec>
Vec sigmoid(const Vec& v) {  // exp(-v) = inf gives 0, the right limit
  return Vec(1) / (Vec(1) + v.neg().exp());
}

// g(v) and g'(v), the P side of the bound (METHOD.md section 1, omasgan/divergences.py).
template <int C, typename Vec>
void p_side(const Vec& v, Vec& value, Vec& grad) {
  if constexpr (C == KL || C == PEARSON) {
    value = v;
    grad = Vec(1);
  } else if constexpr (C == REVERSE_KL) {
    grad = v.neg().exp();
    value = grad.neg();
  } else if constexpr (C == NEYMAN || C == SQUARED_HELLINGER) {
    value = v.neg().expm1().neg();
    grad = v.neg().exp();
  } else if constexpr (C == JENSEN_SHANNON || C == GAN) {
    value = softplus(v.neg()).neg() + Vec(C == JENSEN_SHANNON ? kLog2 : 0.0);
    grad = sigmoid(v.neg());
  } else {  // TOTAL_VARIATION
    const Vec t = v.tanh();
    value = t * Vec(0.5);
    grad = (Vec(1) - t * t) * Vec(0.5);
  }
}

// f*(g(v)) and its derivative in v, the Q side, in the stable closed forms.
template <int C, typename Vec>
void q_side(const Vec& v, Vec& value, Vec& grad) {
  if constexpr (C == KL) {
    value = (v - Vec(1)).exp();
    grad = value;
  } else if constexpr (C == REVERSE_KL) {
    value = v - Vec(1);
    grad = Vec(1);
  } else if constexpr (C == PEARSON) {
    value = v * v * Vec(0.25) + v;
    grad = v * Vec(0.5) + Vec(1);
  } else if constexpr (C == NEYMAN) {
    const Vec half = v * Vec(-0.5);
    value = half.expm1() * Vec(-2);
    grad = half.exp();
  } else if constexpr (C == SQUARED_HELLINGER) {
    value = v.expm1();
    grad = v.exp();
  } else if constexpr (C == JENSEN_SHANNON || C == GAN) {
    value = softplus(v) - Vec(C == JENSEN_SHANNON ? kLog2 : 0.0);
    grad = sigmoid(v);
  } else {  // TOTAL_VARIATION
    const Vec t = v.tanh();
    value = t * Vec(0.5);
    grad = (Vec(1) - t * t) * Vec(0.5);
  }
}

// Sum of side(v) over v[0, n); grad[k] = scale * side'(v[k]) when grad is not null.
template <typename T, typename Side>
double sum_and_grad(const T* v, int64_t n, T* grad, T scale, const Side& side) {
  using Vec = at::vec::Vectorized<T>;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(blocks);
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    const Vec scale_v(scale);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t end = std::min(n, (b + 1) * kBlock);
      Vec acc(T(0));
      for (int64_t k = b * kBlock; k < end; k += Vec::size()) {
        const int64_t count = std::min<int64_t>(Vec::size(), end - k);
        Vec value, slope;
        side(Vec::loadu(v + k, count), value, slope);
        acc = acc + Vec::set(Vec(T(0)), value, count);  // padding lanes contribute nothing
        if (grad != nullptr) (slope * scale_v).store(grad + k, count);
      }
      T lanes[Vec::size()];
      acc.store(lanes);
      double s = 0.0;
      for (int64_t l = 0; l < Vec::size(); ++l) s += lanes[l];
      partial[b] = s;
    }
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

template <int C, typename T>
double bound(const T* v_p, int64_t n_p, const T* v_q, int64_t n_q, T* grad_p, T* grad_q) {
  using Vec = at::vec::Vectorized<T>;
  const auto p = [](const Vec& v, Vec& value, Vec& grad) { p_side<C>(v, value, grad); };
  const auto q = [](const Vec& v, Vec& value, Vec& grad) { q_side<C>(v, value, grad); };
  const double mean_p = sum_and_grad(v_p, n_p, grad_p, T(1.0 / n_p), p) / n_p;
  const double mean_q = sum_and_grad(v_q, n_q, grad_q, T(-1.0 / n_q), q) / n_q;
  return mean_p - mean_q;
}

template <typename T, int C = 0>
double bound_for_code(int64_t code, const T* v_p, int64_t n_p, const T* v_q, int64_t n_q, T* grad_p, T* grad_q) {
  if constexpr (C < N_CODES) {
    if (code == C) return bound<C, T>(v_p, n_p, v_q, n_q, grad_p, grad_q);
    return bound_for_code<T, C + 1>(code, v_p, n_p, v_q, n_q, grad_p, grad_q);
  }
  TORCH_CHECK(false, "unknown divergence code ", code);
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> f_divergence_bound_cpu(const at::Tensor& v_p, const at::Tensor& v_q,
                                                                      int64_t code, bool need_grad) {
  check_cpu_input(v_p, "v_p", 1);
  check_cpu_input(v_q, "v_q", 1);
  check_same_dtype(v_p, "v_p", v_q, "v_q");
  TORCH_CHECK(v_p.numel() > 0 && v_q.numel() > 0, "v_p and v_q must hold at least one value each");
  TORCH_CHECK(code >= 0 && code < N_CODES, "code must index omasgan.divergences._TABLE (0..", N_CODES - 1,
              "), got ", code);
  at::Tensor grad_p = at::empty({need_grad ? v_p.numel() : 0}, v_p.options());
  at::Tensor grad_q = at::empty({need_grad ? v_q.numel() : 0}, v_q.options());
  at::Tensor value = at::empty({}, v_p.options());
  AT_DISPATCH_FLOATING_TYPES(v_p.scalar_type(), "f_divergence_bound_cpu", [&] {
    const double b = bound_for_code<scalar_t>(code, v_p.data_ptr<scalar_t>(), v_p.numel(), v_q.data_ptr<scalar_t>(),
                                              v_q.numel(), need_grad ? grad_p.data_ptr<scalar_t>() : nullptr,
                                              need_grad ? grad_q.data_ptr<scalar_t>() : nullptr);
    value.fill_(b);
  });
  return {value, grad_p, grad_q};
}

}  // namespace omasgan

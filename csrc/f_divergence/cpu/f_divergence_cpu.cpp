// f_divergence_bound on the CPU. Forward: bound = mean g(v_p) - mean f*(g(v_q)), one vectorised pass
// over each input. Backward: both gradients, already multiplied by the incoming gradient, in one
// pass that writes each output once. Means accumulate in float64: each fixed block of values is
// summed in vector lanes, then added to a double; blocks are summed in order, so the result does
// not depend on the thread count.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "../f_divergence.h"
#include "../../common/checks.h"

namespace omasgan {
namespace {

constexpr int64_t kBlock = 4096;  // values per float64 partial sum
constexpr double kLog2 = 0.693147180559945309417232121458176568;

// Divergence codes (kKL ... kTotalVariation, kDivergenceCount): common/op_constants.h.

template <typename Vec>
Vec softplus(const Vec& v) {  // max(v, 0) + log1p(exp(-|v|)): no overflow for any v
  return at::vec::maximum(v, Vec(0)) + v.abs().neg().exp().log1p();
}

template <typename Vec>
Vec sigmoid(const Vec& v) {  // exp(-v) = inf gives 0, the right limit
  return Vec(1) / (Vec(1) + v.neg().exp());
}

// The P side of the bound, g(v), and its derivative (METHOD.md section 1, omasgan/divergences.py).
template <int C, typename Vec>
Vec p_value(const Vec& v) {
  if constexpr (C == kKL || C == kPearson) {
    return v;
  } else if constexpr (C == kReverseKL) {
    return v.neg().exp().neg();
  } else if constexpr (C == kNeyman || C == kSquaredHellinger) {
    return v.neg().expm1().neg();
  } else if constexpr (C == kJensenShannon || C == kGAN) {
    return softplus(v.neg()).neg() + Vec(C == kJensenShannon ? kLog2 : 0.0);
  } else {  // kTotalVariation
    return v.tanh() * Vec(0.5);
  }
}

template <int C, typename Vec>
Vec p_slope(const Vec& v) {
  if constexpr (C == kKL || C == kPearson) {
    return Vec(1);
  } else if constexpr (C == kReverseKL || C == kNeyman || C == kSquaredHellinger) {
    return v.neg().exp();
  } else if constexpr (C == kJensenShannon || C == kGAN) {
    return sigmoid(v.neg());
  } else {  // kTotalVariation
    const Vec t = v.tanh();
    return (Vec(1) - t * t) * Vec(0.5);
  }
}

// The Q side, f*(g(v)) in the stable closed forms, and its derivative in v.
template <int C, typename Vec>
Vec q_value(const Vec& v) {
  if constexpr (C == kKL) {
    return (v - Vec(1)).exp();
  } else if constexpr (C == kReverseKL) {
    return v - Vec(1);
  } else if constexpr (C == kPearson) {
    return v * (v * Vec(0.25) + Vec(1));  // v^2/4 + v without the overflow of v * v
  } else if constexpr (C == kNeyman) {
    return (v * Vec(-0.5)).expm1() * Vec(-2);
  } else if constexpr (C == kSquaredHellinger) {
    return v.expm1();
  } else if constexpr (C == kJensenShannon || C == kGAN) {
    return softplus(v) - Vec(C == kJensenShannon ? kLog2 : 0.0);
  } else {  // kTotalVariation
    return v.tanh() * Vec(0.5);
  }
}

template <int C, typename Vec>
Vec q_slope(const Vec& v) {
  if constexpr (C == kKL) {
    return (v - Vec(1)).exp();
  } else if constexpr (C == kReverseKL) {
    return Vec(1);
  } else if constexpr (C == kPearson) {
    return v * Vec(0.5) + Vec(1);
  } else if constexpr (C == kNeyman) {
    return (v * Vec(-0.5)).exp();
  } else if constexpr (C == kSquaredHellinger) {
    return v.exp();
  } else if constexpr (C == kJensenShannon || C == kGAN) {
    return sigmoid(v);
  } else {  // kTotalVariation
    const Vec t = v.tanh();
    return (Vec(1) - t * t) * Vec(0.5);
  }
}

// Sum of term(v[k]) over k < n.
template <typename T, typename Term>
double sum_of(const T* v, int64_t n, const Term& term) {
  using Vec = at::vec::Vectorized<T>;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(blocks);
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t end = std::min(n, (b + 1) * kBlock);
      Vec acc(T(0));
      for (int64_t k = b * kBlock; k < end; k += Vec::size()) {
        const int64_t count = std::min<int64_t>(Vec::size(), end - k);
        acc = acc + Vec::set(Vec(T(0)), term(Vec::loadu(v + k, count)), count);  // padding lanes add nothing
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

// out[k] = scale * slope(v[k]) for k < n.
template <typename T, typename Slope>
void scaled_slope(const T* v, int64_t n, T scale, T* out, const Slope& slope) {
  using Vec = at::vec::Vectorized<T>;
  at::parallel_for(0, n, kBlock, [&](int64_t k0, int64_t k1) {
    const Vec scale_v(scale);
    for (int64_t k = k0; k < k1; k += Vec::size()) {
      const int64_t count = std::min<int64_t>(Vec::size(), k1 - k);
      (slope(Vec::loadu(v + k, count)) * scale_v).store(out + k, count);
    }
  });
}

// log mean_k exp(scale * v[k]), in float64.
template <typename T>
double log_mean_exp(const T* v, int64_t n, double scale) {
  double top = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < n; ++k) top = std::max(top, scale * double(v[k]));
  double sum = 0.0;
  for (int64_t k = 0; k < n; ++k) sum += std::exp(scale * double(v[k]) - top);
  return top + std::log(sum) - std::log(double(n));
}

// Neyman's bound is -inf - (-inf) = NaN once both means overflow; its true value is then
// -e^A + e^B with A = log mean e^-v_p and B = log 2 + log mean e^(-v_q / 2), an infinity of the
// sign of B - A (omasgan/divergences.py: resolve_infinite_difference). Other divergences never
// overflow on both sides.
template <typename T>
double resolve_infinite_difference(int64_t code, double value, const T* v_p, int64_t n_p, const T* v_q, int64_t n_q) {
  if (code != kNeyman || !std::isnan(value)) return value;
  const double a = log_mean_exp(v_p, n_p, -1.0), b = kLog2 + log_mean_exp(v_q, n_q, -0.5);
  const double inf = std::numeric_limits<double>::infinity();
  return b > a ? inf : b < a ? -inf : value;
}

// Calls f(std::integral_constant<int, code>{}): the divergence becomes a compile-time constant, so
// the switch on it runs once per call, not per element.
template <int C = 0, typename F>
void with_code(int64_t code, const F& f) {
  if constexpr (C < kDivergenceCount) {
    if (code == C) return f(std::integral_constant<int, C>{});
    return with_code<C + 1>(code, f);
  }
  TORCH_CHECK(false, "unknown divergence code ", code);
}

}  // namespace

at::Tensor f_divergence_bound_cpu(const at::Tensor& v_p, const at::Tensor& v_q, int64_t code) {
  check_f_divergence_args(v_p, v_q, code, c10::DeviceType::CPU);
  at::Tensor value = at::empty({}, v_p.options());
  AT_DISPATCH_FLOATING_TYPES(v_p.scalar_type(), "f_divergence_bound_cpu", [&] {
    using Vec = at::vec::Vectorized<scalar_t>;
    with_code(code, [&](auto c) {
      constexpr int C = decltype(c)::value;
      const auto g = [](const Vec& v) { return p_value<C>(v); };
      const auto fstar_g = [](const Vec& v) { return q_value<C>(v); };
      const double sum_p = sum_of(v_p.data_ptr<scalar_t>(), v_p.numel(), g);
      const double sum_q = sum_of(v_q.data_ptr<scalar_t>(), v_q.numel(), fstar_g);
      value.fill_(resolve_infinite_difference(code, sum_p / v_p.numel() - sum_q / v_q.numel(),
                                              v_p.data_ptr<scalar_t>(), v_p.numel(), v_q.data_ptr<scalar_t>(),
                                              v_q.numel()));
    });
  });
  return value;
}

std::tuple<at::Tensor, at::Tensor> f_divergence_bound_backward_cpu(const at::Tensor& grad, const at::Tensor& v_p,
                                                                   const at::Tensor& v_q, int64_t code) {
  check_f_divergence_args(v_p, v_q, code, c10::DeviceType::CPU);
  check_upstream_grad(grad, v_p, "v_p");
  const double g = grad.item<double>();  // a CPU scalar: no sync to avoid
  at::Tensor grad_p = at::empty_like(v_p);
  at::Tensor grad_q = at::empty_like(v_q);
  AT_DISPATCH_FLOATING_TYPES(v_p.scalar_type(), "f_divergence_bound_backward_cpu", [&] {
    using Vec = at::vec::Vectorized<scalar_t>;
    with_code(code, [&](auto c) {
      constexpr int C = decltype(c)::value;
      const auto dg = [](const Vec& v) { return p_slope<C>(v); };
      const auto dfstar_g = [](const Vec& v) { return q_slope<C>(v); };
      const scalar_t scale_p = g / v_p.numel(), scale_q = -g / v_q.numel();
      scaled_slope(v_p.data_ptr<scalar_t>(), v_p.numel(), scale_p, grad_p.data_ptr<scalar_t>(), dg);
      scaled_slope(v_q.data_ptr<scalar_t>(), v_q.numel(), scale_q, grad_q.data_ptr<scalar_t>(), dfstar_g);
    });
  });
  return {grad_p, grad_q};
}

}  // namespace omasgan

// l_p distance pieces shared by the CUDA kernels. Every kernel is instantiated once per norm kind, so
// the hot loops carry no branch on p. Pure CUDA: no torch headers.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "../op_constants.h"

// The rarely taken safe-path helpers are kept out of line: inlined into every unrolled pair of a
// tile they would multiply the kernels' code (and ptxas time) for a branch ordinary data never takes.
#if defined(__CUDACC__)
#define OMASGAN_NOINLINE __noinline__
#else
#define OMASGAN_NOINLINE __attribute__((noinline))
#endif

namespace omasgan::gpu {

// The norm kinds, norm_kind(p) and the integer-p cutoff kMaxIntegerP: ../op_constants.h, shared with
// the CPU kernels and Python.
using Norm = ::omasgan::NormKind;

template <Norm K>
using NormTag = std::integral_constant<Norm, K>;

// Calls f(NormTag<K>{}) for the kind K of p and returns what it returns.
template <class F>
cudaError_t dispatch_norm(double p, F&& f) {
  switch (norm_kind(p)) {
    case Norm::L1: return f(NormTag<Norm::L1>{});
    case Norm::L2: return f(NormTag<Norm::L2>{});
    case Norm::Inf: return f(NormTag<Norm::Inf>{});
    case Norm::Integer: return f(NormTag<Norm::Integer>{});
    default: return f(NormTag<Norm::General>{});
  }
}

// p and q of ||u||_p^q, passed by value to the kernels.
template <typename T>
struct Lp {
  T p;
  T q;
  int int_p;  // p as an int, used by Norm::Integer only

  static Lp make(double p, double q) { return {T(p), T(q), std::isinf(p) ? 0 : int(p)}; }
};

// Float and double overloads under one name, so that templated code never silently promotes to double.
namespace dmath {
__device__ __forceinline__ float pow(float a, float b) { return ::powf(a, b); }
__device__ __forceinline__ double pow(double a, double b) { return ::pow(a, b); }
__device__ __forceinline__ float sqrt(float a) { return ::sqrtf(a); }
__device__ __forceinline__ double sqrt(double a) { return ::sqrt(a); }
__device__ __forceinline__ float abs(float a) { return ::fabsf(a); }
__device__ __forceinline__ double abs(double a) { return ::fabs(a); }
__device__ __forceinline__ float max(float a, float b) { return ::fmaxf(a, b); }
__device__ __forceinline__ double max(double a, double b) { return ::fmax(a, b); }
__device__ __forceinline__ float fma(float a, float b, float c) { return ::fmaf(a, b, c); }
__device__ __forceinline__ double fma(double a, double b, double c) { return ::fma(a, b, c); }
__device__ __forceinline__ float exp(float a) { return ::expf(a); }
__device__ __forceinline__ double exp(double a) { return ::exp(a); }
__device__ __forceinline__ float expm1(float a) { return ::expm1f(a); }
__device__ __forceinline__ double expm1(double a) { return ::expm1(a); }
__device__ __forceinline__ float log1p(float a) { return ::log1pf(a); }
__device__ __forceinline__ double log1p(double a) { return ::log1p(a); }
__device__ __forceinline__ float tanh(float a) { return ::tanhf(a); }
__device__ __forceinline__ double tanh(double a) { return ::tanh(a); }
}  // namespace dmath

// The safe path of omasgan/ops/_common.py ("Numerics"): a pair's accumulator (power sum, or max for
// p = inf) is trusted when kSafeSumLo <= acc <= kMax; other pairs are recomputed from u / max |u|.
template <typename T>
struct Limits;
template <>
struct Limits<float> {
  static constexpr float kSafeSumLo = 0x1p-63f;  // sqrt of the smallest normal float
  static constexpr float kMax = 3.40282346638528859811704183484516925e+38f;
};
template <>
struct Limits<double> {
  static constexpr double kSafeSumLo = 0x1p-511;
  static constexpr double kMax = 1.79769313486231570814527423731704357e+308;
};

template <typename T>
__device__ __forceinline__ bool sum_trusted(T acc) {
  return acc >= Limits<T>::kSafeSumLo && acc <= Limits<T>::kMax;
}

// A double as T, +-inf beyond T's range.
template <typename T>
__device__ __forceinline__ T narrow(double v) {
  if constexpr (sizeof(T) == sizeof(double)) {
    return T(v);
  } else {
    const double big = double(Limits<T>::kMax);
    return v > big ? Limits<T>::kMax * T(2) : v < -big ? -Limits<T>::kMax * T(2) : T(v);
  }
}

__device__ OMASGAN_NOINLINE inline double pow_general(double x, double e) { return ::pow(x, e); }

// x^e in double for x >= 0, 0 at x = 0 (e may be negative: the zero-distance convention).
__device__ __forceinline__ double pow_pos(double x, double e) {
  return x > 0.0 ? (e == 1.0 ? x : e == 2.0 ? x * x : pow_general(x, e)) : 0.0;
}

// ||u||_p in double from the step-k pieces of one pair, for a caller that holds the pair's
// coordinates in stride: first pass m = max |u_k|, second pass sum (|u_k| / m)^p.
template <Norm K, typename T>
__device__ OMASGAN_NOINLINE double safe_norm(const T* a, const T* b, int64_t d, const Lp<T>& lp) {
  double m = 0.0;
  for (int64_t k = 0; k < d; ++k) m = ::fmax(m, ::fabs(double(a[k]) - double(b[k])));
  if (K == Norm::Inf || !(m > 0.0) || !(m <= Limits<double>::kMax)) return m;
  double t = 0.0;
  for (int64_t k = 0; k < d; ++k) {
    const double r = ::fabs(double(a[k]) - double(b[k])) / m;
    t += K == Norm::L1 ? r : K == Norm::L2 ? r * r : ::pow(r, double(lp.p));
  }
  return K == Norm::L1 ? m * t : K == Norm::L2 ? m * ::sqrt(t) : m * ::pow(t, 1.0 / double(lp.p));
}

// ||a - b||_p^q in T through safe_norm: the value of a pair whose accumulator is not trusted.
template <Norm K, typename T>
__device__ OMASGAN_NOINLINE T safe_value(const T* a, const T* b, int64_t d, const Lp<T>& lp) {
  return narrow<T>(pow_pos(safe_norm<K>(a, b, d, lp), double(lp.q)));
}

// ||a - b||_p in double: from the accumulator when it is trusted, else safe_norm.
template <Norm K, typename T>
__device__ double norm_or_safe(T acc, const T* a, const T* b, int64_t d, const Lp<T>& lp) {
  if (sum_trusted(acc)) {
    if constexpr (K == Norm::L1 || K == Norm::Inf) {
      return double(acc);
    } else if constexpr (K == Norm::L2) {
      return double(dmath::sqrt(acc));
    } else {
      return pow_general(double(acc), 1.0 / double(lp.p));
    }
  }
  return safe_norm<K>(a, b, d, lp);
}

template <typename T>
__device__ __forceinline__ T sign(T u) {
  return T((u > T(0)) - (u < T(0)));
}

// |u|^p for finite p, from a = |u|.
template <Norm K, typename T>
__device__ __forceinline__ T abs_pow(T a, const Lp<T>& lp) {
  if constexpr (K == Norm::L1) {
    return a;
  } else if constexpr (K == Norm::L2) {
    return a * a;
  } else if constexpr (K == Norm::Integer) {
    T r = a;
    for (int e = 1; e < lp.int_p; ++e) r *= a;
    return r;
  } else {
    return a > T(0) ? dmath::pow(a, lp.p) : T(0);
  }
}

// Adds coordinate u to the accumulator of ||u||_p: the sum of |u_k|^p, or max |u_k| for p = inf.
template <Norm K, typename T>
__device__ __forceinline__ void accumulate(T& acc, T u, const Lp<T>& lp) {
  if constexpr (K == Norm::Inf) {
    acc = dmath::max(acc, dmath::abs(u));
  } else if constexpr (K == Norm::L2) {
    acc = dmath::fma(u, u, acc);
  } else {
    acc += abs_pow<K>(dmath::abs(u), lp);
  }
}

// Merges two accumulators (of disjoint coordinate sets).
template <Norm K, typename T>
__device__ __forceinline__ T combine(T a, T b) {
  if constexpr (K == Norm::Inf) {
    return dmath::max(a, b);
  } else {
    return a + b;
  }
}

// ||u||_p^q from the accumulator.
template <Norm K, typename T>
__device__ __forceinline__ T lp_pow_q(T acc, const Lp<T>& lp) {
  if constexpr (K == Norm::L1 || K == Norm::Inf) {
    return lp.q == T(1) ? acc : dmath::pow(acc, lp.q);
  } else if constexpr (K == Norm::L2) {
    return lp.q == T(1) ? dmath::sqrt(acc) : lp.q == T(2) ? acc : dmath::pow(acc, lp.q / T(2));
  } else {
    return dmath::pow(acc, lp.q / lp.p);
  }
}

// ||u||_p from the accumulator.
template <Norm K, typename T>
__device__ __forceinline__ T lp_norm(T acc, const Lp<T>& lp) {
  if constexpr (K == Norm::L1 || K == Norm::Inf) {
    return acc;
  } else if constexpr (K == Norm::L2) {
    return dmath::sqrt(acc);
  } else {
    return dmath::pow(acc, T(1) / lp.p);
  }
}

// ||u||_p from the distance ||u||_p^q (as the torch reference does: dist^(1/q)).
template <typename T>
__device__ __forceinline__ T norm_from_distance(T dist, const Lp<T>& lp) {
  return lp.q == T(1) ? dist : dmath::pow(dist, T(1) / lp.q);
}

// d ||u||_p^q / du_k = grad_scale(||u||) * phi(u_k) for finite p, with the zero subgradient at u = 0
// (omasgan/ops/_common.py: lp_pow_grad). For p = inf, grad_scale multiplies sign(u_k) at the first
// k of largest |u_k| instead.
template <Norm K, typename T>
__device__ __forceinline__ T grad_scale(T norm, const Lp<T>& lp) {
  if (!(norm > T(0))) return T(0);
  if constexpr (K == Norm::L1 || K == Norm::Inf) {
    return lp.q == T(1) ? T(1) : lp.q * dmath::pow(norm, lp.q - T(1));
  } else if constexpr (K == Norm::L2) {
    return lp.q == T(2) ? T(2) : lp.q * dmath::pow(norm, lp.q - T(2));
  } else {
    return lp.q * dmath::pow(norm, lp.q - lp.p);
  }
}

// sign(u) |u|^(p-1), the per-coordinate factor of the gradient (finite p).
template <Norm K, typename T>
__device__ __forceinline__ T phi(T u, const Lp<T>& lp) {
  static_assert(K != Norm::Inf, "p = inf has no per-coordinate gradient factor");
  if constexpr (K == Norm::L1) {
    return sign(u);
  } else if constexpr (K == Norm::L2) {
    return u;
  } else if constexpr (K == Norm::Integer) {
    const T a = dmath::abs(u);
    T r = u;
    for (int e = 2; e < lp.int_p; ++e) r *= a;
    return r;
  } else {
    return sign(u) * dmath::pow(dmath::abs(u), lp.p - T(1));
  }
}

}  // namespace omasgan::gpu

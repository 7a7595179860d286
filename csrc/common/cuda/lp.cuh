// l_p distance pieces shared by the CUDA kernels. Every kernel is instantiated once per norm kind, so
// the hot loops carry no branch on p. Pure CUDA: no torch headers.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace omasgan::gpu {

// Integer p up to this bound runs as repeated multiplication: exact, and several times faster than pow.
constexpr int kMaxIntegerP = 8;

enum class Norm { L1, L2, Linf, IntegerP, RealP };

template <Norm K>
using NormTag = std::integral_constant<Norm, K>;

inline Norm norm_kind(double p) {
  if (p == 1.0) return Norm::L1;
  if (p == 2.0) return Norm::L2;
  if (std::isinf(p)) return Norm::Linf;
  if (p == std::floor(p) && p <= kMaxIntegerP) return Norm::IntegerP;
  return Norm::RealP;
}

// Calls f(NormTag<K>{}) for the kind K of p and returns what it returns.
template <class F>
cudaError_t dispatch_norm(double p, F&& f) {
  switch (norm_kind(p)) {
    case Norm::L1: return f(NormTag<Norm::L1>{});
    case Norm::L2: return f(NormTag<Norm::L2>{});
    case Norm::Linf: return f(NormTag<Norm::Linf>{});
    case Norm::IntegerP: return f(NormTag<Norm::IntegerP>{});
    default: return f(NormTag<Norm::RealP>{});
  }
}

// p and q of ||u||_p^q, passed by value to the kernels.
template <typename T>
struct Lp {
  T p;
  T q;
  int int_p;  // p as an int, used by Norm::IntegerP only

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
  } else if constexpr (K == Norm::IntegerP) {
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
  if constexpr (K == Norm::Linf) {
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
  if constexpr (K == Norm::Linf) {
    return dmath::max(a, b);
  } else {
    return a + b;
  }
}

// ||u||_p^q from the accumulator.
template <Norm K, typename T>
__device__ __forceinline__ T lp_pow_q(T acc, const Lp<T>& lp) {
  if constexpr (K == Norm::L1 || K == Norm::Linf) {
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
  if constexpr (K == Norm::L1 || K == Norm::Linf) {
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
  if constexpr (K == Norm::L1 || K == Norm::Linf) {
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
  static_assert(K != Norm::Linf, "p = inf has no per-coordinate gradient factor");
  if constexpr (K == Norm::L1) {
    return sign(u);
  } else if constexpr (K == Norm::L2) {
    return u;
  } else if constexpr (K == Norm::IntegerP) {
    const T a = dmath::abs(u);
    T r = u;
    for (int e = 2; e < lp.int_p; ++e) r *= a;
    return r;
  } else {
    return sign(u) * dmath::pow(dmath::abs(u), lp.p - T(1));
  }
}

}  // namespace omasgan::gpu

// Gradients of weighted sums of l_p distances:  grad[i] = sum_j w(i, j) phi_p(x_i - y_j).
//
// phi_p(u) = sign(u) |u|^(p - 1) is d ||u||_p^p / du up to the factor p that Norm::grad_scale folds
// into the weights (so d ||u||_p^q / du = grad_scale(||u||) phi_p(u)). For p = inf phi is sign(u_k)
// at the first k of largest |u_k|, the subgradient the torch reference picks.
#pragma once

#include <ATen/Parallel.h>

#include "lp_distance.h"

namespace omasgan::lp {

template <Kind K, typename T>
struct Phi {
  using Vec = at::vec::Vectorized<T>;
  int power;
  T p;

  Vec operator()(const Vec& u) const {
    if constexpr (K == Kind::L2) {
      return u;
    } else if constexpr (K == Kind::L1) {
      const Vec zero = Vec(T(0)), one = Vec(T(1));
      return ((u > zero) & one) - ((u < zero) & one);
    } else if constexpr (K == Kind::Integer) {  // u |u|^(power - 2), power >= 3
      const Vec a = u.abs();
      Vec r = u;
      for (int e = 2; e < power; ++e) r = r * a;
      return r;
    } else {  // General (Inf is handled apart)
      const Vec zero = Vec(T(0)), one = Vec(T(1));
      const Vec sign = ((u > zero) & one) - ((u < zero) & one);
      return sign * pow_abs(u, p - T(1));
    }
  }
  T operator()(T u) const {
    if constexpr (K == Kind::L2) {
      return u;
    } else if constexpr (K == Kind::L1) {
      return static_cast<T>((u > 0) - (u < 0));
    } else if constexpr (K == Kind::Integer) {
      const T a = std::abs(u);
      T r = u;
      for (int e = 2; e < power; ++e) r *= a;
      return r;
    } else {
      return static_cast<T>((u > 0) - (u < 0)) * std::pow(std::abs(u), p - T(1));
    }
  }
};

// grad[i, :] = sum_j w[i * w_row + j * w_col] phi_p(x_i - y_j), for x: [rows, dim], y: [cols, dim],
// grad: [rows, dim] (overwritten). Pass w's strides swapped to get the y-side sum of w^T.
// Pairs with zero weight are skipped, so a sparse w (few near pairs) costs little.
template <typename T>
void weighted_phi_sum(const Norm& norm, const T* w, int64_t w_row, int64_t w_col, const T* x, int64_t rows,
                      const T* y, int64_t cols, int64_t dim, T* grad) {
  using Vec = at::vec::Vectorized<T>;
  const T p = static_cast<T>(norm.p);
  at::parallel_for(0, rows, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const T* xi = x + i * dim;
      T* gi = grad + i * dim;
      std::fill(gi, gi + dim, T(0));
      for (int64_t j = 0; j < cols; ++j) {
        const T wij = w[i * w_row + j * w_col];
        if (wij == T(0)) continue;
        const T* yj = y + j * dim;
        if (norm.kind == Kind::Inf) {
          const T biggest = power_sum(Term<Kind::Inf, T>{0, p}, xi, yj, dim);
          int64_t k = 0;
          while (k + 1 < dim && std::abs(xi[k] - yj[k]) != biggest) ++k;
          gi[k] += xi[k] > yj[k] ? wij : -wij;
          continue;
        }
        auto add = [&](auto phi) {
          const Vec wv(wij);
          int64_t k = 0;
          for (; k + Vec::size() <= dim; k += Vec::size()) {
            const Vec u = Vec::loadu(xi + k) - Vec::loadu(yj + k);
            at::vec::fmadd(wv, phi(u), Vec::loadu(gi + k)).store(gi + k);
          }
          for (; k < dim; ++k) gi[k] += wij * phi(xi[k] - yj[k]);
        };
        switch (norm.kind) {
          case Kind::L1: add(Phi<Kind::L1, T>{0, p}); break;
          case Kind::L2: add(Phi<Kind::L2, T>{0, p}); break;
          case Kind::Integer: add(Phi<Kind::Integer, T>{norm.power, p}); break;
          default: add(Phi<Kind::General, T>{0, p}); break;
        }
      }
    }
  });
}

}  // namespace omasgan::lp

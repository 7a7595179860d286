// dispersion on the CPU: s = 1/(N(N-1)) sum_{i != j} ||z_i - z_j||_p^q / (eps + ||b_i - b_j||_p^q).
//
// Both passes first build the two N x N matrices of pair norms (scratch, never N x N x D), then
// the forward sums the ratios and the backward turns them into pair weights w_ij, with
// grad[i] = sum_j w_ij phi_p(row_i - row_j) (lp_grad.h).
//
// p = 2 runs on Gram matrices: the rows are centred (distances do not move), ||u_ij||^2 =
// n_i + n_j - 2 G_ij, and the gradient sum_j w_ij (x_i - x_j) is one matrix product with the
// Laplacian diag(rowsum(w)) - w. Cancellation makes that inaccurate only for pairs much closer than the rows'
// norms ("near" pairs): those get their distance recomputed from the rows and their gradient term
// added directly, so exact duplicates give exactly zero distance and zero gradient.
//
// Extreme magnitudes (omasgan/ops/_common.py, "Numerics"): when the centred rows' squared norms
// leave [sqrt(smallest normal), max / 8], the Gram form would over- or underflow (rows ~1e20 gave
// NaN), and p = 2 takes the tiled route instead, whose pairs take lp::safe_norm where their power
// sum over- or underflows. Pair norms are then raised to q and divided in float64, where eps
// stays exact (1e-50 is 0 in float32) and the ratio of two huge distances stays finite. For
// float32 the backward's pair weights are formed in float64 too; when they leave the range in
// which float32 products of them stay accurate, the gradient is computed in float64.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "../dispersion.h"
#include "../../common/checks.h"
#include "../../common/lp_grad.h"

namespace omasgan {
namespace {

// A pair is near when ||u||^2 < kNear (n_i + n_j): there the Gram estimate has lost
// log2(1 / kNear) bits, so it is recomputed.
constexpr double kNear = 1.0 / 16.0;

// Pair norms of the rows of x and, for p = 2, which pairs were near and the centred rows.
struct PairNorms {
  at::Tensor norm;     // [N, N], ||x_i - x_j||_p, zero diagonal
  at::Tensor near;     // [N, N] bool (the Gram route of p = 2 only; undefined otherwise)
  at::Tensor centred;  // [N, D], x minus its mean row (the Gram route of p = 2 only)
};

template <typename T>
PairNorms pair_norms_tiled(const at::Tensor& x, const lp::Norm& norm);

template <typename T>
PairNorms pair_norms_l2(const at::Tensor& x) {
  const int64_t n = x.size(0), d = x.size(1);
  at::Tensor centred = x - x.mean(0, /*keepdim=*/true);
  const at::Tensor gram = at::mm(centred, centred.t());
  const at::Tensor sq = gram.diagonal();
  // Every Gram entry and n_i + n_j - 2 G_ij stays finite below max / 8; above sqrt(smallest
  // normal) no squared distance that matters has underflowed. Outside: the tiled route.
  const double largest = n > 0 ? sq.max().item<double>() : 0.0;
  if (!(largest <= double(std::numeric_limits<T>::max()) / 8 && largest >= double(lp::safe_sum_lo<T>())))
    return pair_norms_tiled<T>(x, lp::Norm(2.0));
  const at::Tensor scale = sq.unsqueeze(1) + sq.unsqueeze(0);
  at::Tensor dist2 = (scale - 2 * gram).clamp_min_(0);
  at::Tensor near = dist2 < kNear * scale;
  near.fill_diagonal_(true);  // the diagonal is exactly 0 below
  T* dist2_data = dist2.data_ptr<T>();
  const bool* near_data = near.data_ptr<bool>();
  const T* xs = x.data_ptr<T>();
  const lp::Term<lp::Kind::L2, T> square{0, T(2)};
  at::parallel_for(0, n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = 0; j < n; ++j)
        if (near_data[i * n + j]) {
          const T s = lp::power_sum(square, xs + i * d, xs + j * d, d);
          // a near pair whose sum underflowed: its exact square root, squared again, is s's best value
          dist2_data[i * n + j] = lp::sum_trusted(s) ? s : [&] {
            const T r = lp::norm_or_safe(lp::Norm(2.0), s, xs + i * d, xs + j * d, d);
            return r * r;
          }();
        }
  });
  return {dist2.sqrt_(), near, centred};
}

template <typename T>
PairNorms pair_norms_tiled(const at::Tensor& x, const lp::Norm& norm) {
  constexpr int64_t kRowBlock = 16;
  const int64_t n = x.size(0), d = x.size(1);
  at::Tensor norms = at::empty({n, n}, x.options());
  T* out = norms.data_ptr<T>();
  const T* xs = x.data_ptr<T>();
  lp::dispatch_norm<T>(norm, [&](auto term) {
    // Block r fills rows [r0, r1) from column r0 on, and their mirror images: no two blocks write
    // the same element.
    at::parallel_for(0, (n + kRowBlock - 1) / kRowBlock, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t r0 = blk * kRowBlock, r1 = std::min(n, r0 + kRowBlock);
        lp::for_each_power_sum(term, xs + r0 * d, r1 - r0, xs + r0 * d, n - r0, d, [&](int64_t i, int64_t j, T s) {
          const T v = lp::norm_or_safe(norm, s, xs + (r0 + i) * d, xs + (r0 + j) * d, d);
          out[(r0 + i) * n + (r0 + j)] = v;
          out[(r0 + j) * n + (r0 + i)] = v;
        });
      }
    });
  });
  return {norms, {}, {}};
}

PairNorms pair_norms(const at::Tensor& x, const lp::Norm& norm) {
  PairNorms result;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "dispersion_pair_norms", [&] {
    result = norm.kind == lp::Kind::L2 ? pair_norms_l2<scalar_t>(x) : pair_norms_tiled<scalar_t>(x, norm);
  });
  return result;
}

// grad[i] = sum_j w_ij phi_p(x_i - x_j) for a symmetric weight matrix w with zero diagonal.
at::Tensor pair_gradient(const at::Tensor& w, const at::Tensor& x, const PairNorms& norms, const lp::Norm& norm) {
  const int64_t n = x.size(0), d = x.size(1);
  at::Tensor grad = at::empty_like(x);
  at::Tensor w_direct = w;
  const bool gram = norms.centred.defined();
  if (gram) {
    w_direct = w * norms.near;
    // sum_j w_ij (c_i - c_j) = (L c)_i with the graph Laplacian L = diag(rowsum(w)) - w: one
    // matrix product, no N x D temporaries.
    at::Tensor laplacian = w_direct - w;
    laplacian.diagonal().sub_(laplacian.sum(1));
    grad = at::mm(laplacian, norms.centred);
  }
  at::Tensor direct = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "dispersion_pair_gradient", [&] {
    lp::weighted_phi_sum<scalar_t>(norm, w_direct.data_ptr<scalar_t>(), n, 1, x.data_ptr<scalar_t>(), n,
                                   x.data_ptr<scalar_t>(), n, d, direct.data_ptr<scalar_t>());
  });
  return gram ? grad.add_(direct) : direct;
}

// pair_gradient for float64 weights w (symmetric, zero diagonal) whose nonzero magnitudes lie in
// [w_min, w_max]: in x's dtype while those and |x_i - x_j|^(p-1) stay well inside float32's range,
// else in float64.
at::Tensor pair_gradient_from_double(const at::Tensor& w, double w_min, double w_max, const at::Tensor& x,
                                     const PairNorms& norms, const lp::Norm& norm) {
  if (x.scalar_type() == at::kDouble) return pair_gradient(w, x, norms, norm);
  constexpr double kRoom = 0x1p100;  // 2^100 of float32's 2^+-126: room for sums and products
  double phi_max = 1.0;
  if (norm.kind != lp::Kind::L1 && norm.kind != lp::Kind::Inf && norm.p != 2.0) {
    const auto [lo, hi] = at::aminmax(x);
    phi_max = std::pow(2.0 * std::max(-lo.item<double>(), hi.item<double>()), norm.p - 1.0);
  }
  if (w_min >= 1.0 / kRoom && w_max <= kRoom && phi_max <= kRoom)
    return pair_gradient(w.to(x.scalar_type()), x, norms, norm);
  const PairNorms direct{norms.norm, {}, {}};  // the direct route needs no Gram pieces
  return pair_gradient(w, x.to(at::kDouble), direct, norm).to(x.scalar_type());
}

// x^e for x >= 0 in double, 0 at x = 0 (e may be negative: the zero-distance convention).
inline double pow_pos(double x, double e) {
  if (!(x > 0.0)) return 0.0;
  return e == 1.0 ? x : e == 2.0 ? x * x : e == 0.0 ? 1.0 : e == -1.0 ? 1.0 / x : std::pow(x, e);
}

constexpr int64_t kPairBlock = 4096;  // pairs per float64 partial: the sums do not depend on threads

// sum over all N x N pairs of ||u_z||^q / (eps + ||u_b||^q), from the pair norms, in float64.
template <typename T>
double ratio_sum(const T* nz, const T* nb, int64_t count, double q, double eps) {
  const int64_t blocks = (count + kPairBlock - 1) / kPairBlock;
  std::vector<double> partial(blocks, 0.0);
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      double s = 0.0;
      for (int64_t e = blk * kPairBlock, end = std::min(count, e + kPairBlock); e < end; ++e)
        s += pow_pos(double(nz[e]), q) / (eps + pow_pos(double(nb[e]), q));
      partial[blk] = s;
    }
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

// The backward's pair weights in float64, w_z = c q ||u_z||^e / (eps + B) and
// w_b = -c A q ||u_b||^e / (eps + B)^2 (e = q - p; q - 1 for p = inf), zero at coincident pairs;
// returns the smallest and largest nonzero |w| over both.
template <typename T>
std::pair<double, double> pair_weights(const T* nz, const T* nb, int64_t count, double c, double q, double e,
                                       double eps, double* w_z, double* w_b) {
  const int64_t blocks = (count + kPairBlock - 1) / kPairBlock;
  std::vector<double> lo(blocks, std::numeric_limits<double>::infinity()), hi(blocks, 0.0);
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      double l = std::numeric_limits<double>::infinity(), h = 0.0;
      for (int64_t k = blk * kPairBlock, end = std::min(count, k + kPairBlock); k < end; ++k) {
        const double a = double(nz[k]), b = double(nb[k]);
        const double inv = 1.0 / (eps + pow_pos(b, q));
        const double wz = a > 0.0 ? c * q * pow_pos(a, e) * inv : 0.0;
        const double wb = b > 0.0 ? -c * (pow_pos(a, q) * inv) * inv * q * pow_pos(b, e) : 0.0;
        w_z[k] = wz;
        w_b[k] = wb;
        for (const double w : {std::abs(wz), std::abs(wb)}) {
          if (w > 0.0) {
            l = std::min(l, w);
            h = std::max(h, w);
          }
        }
      }
      lo[blk] = l;
      hi[blk] = h;
    }
  });
  return {*std::min_element(lo.begin(), lo.end()), *std::max_element(hi.begin(), hi.end())};
}

}  // namespace

at::Tensor dispersion_cpu(const at::Tensor& z, const at::Tensor& b, double p, double q, double eps) {
  check_dispersion_args(z, b, p, q, eps, c10::DeviceType::CPU);
  const c10::NoGradGuard no_grad;  // scratch algebra only, no graph
  const int64_t n = z.size(0);
  const lp::Norm norm(p);
  const at::Tensor nz = pair_norms(z, norm).norm, nb = pair_norms(b, norm).norm;
  double total = 0.0;
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "dispersion_cpu", [&] {
    // The diagonal's ratios are 0 / eps = 0: summing everything sums the off-diagonal pairs.
    total = ratio_sum(nz.data_ptr<scalar_t>(), nb.data_ptr<scalar_t>(), n * n, q, eps);
  });
  return at::scalar_tensor(total / (double(n) * double(n - 1)), b.options());
}

std::tuple<at::Tensor, at::Tensor> dispersion_backward_cpu(const at::Tensor& grad, const at::Tensor& z,
                                                           const at::Tensor& b, double p, double q, double eps) {
  check_dispersion_args(z, b, p, q, eps, c10::DeviceType::CPU);
  check_upstream_grad(grad, z, "z");
  const c10::NoGradGuard no_grad;
  const int64_t n = z.size(0);
  const lp::Norm norm(p);
  const PairNorms z_norms = pair_norms(z, norm), b_norms = pair_norms(b, norm);
  // float64 pair algebra (see the top of this file), in one pass over the pairs.
  // Pair (i, j) and pair (j, i) hold the same ratio and both move row i: hence the factor 2.
  const double c = grad.item<double>() * (2.0 / (double(n) * double(n - 1)));
  const double e = norm.kind == lp::Kind::Inf ? q - 1.0 : q - p;
  at::Tensor w_z = at::empty({n, n}, z.options().dtype(at::kDouble)), w_b = at::empty_like(w_z);
  std::pair<double, double> range;
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "dispersion_backward_cpu", [&] {
    range = pair_weights(z_norms.norm.data_ptr<scalar_t>(), b_norms.norm.data_ptr<scalar_t>(), n * n, c, q, e, eps,
                         w_z.data_ptr<double>(), w_b.data_ptr<double>());
  });
  return {pair_gradient_from_double(w_z, range.first, range.second, z, z_norms, norm),
          pair_gradient_from_double(w_b, range.first, range.second, b, b_norms, norm)};
}

}  // namespace omasgan

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
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <algorithm>

#include "../../common/checks.h"
#include "../../common/cpu_ops.h"
#include "../../common/lp_grad.h"

namespace omasgan {
namespace {

// A pair is near when ||u||^2 < kNear (n_i + n_j): there the Gram estimate has lost
// log2(1 / kNear) bits, so it is recomputed.
constexpr double kNear = 1.0 / 16.0;

// Pair norms of the rows of x and, for p = 2, which pairs were near and the centred rows.
struct PairNorms {
  at::Tensor norm;     // [N, N], ||x_i - x_j||_p, zero diagonal
  at::Tensor near;     // [N, N] bool (p = 2 only; undefined otherwise)
  at::Tensor centred;  // [N, D], x minus its mean row (p = 2 only)
};

template <typename T>
PairNorms pair_norms_l2(const at::Tensor& x) {
  const int64_t n = x.size(0), d = x.size(1);
  at::Tensor centred = x - x.mean(0, /*keepdim=*/true);
  const at::Tensor gram = at::mm(centred, centred.t());
  const at::Tensor sq = gram.diagonal();
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
        if (near_data[i * n + j]) dist2_data[i * n + j] = lp::power_sum(square, xs + i * d, xs + j * d, d);
  });
  return {dist2.sqrt_(), near, centred};
}

template <typename T>
PairNorms pair_norms_tiled(const at::Tensor& x, const lp::Norm& norm) {
  constexpr int64_t kRowBlock = 16;
  const int64_t n = x.size(0), d = x.size(1);
  at::Tensor sums = at::empty({n, n}, x.options());
  T* out = sums.data_ptr<T>();
  const T* xs = x.data_ptr<T>();
  lp::dispatch_norm<T>(norm, [&](auto term) {
    // Block r fills rows [r0, r1) from column r0 on, and their mirror images: no two blocks write
    // the same element.
    at::parallel_for(0, (n + kRowBlock - 1) / kRowBlock, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t r0 = blk * kRowBlock, r1 = std::min(n, r0 + kRowBlock);
        lp::for_each_power_sum(term, xs + r0 * d, r1 - r0, xs + r0 * d, n - r0, d, [&](int64_t i, int64_t j, T s) {
          out[(r0 + i) * n + (r0 + j)] = s;
          out[(r0 + j) * n + (r0 + i)] = s;
        });
      }
    });
  });
  return {norm.kind == lp::Kind::L1 || norm.kind == lp::Kind::Inf ? sums : sums.pow(1.0 / norm.p), {}, {}};
}

PairNorms pair_norms(const at::Tensor& x, const lp::Norm& norm) {
  PairNorms result;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "dispersion_pair_norms", [&] {
    result = norm.kind == lp::Kind::L2 ? pair_norms_l2<scalar_t>(x) : pair_norms_tiled<scalar_t>(x, norm);
  });
  return result;
}

// q ||u||^(q - p) per pair (q ||u||^(q - 1) for p = inf), zero where ||u|| = 0.
at::Tensor grad_scales(const at::Tensor& norm, const lp::Norm& lp_norm, double q) {
  const double e = lp_norm.kind == lp::Kind::Inf ? q - 1.0 : q - lp_norm.p;
  return at::where(norm > 0, q * norm.pow(e), at::zeros({}, norm.options()));
}

// grad[i] = sum_j w_ij phi_p(x_i - x_j) for a symmetric weight matrix w with zero diagonal.
at::Tensor pair_gradient(const at::Tensor& w, const at::Tensor& x, const PairNorms& norms, const lp::Norm& norm) {
  const int64_t n = x.size(0), d = x.size(1);
  at::Tensor grad = at::empty_like(x);
  at::Tensor w_direct = w;
  if (norm.kind == lp::Kind::L2) {
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
  return norm.kind == lp::Kind::L2 ? grad.add_(direct) : direct;
}

}  // namespace

at::Tensor dispersion_cpu(const at::Tensor& z, const at::Tensor& b, double p, double q, double eps) {
  check_dispersion_args(z, b, p, q, eps, c10::DeviceType::CPU);
  const c10::NoGradGuard no_grad;  // scratch algebra only, no graph
  const int64_t n = z.size(0);
  const lp::Norm norm(p);
  const at::Tensor top = pair_norms(z, norm).norm.pow(q);
  const at::Tensor bottom = pair_norms(b, norm).norm.pow(q).add_(eps);
  // The diagonal's ratios are 0 / eps = 0: summing everything sums the off-diagonal pairs.
  return (top / bottom).to(at::kDouble).sum().div_(n * (n - 1)).to(b.scalar_type());
}

std::tuple<at::Tensor, at::Tensor> dispersion_backward_cpu(const at::Tensor& grad, const at::Tensor& z,
                                                           const at::Tensor& b, double p, double q, double eps) {
  check_dispersion_args(z, b, p, q, eps, c10::DeviceType::CPU);
  check_upstream_grad(grad, z, "z");
  const c10::NoGradGuard no_grad;
  const int64_t n = z.size(0);
  const lp::Norm norm(p);
  const PairNorms z_norms = pair_norms(z, norm), b_norms = pair_norms(b, norm);
  const at::Tensor top = z_norms.norm.pow(q);
  const at::Tensor inv_bottom = b_norms.norm.pow(q).add_(eps).reciprocal_();
  // Pair (i, j) and pair (j, i) hold the same ratio and both move row i: hence the factor 2.
  const at::Tensor c = grad.to(z.scalar_type()).reshape({}) * (2.0 / (n * (n - 1)));
  const at::Tensor w_z = c * grad_scales(z_norms.norm, norm, q) * inv_bottom;
  const at::Tensor w_b = -c * grad_scales(b_norms.norm, norm, q) * top * inv_bottom.square();
  return {pair_gradient(w_z, z, z_norms, norm), pair_gradient(w_b, b, b_norms, norm)};
}

}  // namespace omasgan

// pairwise_distance on the CPU: dist[i, j] = ||x_i - y_j||_p^q from register-tiled power sums
// (exact for every p, duplicates give exactly 0; a pair whose power sum over- or underflowed is
// recomputed by lp::safe_norm, so every representable distance comes back right), and its backward as two weighted sums of
// phi_p(x_i - y_j) (lp_grad.h): one over j for grad_x, one over i for grad_y.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <algorithm>

#include "../pairwise_distance.h"
#include "../../common/checks.h"
#include "../../common/lp_grad.h"

namespace omasgan {
namespace {

constexpr int64_t kRowBlock = 64;  // x rows per task; y is swept in blocks of kColBlock rows
constexpr int64_t kColBlock = 64;

void check_pair_args(const at::Tensor& x, const at::Tensor& y, double p, double q) {
  check_cpu_input(x, "x", 2);
  check_cpu_input(y, "y", 2);
  check_same_dtype(x, "x", y, "y");
  check_same_width(x, "x", y, "y");
  check_p_q(p, q);
}

}  // namespace

at::Tensor pairwise_distance_cpu(const at::Tensor& x, const at::Tensor& y, double p, double q) {
  check_pair_args(x, y, p, q);
  const int64_t n = x.size(0), m = y.size(0), d = x.size(1);
  at::Tensor out = at::empty({n, m}, x.options());
  const lp::Norm norm(p);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "pairwise_distance_cpu", [&] {
    const scalar_t* xs = x.data_ptr<scalar_t>();
    const scalar_t* ys = y.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    lp::dispatch_norm<scalar_t>(norm, [&](auto term) {
      at::parallel_for(0, n, kRowBlock, [&](int64_t r0, int64_t r1) {
        for (int64_t c0 = 0; c0 < m; c0 += kColBlock) {
          lp::for_each_power_sum(term, xs + r0 * d, r1 - r0, ys + c0 * d, std::min(kColBlock, m - c0), d,
                                 [&](int64_t i, int64_t j, scalar_t s) {
                                   o[(r0 + i) * m + c0 + j] = lp::distance_or_safe(
                                       norm, s, q, xs + (r0 + i) * d, ys + (c0 + j) * d, d);
                                 });
        }
      });
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> pairwise_distance_backward_cpu(const at::Tensor& grad, const at::Tensor& x,
                                                                  const at::Tensor& y, const at::Tensor& dist,
                                                                  double p, double q) {
  check_pair_args(x, y, p, q);
  check_cpu_input(grad, "grad", 2);
  check_cpu_input(dist, "dist", 2);
  const int64_t n = x.size(0), m = y.size(0), d = x.size(1);
  TORCH_CHECK(grad.size(0) == n && grad.size(1) == m && dist.sizes() == grad.sizes(),
              "grad and dist must both be [", n, ", ", m, "], got ", grad.sizes(), " and ", dist.sizes());
  check_same_dtype(grad, "grad", x, "x");
  check_same_dtype(dist, "dist", x, "x");
  const c10::NoGradGuard no_grad;  // scratch algebra only, no graph
  const lp::Norm norm(p);
  // w_ij = grad_ij * q ||u_ij||^(q - p), with ||u_ij|| = dist_ij^(1 / q); zero at zero distance.
  const double e = (norm.kind == lp::Kind::Inf ? q - 1.0 : q - p) / q;
  const at::Tensor w = at::where(dist > 0, grad * (q * dist.pow(e)), at::zeros({}, grad.options()));
  at::Tensor grad_x = at::empty_like(x), grad_y = at::empty_like(y);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "pairwise_distance_backward_cpu", [&] {
    const scalar_t* ws = w.data_ptr<scalar_t>();
    const scalar_t* xs = x.data_ptr<scalar_t>();
    const scalar_t* ys = y.data_ptr<scalar_t>();
    lp::weighted_phi_sum(norm, ws, m, 1, xs, n, ys, m, d, grad_x.data_ptr<scalar_t>());
    // grad_y[j] = -sum_i w_ij phi(x_i - y_j) = sum_i w_ji^T phi(y_j - x_i), phi being odd.
    lp::weighted_phi_sum(norm, ws, 1, m, ys, m, xs, n, d, grad_y.data_ptr<scalar_t>());
  });
  return {grad_x, grad_y};
}

}  // namespace omasgan

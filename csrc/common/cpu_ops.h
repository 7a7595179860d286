// The CPU kernels bound by csrc/ext.cpp as omasgan._C.<name>_cpu (contract: omasgan/ops/_common.py
// and the references in omasgan/ops/*.py). Inputs: contiguous CPU tensors, all float32 or all float64.
#pragma once

#include <ATen/ATen.h>

#include <tuple>

namespace omasgan {

// x: [N, D], bank: [Q, D] -> (values [N], indices [N] int64): min_j ||x_i - bank_j||_p^q, lowest j on ties.
std::tuple<at::Tensor, at::Tensor> min_distance_cpu(const at::Tensor& x, const at::Tensor& bank, double p, double q);

// x: [N, D], y: [M, D] -> [N, M] = ||x_i - y_j||_p^q.
at::Tensor pairwise_distance_cpu(const at::Tensor& x, const at::Tensor& y, double p, double q);
// grad, dist: [N, M] -> (grad_x [N, D], grad_y [M, D]).
std::tuple<at::Tensor, at::Tensor> pairwise_distance_backward_cpu(const at::Tensor& grad, const at::Tensor& x,
                                                                  const at::Tensor& y, const at::Tensor& dist,
                                                                  double p, double q);

// z: [N, Dz], b: [N, Db] -> 0-d: mean over i != j of ||z_i - z_j||_p^q / (eps + ||b_i - b_j||_p^q).
at::Tensor dispersion_cpu(const at::Tensor& z, const at::Tensor& b, double p, double q, double eps);
// grad: 0-d -> (grad_z [N, Dz], grad_b [N, Db]).
std::tuple<at::Tensor, at::Tensor> dispersion_backward_cpu(const at::Tensor& grad, const at::Tensor& z,
                                                           const at::Tensor& b, double p, double q, double eps);

// v_p: [Np], v_q: [Nq] -> 0-d: mean g(v_p) - mean f*(g(v_q)) for the divergence `code`.
at::Tensor f_divergence_bound_cpu(const at::Tensor& v_p, const at::Tensor& v_q, int64_t code);
// grad: 0-d -> (grad_p [Np] = grad g'(v_p) / Np, grad_q [Nq] = -grad (f* o g)'(v_q) / Nq).
std::tuple<at::Tensor, at::Tensor> f_divergence_bound_backward_cpu(const at::Tensor& grad, const at::Tensor& v_p,
                                                                   const at::Tensor& v_q, int64_t code);

}  // namespace omasgan

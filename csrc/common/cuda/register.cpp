// Binds the CUDA entry points into omasgan._C (called from csrc/ext.cpp when built with CUDA).
// torch's pybind header (the at::Tensor casters) instead of torch/extension.h: 3x faster to compile.
#include <torch/csrc/utils/pybind.h>

#include "entry_points.h"

void register_cuda_kernels(pybind11::module_& m) {
  using pybind11::arg;
  m.def("min_distance_cuda", &omasgan::min_distance_cuda, "(values [N], indices [N]) of the nearest bank rows",
        arg("x"), arg("bank"), arg("p"), arg("q"));
  m.def("pairwise_distance_cuda", &omasgan::pairwise_distance_cuda, "[N, M] distances ||x_i - y_j||_p^q", arg("x"),
        arg("y"), arg("p"), arg("q"));
  m.def("pairwise_distance_backward_cuda", &omasgan::pairwise_distance_backward_cuda,
        "(grad_x, grad_y) of pairwise_distance", arg("grad"), arg("x"), arg("y"), arg("dist"), arg("p"), arg("q"));
  m.def("dispersion_cuda", &omasgan::dispersion_cuda, "0-d dispersion of (z, b)", arg("z"), arg("b"), arg("p"),
        arg("q"), arg("eps"));
  m.def("dispersion_backward_cuda", &omasgan::dispersion_backward_cuda, "(grad_z, grad_b) of dispersion",
        arg("grad"), arg("z"), arg("b"), arg("p"), arg("q"), arg("eps"));
  m.def("f_divergence_bound_cuda", &omasgan::f_divergence_bound_cuda, "0-d mean g(v_p) - mean f*(g(v_q))", arg("v_p"),
        arg("v_q"), arg("code"));
  m.def("f_divergence_bound_backward_cuda", &omasgan::f_divergence_bound_backward_cuda,
        "(grad_p, grad_q) of f_divergence_bound", arg("grad"), arg("v_p"), arg("v_q"), arg("code"));
}

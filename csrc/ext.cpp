// The one Python binding of omasgan._C. Each op declares its CPU and CUDA entry points in
// csrc/<op>/<op>.h; the CUDA half (csrc/<op>/cuda/, compiled only when nvcc is there) is bound when
// the build defines OMASGAN_WITH_CUDA.
#include <torch/extension.h>

#include "dispersion/dispersion.h"
#include "f_divergence/f_divergence.h"
#include "min_distance/min_distance.h"
#include "pairwise_distance/pairwise_distance.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "omasgan fused kernels";
  using pybind11::arg;
  m.def("min_distance_cpu", &omasgan::min_distance_cpu, arg("x"), arg("bank"), arg("p"), arg("q"));
  m.def("pairwise_distance_cpu", &omasgan::pairwise_distance_cpu, arg("x"), arg("y"), arg("p"), arg("q"));
  m.def("pairwise_distance_backward_cpu", &omasgan::pairwise_distance_backward_cpu, arg("grad"), arg("x"),
        arg("y"), arg("dist"), arg("p"), arg("q"));
  m.def("dispersion_cpu", &omasgan::dispersion_cpu, arg("z"), arg("b"), arg("p"), arg("q"), arg("eps"));
  m.def("dispersion_backward_cpu", &omasgan::dispersion_backward_cpu, arg("grad"), arg("z"), arg("b"), arg("p"),
        arg("q"), arg("eps"));
  m.def("f_divergence_bound_cpu", &omasgan::f_divergence_bound_cpu, arg("v_p"), arg("v_q"), arg("code"));
  m.def("f_divergence_bound_backward_cpu", &omasgan::f_divergence_bound_backward_cpu, arg("grad"), arg("v_p"),
        arg("v_q"), arg("code"));
#ifdef OMASGAN_WITH_CUDA
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
#endif
}

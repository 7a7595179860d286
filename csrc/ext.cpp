// The one Python binding of omasgan._C. CPU kernels are declared in csrc/common/cpu_ops.h and bound
// here; the CUDA half (csrc/<op>/cuda/, compiled only when nvcc is there) binds itself through
// register_cuda_kernels.
#include <torch/extension.h>

#include "common/cpu_ops.h"

#ifdef OMASGAN_WITH_CUDA
void register_cuda_kernels(pybind11::module_& m);  // csrc/common/cuda/register.cpp
#endif

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
  register_cuda_kernels(m);
#endif
}

// The one Python binding of omasgan._C. CPU kernels are declared and bound here; the CUDA half
// (csrc/<op>/cuda/, compiled only when nvcc is there) binds itself through register_cuda_kernels.
#include <torch/extension.h>

#ifdef OMASGAN_WITH_CUDA
void register_cuda_kernels(pybind11::module_& m);  // csrc/common/cuda/register.cpp
#endif

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "omasgan fused kernels";
#ifdef OMASGAN_WITH_CUDA
  register_cuda_kernels(m);
#endif
}

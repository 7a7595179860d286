// The one Python binding of omasgan._C: every CPU (and, when built, CUDA) kernel is declared here.
#include <torch/extension.h>

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "omasgan fused kernels";
}

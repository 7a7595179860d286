// dispersion_cuda and its backward: checks, output allocation and the launches on the current stream.
#include "../dispersion.h"
#include "../../common/cuda/torch_glue.h"
#include "dispersion.h"

namespace omasgan {

at::Tensor dispersion_cuda(const at::Tensor& z, const at::Tensor& b, double p, double q, double eps) {
  using namespace cuda_glue;
  check_dispersion_args(z, b, p, q, eps, c10::DeviceType::CUDA);
  const int64_t n = z.size(0);

  const c10::cuda::CUDAGuard guard(z.device());
  at::Tensor out = at::empty({}, z.options());
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "dispersion_cuda", [&] {
    at::Tensor scratch = workspace(gpu::dispersion_workspace_bytes<scalar_t>(n), z);
    C10_CUDA_CHECK(gpu::dispersion<scalar_t>(z.data_ptr<scalar_t>(), z.size(1), b.data_ptr<scalar_t>(), b.size(1), n,
                                             p, q, eps, scratch.data_ptr(), out.data_ptr<scalar_t>(),
                                             current_stream()));
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> dispersion_backward_cuda(const at::Tensor& grad, const at::Tensor& z,
                                                            const at::Tensor& b, double p, double q, double eps) {
  using namespace cuda_glue;
  check_dispersion_args(z, b, p, q, eps, c10::DeviceType::CUDA);
  check_upstream_grad(grad, z, "z");
  const int64_t n = z.size(0);

  const c10::cuda::CUDAGuard guard(z.device());
  const at::Tensor g = grad.to(z.scalar_type()).contiguous();  // stays on the device: no sync
  at::Tensor grad_z = at::empty_like(z);
  at::Tensor grad_b = at::empty_like(b);
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "dispersion_backward_cuda", [&] {
    at::Tensor scratch = workspace(gpu::dispersion_backward_workspace_bytes<scalar_t>(n), z);
    C10_CUDA_CHECK(gpu::dispersion_backward<scalar_t>(g.data_ptr<scalar_t>(), z.data_ptr<scalar_t>(), z.size(1),
                                                      b.data_ptr<scalar_t>(), b.size(1), n, p, q, eps,
                                                      scratch.data_ptr(), grad_z.data_ptr<scalar_t>(),
                                                      grad_b.data_ptr<scalar_t>(), current_stream()));
  });
  return {grad_z, grad_b};
}

}  // namespace omasgan

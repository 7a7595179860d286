// f_divergence_bound_cuda and its backward: checks, output allocation and the launch on the current stream.
#include "../f_divergence.h"
#include "../../common/cuda/torch_glue.h"
#include "f_divergence.h"

namespace omasgan {

at::Tensor f_divergence_bound_cuda(const at::Tensor& v_p, const at::Tensor& v_q, int64_t code) {
  check_f_divergence_args(v_p, v_q, code, c10::DeviceType::CUDA);
  const int64_t n_p = v_p.numel(), n_q = v_q.numel();
  const c10::cuda::CUDAGuard guard(v_p.device());
  at::Tensor value = at::empty({}, v_p.options());
  AT_DISPATCH_FLOATING_TYPES(v_p.scalar_type(), "f_divergence_bound_cuda", [&] {
    at::Tensor scratch = cuda_glue::workspace(gpu::f_divergence_bound_workspace_bytes(n_p, n_q), v_p);
    C10_CUDA_CHECK(gpu::f_divergence_bound<scalar_t>(v_p.data_ptr<scalar_t>(), n_p, v_q.data_ptr<scalar_t>(), n_q,
                                                     int(code), scratch.data_ptr(), value.data_ptr<scalar_t>(),
                                                     cuda_glue::current_stream()));
  });
  return value;
}

std::tuple<at::Tensor, at::Tensor> f_divergence_bound_backward_cuda(const at::Tensor& grad, const at::Tensor& v_p,
                                                                    const at::Tensor& v_q, int64_t code) {
  check_f_divergence_args(v_p, v_q, code, c10::DeviceType::CUDA);
  check_upstream_grad(grad, v_p, "v_p");
  const c10::cuda::CUDAGuard guard(v_p.device());
  const at::Tensor g = grad.to(v_p.scalar_type()).contiguous();  // stays on the device: no sync
  at::Tensor grad_p = at::empty_like(v_p);
  at::Tensor grad_q = at::empty_like(v_q);
  AT_DISPATCH_FLOATING_TYPES(v_p.scalar_type(), "f_divergence_bound_backward_cuda", [&] {
    C10_CUDA_CHECK(gpu::f_divergence_bound_backward<scalar_t>(
        g.data_ptr<scalar_t>(), v_p.data_ptr<scalar_t>(), v_p.numel(), v_q.data_ptr<scalar_t>(), v_q.numel(), int(code),
        grad_p.data_ptr<scalar_t>(), grad_q.data_ptr<scalar_t>(), cuda_glue::current_stream()));
  });
  return {grad_p, grad_q};
}

}  // namespace omasgan

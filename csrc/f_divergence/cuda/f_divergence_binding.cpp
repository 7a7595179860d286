// f_divergence_bound_cuda: checks, output allocation and the launch on the current stream.
#include "../../common/cuda/entry_points.h"
#include "../../common/cuda/torch_glue.h"
#include "f_divergence.h"

namespace omasgan {

// Number of divergences in omasgan.divergences._TABLE.
constexpr int64_t kDivergenceCount = 8;

std::tuple<at::Tensor, at::Tensor, at::Tensor> f_divergence_bound_cuda(const at::Tensor& v_p, const at::Tensor& v_q,
                                                                       int64_t code, bool need_grad) {
  using namespace cuda_glue;
  check_input(v_p, "v_p", 1);
  check_input(v_q, "v_q", 1);
  check_like(v_q, "v_q", v_p, "v_p");
  TORCH_CHECK(v_p.numel() > 0 && v_q.numel() > 0, "v_p and v_q must be non-empty, got ", v_p.numel(), " and ",
              v_q.numel(), " values");
  TORCH_CHECK(code >= 0 && code < kDivergenceCount, "code must index omasgan.divergences._TABLE (0..",
              kDivergenceCount - 1, "), got ", code);
  const int64_t n_p = v_p.numel(), n_q = v_q.numel();

  const c10::cuda::CUDAGuard guard(v_p.device());
  at::Tensor value = at::empty({}, v_p.options());
  at::Tensor grad_p = at::empty({need_grad ? n_p : 0}, v_p.options());
  at::Tensor grad_q = at::empty({need_grad ? n_q : 0}, v_p.options());
  AT_DISPATCH_FLOATING_TYPES(v_p.scalar_type(), "f_divergence_bound_cuda", [&] {
    at::Tensor scratch = workspace(gpu::f_divergence_bound_workspace_bytes(n_p, n_q), v_p);
    C10_CUDA_CHECK(gpu::f_divergence_bound<scalar_t>(
        v_p.data_ptr<scalar_t>(), n_p, v_q.data_ptr<scalar_t>(), n_q, int(code), scratch.data_ptr(),
        value.data_ptr<scalar_t>(), need_grad ? grad_p.data_ptr<scalar_t>() : nullptr,
        need_grad ? grad_q.data_ptr<scalar_t>() : nullptr, current_stream()));
  });
  return {value, grad_p, grad_q};
}

}  // namespace omasgan

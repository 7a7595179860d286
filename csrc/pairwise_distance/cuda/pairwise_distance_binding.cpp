// pairwise_distance_cuda and its backward: checks, output allocation and the launches on the current stream.
#include "../pairwise_distance.h"
#include "../../common/cuda/torch_glue.h"
#include "pairwise_distance.h"

namespace omasgan {

at::Tensor pairwise_distance_cuda(const at::Tensor& x, const at::Tensor& y, double p, double q) {
  using namespace cuda_glue;
  check_input(x, "x", 2);
  check_input(y, "y", 2);
  check_like(y, "y", x, "x");
  check_same_width(x, "x", y, "y");
  check_p_q(p, q);
  const int64_t n = x.size(0), m = y.size(0), d = x.size(1);

  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor out = at::empty({n, m}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "pairwise_distance_cuda", [&] {
    C10_CUDA_CHECK(gpu::pairwise_distance<scalar_t>(x.data_ptr<scalar_t>(), n, y.data_ptr<scalar_t>(), m, d, p, q,
                                                    out.data_ptr<scalar_t>(), current_stream()));
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> pairwise_distance_backward_cuda(const at::Tensor& grad, const at::Tensor& x,
                                                                   const at::Tensor& y, const at::Tensor& dist,
                                                                   double p, double q) {
  using namespace cuda_glue;
  check_input(x, "x", 2);
  check_input(y, "y", 2);
  check_input(grad, "grad", 2);
  check_input(dist, "dist", 2);
  check_like(y, "y", x, "x");
  check_like(grad, "grad", x, "x");
  check_like(dist, "dist", x, "x");
  check_same_width(x, "x", y, "y");
  check_p_q(p, q);
  const int64_t n = x.size(0), m = y.size(0), d = x.size(1);
  TORCH_CHECK(grad.size(0) == n && grad.size(1) == m && dist.sizes() == grad.sizes(),
              "grad and dist must both have shape [", n, ", ", m, "], got ", grad.sizes(), " and ", dist.sizes());

  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor grad_x = at::empty_like(x);
  at::Tensor grad_y = at::empty_like(y);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "pairwise_distance_backward_cuda", [&] {
    at::Tensor scratch = workspace(gpu::pairwise_distance_backward_workspace_bytes<scalar_t>(n, m), x);
    C10_CUDA_CHECK(gpu::pairwise_distance_backward<scalar_t>(
        grad.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), n, y.data_ptr<scalar_t>(), m, d,
        dist.data_ptr<scalar_t>(), p, q, scratch.data_ptr(), grad_x.data_ptr<scalar_t>(),
        grad_y.data_ptr<scalar_t>(), current_stream()));
  });
  return {grad_x, grad_y};
}

}  // namespace omasgan

// min_distance_cuda: checks, output allocation and the launch on the current stream.
#include <climits>

#include "../min_distance.h"
#include "../../common/cuda/torch_glue.h"
#include "min_distance.h"

namespace omasgan {

std::tuple<at::Tensor, at::Tensor> min_distance_cuda(const at::Tensor& x, const at::Tensor& bank, double p, double q) {
  using namespace cuda_glue;
  check_input(x, "x", 2);
  check_input(bank, "bank", 2);
  check_like(bank, "bank", x, "x");
  check_same_width(x, "x", bank, "bank");
  check_p_q(p, q);
  const int64_t n = x.size(0), rows = bank.size(0), d = x.size(1);
  TORCH_CHECK(rows >= 1 && rows <= INT_MAX, "bank must hold between 1 and 2^31 - 1 rows, got ", rows);

  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor values = at::empty({n}, x.options());
  at::Tensor indices = at::empty({n}, x.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "min_distance_cuda", [&] {
    at::Tensor scratch = workspace(gpu::min_distance_workspace_bytes<scalar_t>(n, rows), x);
    C10_CUDA_CHECK(gpu::min_distance<scalar_t>(x.data_ptr<scalar_t>(), bank.data_ptr<scalar_t>(), n, rows, d, p, q,
                                               scratch.data_ptr(), values.data_ptr<scalar_t>(),
                                               indices.data_ptr<int64_t>(), current_stream()));
  });
  return {values, indices};
}

}  // namespace omasgan

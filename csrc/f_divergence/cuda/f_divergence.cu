// The f-divergence bound on the GPU. Forward: one grid-stride pass computes both means, reduced per
// block in float64, then over blocks in a second one-block pass (deterministic). Backward: one
// elementwise pass writes both gradients, scaled by the incoming gradient read on the device.
#include "f_divergence.h"

#include <algorithm>

#include "../../common/cuda/lp.cuh"
#include "../../common/cuda/reduce.cuh"

namespace omasgan::gpu {
namespace {

constexpr int64_t kMaxBlocks = 1024;

// Divergence codes (kKL ... kTotalVariation): ../../common/op_constants.h, included through lp.cuh.

constexpr double kLog2 = 0.69314718055994530942;

template <typename T>
__device__ __forceinline__ T softplus(T v) {  // log(1 + e^v) without overflow
  return dmath::max(v, T(0)) + dmath::log1p(dmath::exp(-dmath::abs(v)));
}

template <typename T>
__device__ __forceinline__ T sigmoid(T v) {  // 1 / (1 + e^-v) without overflow
  if (v >= T(0)) return T(1) / (T(1) + dmath::exp(-v));
  const T e = dmath::exp(v);
  return e / (T(1) + e);
}

// g(v) and g'(v): the critic's output activation.
template <typename T>
__device__ T activation(int code, T v, T& slope) {
  switch (code) {
    case kKL:
    case kPearson:
      slope = T(1);
      return v;
    case kReverseKL:
      slope = dmath::exp(-v);
      return -slope;
    case kNeyman:
    case kSquaredHellinger:
      slope = dmath::exp(-v);
      return -dmath::expm1(-v);
    case kJensenShannon:
      slope = sigmoid(-v);
      return T(kLog2) - softplus(-v);
    case kGAN:
      slope = sigmoid(-v);
      return -softplus(-v);
    default: {  // kTotalVariation
      const T t = dmath::tanh(v);
      slope = (T(1) - t * t) / T(2);
      return t / T(2);
    }
  }
}

// f*(g(v)) in its stable closed form (METHOD.md section 1), and its derivative in v.
template <typename T>
__device__ T conjugate(int code, T v, T& slope) {
  switch (code) {
    case kKL:
      slope = dmath::exp(v - T(1));
      return slope;
    case kReverseKL:
      slope = T(1);
      return v - T(1);
    case kPearson:
      slope = v / T(2) + T(1);
      return v * (v / T(4) + T(1));  // v^2/4 + v without the overflow of v * v
    case kNeyman:
      slope = dmath::exp(-v / T(2));
      return T(-2) * dmath::expm1(-v / T(2));
    case kSquaredHellinger:
      slope = dmath::exp(v);
      return dmath::expm1(v);
    case kJensenShannon:
      slope = sigmoid(v);
      return softplus(v) - T(kLog2);
    case kGAN:
      slope = sigmoid(v);
      return softplus(v);
    default: {  // kTotalVariation
      const T t = dmath::tanh(v);
      slope = (T(1) - t * t) / T(2);
      return t / T(2);
    }
  }
}

// partial[block] = the block's share of mean g(v_p) - mean f*(g(v_q)).
template <typename T>
__global__ void __launch_bounds__(kThreads) bound_kernel(const T* v_p, int64_t n_p, const T* v_q, int64_t n_q, int code,
                                                         double* partial) {
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  const int64_t first = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  double sum_p = 0.0, sum_q = 0.0;
  T slope;  // unused here: the compiler drops its computation
  for (int64_t i = first; i < n_p; i += stride) sum_p += double(activation(code, v_p[i], slope));
  for (int64_t i = first; i < n_q; i += stride) sum_q += double(conjugate(code, v_q[i], slope));
  const double share = block_sum(sum_p / double(n_p) - sum_q / double(n_q));
  if (threadIdx.x == 0) partial[blockIdx.x] = share;
}

// grad_p = grad g'(v_p) / n_p, grad_q = -grad (f* o g)'(v_q) / n_q.
template <typename T>
__global__ void __launch_bounds__(kThreads) bound_backward_kernel(const T* grad, const T* v_p, int64_t n_p, const T* v_q,
                                                                  int64_t n_q, int code, T* grad_p, T* grad_q) {
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  const int64_t first = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  const T scale_p = *grad / T(n_p), scale_q = -*grad / T(n_q);
  T slope;
  for (int64_t i = first; i < n_p; i += stride) {
    activation(code, v_p[i], slope);
    grad_p[i] = slope * scale_p;
  }
  for (int64_t i = first; i < n_q; i += stride) {
    conjugate(code, v_q[i], slope);
    grad_q[i] = slope * scale_q;
  }
}

// Largest value over the block, valid in every thread. Every thread of the block must call it.
__device__ inline double block_max(double v) {
  __shared__ double warp_max[kThreads / 32];
  __shared__ double result;
  v = warp_combine<Norm::Inf>(v);
  if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    double m = warp_max[0];
    for (int w = 1; w < kThreads / 32; ++w) m = ::fmax(m, warp_max[w]);
    result = m;
  }
  __syncthreads();
  const double out = result;
  __syncthreads();  // result is reused by the next call
  return out;
}

// log mean_k exp(scale v[k]) over the block's threads (one block). Every thread must call it.
template <typename T>
__device__ double block_log_mean_exp(const T* v, int64_t n, double scale) {
  const double lowest = -Limits<double>::kMax;
  double top = lowest;
  for (int64_t k = threadIdx.x; k < n; k += kThreads) top = ::fmax(top, scale * double(v[k]));
  top = block_max(top);
  double sum = 0.0;
  for (int64_t k = threadIdx.x; k < n; k += kThreads) sum += ::exp(scale * double(v[k]) - top);
  __shared__ double total;
  sum = block_sum(sum);
  if (threadIdx.x == 0) total = sum;
  __syncthreads();
  const double out = top + ::log(total) - ::log(double(n));
  __syncthreads();
  return out;
}

// Neyman: both means fall to -inf once critic values pass about -88 (float32), and the bound reads
// -inf - (-inf) = NaN. Its true value is then -e^A + e^B with A = log mean e^-v_p and
// B = log 2 + log mean e^(-v_q / 2): an infinity of the sign of B - A (omasgan/divergences.py:
// resolve_infinite_difference). One block, launched after the sum; it returns at once unless the
// value is NaN.
template <typename T>
__global__ void __launch_bounds__(kThreads) neyman_fixup_kernel(const T* v_p, int64_t n_p, const T* v_q, int64_t n_q,
                                                                T* value) {
  const T v = value[0];
  if (v == v) return;  // not NaN: uniform over the block
  const double a = block_log_mean_exp(v_p, n_p, -1.0);
  const double b = kLog2 + block_log_mean_exp(v_q, n_q, -0.5);
  const T inf = Limits<T>::kMax * T(2);
  if (threadIdx.x == 0 && a != b) value[0] = b > a ? inf : -inf;
}

int64_t bound_blocks(int64_t n_p, int64_t n_q) {
  return std::clamp<int64_t>(ceil_div(std::max(n_p, n_q), kThreads), 1, kMaxBlocks);
}

}  // namespace

int64_t f_divergence_bound_workspace_bytes(int64_t n_p, int64_t n_q) {
  return bound_blocks(n_p, n_q) * int64_t(sizeof(double));
}

template <typename T>
cudaError_t f_divergence_bound(const T* v_p, int64_t n_p, const T* v_q, int64_t n_q, int code, void* workspace,
                               T* value, cudaStream_t stream) {
  const int64_t blocks = bound_blocks(n_p, n_q);
  double* partial = static_cast<double*>(workspace);
  bound_kernel<T><<<unsigned(blocks), kThreads, 0, stream>>>(v_p, n_p, v_q, n_q, code, partial);
  sum_partials_kernel<T><<<1, kThreads, 0, stream>>>(partial, blocks, 1.0, value);
  if (code == kNeyman) neyman_fixup_kernel<T><<<1, kThreads, 0, stream>>>(v_p, n_p, v_q, n_q, value);
  return cudaGetLastError();
}

template <typename T>
cudaError_t f_divergence_bound_backward(const T* grad, const T* v_p, int64_t n_p, const T* v_q, int64_t n_q, int code,
                                        T* grad_p, T* grad_q, cudaStream_t stream) {
  const int64_t blocks = bound_blocks(n_p, n_q);
  bound_backward_kernel<T><<<unsigned(blocks), kThreads, 0, stream>>>(grad, v_p, n_p, v_q, n_q, code, grad_p, grad_q);
  return cudaGetLastError();
}

template cudaError_t f_divergence_bound<float>(const float*, int64_t, const float*, int64_t, int, void*, float*,
                                               cudaStream_t);
template cudaError_t f_divergence_bound<double>(const double*, int64_t, const double*, int64_t, int, void*, double*,
                                                cudaStream_t);
template cudaError_t f_divergence_bound_backward<float>(const float*, const float*, int64_t, const float*, int64_t, int,
                                                        float*, float*, cudaStream_t);
template cudaError_t f_divergence_bound_backward<double>(const double*, const double*, int64_t, const double*, int64_t,
                                                         int, double*, double*, cudaStream_t);

}  // namespace omasgan::gpu

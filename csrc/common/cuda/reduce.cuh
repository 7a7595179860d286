// Launch shapes and reductions shared by the CUDA kernels. Pure CUDA: no torch headers.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "lp.cuh"

namespace omasgan::gpu {

constexpr int kThreads = 256;  // every kernel of the CUDA half runs 256-thread blocks
constexpr unsigned kFullMask = 0xffffffffu;

__host__ __device__ constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A 1-D grid holds at most 2^31 - 1 blocks; the shapes that would need more do not fit in memory anyway.
inline cudaError_t check_grid(int64_t blocks) {
  return blocks <= int64_t(INT32_MAX) ? cudaSuccess : cudaErrorInvalidConfiguration;
}

// Blocks of a warp-per-row kernel over n rows.
inline int64_t warp_per_row_blocks(int64_t n) { return ceil_div(n, kThreads / 32); }

// Combines one accumulator per lane over the warp (sum, or max for p = inf); every lane gets the result.
template <Norm K, typename T>
__device__ __forceinline__ T warp_combine(T v) {
  for (int off = 16; off > 0; off /= 2) v = combine<K>(v, __shfl_xor_sync(kFullMask, v, off));
  return v;
}

// Sum of one value per thread over the block, valid in thread 0. Every thread of the block must call it.
__device__ inline double block_sum(double v) {
  __shared__ double warp_sums[kThreads / 32];
  v = warp_combine<Norm::L1>(v);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = v;
  __syncthreads();
  v = threadIdx.x < kThreads / 32 ? warp_sums[threadIdx.x] : 0.0;
  if (threadIdx.x < 32) v = warp_combine<Norm::L1>(v);
  __syncthreads();  // warp_sums is reused by the next call
  return v;
}

// out[0] = scale * sum(partial[0:count]) in one block: the deterministic second pass of a reduction.
template <typename T>
__global__ void __launch_bounds__(kThreads) sum_partials_kernel(const double* partial, int64_t count, double scale,
                                                                T* out) {
  double v = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) v += partial[i];
  v = block_sum(v);
  if (threadIdx.x == 0) out[0] = T(scale * v);
}

}  // namespace omasgan::gpu

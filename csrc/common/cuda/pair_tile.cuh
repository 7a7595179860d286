// The core of the pairwise kernels: a 256-thread block sweeps the features of a (16 TM) x (16 TM) tile
// of row pairs through shared memory, each thread accumulating TM x TM pairs in registers. Pure CUDA.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "reduce.cuh"

namespace omasgan::gpu {

// Rows per thread and tile side: 8 x 8 pairs per thread in float32, 4 x 4 in float64 (register budget).
template <typename T>
constexpr int kPairsPerThread = sizeof(T) == 4 ? 8 : 4;

// Thread (tx, ty) of the 16 x 16 block owns rows row0 + ty + 16 a and columns col0 + tx + 16 b,
// a, b < TM: interleaved so that a warp's shared-memory reads hit distinct banks or broadcast.
template <typename T, int TM>
struct PairTile {
  static constexpr int kSide = 16 * TM;
  static constexpr int kDepth = 16;  // features per shared-memory stage

  struct Shared {
    T x[kDepth][kSide + 1];  // +1: the transposing stores do not all land on one bank
    T y[kDepth][kSide + 1];
  };

  __device__ static int tx() { return threadIdx.x % 16; }
  __device__ static int ty() { return threadIdx.x / 16; }

  // Stage features [k0, k0 + kDepth) of rows [row0, row0 + kSide) of src[n, d] into dst, transposed;
  // rows and features past the end read as 0, which adds nothing to any l_p accumulator.
  __device__ static void stage(T (*dst)[kSide + 1], const T* src, int64_t n, int64_t d, int64_t row0, int64_t k0) {
    for (int e = threadIdx.x; e < kSide * kDepth; e += kThreads) {
      const int r = e / kDepth, k = e % kDepth;  // consecutive threads read consecutive features
      const int64_t row = row0 + r, col = k0 + k;
      dst[k][r] = (row < n && col < d) ? src[row * d + col] : T(0);
    }
  }

  // Calls visit(a, b, k, x[row0 + ty + 16a][k], y[col0 + tx + 16b][k]) for every feature k in ascending
  // order (k >= d visits zeros). Every thread of the block must call this (it synchronises).
  template <class Visit>
  __device__ static void sweep(Shared& s, const T* x, int64_t nx, int64_t row0, const T* y, int64_t ny,
                               int64_t col0, int64_t d, Visit&& visit) {
    for (int64_t k0 = 0; k0 < d; k0 += kDepth) {
      stage(s.x, x, nx, d, row0, k0);
      stage(s.y, y, ny, d, col0, k0);
      __syncthreads();
#pragma unroll 2
      for (int kk = 0; kk < kDepth; ++kk) {
        T xr[TM], yr[TM];
#pragma unroll
        for (int a = 0; a < TM; ++a) xr[a] = s.x[kk][ty() + 16 * a];
#pragma unroll
        for (int b = 0; b < TM; ++b) yr[b] = s.y[kk][tx() + 16 * b];
#pragma unroll
        for (int a = 0; a < TM; ++a) {
#pragma unroll
          for (int b = 0; b < TM; ++b) visit(a, b, k0 + kk, xr[a], yr[b]);
        }
      }
      __syncthreads();
    }
  }
};

}  // namespace omasgan::gpu

// pairwise_distance on the GPU. Forward: one block per (16 TM) x (16 TM) tile of the output, features
// streamed through shared memory. Backward: per-pair weights w_ij, then one contraction per side,
// out[r, k] = sum_c w(r, c) phi(a_rk - b_ck), tiled over (rows, features) with the pairs streamed, so
// every gradient row is written by one thread, without atomics (p = inf, whose gradient lands on one
// coordinate per pair, scatters with atomics instead).
#include "pairwise_distance.h"

#include <algorithm>

#include "../../common/cuda/lp.cuh"
#include "../../common/cuda/pair_tile.cuh"
#include "../../common/cuda/reduce.cuh"

namespace omasgan::gpu {
namespace {

template <typename T, Norm K>
__global__ void __launch_bounds__(kThreads)
    pairwise_kernel(const T* x, int64_t n, const T* y, int64_t m, int64_t d, Lp<T> lp, T* out) {
  constexpr int TM = kPairsPerThread<T>;
  using Tile = PairTile<T, TM>;
  __shared__ typename Tile::Shared shared;
  const int64_t col_tiles = ceil_div(m, Tile::kSide);
  const int64_t row0 = int64_t(blockIdx.x) / col_tiles * Tile::kSide;
  const int64_t col0 = int64_t(blockIdx.x) % col_tiles * Tile::kSide;

  T acc[TM][TM] = {};
  Tile::sweep(shared, x, n, row0, y, m, col0, d,
              [&](int a, int b, int64_t, T xv, T yv) { accumulate<K>(acc[a][b], xv - yv, lp); });
#pragma unroll
  for (int a = 0; a < TM; ++a) {
    const int64_t i = row0 + Tile::ty() + 16 * a;
#pragma unroll
    for (int b = 0; b < TM; ++b) {
      const int64_t j = col0 + Tile::tx() + 16 * b;
      if (i < n && j < m) {
        // a pair whose power sum over- or underflowed is recomputed from its rows (rare: divergent)
        out[i * m + j] = sum_trusted(acc[a][b]) ? lp_pow_q<K>(acc[a][b], lp) : safe_value<K>(x + i * d, y + j * d, d, lp);
      }
    }
  }
}

// w[e] = grad[e] * d dist / d ||u|| over the [n, m] matrices.
template <typename T, Norm K>
__global__ void __launch_bounds__(kThreads)
    pair_weights_kernel(const T* grad, const T* dist, int64_t count, Lp<T> lp, T* w) {
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < count; e += int64_t(gridDim.x) * kThreads) {
    w[e] = grad[e] * grad_scale<K>(norm_from_distance(dist[e], lp), lp);
  }
}

constexpr int kContractSide = 64;  // rows and features per block of contract_kernel

// out[r, k] = scale * sum_c w(r, c) phi(a[r, k] - b[c, k]) with w(r, c) = w[r * w_row + c * w_col];
// a: [ra, d], b: [cb, d], out: [ra, d]. Block: 64 rows x 64 features, 4 x 4 per thread; pairs c
// streamed 16 at a time through shared memory.
template <typename T, Norm K>
__global__ void __launch_bounds__(kThreads)
    contract_kernel(const T* w, int64_t w_row, int64_t w_col, const T* a, int64_t ra, const T* b, int64_t cb,
                    int64_t d, Lp<T> lp, T scale, T* out) {
  constexpr int TM = kContractSide / 16, kSide = kContractSide, kDepth = 16;
  __shared__ T ws[kDepth][kSide + 1];  // w(r0 + r, c0 + c) at [c][r]
  __shared__ T bs[kDepth][kSide + 1];  // b[c0 + c, k0 + k] at [c][k]
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t feature_tiles = ceil_div(d, kSide);
  const int64_t r0 = int64_t(blockIdx.x) / feature_tiles * kSide;
  const int64_t k0 = int64_t(blockIdx.x) % feature_tiles * kSide;

  T av[TM][TM], acc[TM][TM] = {};
#pragma unroll
  for (int i = 0; i < TM; ++i) {
#pragma unroll
    for (int j = 0; j < TM; ++j) {
      const int64_t r = r0 + ty + 16 * i, k = k0 + tx + 16 * j;
      av[i][j] = (r < ra && k < d) ? a[r * d + k] : T(0);
    }
  }

  for (int64_t c0 = 0; c0 < cb; c0 += kDepth) {
    for (int e = threadIdx.x; e < kSide * kDepth; e += kThreads) {
      // read along whichever index is contiguous in memory
      const int r = w_col == 1 ? e / kDepth : e % kSide;
      const int c = w_col == 1 ? e % kDepth : e / kSide;
      const int64_t row = r0 + r, col = c0 + c;
      ws[c][r] = (row < ra && col < cb) ? w[row * w_row + col * w_col] : T(0);
    }
    for (int e = threadIdx.x; e < kSide * kDepth; e += kThreads) {
      const int c = e / kSide, k = e % kSide;
      const int64_t col = c0 + c, feature = k0 + k;
      bs[c][k] = (col < cb && feature < d) ? b[col * d + feature] : T(0);
    }
    __syncthreads();
#pragma unroll 1
    for (int c = 0; c < kDepth; ++c) {
      T wr[TM], br[TM];
#pragma unroll
      for (int i = 0; i < TM; ++i) wr[i] = ws[c][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < TM; ++j) br[j] = bs[c][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < TM; ++i) {
#pragma unroll
        for (int j = 0; j < TM; ++j) acc[i][j] = dmath::fma(wr[i], phi<K>(av[i][j] - br[j], lp), acc[i][j]);
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
#pragma unroll
    for (int j = 0; j < TM; ++j) {
      const int64_t r = r0 + ty + 16 * i, k = k0 + tx + 16 * j;
      if (r < ra && k < d) out[r * d + k] = scale * acc[i][j];
    }
  }
}

// p = inf: the gradient of pair (i, j) is w_ij sign(u_k) at the first k of largest |u_k|, so each pair
// finds its k in a tile sweep and adds into grad_x[i, k] and grad_y[j, k] (zeroed by the caller).
template <typename T>
__global__ void __launch_bounds__(kThreads) linf_scatter_kernel(const T* w, const T* x, int64_t n, const T* y,
                                                                int64_t m, int64_t d, T* grad_x, T* grad_y) {
  constexpr int TM = 4;
  using Tile = PairTile<T, TM>;
  __shared__ typename Tile::Shared shared;
  const int64_t col_tiles = ceil_div(m, Tile::kSide);
  const int64_t row0 = int64_t(blockIdx.x) / col_tiles * Tile::kSide;
  const int64_t col0 = int64_t(blockIdx.x) % col_tiles * Tile::kSide;

  T largest[TM][TM], u_at[TM][TM];
  int64_t k_at[TM][TM];
#pragma unroll
  for (int a = 0; a < TM; ++a) {
#pragma unroll
    for (int b = 0; b < TM; ++b) {
      largest[a][b] = T(-1);  // any |u_0| >= 0 beats it, so k_at is always a real feature
      u_at[a][b] = T(0);
      k_at[a][b] = 0;
    }
  }
  Tile::sweep(shared, x, n, row0, y, m, col0, d, [&](int a, int b, int64_t k, T xv, T yv) {
    const T u = xv - yv;
    if (dmath::abs(u) > largest[a][b]) {  // strict: the first k of largest |u_k|
      largest[a][b] = dmath::abs(u);
      u_at[a][b] = u;
      k_at[a][b] = k;
    }
  });
#pragma unroll
  for (int a = 0; a < TM; ++a) {
    const int64_t i = row0 + Tile::ty() + 16 * a;
#pragma unroll
    for (int b = 0; b < TM; ++b) {
      const int64_t j = col0 + Tile::tx() + 16 * b;
      if (i >= n || j >= m) continue;
      const T g = w[i * m + j] * sign(u_at[a][b]);
      if (g != T(0)) {
        atomicAdd(grad_x + i * d + k_at[a][b], g);
        atomicAdd(grad_y + j * d + k_at[a][b], -g);
      }
    }
  }
}

// Blocks of a grid of (16 tm) x (16 tm) pair tiles over [n, m].
int64_t pair_tile_blocks(int64_t n, int64_t m, int tm) {
  return ceil_div(n, 16 * tm) * ceil_div(m, 16 * tm);
}

// Zeroes count values; an empty tensor's null pointer is never passed to the runtime.
template <typename T>
cudaError_t zero(T* p, int64_t count, cudaStream_t stream) {
  return count > 0 ? cudaMemsetAsync(p, 0, count * sizeof(T), stream) : cudaSuccess;
}

int64_t elementwise_blocks(int64_t count) { return std::min<int64_t>(ceil_div(count, kThreads), 4096); }

template <typename T, Norm K>
cudaError_t launch_grad_from_weights(const T* w, const T* x, int64_t n, const T* y, int64_t m, int64_t d, Lp<T> lp,
                                     bool symmetric, T* grad_x, T* grad_y, cudaStream_t stream) {
  if constexpr (K == Norm::Inf) {
    if (cudaError_t err = zero(grad_x, n * d, stream); err != cudaSuccess) return err;
    if (!symmetric) {
      if (cudaError_t err = zero(grad_y, m * d, stream); err != cudaSuccess) return err;
    }
    const int64_t blocks = pair_tile_blocks(n, m, 4);
    if (blocks == 0 || d == 0) return cudaSuccess;
    if (cudaError_t err = check_grid(blocks); err != cudaSuccess) return err;
    linf_scatter_kernel<T><<<unsigned(blocks), kThreads, 0, stream>>>(w, x, n, y, m, d, grad_x,
                                                                      symmetric ? grad_x : grad_y);
  } else {
    const int64_t feature_tiles = ceil_div(d, kContractSide);
    if (cudaError_t err = check_grid(ceil_div(std::max(n, m), kContractSide) * feature_tiles); err != cudaSuccess) return err;
    // w is symmetric: the y side of every pair equals its x side, so grad_x counts each pair twice.
    if (n > 0 && d > 0) {
      contract_kernel<T, K><<<unsigned(ceil_div(n, kContractSide) * feature_tiles), kThreads, 0, stream>>>(
          w, m, 1, x, n, y, m, d, lp, T(symmetric ? 2 : 1), grad_x);
    }
    if (!symmetric && m > 0 && d > 0) {
      // grad_y[j] = -sum_i w_ij phi(x_i - y_j) = sum_i w^T_ji phi(y_j - x_i): the same contraction on w^T.
      contract_kernel<T, K><<<unsigned(ceil_div(m, kContractSide) * feature_tiles), kThreads, 0, stream>>>(
          w, 1, m, y, m, x, n, d, lp, T(1), grad_y);
    }
  }
  return cudaGetLastError();
}

}  // namespace

template <typename T>
cudaError_t pairwise_distance(const T* x, int64_t n, const T* y, int64_t m, int64_t d, double p, double q, T* out,
                              cudaStream_t stream) {
  const int64_t blocks = pair_tile_blocks(n, m, kPairsPerThread<T>);
  if (blocks == 0) return cudaSuccess;
  if (cudaError_t err = check_grid(blocks); err != cudaSuccess) return err;
  const Lp<T> lp = Lp<T>::make(p, q);
  return dispatch_norm(p, [&](auto kind) {
    pairwise_kernel<T, decltype(kind)::value><<<unsigned(blocks), kThreads, 0, stream>>>(x, n, y, m, d, lp, out);
    return cudaGetLastError();
  });
}

template <typename T>
int64_t pairwise_distance_backward_workspace_bytes(int64_t n, int64_t m) {
  return n * m * int64_t(sizeof(T));
}

template <typename T>
cudaError_t pairwise_distance_backward(const T* grad, const T* x, int64_t n, const T* y, int64_t m, int64_t d,
                                       const T* dist, double p, double q, void* workspace, T* grad_x, T* grad_y,
                                       cudaStream_t stream) {
  T* w = static_cast<T*>(workspace);
  const Lp<T> lp = Lp<T>::make(p, q);
  return dispatch_norm(p, [&](auto kind) {
    constexpr Norm K = decltype(kind)::value;
    if (n * m > 0) {
      pair_weights_kernel<T, K><<<unsigned(elementwise_blocks(n * m)), kThreads, 0, stream>>>(grad, dist, n * m, lp, w);
    }
    return launch_grad_from_weights<T, K>(w, x, n, y, m, d, lp, false, grad_x, grad_y, stream);
  });
}

template <typename T>
cudaError_t pairwise_grad_from_weights(const T* w, const T* x, int64_t n, const T* y, int64_t m, int64_t d, double p,
                                       bool symmetric, T* grad_x, T* grad_y, cudaStream_t stream) {
  const Lp<T> lp = Lp<T>::make(p, 1.0);  // the contraction only needs p: q is inside w
  return dispatch_norm(p, [&](auto kind) {
    return launch_grad_from_weights<T, decltype(kind)::value>(w, x, n, y, m, d, lp, symmetric, grad_x, grad_y, stream);
  });
}

#define OMASGAN_INSTANTIATE(T)                                                                                   \
  template cudaError_t pairwise_distance<T>(const T*, int64_t, const T*, int64_t, int64_t, double, double, T*,  \
                                            cudaStream_t);                                                      \
  template int64_t pairwise_distance_backward_workspace_bytes<T>(int64_t, int64_t);                              \
  template cudaError_t pairwise_distance_backward<T>(const T*, const T*, int64_t, const T*, int64_t, int64_t,   \
                                                     const T*, double, double, void*, T*, T*, cudaStream_t);    \
  template cudaError_t pairwise_grad_from_weights<T>(const T*, const T*, int64_t, const T*, int64_t, int64_t,   \
                                                     double, bool, T*, T*, cudaStream_t);
OMASGAN_INSTANTIATE(float)
OMASGAN_INSTANTIATE(double)
#undef OMASGAN_INSTANTIATE

}  // namespace omasgan::gpu

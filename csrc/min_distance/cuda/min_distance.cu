// min_distance on the GPU: tiles of queries x bank rows in shared memory, a running (min, argmin) per
// query in registers, the bank split across blocks (grid.y) when the queries alone cannot fill the
// device. Memory beyond the inputs: O(n * splits + q), never n x q.
// Extreme magnitudes: the ranking keys assume inputs inside the band of omasgan/ops/_common.py (the
// op scales x and bank by a power of two otherwise); the finishing value takes the safe path of
// lp.cuh when its power sum over- or underflows.
#include "min_distance.h"

#include <algorithm>

#include "../../common/cuda/lp.cuh"
#include "../../common/cuda/pair_tile.cuh"
#include "../../common/cuda/reduce.cuh"

namespace omasgan::gpu {
namespace {

// Enough blocks to fill an H100 (132 SMs) a few times over; a constant, so results do not depend on the device.
constexpr int64_t kTargetBlocks = 1024;

// The running nearest row: ordered by key, then by index (lowest index on ties); index -1 means none yet.
template <typename T>
struct Nearest {
  T key;
  int index;

  __device__ void offer(T k, int j) {
    if (index < 0 || k < key || (k == key && j < index)) {
      key = k;
      index = j;
    }
  }

  // Merges over groups of `width` consecutive lanes (a power of two up to 32); every lane gets the result.
  __device__ void merge_lanes(int width) {
    for (int off = width / 2; off > 0; off /= 2) {
      const T k = __shfl_xor_sync(kFullMask, key, off);
      const int j = __shfl_xor_sync(kFullMask, index, off);
      if (j >= 0) offer(k, j);
    }
  }
};

// How the bank is split across grid.y: no split is empty.
struct BankSplit {
  int64_t splits;
  int64_t tiles_per_split;
};

template <typename T>
using Tile = PairTile<T, kPairsPerThread<T>>;

template <typename T>
BankSplit split_bank(int64_t n, int64_t q) {
  // n = 0 still asks for its (empty) workspace size: count at least one query tile
  const int64_t query_tiles = std::max<int64_t>(1, ceil_div(n, Tile<T>::kSide));
  const int64_t bank_tiles = ceil_div(q, Tile<T>::kSide);
  const int64_t wanted = std::clamp<int64_t>(kTargetBlocks / query_tiles, 1, bank_tiles);
  const int64_t per_split = ceil_div(bank_tiles, wanted);
  return {ceil_div(bank_tiles, per_split), per_split};
}

template <typename T>
__global__ void __launch_bounds__(kThreads) squared_norms_kernel(const T* rows, int64_t n, int64_t d, T* out) {
  const int64_t row = (int64_t(blockIdx.x) * kThreads + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= n) return;  // uniform over the warp
  const T* r = rows + row * d;
  T acc = T(0);
  for (int64_t k = lane; k < d; k += 32) acc = dmath::fma(r[k], r[k], acc);
  acc = warp_combine<Norm::L2>(acc);
  if (lane == 0) out[row] = acc;
}

// Block (bx, by): queries [bx * side, +side) against bank tiles [by * tiles_per_split, +tiles_per_split).
// Writes the split's nearest (key, index) of each query to split_key/split_index[by * n + row].
template <typename T, Norm K>
__global__ void __launch_bounds__(kThreads)
    nearest_in_split_kernel(const T* x, int64_t n, const T* bank, int64_t q, int64_t d, Lp<T> lp, const T* x_sq,
                            const T* bank_sq, int64_t tiles_per_split, T* split_key, int* split_index) {
  constexpr int TM = kPairsPerThread<T>;
  constexpr bool kDot = K == Norm::L2;  // rank by ||x||^2 + ||b||^2 - 2 x.b: one FMA per coordinate
  using TileT = Tile<T>;
  __shared__ typename TileT::Shared shared;

  const int tx = TileT::tx(), ty = TileT::ty();
  const int64_t row0 = int64_t(blockIdx.x) * TileT::kSide;
  const int64_t tile_begin = int64_t(blockIdx.y) * tiles_per_split;
  const int64_t tile_end = min(tile_begin + tiles_per_split, ceil_div(q, TileT::kSide));

  T row_sq[TM];
  Nearest<T> best[TM];
#pragma unroll
  for (int a = 0; a < TM; ++a) {
    const int64_t row = row0 + ty + 16 * a;
    row_sq[a] = (kDot && row < n) ? x_sq[row] : T(0);
    best[a] = {T(0), -1};
  }

  for (int64_t t = tile_begin; t < tile_end; ++t) {
    const int64_t col0 = t * TileT::kSide;
    T acc[TM][TM] = {};
    TileT::sweep(shared, x, n, row0, bank, q, col0, d, [&](int a, int b, int64_t, T xv, T bv) {
      if constexpr (kDot) {
        acc[a][b] = dmath::fma(xv, bv, acc[a][b]);
      } else {
        accumulate<K>(acc[a][b], xv - bv, lp);
      }
    });
    // Columns in ascending order per thread, so the strict < of offer keeps the lowest index.
#pragma unroll
    for (int b = 0; b < TM; ++b) {
      const int64_t col = col0 + tx + 16 * b;
      if (col >= q) continue;
      const T col_sq = kDot ? bank_sq[col] : T(0);
#pragma unroll
      for (int a = 0; a < TM; ++a) {
        best[a].offer(kDot ? row_sq[a] + col_sq - T(2) * acc[a][b] : acc[a][b], int(col));
      }
    }
  }

  // The 16 threads tx = 0..15 of one query row are 16 consecutive lanes of a warp.
#pragma unroll
  for (int a = 0; a < TM; ++a) {
    best[a].merge_lanes(16);
    const int64_t row = row0 + ty + 16 * a;
    if (tx == 0 && row < n) {
      split_key[blockIdx.y * n + row] = best[a].key;
      split_index[blockIdx.y * n + row] = best[a].index;
    }
  }
}

// One warp per query: merges the splits' candidates, then recomputes the chosen pair's distance
// coordinate by coordinate, so the value is exact (a duplicate gives exactly 0) whatever ranked it.
template <typename T, Norm K>
__global__ void __launch_bounds__(kThreads)
    nearest_finish_kernel(const T* x, const T* bank, int64_t n, int64_t d, Lp<T> lp, const T* split_key,
                          const int* split_index, int64_t splits, T* values, int64_t* indices) {
  const int64_t row = (int64_t(blockIdx.x) * kThreads + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= n) return;  // uniform over the warp

  Nearest<T> best{T(0), -1};
  for (int64_t s = lane; s < splits; s += 32) best.offer(split_key[s * n + row], split_index[s * n + row]);
  best.merge_lanes(32);

  const T* xr = x + row * d;
  const T* br = bank + int64_t(best.index) * d;
  T acc = T(0);
  for (int64_t k = lane; k < d; k += 32) accumulate<K>(acc, xr[k] - br[k], lp);
  acc = warp_combine<K>(acc);
  T value = T(0);
  if (sum_trusted(acc)) {  // uniform over the warp: every lane holds the combined acc
    value = lp_pow_q<K>(acc, lp);
  } else {  // the safe path, warp-cooperative: m = max |u_k|, then sum (|u_k| / m)^p
    double m = 0.0;
    for (int64_t k = lane; k < d; k += 32) m = ::fmax(m, ::fabs(double(xr[k]) - double(br[k])));
    m = warp_combine<Norm::Inf>(m);
    double nrm = m;
    if (K != Norm::Inf && m > 0.0 && m <= Limits<double>::kMax) {
      double t = 0.0;
      for (int64_t k = lane; k < d; k += 32) {
        const double r = ::fabs(double(xr[k]) - double(br[k])) / m;
        t += K == Norm::L1 ? r : K == Norm::L2 ? r * r : ::pow(r, double(lp.p));
      }
      t = warp_combine<Norm::L1>(t);
      nrm = K == Norm::L1 ? m * t : K == Norm::L2 ? m * ::sqrt(t) : m * ::pow(t, 1.0 / double(lp.p));
    }
    value = narrow<T>(pow_pos(nrm, double(lp.q)));
  }
  if (lane == 0) {
    values[row] = value;
    indices[row] = best.index;
  }
}

}  // namespace

template <typename T>
int64_t min_distance_workspace_bytes(int64_t n, int64_t q) {
  const BankSplit split = split_bank<T>(n, q);
  return split.splits * n * int64_t(sizeof(T) + sizeof(int)) + (n + q) * int64_t(sizeof(T));
}

template <typename T>
cudaError_t min_distance(const T* x, const T* bank, int64_t n, int64_t q, int64_t d, double p, double qpow,
                         void* workspace, T* values, int64_t* indices, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const BankSplit split = split_bank<T>(n, q);
  // workspace: split_key [splits, n] | x_sq [n] | bank_sq [q] | split_index [splits, n]
  T* split_key = static_cast<T*>(workspace);
  T* x_sq = split_key + split.splits * n;
  T* bank_sq = x_sq + n;
  int* split_index = reinterpret_cast<int*>(bank_sq + q);
  const Lp<T> lp = Lp<T>::make(p, qpow);
  const int64_t query_tiles = ceil_div(n, Tile<T>::kSide);
  if (cudaError_t err = check_grid(std::max(query_tiles, warp_per_row_blocks(std::max(n, q)))); err != cudaSuccess)
    return err;

  return dispatch_norm(p, [&](auto kind) {
    constexpr Norm K = decltype(kind)::value;
    if constexpr (K == Norm::L2) {
      squared_norms_kernel<T><<<unsigned(warp_per_row_blocks(n)), kThreads, 0, stream>>>(x, n, d, x_sq);
      squared_norms_kernel<T><<<unsigned(warp_per_row_blocks(q)), kThreads, 0, stream>>>(bank, q, d, bank_sq);
    }
    const dim3 grid(unsigned(query_tiles), unsigned(split.splits));
    nearest_in_split_kernel<T, K><<<grid, kThreads, 0, stream>>>(x, n, bank, q, d, lp, x_sq, bank_sq,
                                                                 split.tiles_per_split, split_key, split_index);
    nearest_finish_kernel<T, K><<<unsigned(warp_per_row_blocks(n)), kThreads, 0, stream>>>(
        x, bank, n, d, lp, split_key, split_index, split.splits, values, indices);
    return cudaGetLastError();
  });
}

#define OMASGAN_INSTANTIATE(T)                                                                                \
  template int64_t min_distance_workspace_bytes<T>(int64_t, int64_t);                                         \
  template cudaError_t min_distance<T>(const T*, const T*, int64_t, int64_t, int64_t, double, double, void*, \
                                       T*, int64_t*, cudaStream_t);
OMASGAN_INSTANTIATE(float)
OMASGAN_INSTANTIATE(double)
#undef OMASGAN_INSTANTIATE

}  // namespace omasgan::gpu

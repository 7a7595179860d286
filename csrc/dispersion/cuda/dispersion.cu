// dispersion on the GPU. Each block takes a 64 x 64 tile of pairs (i, j) and sweeps z's features,
// then b's, through shared memory, so both distances of a pair meet in registers: the forward reduces
// the ratios of the upper-triangle tiles (the ratio is symmetric), the backward writes per-pair weights
// into two [n, n] scratch matrices and hands them to pairwise_distance's contraction, which writes
// every gradient row without atomics.
// Numerics (omasgan/ops/_common.py): pair norms come from norm_or_safe (a power sum that over- or
// underflowed is recomputed from the rows), then their q-th powers, the ratios and the backward's
// weights are formed in double, where eps stays exact (1e-50 is 0 in float32) and a ratio of two
// huge distances stays finite.
#include "dispersion.h"

#include "../../common/cuda/lp.cuh"
#include "../../common/cuda/pair_tile.cuh"
#include "../../common/cuda/reduce.cuh"
#include "../../pairwise_distance/cuda/pairwise_distance.h"

namespace omasgan::gpu {
namespace {

constexpr int TM = 4;  // two accumulators per pair: 4 x 4 pairs per thread keeps them in registers

template <typename T>
using Tile = PairTile<T, TM>;

template <typename T>
__host__ __device__ int64_t tiles_per_side(int64_t n) {
  return ceil_div(n, Tile<T>::kSide);
}

// The l_p accumulators of ||z_i - z_j|| and ||b_i - b_j|| for the thread's pairs of tile (row0, col0).
template <typename T, Norm K>
__device__ void pair_accumulators(typename Tile<T>::Shared& shared, const T* z, int64_t dz, const T* b, int64_t db,
                                  int64_t n, int64_t row0, int64_t col0, const Lp<T>& lp, T (&acc_z)[TM][TM],
                                  T (&acc_b)[TM][TM]) {
  Tile<T>::sweep(shared, z, n, row0, z, n, col0, dz,
                 [&](int a, int c, int64_t, T xv, T yv) { accumulate<K>(acc_z[a][c], xv - yv, lp); });
  Tile<T>::sweep(shared, b, n, row0, b, n, col0, db,
                 [&](int a, int c, int64_t, T xv, T yv) { accumulate<K>(acc_b[a][c], xv - yv, lp); });
}

// partial[block] = sum of ratio_ij over the pairs i < j of the block's tile (lower-triangle tiles give 0).
template <typename T, Norm K>
__global__ void __launch_bounds__(kThreads) dispersion_kernel(const T* z, int64_t dz, const T* b, int64_t db,
                                                              int64_t n, Lp<T> lp, double eps, double* partial) {
  __shared__ typename Tile<T>::Shared shared;
  const int64_t tiles = tiles_per_side<T>(n);
  const int64_t tile_row = int64_t(blockIdx.x) / tiles, tile_col = int64_t(blockIdx.x) % tiles;
  if (tile_row > tile_col) {  // uniform over the block, before any barrier
    if (threadIdx.x == 0) partial[blockIdx.x] = 0.0;
    return;
  }
  const int64_t row0 = tile_row * Tile<T>::kSide, col0 = tile_col * Tile<T>::kSide;
  T acc_z[TM][TM] = {}, acc_b[TM][TM] = {};
  pair_accumulators<T, K>(shared, z, dz, b, db, n, row0, col0, lp, acc_z, acc_b);

  double sum = 0.0;
#pragma unroll
  for (int a = 0; a < TM; ++a) {
    const int64_t i = row0 + Tile<T>::ty() + 16 * a;
#pragma unroll
    for (int c = 0; c < TM; ++c) {
      const int64_t j = col0 + Tile<T>::tx() + 16 * c;
      if (i < j && j < n) {
        const double q = double(lp.q);
        const double nz = norm_or_safe<K>(acc_z[a][c], z + i * dz, z + j * dz, dz, lp);
        const double nb = norm_or_safe<K>(acc_b[a][c], b + i * db, b + j * db, db, lp);
        sum += pow_pos(nz, q) / (eps + pow_pos(nb, q));
      }
    }
  }
  sum = block_sum(sum);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

// The pairwise-contraction weights of both inputs, for every ordered pair (zero on the diagonal):
// w_z[i, j] = c / (eps + db_ij) * dd_z/d||u||,  w_b[i, j] = -c dz_ij / (eps + db_ij)^2 * dd_b/d||u||,
// c = grad / (n (n-1)).
template <typename T, Norm K>
__global__ void __launch_bounds__(kThreads)
    dispersion_weights_kernel(const T* grad, const T* z, int64_t dz, const T* b, int64_t db, int64_t n, Lp<T> lp,
                              double eps, T* w_z, T* w_b) {
  __shared__ typename Tile<T>::Shared shared;
  const int64_t tiles = tiles_per_side<T>(n);
  const int64_t row0 = int64_t(blockIdx.x) / tiles * Tile<T>::kSide;
  const int64_t col0 = int64_t(blockIdx.x) % tiles * Tile<T>::kSide;
  T acc_z[TM][TM] = {}, acc_b[TM][TM] = {};
  pair_accumulators<T, K>(shared, z, dz, b, db, n, row0, col0, lp, acc_z, acc_b);

  const double c = double(grad[0]) / (double(n) * double(n - 1));
  const double q = double(lp.q);
  // d ||u||^q / d ||u|| times the ||u||^(1-p) that phi's |u|^(p-1) leaves (grad_scale's convention)
  const double scale_exp = K == Norm::Inf ? q - 1.0 : q - double(lp.p);
#pragma unroll
  for (int a = 0; a < TM; ++a) {
    const int64_t i = row0 + Tile<T>::ty() + 16 * a;
#pragma unroll
    for (int col = 0; col < TM; ++col) {
      const int64_t j = col0 + Tile<T>::tx() + 16 * col;
      if (i >= n || j >= n) continue;
      T wz = T(0), wb = T(0);
      if (i != j) {
        const double nz = norm_or_safe<K>(acc_z[a][col], z + i * dz, z + j * dz, dz, lp);
        const double nb = norm_or_safe<K>(acc_b[a][col], b + i * db, b + j * db, db, lp);
        const double inv_den = 1.0 / (eps + pow_pos(nb, q));
        wz = narrow<T>(c * inv_den * q * pow_pos(nz, scale_exp));
        wb = narrow<T>(-c * (pow_pos(nz, q) * inv_den) * inv_den * q * pow_pos(nb, scale_exp));
      }
      w_z[i * n + j] = wz;
      w_b[i * n + j] = wb;
    }
  }
}

}  // namespace

template <typename T>
int64_t dispersion_workspace_bytes(int64_t n) {
  const int64_t tiles = tiles_per_side<T>(n);
  return tiles * tiles * int64_t(sizeof(double));
}

template <typename T>
int64_t dispersion_backward_workspace_bytes(int64_t n) {
  return 2 * n * n * int64_t(sizeof(T));
}

template <typename T>
cudaError_t dispersion(const T* z, int64_t dz, const T* b, int64_t db, int64_t n, double p, double q, double eps,
                       void* workspace, T* out, cudaStream_t stream) {
  const int64_t tiles = tiles_per_side<T>(n);
  if (cudaError_t err = check_grid(tiles * tiles); err != cudaSuccess) return err;
  double* partial = static_cast<double*>(workspace);
  const Lp<T> lp = Lp<T>::make(p, q);
  return dispatch_norm(p, [&](auto kind) {
    dispersion_kernel<T, decltype(kind)::value><<<unsigned(tiles * tiles), kThreads, 0, stream>>>(
        z, dz, b, db, n, lp, eps, partial);
    // Each unordered pair was counted once: twice that over the n (n-1) ordered pairs.
    sum_partials_kernel<T><<<1, kThreads, 0, stream>>>(partial, tiles * tiles, 2.0 / (double(n) * double(n - 1)),
                                                       out);
    return cudaGetLastError();
  });
}

template <typename T>
cudaError_t dispersion_backward(const T* grad, const T* z, int64_t dz, const T* b, int64_t db, int64_t n, double p,
                                double q, double eps, void* workspace, T* grad_z, T* grad_b, cudaStream_t stream) {
  const int64_t tiles = tiles_per_side<T>(n);
  if (cudaError_t err = check_grid(tiles * tiles); err != cudaSuccess) return err;
  T* w_z = static_cast<T*>(workspace);
  T* w_b = w_z + n * n;
  const Lp<T> lp = Lp<T>::make(p, q);
  cudaError_t err = dispatch_norm(p, [&](auto kind) {
    dispersion_weights_kernel<T, decltype(kind)::value><<<unsigned(tiles * tiles), kThreads, 0, stream>>>(
        grad, z, dz, b, db, n, lp, eps, w_z, w_b);
    return cudaGetLastError();
  });
  if (err != cudaSuccess) return err;
  // Both weight matrices are symmetric: one contraction per input gives both halves of each gradient.
  err = pairwise_grad_from_weights<T>(w_z, z, n, z, n, dz, p, true, grad_z, nullptr, stream);
  if (err != cudaSuccess) return err;
  return pairwise_grad_from_weights<T>(w_b, b, n, b, n, db, p, true, grad_b, nullptr, stream);
}

#define OMASGAN_INSTANTIATE(T)                                                                                   \
  template int64_t dispersion_workspace_bytes<T>(int64_t);                                                       \
  template int64_t dispersion_backward_workspace_bytes<T>(int64_t);                                              \
  template cudaError_t dispersion<T>(const T*, int64_t, const T*, int64_t, int64_t, double, double, double, void*, \
                                     T*, cudaStream_t);                                                          \
  template cudaError_t dispersion_backward<T>(const T*, const T*, int64_t, const T*, int64_t, int64_t, double,    \
                                              double, double, void*, T*, T*, cudaStream_t);
OMASGAN_INSTANTIATE(float)
OMASGAN_INSTANTIATE(double)
#undef OMASGAN_INSTANTIATE

}  // namespace omasgan::gpu

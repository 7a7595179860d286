// min_distance on the CPU: values[i] = min_j ||x_i - bank_j||_p^q, indices[i] = the lowest argmin.
//
// Work is a grid of tasks: a block of x rows against one chunk of the bank. There are as many
// bank chunks as threads, each with its own running (min, argmin) per row; the chunks' minima are
// merged in bank order, so the lowest index wins a tie. Nothing of size N x Q is ever formed.
//
// p = 2: ||x_i - b_j||^2 = ||x_i||^2 + (||b_j||^2 - 2 x_i . b_j). Each task multiplies its x block
// by one bank block at a time (a single-threaded at::mm into a cache-resident buffer), and a
// vectorised pass over that buffer folds in ||b_j||^2 and takes the row minima while the buffer is
// still in cache. The product is only used to choose the pair: its distance is recomputed exactly
// from the two rows, so an exact duplicate gives exactly 0.
// Extreme magnitudes: the ranking keys assume inputs inside the band of omasgan/ops/_common.py
// (the op scales x and bank by a power of two otherwise); the recomputed value takes the safe
// path of lp_distance.h when its power sum over- or underflows.
// Other p: register-tiled power sums (lp_distance.h), minimised on the fly.
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/ops/mkldnn_linear.h>

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "../min_distance.h"
#include "../../common/checks.h"
#include "../../common/lp_distance.h"

namespace omasgan {
namespace {

// p = 2: rows of x per product (the product's M) and bank rows per block (its N). A 1024 x 256
// float32 product is 1 MiB, inside the per-core L2 cache.
constexpr int64_t kGemmRows = 1024;
constexpr int64_t kGemmBankRows = 256;
// Other p: an x block and a bank block of these sizes stay in L2 while the tiles sweep them.
constexpr int64_t kTileXRows = 128;
constexpr int64_t kTileBankRows = 64;

// The running minima of one bank chunk, for all N rows.
template <typename T>
struct Minima {
  std::vector<T> value;
  std::vector<int64_t> index;
  explicit Minima(int64_t n) : value(n, std::numeric_limits<T>::infinity()), index(n, 0) {}
  void offer(int64_t i, T v, int64_t j) {
    if (v < value[i]) {  // strict: the earlier (lower) index keeps a tie
      value[i] = v;
      index[i] = j;
    }
  }
};

// Runs task(row0, row1, bank0, bank1, minima) over the grid in parallel and merges the chunks.
template <typename T, typename Task>
Minima<T> grid_min(int64_t n, int64_t q, int64_t row_block, int64_t bank_block, const Task& task) {
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), (q + bank_block - 1) / bank_block));
  const int64_t row_blocks = (n + row_block - 1) / row_block;
  std::vector<Minima<T>> per_chunk(chunks, Minima<T>(n));
  at::parallel_for(0, row_blocks * chunks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t rb = t / chunks, c = t % chunks;
      const int64_t r0 = rb * row_block, r1 = std::min(n, r0 + row_block);
      task(r0, r1, q * c / chunks, q * (c + 1) / chunks, per_chunk[c]);
    }
  });
  Minima<T>& merged = per_chunk[0];
  for (int64_t c = 1; c < chunks; ++c)
    for (int64_t i = 0; i < n; ++i) merged.offer(i, per_chunk[c].value[i], per_chunk[c].index[i]);
  return std::move(merged);
}

// ||b_j||^2 for every bank row.
template <typename T>
std::vector<T> squared_norms(const T* bank, int64_t q, int64_t d) {
  using Vec = at::vec::Vectorized<T>;
  std::vector<T> norms(q);
  at::parallel_for(0, q, 256, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j)
      norms[j] = at::vec::map_reduce_all<T>([](Vec v) { return v * v; }, [](Vec a, Vec b) { return a + b; },
                                            bank + j * d, d);
  });
  return norms;
}

// For one row of the product buffer: the lowest j minimising bank_norm[j] - 2 dot[j], offered to
// the running minimum of row i. Lanes carry their candidate index as a T (exact: j < 2^24).
template <typename T>
void offer_row_min(const T* dot, const T* bank_norm, int64_t cols, int64_t first_index, int64_t i,
                   Minima<T>& minima) {
  using Vec = at::vec::Vectorized<T>;
  constexpr int64_t W = Vec::size();
  const T inf = std::numeric_limits<T>::infinity();
  T best = inf;
  int64_t best_j = 0;
  int64_t j = 0;
  if (cols >= W) {
    T lane_index[W];
    for (int64_t l = 0; l < W; ++l) lane_index[l] = T(l);
    Vec index = Vec::loadu(lane_index), best_v = Vec(inf), best_index = Vec(T(0));
    const Vec step = Vec(T(W)), minus_two = Vec(T(-2));
    for (; j + W <= cols; j += W) {
      const Vec v = at::vec::fmadd(minus_two, Vec::loadu(dot + j), Vec::loadu(bank_norm + j));
      const Vec better = v < best_v;
      best_v = Vec::blendv(best_v, v, better);
      best_index = Vec::blendv(best_index, index, better);
      index = index + step;
    }
    T lane_best[W], lane_best_index[W];
    best_v.store(lane_best);
    best_index.store(lane_best_index);
    for (int64_t l = 0; l < W; ++l) {
      const int64_t lj = static_cast<int64_t>(lane_best_index[l]);
      if (lane_best[l] < best || (lane_best[l] == best && lj < best_j)) {
        best = lane_best[l];
        best_j = lj;
      }
    }
  }
  for (; j < cols; ++j) {
    const T v = bank_norm[j] - T(2) * dot[j];
    if (v < best) {
      best = v;
      best_j = j;
    }
  }
  minima.offer(i, best, first_index + best_j);
}

// One task's products x_block . bank_block^T, each into a [rows, cols] row-major buffer.
// float32 goes through oneDNN where torch has it: its AVX-512 kernels ran this product at 210
// GFLOP/s per core on the benchmark machine (Zen 5), MKL's sgemm at 111, conversions included.
// Both accumulate in float32; float64 (and torch builds without oneDNN) use at::mm.
template <typename T>
class BlockProduct {
 public:
  BlockProduct(const at::Tensor& x_block, int64_t bank_rows)
      : x_block_(x_block) {
    if (use_onednn() && x_block.size(1) > 0)  // oneDNN has no product over zero features
      x_onednn_ = x_block.to_mkldnn();
    else
      buffer_ = at::empty({x_block.size(0) * bank_rows}, x_block.options());
  }

  // x_block . bank_block^T for bank_block [cols, D]; valid until the next call.
  const T* operator()(const at::Tensor& bank_block) {
    const int64_t rows = x_block_.size(0), cols = bank_block.size(0);
    if (x_onednn_.defined()) {
      dot_ = at::mkldnn_linear(x_onednn_, bank_block.to_mkldnn(), {}).to_dense();
    } else {
      dot_ = buffer_.narrow(0, 0, rows * cols).view({rows, cols});
      at::mm_out(dot_, x_block_, bank_block.t());
    }
    return dot_.data_ptr<T>();
  }

 private:
  static bool use_onednn() { return std::is_same_v<T, float> && at::hasMKLDNN(); }

  at::Tensor x_block_, x_onednn_, buffer_, dot_;
};

template <typename T>
Minima<T> nearest_l2(const at::Tensor& x_in, const at::Tensor& bank_in) {
  // at::mm_out refuses inputs that require grad, and the pool's threads do not inherit the
  // caller's no-grad mode: hand them detached views.
  const at::Tensor x = x_in.detach(), bank = bank_in.detach();
  const int64_t n = x.size(0), q = bank.size(0), d = x.size(1);
  const std::vector<T> bank_norm = squared_norms(bank.data_ptr<T>(), q, d);
  // x's own norm is the same for every j of a row: it does not move the argmin.
  return grid_min<T>(n, q, kGemmRows, kGemmBankRows, [&](int64_t r0, int64_t r1, int64_t b0, int64_t b1, Minima<T>& minima) {
    const int64_t rows = r1 - r0;
    BlockProduct<T> product(x.narrow(0, r0, rows), kGemmBankRows);
    for (int64_t j0 = b0; j0 < b1; j0 += kGemmBankRows) {
      const int64_t cols = std::min(kGemmBankRows, b1 - j0);
      const T* dot_data = product(bank.narrow(0, j0, cols));
      for (int64_t i = 0; i < rows; ++i)
        offer_row_min(dot_data + i * cols, bank_norm.data() + j0, cols, j0, r0 + i, minima);
    }
  });
}

template <typename T>
Minima<T> nearest_tiled(const at::Tensor& x, const at::Tensor& bank, const lp::Norm& norm) {
  const int64_t n = x.size(0), q = bank.size(0), d = x.size(1);
  const T* xs = x.data_ptr<T>();
  const T* bs = bank.data_ptr<T>();
  Minima<T> result(0);
  lp::dispatch_norm<T>(norm, [&](auto term) {
    result = grid_min<T>(n, q, kTileXRows, kTileBankRows, [&](int64_t r0, int64_t r1, int64_t b0, int64_t b1, Minima<T>& minima) {
      for (int64_t j0 = b0; j0 < b1; j0 += kTileBankRows) {
        const int64_t cols = std::min(kTileBankRows, b1 - j0);
        lp::for_each_power_sum(term, xs + r0 * d, r1 - r0, bs + j0 * d, cols, d,
                               [&](int64_t i, int64_t j, T s) { minima.offer(r0 + i, s, j0 + j); });
      }
    });
  });
  return result;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> min_distance_cpu(const at::Tensor& x, const at::Tensor& bank, double p, double q) {
  check_cpu_input(x, "x", 2);
  check_cpu_input(bank, "bank", 2);
  check_same_dtype(x, "x", bank, "bank");
  check_same_width(x, "x", bank, "bank");
  check_p_q(p, q);
  TORCH_CHECK(bank.size(0) > 0, "bank must hold at least one row");
  const int64_t n = x.size(0), d = x.size(1);
  at::Tensor values = at::empty({n}, x.options());
  at::Tensor indices = at::empty({n}, x.options().dtype(at::kLong));
  if (n == 0) return {values, indices};
  const lp::Norm norm(p);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "min_distance_cpu", [&] {
    const Minima<scalar_t> minima = norm.kind == lp::Kind::L2 ? nearest_l2<scalar_t>(x, bank)
                                                              : nearest_tiled<scalar_t>(x, bank, norm);
    const scalar_t* xs = x.data_ptr<scalar_t>();
    const scalar_t* bs = bank.data_ptr<scalar_t>();
    scalar_t* out = values.data_ptr<scalar_t>();
    int64_t* out_index = indices.data_ptr<int64_t>();
    const lp::Term<lp::Kind::L2, scalar_t> square{0, scalar_t(2)};
    at::parallel_for(0, n, 64, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t j = minima.index[i];
        out_index[i] = j;
        // p = 2 minimised an estimate: take the chosen pair's exact distance from its rows.
        const scalar_t s = norm.kind == lp::Kind::L2 ? lp::power_sum(square, xs + i * d, bs + j * d, d) : minima.value[i];
        out[i] = lp::distance_or_safe(norm, s, q, xs + i * d, bs + j * d, d);
      }
    });
  });
  return {values, indices};
}

}  // namespace omasgan

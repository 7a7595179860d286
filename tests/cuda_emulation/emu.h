// A host emulation of the CUDA features that csrc/*/cuda uses, so the CUDA kernels run (slowly, on
// one core) where there is no GPU. tests/cuda_emulation/__init__.py rewrites each launch
// `kernel<<<grid, block, shared, stream>>>(args)` into `emu::launch(grid, block, shared, stream,
// [&] { kernel(args); })`. Blocks run one after another; a block's threads are fibers (ucontext)
// switched at every __syncthreads and warp shuffle, so runs are deterministic, a divergent barrier
// is caught (abort with a message), and __shared__ (here `static`) storage is the block's own.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <ucontext.h>
#include <vector>

#define __host__
#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorInvalidConfiguration = 9, cudaErrorEmuZeroGrid = 999 };
typedef void* cudaStream_t;

using std::max;
using std::min;

namespace emu {
enum State { kRunnable, kAtBlockBarrier, kAtWarpBarrier, kDone };
struct Fiber {
  ucontext_t ctx;
  State state = kRunnable;
  dim3 tid;
};
struct Block {
  std::vector<Fiber> fibers;
  ucontext_t scheduler;
  std::function<void()> body;
  uint64_t slots[1024];
};
inline dim3 bid, gdim, bdim;
inline Block* block = nullptr;
inline Fiber* current = nullptr;
inline std::vector<std::vector<char>> stacks;
inline cudaError_t last_error = cudaSuccess;
inline long launches = 0;
constexpr size_t kStack = 1 << 18;

inline void trampoline() {
  block->body();
  current->state = kDone;
  swapcontext(&current->ctx, &block->scheduler);
}

inline void wait(State s) {
  current->state = s;
  swapcontext(&current->ctx, &block->scheduler);
}

inline void run_block(Block& b, unsigned n) {
  b.fibers = std::vector<Fiber>(n);
  if (stacks.size() < n) stacks.resize(n, std::vector<char>(kStack));
  for (unsigned t = 0; t < n; ++t) {
    Fiber& f = b.fibers[t];
    f.tid = dim3(t);
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = stacks[t].data();
    f.ctx.uc_stack.ss_size = kStack;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, trampoline, 0);
  }
  for (;;) {
    bool ran = false;
    for (Fiber& f : b.fibers) {
      if (f.state != kRunnable) continue;
      current = &f;
      swapcontext(&b.scheduler, &f.ctx);
      ran = true;
    }
    bool all_done = true, any_block = false, released = false;
    for (Fiber& f : b.fibers) {
      all_done &= f.state == kDone;
      any_block |= f.state == kAtBlockBarrier;
    }
    if (all_done) return;
    for (unsigned w = 0; w < (n + 31) / 32; ++w) {  // a warp barrier opens when the warp's live threads all wait
      bool all = true, any = false;
      for (unsigned t = 32 * w; t < std::min(n, 32 * w + 32); ++t) {
        if (b.fibers[t].state == kDone) continue;
        all &= b.fibers[t].state == kAtWarpBarrier;
        any |= b.fibers[t].state == kAtWarpBarrier;
      }
      if (all && any) {
        for (unsigned t = 32 * w; t < std::min(n, 32 * w + 32); ++t)
          if (b.fibers[t].state == kAtWarpBarrier) b.fibers[t].state = kRunnable, released = true;
      }
    }
    if (!released && any_block) {
      bool all = true;
      for (Fiber& f : b.fibers) all &= f.state == kDone || f.state == kAtBlockBarrier;
      if (all) {
        for (Fiber& f : b.fibers)
          if (f.state == kAtBlockBarrier) f.state = kRunnable, released = true;
      }
    }
    if (!released && !ran) {
      std::fprintf(stderr, "EMU: deadlock (divergent barrier) in block (%u,%u,%u)\n", bid.x, bid.y, bid.z);
      std::abort();
    }
  }
}

template <class F>
void launch(dim3 grid, dim3 blk, size_t, cudaStream_t, F&& body) {
  ++launches;
  if (uint64_t(grid.x) * grid.y * grid.z == 0 || blk.x == 0) {
    std::fprintf(stderr, "EMU: launch with an empty grid/block (%u,%u,%u)\n", grid.x, grid.y, grid.z);
    last_error = cudaErrorEmuZeroGrid;
    return;
  }
  if (grid.y > 65535 || grid.z > 65535 || blk.y != 1 || blk.z != 1 || blk.x > 1024) {
    last_error = cudaErrorInvalidConfiguration;
    return;
  }
  gdim = grid;
  bdim = blk;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        bid = dim3(bx, by, bz);
        Block b;
        b.body = body;
        block = &b;
        run_block(b, blk.x);
      }
}
}  // namespace emu

#define threadIdx (emu::current->tid)
#define blockIdx emu::bid
#define gridDim emu::gdim
#define blockDim emu::bdim

inline void __syncthreads() { emu::wait(emu::kAtBlockBarrier); }

template <typename T>
T __shfl_xor_sync(unsigned, T v, int off) {
  static_assert(sizeof(T) <= 8);
  const unsigned t = threadIdx.x;
  std::memcpy(&emu::block->slots[t], &v, sizeof(T));
  emu::wait(emu::kAtWarpBarrier);
  T r;
  std::memcpy(&r, &emu::block->slots[t ^ unsigned(off)], sizeof(T));
  emu::wait(emu::kAtWarpBarrier);
  return r;
}

template <typename T>
T atomicAdd(T* p, T v) {
  T old = *p;
  *p = old + v;
  return old;
}

inline cudaError_t cudaGetLastError() {
  cudaError_t e = emu::last_error;
  emu::last_error = cudaSuccess;
  return e;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t bytes, cudaStream_t) {
  std::memset(p, v, bytes);
  return cudaSuccess;
}

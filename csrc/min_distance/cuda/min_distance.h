// Launchers of the CUDA min_distance kernels, on raw device pointers (row-major, contiguous).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace omasgan::gpu {

// Bytes of device scratch that min_distance needs for n queries and a bank of q rows.
template <typename T>
int64_t min_distance_workspace_bytes(int64_t n, int64_t q);

// values[i] = min_j ||x_i - bank_j||_p^qpow, indices[i] = the lowest such j; x: [n, d], bank: [q, d],
// q in [1, 2^31). p == 2 ranks the bank by ||x||^2 + ||b||^2 - 2 x.b, then recomputes the chosen pair exactly.
template <typename T>
cudaError_t min_distance(const T* x, const T* bank, int64_t n, int64_t q, int64_t d, double p, double qpow,
                         void* workspace, T* values, int64_t* indices, cudaStream_t stream);

}  // namespace omasgan::gpu

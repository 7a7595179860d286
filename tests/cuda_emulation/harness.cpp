// extern "C" entry points over the emulated CUDA launchers (raw pointers, host memory), for ctypes.
// Each allocates its launcher's workspace; tests/cuda_emulation/__init__.py wraps them with the
// signatures of omasgan._C's *_cuda functions.
#include <vector>

#include "dispersion/cuda/dispersion.h"
#include "f_divergence/cuda/f_divergence.h"
#include "min_distance/cuda/min_distance.h"
#include "pairwise_distance/cuda/pairwise_distance.h"

using namespace omasgan::gpu;

template <typename T>
int md(const T* x, const T* bank, int64_t n, int64_t q, int64_t d, double p, double qp, T* values, int64_t* idx) {
  std::vector<char> ws(min_distance_workspace_bytes<T>(n, q) + 1);
  return min_distance<T>(x, bank, n, q, d, p, qp, ws.data(), values, idx, nullptr);
}
extern "C" int md_f32(const float* x, const float* b, int64_t n, int64_t q, int64_t d, double p, double qp, float* v, int64_t* i) { return md(x, b, n, q, d, p, qp, v, i); }
extern "C" int md_f64(const double* x, const double* b, int64_t n, int64_t q, int64_t d, double p, double qp, double* v, int64_t* i) { return md(x, b, n, q, d, p, qp, v, i); }

template <typename T>
int pw(const T* x, int64_t n, const T* y, int64_t m, int64_t d, double p, double q, T* out) {
  return pairwise_distance<T>(x, n, y, m, d, p, q, out, nullptr);
}
extern "C" int pw_f32(const float* x, int64_t n, const float* y, int64_t m, int64_t d, double p, double q, float* o) { return pw(x, n, y, m, d, p, q, o); }
extern "C" int pw_f64(const double* x, int64_t n, const double* y, int64_t m, int64_t d, double p, double q, double* o) { return pw(x, n, y, m, d, p, q, o); }

template <typename T>
int pwb(const T* g, const T* x, int64_t n, const T* y, int64_t m, int64_t d, const T* dist, double p, double q, T* gx, T* gy) {
  std::vector<char> ws(pairwise_distance_backward_workspace_bytes<T>(n, m) + 1);
  return pairwise_distance_backward<T>(g, x, n, y, m, d, dist, p, q, ws.data(), gx, gy, nullptr);
}
extern "C" int pwb_f32(const float* g, const float* x, int64_t n, const float* y, int64_t m, int64_t d, const float* dist, double p, double q, float* gx, float* gy) { return pwb(g, x, n, y, m, d, dist, p, q, gx, gy); }
extern "C" int pwb_f64(const double* g, const double* x, int64_t n, const double* y, int64_t m, int64_t d, const double* dist, double p, double q, double* gx, double* gy) { return pwb(g, x, n, y, m, d, dist, p, q, gx, gy); }

template <typename T>
int ds(const T* z, int64_t dz, const T* b, int64_t db, int64_t n, double p, double q, double eps, T* out) {
  std::vector<char> ws(dispersion_workspace_bytes<T>(n) + 1);
  return dispersion<T>(z, dz, b, db, n, p, q, eps, ws.data(), out, nullptr);
}
extern "C" int ds_f32(const float* z, int64_t dz, const float* b, int64_t db, int64_t n, double p, double q, double eps, float* o) { return ds(z, dz, b, db, n, p, q, eps, o); }
extern "C" int ds_f64(const double* z, int64_t dz, const double* b, int64_t db, int64_t n, double p, double q, double eps, double* o) { return ds(z, dz, b, db, n, p, q, eps, o); }

template <typename T>
int dsb(const T* g, const T* z, int64_t dz, const T* b, int64_t db, int64_t n, double p, double q, double eps, T* gz, T* gb) {
  std::vector<char> ws(dispersion_backward_workspace_bytes<T>(n) + 1);
  return dispersion_backward<T>(g, z, dz, b, db, n, p, q, eps, ws.data(), gz, gb, nullptr);
}
extern "C" int dsb_f32(const float* g, const float* z, int64_t dz, const float* b, int64_t db, int64_t n, double p, double q, double eps, float* gz, float* gb) { return dsb(g, z, dz, b, db, n, p, q, eps, gz, gb); }
extern "C" int dsb_f64(const double* g, const double* z, int64_t dz, const double* b, int64_t db, int64_t n, double p, double q, double eps, double* gz, double* gb) { return dsb(g, z, dz, b, db, n, p, q, eps, gz, gb); }

template <typename T>
int fd(const T* vp, int64_t np, const T* vq, int64_t nq, int64_t code, T* value) {
  std::vector<char> ws(f_divergence_bound_workspace_bytes(np, nq) + 1);
  return f_divergence_bound<T>(vp, np, vq, nq, int(code), ws.data(), value, nullptr);
}
extern "C" int fd_f32(const float* vp, int64_t np, const float* vq, int64_t nq, int64_t code, float* v) { return fd(vp, np, vq, nq, code, v); }
extern "C" int fd_f64(const double* vp, int64_t np, const double* vq, int64_t nq, int64_t code, double* v) { return fd(vp, np, vq, nq, code, v); }

template <typename T>
int fdb(const T* g, const T* vp, int64_t np, const T* vq, int64_t nq, int64_t code, T* gp, T* gq) {
  return f_divergence_bound_backward<T>(g, vp, np, vq, nq, int(code), gp, gq, nullptr);
}
extern "C" int fdb_f32(const float* g, const float* vp, int64_t np, const float* vq, int64_t nq, int64_t code, float* gp, float* gq) { return fdb(g, vp, np, vq, nq, code, gp, gq); }
extern "C" int fdb_f64(const double* g, const double* vp, int64_t np, const double* vq, int64_t nq, int64_t code, double* gp, double* gq) { return fdb(g, vp, np, vq, nq, code, gp, gq); }

// Constants that the C++ (csrc/*/cpu) and CUDA (csrc/*/cuda) kernels share with each other and with
// Python: the norm kinds of ||u||_p, the integer-p cutoff, the divergence codes. Plain C++ with no
// torch headers, so .cu files include it too. The Python side is kernels/_lp.py (norm kinds and
// cutoff, Triton) and omasgan/divergences.py (divergence codes); tests/test_op_constants.py parses
// this file and checks that they agree.
#pragma once

#include <cmath>

namespace omasgan {

// The kinds of l_p norm the kernels specialise on: p = 1, 2, inf and small integer p need no pow
// per element; any other p pays one pow. Values as kernels/_lp.py's P_ONE, P_TWO, P_INF, P_INT,
// P_GENERAL.
enum class NormKind : int { L1 = 0, L2 = 1, Inf = 2, Integer = 3, General = 4 };

// Integer p up to this bound runs as repeated multiplication (exact, several times faster than
// pow); larger integer p is General. kernels/_lp.py: LARGEST_INT_P.
constexpr int kMaxIntegerP = 8;

inline NormKind norm_kind(double p) {
  if (p == 1.0) return NormKind::L1;
  if (p == 2.0) return NormKind::L2;
  if (std::isinf(p)) return NormKind::Inf;
  if (p == std::floor(p) && p <= kMaxIntegerP) return NormKind::Integer;
  return NormKind::General;
}

// Divergence codes: the index of each divergence in omasgan.divergences._TABLE (Divergence.code).
enum DivergenceCode : int {
  kKL = 0,
  kReverseKL = 1,
  kPearson = 2,
  kNeyman = 3,
  kSquaredHellinger = 4,
  kJensenShannon = 5,
  kGAN = 6,
  kTotalVariation = 7,
};
constexpr int kDivergenceCount = 8;

}  // namespace omasgan

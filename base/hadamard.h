// Hadamard matrices, header-only and dependent on the standard library alone, so that the float
// side (ir/eval, passes) and the integer side (runtime/quant_math, the HADAMARD kernel's
// parameters) build the very same matrices without an arrow from ir/passes into runtime.
#pragma once

#include <cstdint>
#include <vector>

namespace squint::hadamard {

namespace detail {

inline bool IsPrime(int32_t q) {
  if (q < 2) return false;
  for (int32_t d = 2; d * d <= q; ++d)
    if (q % d == 0) return false;
  return true;
}

inline bool IsPowerOfTwo(int32_t n) { return n >= 1 && (n & (n - 1)) == 0; }

// Legendre symbol (a/q) for an odd prime q: 0, 1 (a square mod q) or −1.
inline int32_t Legendre(int32_t a, int32_t q) {
  a = ((a % q) + q) % q;
  if (a == 0) return 0;
  for (int32_t x = 1; x < q; ++x)
    if (static_cast<int64_t>(x) * x % q == a) return 1;
  return -1;
}

// The (q + 1)×(q + 1) core [[0, 1ᵀ], [±1, Q]] with Q_ij = (j − i / q) (Jacobsthal): skew (−1
// column) for Paley I, symmetric (+1 column) for Paley II.
inline std::vector<int32_t> PaleyCore(int32_t q, int32_t column_sign) {
  const int32_t n = q + 1;
  std::vector<int32_t> c(static_cast<size_t>(n) * n, 0);
  for (int32_t j = 1; j < n; ++j) {
    c[static_cast<size_t>(j)] = 1;
    c[static_cast<size_t>(j) * n] = column_sign;
  }
  for (int32_t i = 0; i < q; ++i)
    for (int32_t j = 0; j < q; ++j) c[static_cast<size_t>(i + 1) * n + j + 1] = Legendre(j - i, q);
  return c;
}

}  // namespace detail

// A ±1 matrix H with H·Hᵀ = k·I, row-major, for k = 1, k = 2^m (Sylvester), k = q + 1 with q a
// prime ≡ 3 (mod 4) (Paley I: 12, 20, 60, 108, 140, ...) and k = 2(q + 1) with q a prime ≡ 1
// (mod 4) (Paley II: 28, 36, ...). Empty when none of these constructions applies (e.g. 52, 156,
// 172).
inline std::vector<int8_t> BuildHadamardMatrix(int32_t k) {
  if (k < 1) return {};
  std::vector<int8_t> h;
  if (detail::IsPowerOfTwo(k)) {  // Sylvester: H[i][j] = (−1)^popcount(i & j)
    h.resize(static_cast<size_t>(k) * k);
    for (int32_t i = 0; i < k; ++i)
      for (int32_t j = 0; j < k; ++j) h[static_cast<size_t>(i) * k + j] = __builtin_popcount(i & j) % 2 ? -1 : 1;
  } else if (detail::IsPrime(k - 1) && (k - 1) % 4 == 3) {  // Paley I: I + S, S skew
    const std::vector<int32_t> s = detail::PaleyCore(k - 1, -1);
    h.resize(s.size());
    for (int32_t i = 0; i < k; ++i)
      for (int32_t j = 0; j < k; ++j)
        h[static_cast<size_t>(i) * k + j] = static_cast<int8_t>(s[static_cast<size_t>(i) * k + j] + (i == j));
  } else if (k % 2 == 0 && detail::IsPrime(k / 2 - 1) && (k / 2 - 1) % 4 == 1) {  // Paley II
    const int32_t n = k / 2;
    const std::vector<int32_t> c = detail::PaleyCore(n - 1, 1);
    h.resize(static_cast<size_t>(k) * k);
    for (int32_t i = 0; i < n; ++i)
      for (int32_t j = 0; j < n; ++j) {
        // 0 → [[1, −1], [−1, −1]];  ±1 → ±[[1, 1], [1, −1]]
        const int32_t e = c[static_cast<size_t>(i) * n + j];
        const int32_t blk[4] = {e == 0 ? 1 : e, e == 0 ? -1 : e, e == 0 ? -1 : e, e == 0 ? -1 : -e};
        for (int32_t a = 0; a < 2; ++a)
          for (int32_t b = 0; b < 2; ++b)
            h[static_cast<size_t>(2 * i + a) * k + 2 * j + b] = static_cast<int8_t>(blk[a * 2 + b]);
      }
  }
  return h;
}

// The factor k of a Hadamard block of n channels as the HADAMARD kernel computes it, n = k·2^m:
// the first of QuaRot's sizes {172, 156, 140, 108, 60, 52, 36, 28, 40, 20, 12} (algorithms.md
// §6.1) that divides n with a power-of-two quotient and that BuildHadamardMatrix builds, else 1
// when n is a power of two, else 0 (no single block: use a block-diagonal transform).
inline int32_t HadamardK(int32_t n) {
  if (n < 1) return 0;
  for (int32_t k : {172, 156, 140, 108, 60, 52, 36, 28, 40, 20, 12})
    if (n % k == 0 && detail::IsPowerOfTwo(n / k) && !BuildHadamardMatrix(k).empty()) return k;
  return detail::IsPowerOfTwo(n) ? 1 : 0;
}

}  // namespace squint::hadamard

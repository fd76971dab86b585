// Optimized int8 LUT, TRANSPOSE, SOFTMAX, LAYER_NORM, GATHER, PAD, pooling and depthwise CONV_2D
// (misc.h states the contract: the reference kernels' output codes, bit for bit); ADD / SUB / MUL
// are in binary.cc.
#include "runtime/kernels/portable/misc.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>

#include "runtime/kernels/portable/qs8_gemm.h"
#include "runtime/kernels/portable/wide_requant.h"
#include "runtime/kernels/reference/kernel_util.h"
#if defined(SQUINT_X86_KERNELS)
#include "runtime/kernels/x86/rows.h"
#endif

namespace squint::rt::portable {
namespace {

// ⌊n / d⌋ for n >= 0, d > 0, with inv ≈ 1/d (double). The estimate ⌊n·inv⌋ has relative error
// below 3·2^−53, so while the quotient is below 2^49 it is off by at most one (its absolute error
// is below 1/2^2); the integer remainder corrects it. Larger quotients use the division itself.
inline int64_t FloorDivByInverse(int64_t n, int64_t d, double inv) {
  const double e = static_cast<double>(n) * inv;
  if (!(e < 562949953421312.0)) return n / d;  // 2^49
  int64_t q = static_cast<int64_t>(e);
  int64_t r = n - q * d;
  while (r < 0) --q, r += d;
  while (r >= d) ++q, r -= d;
  return q;
}

// ref::detail::RoundDiv (nearest, ties away from zero) for den > 0, with inv ≈ 1/den.
inline int64_t RoundDivByInverse(int64_t num, int64_t den, double inv) {
  const int64_t q = FloorDivByInverse((num >= 0 ? num : -num) + den / 2, den, inv);
  return num >= 0 ? q : -q;
}

// ⌊√n⌋ for n in [0, 2^62) (ref::IntegerSqrt's exact result) from est = sqrt(double(n)): within
// one of it (n rounds to a double with relative error 2^−53); the integer squares correct it.
// Signed conversions: one instruction each way.
inline int64_t FloorSqrt(int64_t n, double est) {
  int64_t r = static_cast<int64_t>(est);
  while (r * r > n) --r;
  while ((r + 1) * (r + 1) <= n) ++r;
  return r;
}

}  // namespace

// ---- LUT ----

void BuildQs8Lut(const int16_t* ref_table, int32_t ref_table_size, int32_t min_code, int8_t* table) {
  int8_t codes[256];
  for (int32_t u = 0; u < 256; ++u) codes[u] = static_cast<int8_t>(static_cast<uint8_t>(u));
  ref::Lut<int8_t, int8_t>(256, codes, ref_table, ref_table_size, min_code, table);
}

void Qs8Lut(int64_t count, const int8_t* table, const int8_t* x, int8_t* y, bool vbmi) {
#if defined(SQUINT_X86_KERNELS)
  if (vbmi) return x86::Qs8LutAvx512Vbmi(count, table, x, y);
#else
  (void)vbmi;
#endif
  const auto* ux = reinterpret_cast<const uint8_t*>(x);
  for (int64_t i = 0; i < count; ++i) y[i] = table[ux[i]];
}

template <typename TOut>
void Qs16Lut(int64_t count, const int16_t* table, int32_t table_size, int32_t min_code, const int16_t* x, TOut* y,
             bool avx512) {
#if defined(SQUINT_X86_KERNELS) && !defined(__OPTIMIZE_SIZE__)
  if (avx512) return x86::Qs16LutAvx512(count, table, table_size, min_code, x, y, static_cast<int32_t>(sizeof(TOut)));
#else
  (void)avx512, (void)table_size;
#endif
  for (int64_t i = 0; i < count; ++i) y[i] = ref::detail::Saturate<TOut>(table[int32_t{x[i]} - min_code]);
}
template void Qs16Lut<int8_t>(int64_t, const int16_t*, int32_t, int32_t, const int16_t*, int8_t*, bool);
template void Qs16Lut<int16_t>(int64_t, const int16_t*, int32_t, int32_t, const int16_t*, int16_t*, bool);

// ---- float inputs to codes ----

template <typename T>
void QuantizeFloats(const float* v, int64_t n, float scale, int32_t zero_point, int32_t lo, int32_t hi, T* y) {
  const double s = scale, z = zero_point, code_lo = lo, code_hi = hi, magic = 0x1.8p52;
  for (int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(v[i]) / s;
    // For |x| < 2^51, adding and removing 1.5·2^52 rounds x to an integer in the current rounding
    // mode (ties to even), as nearbyint does. Beyond, it moves x by less than x's own magnitude,
    // and the clamp gives lo or hi either way.
    double q = ((x + magic) - magic) + z;
    q = q < code_lo ? code_lo : (q > code_hi ? code_hi : q);
    y[i] = static_cast<T>(static_cast<int32_t>(x != x ? z : q));  // NaN: the zero point
  }
}
template void QuantizeFloats<int8_t>(const float*, int64_t, float, int32_t, int32_t, int32_t, int8_t*);
template void QuantizeFloats<uint8_t>(const float*, int64_t, float, int32_t, int32_t, int32_t, uint8_t*);
template void QuantizeFloats<int16_t>(const float*, int64_t, float, int32_t, int32_t, int32_t, int16_t*);

// ---- TRANSPOSE ----

TransposePlan PlanTranspose(int32_t rank, const int32_t* in_dims, const int32_t* perm, int32_t element_size) {
  int64_t in_strides[ref::kMaxKernelRank] = {};
  int64_t stride = 1;
  for (int32_t i = rank - 1; i >= 0; --i) {
    in_strides[i] = stride;
    stride *= in_dims[i];
  }
  TransposePlan t;
  t.element_size = element_size;
  t.count = stride;
  // Output axes innermost first, size-1 axes dropped, an axis merged into the next inner one
  // when the input steps through both as one.
  int64_t dims[ref::kMaxKernelRank], strides[ref::kMaxKernelRank];
  int32_t n = 0;
  for (int32_t j = rank - 1; j >= 0; --j) {
    const int64_t d = in_dims[perm[j]], st = in_strides[perm[j]];
    if (d == 1) continue;
    if (n > 0 && strides[n - 1] * dims[n - 1] == st) {
      dims[n - 1] *= d;
      continue;
    }
    dims[n] = d;
    strides[n] = st;
    ++n;
  }
  if (n == 1 && strides[0] == 1) n = 0;  // the identity: one copy
  t.rank = n;
  for (int32_t i = 0; i < n; ++i) {  // back to outermost first
    t.dims[i] = static_cast<int32_t>(dims[n - 1 - i]);
    t.strides[i] = strides[n - 1 - i];
  }
  return t;
}

namespace {

// copy(y_row, x_row) for every output row of `inner` elements, x_row at the input offset of the
// row's first element: the rows along output axis last − 1 in a plain loop (a fixed input step),
// the axes outside it walked as a counter.
template <typename T, typename Copy>
void ForEachRow(const TransposePlan& t, int32_t last, int64_t inner, const T* x, T* y, Copy copy) {
  const int64_t rows = t.count / inner;
  const int64_t run = last >= 1 ? t.dims[last - 1] : 1, step = last >= 1 ? t.strides[last - 1] : 0;
  int64_t index[ref::kMaxKernelRank] = {};
  int64_t off = 0;
  for (int64_t row = 0; row < rows; row += run) {
    T* yr = y + row * inner;
    for (int64_t j = 0; j < run; ++j) copy(yr + j * inner, x + off + j * step);
    for (int32_t i = last - 2; i >= 0; --i) {
      off += t.strides[i];
      if (++index[i] < t.dims[i]) break;
      off -= t.strides[i] * t.dims[i];
      index[i] = 0;
    }
  }
}

template <typename T>
void TransposeRows(const TransposePlan& t, const T* x, T* y) {
  const int32_t last = t.rank - 1;
  const int64_t inner = t.dims[last], step = t.strides[last];
  if (step != 1) {
    ForEachRow(t, last, inner, x, y, [inner, step](T* yr, const T* xr) {
      for (int64_t j = 0; j < inner; ++j) yr[j] = xr[j * step];
    });
    return;
  }
  // Contiguous rows: a fixed-size copy the compiler inlines for the short rows of attention
  // heads (16 and 32 bytes), the library's memcpy otherwise (always, in the -Os library).
  const size_t bytes = static_cast<size_t>(inner) * sizeof(T);
#if !defined(__OPTIMIZE_SIZE__)
  if (bytes == 16) return ForEachRow(t, last, inner, x, y, [](T* yr, const T* xr) { std::memcpy(yr, xr, 16); });
  if (bytes == 32) return ForEachRow(t, last, inner, x, y, [](T* yr, const T* xr) { std::memcpy(yr, xr, 32); });
#endif
  ForEachRow(t, last, inner, x, y, [bytes](T* yr, const T* xr) { std::memcpy(yr, xr, bytes); });
}

// Bytes whose two innermost output axes are a matrix transpose: output axis last − 1 steps
// through the input by 1 over step = its size, axis last by step — each block of
// dims[last − 1] × dims[last] output bytes is the transpose of an input block of
// dims[last] × dims[last − 1] contiguous bytes (TransposeBytes, 8 × 8 at a time).
bool TransposesBlocks(const TransposePlan& t) {
  const int32_t last = t.rank - 1;
  return t.element_size == 1 && t.rank >= 2 && t.strides[last - 1] == 1 && t.strides[last] == t.dims[last - 1] &&
         t.dims[last - 1] >= 8 && t.dims[last] >= 8;
}
void TransposeByteBlocks(const TransposePlan& t, const int8_t* x, int8_t* y) {
  const int32_t last = t.rank - 1;
  const int64_t block = int64_t{t.dims[last - 1]} * t.dims[last];
  const int64_t blocks = t.count / block;
  int64_t index[ref::kMaxKernelRank] = {};
  int64_t off = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    t.transpose_bytes(x + off, t.dims[last], t.dims[last - 1], y + b * block);
    for (int32_t i = last - 2; i >= 0; --i) {
      off += t.strides[i];
      if (++index[i] < t.dims[i]) break;
      off -= t.strides[i] * t.dims[i];
      index[i] = 0;
    }
  }
}

}  // namespace

void Transpose(const TransposePlan& t, const void* x, void* y) {
  if (t.count == 0) return;
  if (t.rank == 0) {
    std::memcpy(y, x, static_cast<size_t>(t.count) * static_cast<size_t>(t.element_size));
    return;
  }
  if (TransposesBlocks(t)) TransposeByteBlocks(t, static_cast<const int8_t*>(x), static_cast<int8_t*>(y));
  else if (t.element_size == 1) TransposeRows(t, static_cast<const uint8_t*>(x), static_cast<uint8_t*>(y));
  else if (t.element_size == 2) TransposeRows(t, static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y));
  else TransposeRows(t, static_cast<const uint32_t*>(x), static_cast<uint32_t*>(y));
}

// ---- SOFTMAX ----

namespace {

// The uniform-grid codes (ref::Softmax) of d in [0, d_hi] for a row whose Σe is sum (inv ≈ 1/sum).
template <typename TOut>
void UniformCodes(const ref::SoftmaxParams& p, const int32_t* table, int64_t sum, double inv, int32_t d_hi,
                  TOut* code_of_d) {
  const int32_t drop = 24 - p.output_bits;
  const int64_t round = (int64_t{1} << (drop - 1)) + p.clip_offset_q16;
  const int64_t u_max = (int64_t{1} << p.output_bits) - 1;
  const int64_t scale = int64_t{p.clip_scale_q16} * 256;  // t = ⌊scale·e / Σe⌉, scale·e < 2^59
  const int64_t half = sum / 2;
  // u = 0 exactly when t < T = 2^drop − γ·2^24 − 2^(drop−1), i.e. when N = scale·e + half < T·Σe
  // (t = ⌊N / Σe⌋); T·Σe saturates (N < 2^60 stays below it). e is non-increasing in d (prepare
  // checks the table), so u is too: past the first d with u = 0 every u is 0.
  const int64_t t_min = (int64_t{1} << drop) - round;
  int64_t n_min = INT64_MIN;
  if (t_min > 0 && __builtin_mul_overflow(t_min, sum, &n_min)) n_min = INT64_MAX;
  int32_t d = 0;
  for (; d <= d_hi; ++d) {
    const int64_t n = scale * table[d] + half;
    if (n < n_min) break;
    const int64_t t = FloorDivByInverse(n, sum, inv);
    const int64_t v = (t + round) >> drop;  // ⌊(t + γ·2^24 + 2^(drop−1)) / 2^drop⌋ (arithmetic shift)
    code_of_d[d] = static_cast<TOut>((v < 0 ? 0 : (v > u_max ? u_max : v)) + p.output_zero_point);
  }
  for (; d <= d_hi; ++d) code_of_d[d] = static_cast<TOut>(p.output_zero_point);
}

// A log grid's thresholds in the units of u = ⌊N / sum⌋, N = clip_scale·e·2^14 + ⌊sum/2⌋ (the
// RoundDiv of ref::Softmax's grid path, whose P = clamp(u + clip_offset·2^6, 0, 2^30)): for
// 0 < T <= 2^30, P < T exactly when u < T − clip_offset·2^6; T > 2^30 holds for every P (k =
// INT64_MAX) and T <= 0 for none (INT64_MIN). So the code of P is #{j : u < k[j]}, and k is
// non-increasing as the thresholds are (load checks them). Once per call.
struct LogGridLimits {
  int32_t n = 0;
  int64_t k[512];  // k[j] for j < n, then INT64_MIN (no u is below it; past 256: Code's reads)
  // Code's buckets of u (BucketOf; u <= 2^31): a bucket's u have codes from first[b] on, at most
  // 2^steps − 1 of them. Built by Buckets, once a call, where the per-element search is used.
  static constexpr int32_t kBuckets = 16 + 28 * 8;
  int16_t first[kBuckets];
  int32_t steps = 0;
  bool bucketed = false;
  explicit LogGridLimits(const ref::SoftmaxParams& p) : n(p.grid->n) {
    const int64_t offset = int64_t{p.clip_offset_q16} * 64;
    for (int32_t j = 0; j < 512; ++j) {
      const int64_t t = j < n ? int64_t{p.grid->thresholds[j]} : 0;
      k[j] = t > ref::kLogGridOne ? INT64_MAX : (t <= 0 ? INT64_MIN : t - offset);
    }
  }
  // u's bucket: u itself below 16, else its bit length b (5 to 32) and the three bits after the
  // leading one: eighths of an octave, where log grids have a few thresholds (SULQ's 8-bit grid
  // about 25 an octave).
  static int32_t BucketOf(int64_t u) {
    if (u < 16) return static_cast<int32_t>(u);
    const int32_t b = 64 - __builtin_clzll(static_cast<uint64_t>(u));
    return 16 + (b - 5) * 8 + static_cast<int32_t>((u >> (b - 4)) & 7);
  }
  // The buckets' u ranges ascend, so their codes come from one walk down the thresholds:
  // #{j : v < k[j]} is the first j with k[j] <= v, which falls as v rises.
  void Buckets() {
    int32_t most = 0, pos = n;  // #{j : v < k[j]} <= n (k[j] = INT64_MIN from n on)
    auto count = [&](int64_t v) {
      while (pos > 0 && k[pos - 1] <= v) --pos;
      return pos;
    };
    for (int32_t key = 0; key < kBuckets; ++key) {
      int64_t lo = key, hi = key;  // the bucket's u range
      if (key >= 16) {
        const int32_t b = 5 + (key - 16) / 8, eighth = (key - 16) % 8;
        lo = int64_t{8 + eighth} << (b - 4), hi = (int64_t{9 + eighth} << (b - 4)) - 1;
      }
      const int32_t at_lo = count(lo);
      first[key] = static_cast<int16_t>(count(hi));
      most = std::max(most, at_lo - first[key]);
    }
    while ((1 << steps) <= most) ++steps;
    bucketed = true;
  }
  // #{j : u < k[j]} for 0 <= u <= 2^31 after Buckets(): `steps` halving steps (the same number
  // for every u: no loop exit to mispredict) from the bucket's first code; the predicate holds on a
  // prefix past it and fails from its last code on (k non-increasing).
  int32_t Code(int64_t u) const {
    int32_t pos = first[BucketOf(u)];
    for (int32_t step = (1 << steps) >> 1; step > 0; step >>= 1)
      pos += step & -static_cast<int32_t>(u < k[pos + step - 1]);
    return pos;
  }
  // The limits in N's units for a row whose Σe is sum: k[j]·sum, saturated (N < 2^61; ⌊N/S⌋ < K
  // ⟺ N < K·S for S > 0), so that a code is #{j : N < limit[j]} without a division.
  void Scale(int64_t sum, int64_t* limit) const {
    for (int32_t j = 0; j < n; ++j) {
      if (k[j] == INT64_MAX || k[j] == INT64_MIN) limit[j] = k[j];
      else if (__builtin_mul_overflow(k[j], sum, &limit[j])) limit[j] = k[j] > 0 ? INT64_MAX : INT64_MIN;
    }
  }
};

template <typename TOut>
TOut LogGridByte(int32_t count, int32_t n) {
  return static_cast<TOut>(static_cast<uint8_t>(count == n ? ref::kLogGridZeroCode : count));
}

// The log-grid codes of d in [0, d_hi] for a row whose Σe is sum. In N's units the limits are
// k[j]·sum (⌊N/S⌋ < K ⟺ N < K·S for S > 0; saturated, N < 2^61). N is non-increasing in d (the
// exp table is) and the limits are in j, so the code is non-decreasing: one pass over d and the
// limits; every d past the first zero code gets the zero code.
// Out of line: inlined into Qs8Softmax, GCC 12 keeps the walk's values on the stack.
template <typename TOut>
__attribute__((noinline)) void LogGridCodes(const ref::SoftmaxParams& p, const LogGridLimits& g, const int64_t* limit,
                                            const int32_t* table, int64_t sum, int32_t d_hi, TOut* code_of_d) {
  const int64_t scale = int64_t{p.clip_scale_q16} << 14, half = sum / 2;
  int32_t q = 0, d = 0;
  for (; d <= d_hi; ++d) {
    const int64_t n = scale * table[d] + half;  // scale·e < 2^17·2^30·2^14 = 2^61
    while (q < g.n && n < limit[q]) ++q;
    if (q == g.n) break;
    code_of_d[d] = LogGridByte<TOut>(q, g.n);
  }
  for (; d <= d_hi; ++d) code_of_d[d] = LogGridByte<TOut>(g.n, g.n);
}

// One row in plain C++: kept max, min and Σe; the code of each d = max − x in [0, max − min]
// (stopping at the first 0: the exp table is non-increasing, so u is too); then lookups.
// mr: null (all kept) or a mask byte per element; any: false when the row is wholly masked.
template <typename TOut>
void SoftmaxRowCpp(const ref::SoftmaxParams& p, LogGridLimits* grid, const int8_t* xr, const uint8_t* mr, bool any,
                   TOut* yr, TOut* code_of_d) {
  const int32_t depth = p.depth;
  const int32_t* table = p.exp_table;  // 256 entries for int8 input (prepare), so d = max − x indexes it
  // The code of probability 0: the uniform grid's zero point, or the log grid's zero code (its byte).
  const auto zero_code = static_cast<TOut>(p.grid != nullptr ? static_cast<uint8_t>(ref::kLogGridZeroCode)
                                                             : static_cast<uint8_t>(p.output_zero_point));
  int32_t max_code = -128, min_code = 127;
  int64_t sum = 0;
  if (mr == nullptr) {
    for (int32_t i = 0; i < depth; ++i) {
      max_code = xr[i] > max_code ? xr[i] : max_code;
      min_code = xr[i] < min_code ? xr[i] : min_code;
    }
    if (any)
      for (int32_t i = 0; i < depth; ++i) sum += table[max_code - xr[i]];
  } else {  // a mask byte per element (m_step == 1); without branches on it
    int32_t kept_count = 0;
    for (int32_t i = 0; i < depth; ++i) {
      const int32_t kept = mr[i] != 0;
      kept_count += kept;
      const int32_t hi = kept ? xr[i] : -128, lo = kept ? xr[i] : 127;
      max_code = hi > max_code ? hi : max_code;
      min_code = lo < min_code ? lo : min_code;
    }
    any = kept_count > 0;
    if (any)
      for (int32_t i = 0; i < depth; ++i) {
        const int32_t kept = mr[i] != 0;
        sum += table[kept ? max_code - xr[i] : 0] & -kept;  // a masked element (maybe above the max) adds 0
      }
  }
  if (!any) {
    for (int32_t i = 0; i < depth; ++i) yr[i] = zero_code;
  } else {
    // A kept output depends on d = max − x only: its code for each d in [0, max − min] first.
    // sum >= table[0] = 2^exp_bits >= 1 (the max is kept).
    const double inv = 1.0 / static_cast<double>(sum);
    const int32_t d_hi = max_code - min_code;
    bool d_lookup = false;  // code_of_d holds the kept elements' d only
    if (grid != nullptr) {
#if !defined(__OPTIMIZE_SIZE__)  // the -Os library (bench/footprint.sh): every row by the walk below
      if (d_hi + grid->n > 4 * depth) {
        // More d and thresholds to walk through than a few times the elements: the code of each d
        // the row's kept elements have (a bitmap of them; no more than the kept elements) from its
        // own u = ⌊N / sum⌋ (u <= clip_scale·2^14 <= 2^31: e <= sum) by a search of k, then lookups.
        const int64_t scale = int64_t{p.clip_scale_q16} << 14, half = sum / 2;
        if (!grid->bucketed) grid->Buckets();
        uint64_t present[4] = {};
        for (int32_t i = 0; i < depth; ++i) {
          const int32_t d = max_code - xr[i];  // a masked element's (maybe outside [0, 255]) not marked
          if (mr == nullptr || mr[i] != 0) present[d >> 6] |= uint64_t{1} << (d & 63);
        }
        for (int32_t word = 0; word < 4; ++word)
          for (uint64_t bits = present[word]; bits != 0; bits &= bits - 1) {
            const int32_t d = 64 * word + __builtin_ctzll(bits);
            const int64_t u = FloorDivByInverse(scale * table[d] + half, sum, inv);
            code_of_d[d] = LogGridByte<TOut>(grid->Code(u), grid->n);
          }
        d_lookup = true;
      }
#endif
      if (!d_lookup) {
        int64_t limit[ref::kLogGridMaxCodes];
        grid->Scale(sum, limit);
        LogGridCodes(p, *grid, limit, table, sum, d_hi, code_of_d);
      }
    } else {
      UniformCodes(p, table, sum, inv, d_hi, code_of_d);
    }
    if (mr == nullptr) {
      for (int32_t i = 0; i < depth; ++i) yr[i] = code_of_d[max_code - xr[i]];
    } else {
      for (int32_t i = 0; i < depth; ++i) {
        const TOut code = code_of_d[mr[i] != 0 ? max_code - xr[i] : 0];
        yr[i] = mr[i] != 0 ? code : zero_code;
      }
    }
  }
}

}  // namespace

template <typename TOut>
void Qs8Softmax(const ref::SoftmaxParams& p, const int8_t* x, TOut* y, SoftmaxRows rows, uint8_t* keep,
                int64_t first_row, int64_t last_row) {
  const int32_t depth = p.depth;
  const int32_t outer_axes = p.rank - 1;
  if (last_row < 0 || last_row > p.rows) last_row = p.rows;
  int64_t index[ref::kMaxKernelRank] = {};
  // Σ index_i·strides_i over the leading axes (the reference's split of r), per mask; from the
  // index of first_row.
  int64_t mask_off = 0, mask32_off = 0;
  for (int64_t i = outer_axes - 1, rest = first_row; i >= 0; --i) {
    index[i] = rest % p.dims[i];
    rest /= p.dims[i];
    mask_off += index[i] * p.mask_strides[i];
    mask32_off += index[i] * p.mask32_strides[i];
  }
  const int64_t m_step = p.mask != nullptr ? p.mask_strides[p.rank - 1] : 0;       // 0 or 1
  const int64_t m32_step = p.mask32 != nullptr ? p.mask32_strides[p.rank - 1] : 0;  // 0 or 1
  int64_t keep_mask_off = -1, keep_mask32_off = -1;  // the offsets `keep` holds the bytes of
  TOut code_of_d[256];  // output code of a kept element per d = row max − x
  std::optional<LogGridLimits> grid_limits;
  if (p.grid != nullptr) grid_limits.emplace(p);
  LogGridLimits* grid = grid_limits ? &*grid_limits : nullptr;
#if defined(SQUINT_X86_KERNELS)
  // Rows in flight on AVX-512: a row waits until the group is full (two rows, or
  // x86::kSoftmaxVbmiGroup on VBMI) and the group runs with its stages interleaved
  // (x86::Qs8SoftmaxRowsAvx512, Qs8SoftmaxRowsAvx512Vbmi); `flush` runs the waiting rows (at
  // the end, and before `keep`, which they may read, is rebuilt).
  const bool avx512 = rows != SoftmaxRows::kCpp, vbmi = rows == SoftmaxRows::kAvx512Vbmi;
  x86::SoftmaxVbmiTables tables;
  if (vbmi && last_row > first_row) x86::SoftmaxVbmiTablesInit(p, &tables);
  const int32_t group = vbmi ? x86::kSoftmaxVbmiGroup : 2;
  const int8_t* wait_x[x86::kSoftmaxVbmiGroup] = {};
  const uint8_t* wait_m[x86::kSoftmaxVbmiGroup] = {};
  uint8_t* wait_y[x86::kSoftmaxVbmiGroup] = {};
  int32_t waiting = 0;
  auto flush = [&] {
    if (vbmi && waiting > 0) x86::Qs8SoftmaxRowsAvx512Vbmi(p, tables, waiting, wait_x, wait_m, wait_y);
    else if (waiting > 0) x86::Qs8SoftmaxRowsAvx512(p, waiting, wait_x, wait_m, wait_y);
    waiting = 0;
  };
  if (avx512 && p.mask == nullptr && p.mask32 == nullptr && depth > 0) {  // no masks: whole groups of rows
    for (int64_t r = first_row; r < last_row; r += group) {
      waiting = static_cast<int32_t>(std::min<int64_t>(group, last_row - r));
      for (int32_t i = 0; i < waiting; ++i)
        wait_x[i] = x + (r + i) * depth, wait_y[i] = reinterpret_cast<uint8_t*>(y + (r + i) * depth);
      flush();
    }
    return;
  }
#endif
  for (int64_t r = first_row; r < last_row; ++r) {
    const int8_t* xr = x + r * depth;
    TOut* yr = y + r * depth;
    const uint8_t* mr = p.mask != nullptr ? p.mask + mask_off : nullptr;
    bool any = depth > 0;
    if (p.mask32 != nullptr) {
      const int32_t* m32 = p.mask32 + mask32_off;
      if (m32_step == 0 && (mr == nullptr || m_step == 0)) {  // one keep value for the whole row
        any = any && m32[0] != 0 && (mr == nullptr || mr[0] != 0);
        mr = nullptr;
      } else {  // both masks as one byte per element, rebuilt only when the row's masks change
        if (mask_off != keep_mask_off || mask32_off != keep_mask32_off) {
#if defined(SQUINT_X86_KERNELS)
          flush();
#endif
          for (int32_t i = 0; i < depth; ++i)
            keep[i] = static_cast<uint8_t>((mr == nullptr || mr[i * m_step] != 0) && m32[i * m32_step] != 0);
          keep_mask_off = mask_off;
          keep_mask32_off = mask32_off;
        }
        mr = keep;
      }
    } else if (mr != nullptr && m_step == 0) {  // one mask value for the whole row
      any = any && mr[0] != 0;
      mr = nullptr;
    }
#if defined(SQUINT_X86_KERNELS)
    if (avx512 && any) {  // the whole row (mr: null or a byte per element)
      wait_x[waiting] = xr, wait_m[waiting] = mr, wait_y[waiting] = reinterpret_cast<uint8_t*>(yr);
      if (++waiting == group) flush();
    } else {
      SoftmaxRowCpp(p, grid, xr, mr, any, yr, code_of_d);
    }
#else
    (void)rows;
    SoftmaxRowCpp(p, grid, xr, mr, any, yr, code_of_d);
#endif
    for (int32_t i = outer_axes - 1; i >= 0; --i) {
      mask_off += p.mask_strides[i];
      mask32_off += p.mask32_strides[i];
      if (++index[i] < p.dims[i]) break;
      mask_off -= int64_t{p.mask_strides[i]} * p.dims[i];
      mask32_off -= int64_t{p.mask32_strides[i]} * p.dims[i];
      index[i] = 0;
    }
  }
#if defined(SQUINT_X86_KERNELS)
  flush();
#endif
}

template void Qs8Softmax<int8_t>(const ref::SoftmaxParams&, const int8_t*, int8_t*, SoftmaxRows, uint8_t*, int64_t,
                                 int64_t);
// A uint8 output's bytes are the int8 output's (every path writes (u + zero point) mod 256, and a
// log-grid code byte), so one instantiation serves both.
template <>
void Qs8Softmax<uint8_t>(const ref::SoftmaxParams& p, const int8_t* x, uint8_t* y, SoftmaxRows rows, uint8_t* keep,
                         int64_t first_row, int64_t last_row) {
  Qs8Softmax<int8_t>(p, x, reinterpret_cast<int8_t*>(y), rows, keep, first_row, last_row);
}

// ---- GATHER, PAD ----

void GatherRows(int32_t outer, int32_t axis_dim, int64_t inner_bytes, const int32_t* indices, int32_t num_indices,
                const void* x, void* y) {
  const auto* xb = static_cast<const uint8_t*>(x);
  auto* yb = static_cast<uint8_t*>(y);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < num_indices; ++j) {
      int64_t index = indices[j];
      if (index < 0) index += axis_dim;
      index = index < 0 ? 0 : (index > axis_dim - 1 ? axis_dim - 1 : index);
      std::memcpy(yb + (o * num_indices + j) * inner_bytes, xb + (o * axis_dim + index) * inner_bytes,
                  static_cast<size_t>(inner_bytes));
    }
}

template <typename T>
void PadConstant(int32_t rank, const int32_t* in_dims, const int32_t* pads, T value, const T* x, T* y) {
  const int32_t last = rank - 1;
  int64_t rows = 1, in_strides[ref::kMaxKernelRank] = {};
  int32_t out_dims[ref::kMaxKernelRank] = {};
  for (int32_t i = 0; i < rank; ++i) out_dims[i] = in_dims[i] + pads[i] + pads[rank + i];
  for (int32_t i = 0; i < last; ++i) rows *= out_dims[i];
  int64_t stride = 1;
  for (int32_t i = last; i >= 0; --i) in_strides[i] = stride, stride *= in_dims[i];
  // Output columns [j_lo, j_hi) of a row read the input row from column j_lo − pad.
  const int64_t width = out_dims[last], pad = pads[last];
  const int64_t j_lo = pad < 0 ? 0 : (pad > width ? width : pad);
  int64_t j_hi = pad + in_dims[last];
  j_hi = j_hi < j_lo ? j_lo : (j_hi > width ? width : j_hi);
  int32_t index[ref::kMaxKernelRank] = {};
  for (int64_t r = 0; r < rows; ++r, y += width) {
    int64_t src = 0;
    bool inside = true;
    for (int32_t i = 0; i < last && inside; ++i) {
      const int64_t c = int64_t{index[i]} - pads[i];
      inside = c >= 0 && c < in_dims[i];
      src += c * in_strides[i];
    }
    if (!inside) {
      for (int64_t j = 0; j < width; ++j) y[j] = value;
    } else {
      for (int64_t j = 0; j < j_lo; ++j) y[j] = value;
      if (j_hi > j_lo) std::memcpy(y + j_lo, x + src + (j_lo - pad), static_cast<size_t>(j_hi - j_lo) * sizeof(T));
      for (int64_t j = j_hi; j < width; ++j) y[j] = value;
    }
    for (int32_t i = last - 1; i >= 0; --i) {
      if (++index[i] < out_dims[i]) break;
      index[i] = 0;
    }
  }
}
template void PadConstant<int8_t>(int32_t, const int32_t*, const int32_t*, int8_t, const int8_t*, int8_t*);
template void PadConstant<uint8_t>(int32_t, const int32_t*, const int32_t*, uint8_t, const uint8_t*, uint8_t*);
template void PadConstant<int16_t>(int32_t, const int32_t*, const int32_t*, int16_t, const int16_t*, int16_t*);
template void PadConstant<int32_t>(int32_t, const int32_t*, const int32_t*, int32_t, const int32_t*, int32_t*);

// ---- LAYER_NORM ----

size_t LayerNormConstsBytes(const ref::LayerNormParams& p) {
  return p.channels <= kLayerNormFloatChannels ? static_cast<size_t>(p.channels) * (2 * sizeof(double) + 2 * sizeof(float))
                                               : 0;
}

LayerNormConsts LayerNormConstsInit(const ref::LayerNormParams& p, void* memory) {
  LayerNormConsts k;
  const ref::RequantParams& rq = p.requant;
  const int32_t channels = p.channels, per_channel = rq.count == 1 ? 0 : 1;
  for (int32_t c = 0; c < channels; ++c) {
    k.gamma_max = std::max(k.gamma_max, std::abs(int64_t{p.gamma_q[c]}));
    k.beta_max = std::max(k.beta_max, std::abs(int64_t{p.beta_q[c]}));
  }
  if (channels > kLayerNormFloatChannels) return k;
  auto* g = static_cast<double*>(memory);
  double* b = g + channels;
  auto* g32 = reinterpret_cast<float*>(b + channels);
  float* b32 = g32 + channels;
  for (int32_t c = 0; c < channels; ++c) {
    const int32_t i = c * per_channel;
    // m / 2^r, r = 31 − shift in [1, 62], as m·2^−r (exact either way), 2^−r from its exponent
    // bits (no division or ldexp call per channel).
    const uint64_t pow2_bits = static_cast<uint64_t>(1023 - (31 - rq.shift[i])) << 52;
    double pow2 = 0.0;
    std::memcpy(&pow2, &pow2_bits, sizeof(pow2));
    const double unit = static_cast<double>(rq.multiplier[i]) * pow2;
    g[c] = static_cast<double>(p.gamma_q[c]) * unit;
    b[c] = static_cast<double>(p.beta_q[c]) * unit + rq.zero_point;
    g32[c] = static_cast<float>(g[c]), b32[c] = static_cast<float>(b[c]);
    k.g_max = std::max(k.g_max, std::fabs(g[c]));
    k.b_max = std::max(k.b_max, std::fabs(b[c]));
  }
  k.g = g, k.b = b, k.g32 = g32, k.b32 = b32;
  return k;
}

namespace {
// The rows of Qs8LayerNorm / Qs16LayerNorm (T = int8_t / int16_t).
template <typename T>
void LayerNormRows(const ref::LayerNormParams& p, const T* x, T* y, RowIsa isa, const LayerNormConsts* consts) {
  constexpr bool kInt8 = sizeof(T) == 1;
  const int32_t channels = p.channels;
  const int64_t c_count = channels;
  const int32_t z = p.rms ? p.input_zero_point : 0;
  const ref::RequantParams& rq = p.requant;
  const int32_t per_channel = rq.count == 1 ? 0 : 1;
  int64_t n_of[256];  // int8: n per code of a row, when the row's codes span fewer values than channels
#if defined(SQUINT_X86_KERNELS)
  // The AVX-512 rows' constants (the caller's, or this call's): a row whose |n|·|γ| + |β| stays
  // below 2^32 takes the narrow requantization (rows.h, kNarrow); rows of up to
  // kLayerNormFloatChannels the double or float rows (rows.h, LayerNormFloat).
  alignas(8) unsigned char memory[kLayerNormFloatChannels * (2 * sizeof(double) + 2 * sizeof(float))];
  LayerNormConsts own;
  if (isa == RowIsa::kAvx512 && consts == nullptr) own = LayerNormConstsInit(p, memory);
  const LayerNormConsts& k = consts != nullptr ? *consts : own;
  const int64_t gamma_max = k.gamma_max, beta_max = k.beta_max;
  const double g_max = k.g_max, b_max = k.b_max;
  const bool use_float = isa == RowIsa::kAvx512 && k.g != nullptr;
  const x86::LayerNormFloat float_consts{k.g, k.b, kInt8 ? k.g32 : nullptr, kInt8 ? k.b32 : nullptr};
#else
  (void)consts;
#endif
  // One row's constants: statistics, the reference's D, k, root and up (kernels.h), the inverse.
  struct RowConstants {
    int64_t sum, root, scaled;  // scaled = D·4^k
    int32_t lo, hi, up_log2;
    double inv;
  };
  // A row's constants from its statistics Σ(x − z), Σ(x − z)², smallest and largest code: up and
  // D·4^k (root and inv: set by the batch loop below).
  auto row_constants = [&](int64_t s, int64_t sq, int32_t lo, int32_t hi) {
    const int64_t sum = p.rms ? 0 : s, sum_sq = sq;
    // From here to `up`: the reference's formulas (kernels.h), once per row.
    const int64_t n_var = c_count * sum_sq - sum * sum;
    const bool small = n_var < (int64_t{1} << 45);
    const int32_t eps_bits = small ? ref::kLayerNormEpsilonBits : 0;
    const int64_t d = small ? n_var * (int64_t{1} << ref::kLayerNormEpsilonBits) + p.epsilon_q
                            : n_var + p.epsilon_q / (int64_t{1} << ref::kLayerNormEpsilonBits);
    // The reference's k (scale D by 4^k until D·4^k >= 2^60; 0 when D == 0) from D's bit
    // length, and its exact IntegerSqrt as a corrected double square root (D·4^k < 2^62).
    int32_t k = 0;
    if (d != 0) {
      const int32_t bits = 64 - __builtin_clzll(static_cast<uint64_t>(d));
      k = bits >= 61 ? 0 : (62 - bits) / 2;
    }
    const int64_t scaled = static_cast<int64_t>(static_cast<uint64_t>(d) << (2 * k));  // < 2^62
    return RowConstants{sum, 0, scaled, lo, hi, p.norm_bits + k + eps_bits / 2, 0.0};
  };
  // A row's statistics and constants.
  auto row_statistics = [&](const T* xr) {
    int64_t s = 0, sq = 0;
    int32_t lo = kInt8 ? 127 : 32767, hi = kInt8 ? -128 : -32768;
#if defined(SQUINT_X86_KERNELS)
    if constexpr (!kInt8) {  // (int8 AVX-512 rows: Qs8RowStats8Avx512, in the batch loop below)
      if (isa == RowIsa::kAvx512 && z == 0) {
        const x86::Row16Stats st = x86::Qs16RowStatsAvx512(xr, channels);
        s = st.sum, sq = st.sum_sq, lo = st.lo, hi = st.hi;
      }
    }
    if (isa != RowIsa::kAvx512 || (!kInt8 && z != 0))
#endif
    {
      // int8: |v| <= 255 and C <= 32768 (prepare), so |Σv| < 2^23 and Σv² < 2^31 in 32 bits (which
      // the vectorizer keeps in 32-bit lanes); int16: |v| < 2^16, Σv² < 2^47 in 64 bits.
      using Sum = std::conditional_t<kInt8, int32_t, int64_t>;
      using Square = std::conditional_t<kInt8, uint32_t, int64_t>;
      Sum s_acc = 0;
      Square sq_acc = 0;
      for (int32_t c = 0; c < channels; ++c) {
        const Sum v = Sum{xr[c]} - z;
        s_acc += v;
        sq_acc += static_cast<Square>(v * v);
        lo = xr[c] < lo ? xr[c] : lo;
        hi = xr[c] > hi ? xr[c] : hi;
      }
      s = s_acc;
      sq = static_cast<int64_t>(sq_acc);
    }
    return row_constants(s, sq, lo, hi);
  };
  // Rows' constants (each a latency chain: statistics, square root, division) kBatch at a time
  // before those rows' per-channel parts, stage by stage (statistics, square roots, corrections
  // and inverses), so that the chains overlap one another.
  constexpr int32_t kBatch = 8;
  RowConstants batch[kBatch];
  for (int32_t r = 0; r < p.rows; ++r) {
    const T* xr = x + int64_t{r} * channels;
    T* yr = y + int64_t{r} * channels;
    if (r % kBatch == 0) {
      const int32_t count = static_cast<int32_t>(std::min<int64_t>(kBatch, int64_t{p.rows} - r));
      double est[kBatch];
      bool done_stats = false;
#if defined(SQUINT_X86_KERNELS)
      if constexpr (kInt8) {
        if (isa == RowIsa::kAvx512) {  // the batch's statistics together (their reductions interleaved)
          x86::RowStats st[kBatch];
          x86::Qs8RowStats8Avx512(xr, count, channels, z, st);
          for (int32_t i = 0; i < count; ++i) batch[i] = row_constants(st[i].sum, st[i].sum_sq, st[i].lo, st[i].hi);
          done_stats = true;
        }
      }
#endif
      if (!done_stats)
        for (int32_t i = 0; i < count; ++i) batch[i] = row_statistics(xr + int64_t{i} * channels);
      for (int32_t i = 0; i < count; ++i) est[i] = std::sqrt(static_cast<double>(batch[i].scaled));
      for (int32_t i = 0; i < count; ++i) {
        batch[i].root = FloorSqrt(batch[i].scaled, est[i]);
        batch[i].inv = batch[i].root == 0 ? 0.0 : 1.0 / static_cast<double>(batch[i].root);
      }
    }
    const RowConstants cur = batch[r % kBatch];
    const int64_t sum = cur.sum, root = cur.root;
    const int32_t lo = cur.lo, hi = cur.hi, up_log2 = cur.up_log2;
    const int64_t up = int64_t{1} << up_log2;
    const double inv = cur.inv;
    int32_t done = 0;  // channels written by a vector row kernel
#if defined(SQUINT_X86_KERNELS)
    if (isa != RowIsa::kCpp && root != 0) {
      // The vector rows' bounds: w = C·(x − z) − Σ is linear in x, so its largest |w| is at the
      // row's smallest or largest code; |n| <= |w|·up / root + 1.
      const int64_t w_lo = c_count * (lo - z) - sum, w_hi = c_count * (hi - z) - sum;
      const int64_t w_max = std::max(w_lo < 0 ? -w_lo : w_lo, w_hi < 0 ? -w_hi : w_hi);
      const double n_est = static_cast<double>(w_max) * static_cast<double>(up) * inv;
      if (w_max < (int64_t{1} << 24) && n_est < 268435456.0) {
        if (isa == RowIsa::kAvx512) {  // 2^28 above: margin to 2^29
          // |n| <= n_est + 2 (the estimate's error is far below 1) and |acc| <= |n|·|γ| + |β|.
          const int64_t n_bound = static_cast<int64_t>(n_est) + 2;
          const bool narrow = n_bound * gamma_max + beta_max < (int64_t{1} << 32);
          const double y_bound = static_cast<double>(n_bound) * g_max + b_max;
          const bool in_float = use_float && y_bound < 2097152.0;  // 2^21
          // The float rows (int8): y_bound < 2^18 and |q| < 2^21 (rows.h).
          const double y_bound32 = kInt8 && in_float && y_bound < 262144.0 && n_bound < (1 << 21) ? y_bound : 0.0;
          if constexpr (kInt8)
            x86::Qs8LayerNormRowAvx512(p, xr, z, sum, up_log2, root, inv, narrow, in_float ? &float_consts : nullptr,
                                       y_bound32, yr);
          else
            x86::Qs16LayerNormRowAvx512(p, xr, z, sum, up_log2, root, inv, narrow, in_float ? &float_consts : nullptr, yr);
          continue;
        }
        if constexpr (kInt8) done = x86::Qs8LayerNormRowAvx2(p, xr, z, sum, up_log2, root, inv, yr);
      }
    }
#else
    (void)isa;
#endif
    // n(x) = ⌊(C·(x − z) − Σx)·up / root⌉ (0 when root == 0) depends on the code only.
    auto n_at = [&](int32_t code) -> int64_t {
      return root == 0 ? 0 : RoundDivByInverse((c_count * (code - z) - sum) * up, root, inv);
    };
    auto emit = [&](int32_t c, int64_t n) {
      const int64_t acc = n * p.gamma_q[c] + p.beta_q[c];
      const int32_t i = c * per_channel;
      const int64_t v = int64_t{detail::MultiplyByQuantizedMultiplier64Wide(acc, rq.multiplier[i], rq.shift[i])} + rq.zero_point;
      yr[c] = static_cast<T>(v < rq.act_min ? rq.act_min : (v > rq.act_max ? rq.act_max : v));
    };
    if constexpr (kInt8) {
      if (hi - lo + 1 < channels - done) {
        for (int32_t code = lo; code <= hi; ++code) n_of[code - lo] = n_at(code);
        for (int32_t c = done; c < channels; ++c) emit(c, n_of[xr[c] - lo]);
        continue;
      }
    }
    for (int32_t c = done; c < channels; ++c) emit(c, n_at(xr[c]));
  }
}
}  // namespace

void Qs8LayerNorm(const ref::LayerNormParams& p, const int8_t* x, int8_t* y, RowIsa isa, const LayerNormConsts* consts) {
  LayerNormRows(p, x, y, isa, consts);
}
void Qs16LayerNorm(const ref::LayerNormParams& p, const int16_t* x, int16_t* y, RowIsa isa,
                   const LayerNormConsts* consts) {
  LayerNormRows(p, x, y, isa, consts);
}

// ---- global AVERAGE_POOL_2D ----

bool IsGlobalPool(const ref::Pool2DParams& p) {
  return p.out_h == 1 && p.out_w == 1 && p.kernel_h == p.in_h && p.kernel_w == p.in_w && p.pad_top == 0 &&
         p.pad_left == 0 && p.pad_bottom == 0 && p.pad_right == 0 && p.dilation_h == 1 && p.dilation_w == 1;
}

void Qs8GlobalAveragePool(const ref::Pool2DParams& p, const int8_t* x, int8_t* y) {
  const int64_t count = int64_t{p.in_h} * p.in_w, planes = int64_t{p.batch} * p.channels;
  for (int64_t plane = 0; plane < planes; ++plane) {
    const int8_t* xp = x + plane * count;
    // In int32 lanes (which the vectorizer keeps 16 to a vector) while they cannot overflow.
    int64_t sum = 0;
    if (count < (int64_t{1} << 23)) {
      int32_t s32 = 0;
      for (int64_t i = 0; i < count; ++i) s32 += xp[i];
      sum = s32;
    } else {
      for (int64_t i = 0; i < count; ++i) sum += xp[i];
    }
    const int64_t acc = sum - count * p.input_zero_point;
    const int64_t avg = count == 0 ? 0 : ref::detail::RoundDiv(acc * (int64_t{1} << ref::kAvgPoolFractionBits), count);
    y[plane] = static_cast<int8_t>(ref::detail::Requant(p.requant, 0, static_cast<int32_t>(avg)));
  }
}

// ---- RESIZE (nearest) and CONCAT by code tables ----

template <typename T>
bool BuildRescaleTable(const ref::RescaleParams& p, T* table) {
  constexpr int32_t kMin = std::is_signed_v<T> ? -128 : 0;
  bool identity = true;
  for (int32_t c = kMin; c < kMin + 256; ++c) {
    table[c - kMin] = static_cast<T>(ref::detail::Rescale(p, c));
    identity = identity && table[c - kMin] == c;
  }
  return identity;
}

template <typename T>
void ResizeNearest(const ref::ResizeParams& p, const int32_t* rows, const int32_t* cols, const T* table, const T* x,
                   T* y) {
  constexpr int32_t kMin = std::is_signed_v<T> ? -128 : 0;
  const int64_t planes = int64_t{p.batch} * p.channels, in_plane = int64_t{p.in_h} * p.in_w;
  const int64_t out_w = p.out_w;
  for (int64_t plane = 0; plane < planes; ++plane) {
    const T* xp = x + plane * in_plane;
    T* yp = y + plane * p.out_h * out_w;
    for (int32_t oh = 0; oh < p.out_h; ++oh) {
      T* yr = yp + oh * out_w;
      if (oh > 0 && rows[oh] == rows[oh - 1]) {  // the same source row
        std::memcpy(yr, yr - out_w, static_cast<size_t>(out_w) * sizeof(T));
        continue;
      }
      const T* xr = xp + int64_t{rows[oh]} * p.in_w;
      if (table == nullptr) {
        for (int64_t ow = 0; ow < out_w; ++ow) yr[ow] = xr[cols[ow]];
      } else {
        for (int64_t ow = 0; ow < out_w; ++ow) yr[ow] = table[xr[cols[ow]] - kMin];
      }
    }
  }
}

template <typename T>
void ConcatTables(int32_t num_inputs, const T* const* inputs, const int32_t* axis_sizes, int32_t outer, int32_t inner,
                  const T* tables, const bool* identity, T* y) {
  constexpr int32_t kMin = std::is_signed_v<T> ? -128 : 0;
  int64_t out_row = 0;
  for (int32_t i = 0; i < num_inputs; ++i) out_row += int64_t{axis_sizes[i]} * inner;
  int64_t column = 0;
  for (int32_t i = 0; i < num_inputs; ++i) {
    const int64_t row = int64_t{axis_sizes[i]} * inner;
    const T* table = tables + 256 * int64_t{i};
    for (int64_t o = 0; o < outer; ++o) {
      const T* src = inputs[i] + o * row;
      T* dst = y + o * out_row + column;
      if (identity[i]) {
        if (row > 0) std::memcpy(dst, src, static_cast<size_t>(row) * sizeof(T));
      } else {
        for (int64_t j = 0; j < row; ++j) dst[j] = table[src[j] - kMin];
      }
    }
    column += row;
  }
}

#define SQUINT_CODE_TABLES(T)                                                                                     \
  template bool BuildRescaleTable<T>(const ref::RescaleParams&, T*);                                             \
  template void ResizeNearest<T>(const ref::ResizeParams&, const int32_t*, const int32_t*, const T*, const T*, T*); \
  template void ConcatTables<T>(int32_t, const T* const*, const int32_t*, int32_t, int32_t, const T*, const bool*, T*);
SQUINT_CODE_TABLES(int8_t)
SQUINT_CODE_TABLES(uint8_t)
#undef SQUINT_CODE_TABLES
template void ResizeNearest<int16_t>(const ref::ResizeParams&, const int32_t*, const int32_t*, const int16_t*,
                                     const int16_t*, int16_t*);

// ---- MAX_POOL_2D and AVERAGE_POOL_2D (dilation 1) ----

namespace {
// One axis of a pooling window (dilation 1): the positions inside the input, [lo, hi), and the
// count inside the padded input (the reference's in_pad), for the window starting at `start`.
struct PoolSpan {
  int64_t lo, hi, padded;
};
PoolSpan SpanOf(int64_t start, int32_t kernel, int32_t in, int32_t pad_before, int32_t pad_after) {
  const int64_t end = start + kernel;
  PoolSpan s;
  s.lo = std::max<int64_t>(start, 0);
  s.hi = std::max(s.lo, std::min<int64_t>(end, in));
  s.padded = std::max<int64_t>(0, std::min<int64_t>(end, int64_t{in} + pad_after) - std::max<int64_t>(start, -pad_before));
  return s;
}
}  // namespace

// The int8 max pool separably, for windows up to kMaxPoolChunk columns wide: for a run of outputs
// of one output row, the max over the window's rows of every input column the run reads (a vector
// loop), then each output's max over its columns of that. An empty window gives act_min. Codes
// are compared as unsigned keys x ^ 0x80 (the same order): x86-64's baseline has an unsigned byte
// max (pmaxub) and no signed one.
constexpr int64_t kMaxPoolChunk = 256;
uint8_t ToMaxKey(int8_t x) { return static_cast<uint8_t>(static_cast<uint8_t>(x) ^ 0x80u); }
int32_t FromMaxKey(uint8_t k) { return static_cast<int32_t>(k) - 128; }
// Calls row(xp, yr, h) for each output row of each plane: the plane's input, the row's outputs and
// the window's input rows. The parameters are read into locals first: the kernels' stores may alias
// p for the compiler.
template <typename T, typename Row>
void ForEachPoolRow(const ref::Pool2DParams& p, const T* x, T* y, Row row) {
  const int64_t planes = int64_t{p.batch} * p.channels, in_plane = int64_t{p.in_h} * p.in_w;
  const int32_t out_h = p.out_h, out_w = p.out_w, in_h = p.in_h, kernel_h = p.kernel_h, stride_h = p.stride_h;
  const int32_t pad_top = p.pad_top, pad_bottom = p.pad_bottom;
  for (int64_t plane = 0; plane < planes; ++plane) {
    const T* xp = x + plane * in_plane;
    T* yp = y + plane * int64_t{out_h} * out_w;
    for (int32_t oh = 0; oh < out_h; ++oh)
      row(xp, yp + int64_t{oh} * out_w, SpanOf(int64_t{oh} * stride_h - pad_top, kernel_h, in_h, pad_top, pad_bottom));
  }
}

void MaxPool2DSeparable(const ref::Pool2DParams& p, const int8_t* x, int8_t* y) {
  const int32_t in_w = p.in_w, out_w = p.out_w, kernel_w = p.kernel_w, stride_w = p.stride_w;
  const int32_t pad_left = p.pad_left, pad_right = p.pad_right, act_min = p.requant.act_min, act_max = p.requant.act_max;
  const int64_t run = (kMaxPoolChunk - kernel_w) / stride_w + 1;  // outputs whose columns fit the chunk
  uint8_t cols[kMaxPoolChunk];
  ForEachPoolRow(p, x, y, [&](const int8_t* xp, int8_t* yr, const PoolSpan& h) {
    for (int64_t o0 = 0; o0 < out_w; o0 += run) {
      const int64_t o1 = std::min<int64_t>(out_w, o0 + run);
      const int64_t c0 = std::max<int64_t>(o0 * stride_w - pad_left, 0);
      const int64_t c1 = std::min<int64_t>((o1 - 1) * stride_w - pad_left + kernel_w, in_w);
      if (h.lo < h.hi && c0 < c1) {
        const int8_t* first = xp + h.lo * in_w + c0;
        for (int64_t c = 0; c < c1 - c0; ++c) cols[c] = ToMaxKey(first[c]);
        for (int64_t ih = h.lo + 1; ih < h.hi; ++ih) {
          const int8_t* row = xp + ih * in_w + c0;
          for (int64_t c = 0; c < c1 - c0; ++c) cols[c] = std::max(cols[c], ToMaxKey(row[c]));
        }
      }
      // Outputs [i0, i1) of the run have their whole window inside the input; with a 2-wide
      // window at stride 2 (the usual 2 × 2 pool) their maxima are one vector loop over the pairs.
      int64_t i0 = o0, i1 = o0;
      if (h.lo < h.hi && kernel_w == 2 && stride_w == 2) {
        i0 = std::min<int64_t>(o1, std::max<int64_t>(o0, (pad_left + 1) / 2));
        const int64_t last = int64_t{in_w} + pad_left - 2;  // the last window inside starts at 2·ow − pad_left = in_w − 2
        i1 = last < 0 ? i0 : std::max<int64_t>(i0, std::min<int64_t>(o1, last / 2 + 1));
        const uint8_t* pair = cols + (i0 * 2 - pad_left - c0);
        int8_t* out = yr + i0;
        for (int64_t o = 0; o < i1 - i0; ++o) {
          const int32_t v = FromMaxKey(std::max(pair[2 * o], pair[2 * o + 1]));
          out[o] = static_cast<int8_t>(v < act_min ? act_min : (v > act_max ? act_max : v));
        }
      }
      auto window = [&](int64_t ow) {  // any window: its bounds, then its columns' maxima
        const PoolSpan w = SpanOf(ow * stride_w - pad_left, kernel_w, in_w, pad_left, pad_right);
        int32_t best = act_min;
        if (h.lo < h.hi && w.lo < w.hi) {
          uint8_t k = cols[w.lo - c0];
          for (int64_t iw = w.lo + 1; iw < w.hi; ++iw) k = std::max(k, cols[iw - c0]);
          best = std::max(best, FromMaxKey(k));
        }
        yr[ow] = static_cast<int8_t>(std::min(best, act_max));
      };
      for (int64_t ow = o0; ow < i0; ++ow) window(ow);
      for (int64_t ow = i1; ow < o1; ++ow) window(ow);
    }
  });
}

// The average pool, window by window (each window's bounds per axis from SpanOf). An int8 pool
// with many windows first tabulates the output code, by the formula, of every sum Σ(x − z_x) a
// window of count kernel_h·kernel_w can have (count·255 + 1 sums; when the outputs are at least
// twice as many): a window of that count (one inside the input, or any with count_include_pad,
// whose sum over fewer codes lies in the same range since −128 <= z_x <= 127) is then its sum and
// a lookup.
constexpr int64_t kAvgPoolMaxTable = 4096;
template <typename T>
void AveragePool2DWindows(const ref::Pool2DParams& p, const T* x, T* y) {
  const int32_t in_w = p.in_w, out_w = p.out_w, kernel_w = p.kernel_w, stride_w = p.stride_w;
  const int32_t pad_left = p.pad_left, pad_right = p.pad_right, zx = p.input_zero_point;
  const bool include_pad = p.count_include_pad;
  const ref::RequantParams& rq = p.requant;
  auto code_of = [&rq](int64_t acc, int64_t count) {  // acc = Σ(x − z_x) over the window
    // The reference's RoundDiv of acc·2^8 by count, by the inverse (FloorDivByInverse's exactness).
    const int64_t avg =
        count == 0 ? 0
                   : RoundDivByInverse(acc * (int64_t{1} << ref::kAvgPoolFractionBits), count,
                                       1.0 / static_cast<double>(count));
    return static_cast<T>(ref::detail::Requant(rq, 0, static_cast<int32_t>(avg)));
  };
  const int64_t full = int64_t{p.kernel_h} * kernel_w, sums = full * 255 + 1;
  const int64_t outputs = int64_t{p.batch} * p.channels * p.out_h * out_w;
  const bool tabulate = sizeof(T) == 1 && sums <= kAvgPoolMaxTable && outputs >= 2 * sums && zx >= -128 && zx <= 127;
  const int64_t acc_min = full * (-128 - int64_t{zx});  // the least sum of a full int8 window
  T table[sizeof(T) == 1 ? kAvgPoolMaxTable : 1];
  if (tabulate)
    for (int64_t i = 0; i < sums; ++i) table[i] = code_of(acc_min + i, full);
  ForEachPoolRow(p, x, y, [&](const T* xp, T* yr, const PoolSpan& h) {
    for (int32_t ow = 0; ow < out_w; ++ow) {
      const PoolSpan w = SpanOf(int64_t{ow} * stride_w - pad_left, kernel_w, in_w, pad_left, pad_right);
      int64_t acc = 0;
      for (int64_t ih = h.lo; ih < h.hi; ++ih)
        for (int64_t iw = w.lo; iw < w.hi; ++iw) acc += xp[ih * in_w + iw];
      const int64_t inside = (h.hi - h.lo) * (w.hi - w.lo);
      acc -= inside * int64_t{zx};
      const int64_t count = include_pad ? h.padded * w.padded : inside;
      yr[ow] = tabulate && count == full ? table[acc - acc_min] : code_of(acc, count);
    }
  });
}

template <typename T, bool kMax>
void Pool2D(const ref::Pool2DParams& p, const T* x, T* y) {
  if constexpr (kMax) {
    // int16 codes and windows wider than the chunk: the reference's loops (int16 max pools are
    // rare; the library's size budget keeps one instantiation of the separable pool).
    if constexpr (sizeof(T) == 1)
      if (p.kernel_w <= kMaxPoolChunk && p.stride_w >= 1) return MaxPool2DSeparable(p, x, y);
    return ref::MaxPool2D<T>(p, x, y);
  } else {
    AveragePool2DWindows(p, x, y);
  }
}
template void Pool2D<int8_t, true>(const ref::Pool2DParams&, const int8_t*, int8_t*);
template void Pool2D<int8_t, false>(const ref::Pool2DParams&, const int8_t*, int8_t*);
template void Pool2D<int16_t, true>(const ref::Pool2DParams&, const int16_t*, int16_t*);
template void Pool2D<int16_t, false>(const ref::Pool2DParams&, const int16_t*, int16_t*);

// ---- depthwise CONV_2D ----

namespace {
// The padded plane's extent along one axis: every input position an output window reads.
int64_t PaddedExtent(int32_t out, int32_t stride, int32_t kernel, int32_t dilation) {
  return out <= 0 ? 0 : int64_t{out - 1} * stride + int64_t{kernel - 1} * dilation + 1;
}

// The padded plane of one input channel xc: position (i, j) is input (i − pad_top, j − pad_left)
// as x − z_x, 0 outside the input; hp × wp int16.
void PadPlane(const ref::Conv2DParams& p, const int8_t* xc, int64_t hp, int64_t wp, int16_t* plane) {
  const int64_t pad_top = p.pad_top, pad_left = p.pad_left, in_h = p.in_h, in_w = p.in_w;
  const int32_t zx = p.input_zero_point;
  for (int64_t i = 0; i < hp; ++i) {
    int16_t* pr = plane + i * wp;
    const int64_t ih = i - pad_top;
    if (ih < 0 || ih >= in_h) {
      for (int64_t j = 0; j < wp; ++j) pr[j] = 0;
      continue;
    }
    const int8_t* xr = xc + ih * in_w;
    // Columns [j_lo, j_hi) are inside the input row.
    const int64_t j_lo = pad_left < wp ? pad_left : wp, j_hi = pad_left + in_w < wp ? pad_left + in_w : wp;
    for (int64_t j = 0; j < j_lo; ++j) pr[j] = 0;
    for (int64_t j = j_lo; j < j_hi; ++j) pr[j] = static_cast<int16_t>(xr[j - pad_left] - zx);
    for (int64_t j = j_hi > j_lo ? j_hi : j_lo; j < wp; ++j) pr[j] = 0;
  }
}

// One channel's outputs from its padded plane (row pitch wp); KH, KW > 0: the kernel size fixed
// at compile time (3×3), 0: p's.
template <int KH, int KW>
void DepthwisePlane(const ref::Conv2DParams& p, const int16_t* plane, int64_t wp, const int8_t* wc, int32_t b,
                    int32_t c, int8_t* yc) {
  const int32_t kh_n = KH > 0 ? KH : p.kernel_h, kw_n = KW > 0 ? KW : p.kernel_w;
  int32_t wv[64];  // the channel's taps (kernel_h·kernel_w <= 64 here, else the generic loop below)
  const bool small = kh_n * kw_n <= 64;
  if (small)
    for (int32_t i = 0; i < kh_n * kw_n; ++i) wv[i] = wc[i];
  // Geometry and the channel's requantization in locals: the int8 stores below may alias
  // anything, so fields read through `p` would be reloaded after every output.
  const int32_t out_h = p.out_h, out_w = p.out_w, stride_h = p.stride_h, stride_w = p.stride_w;
  const int32_t dilation_h = p.dilation_h, dilation_w = p.dilation_w;
  const int32_t ci = p.requant.count == 1 ? 0 : c;
  const int32_t multiplier = p.requant.multiplier[ci], shift = p.requant.shift[ci];
  const int32_t zero_point = p.requant.zero_point, act_min = p.requant.act_min, act_max = p.requant.act_max;
  for (int32_t oh = 0; oh < out_h; ++oh) {
    const int16_t* row0 = plane + int64_t{oh} * stride_h * wp;
    int8_t* yr = yc + int64_t{oh} * out_w;
    for (int32_t ow = 0; ow < out_w; ++ow) {
      const int16_t* base = row0 + int64_t{ow} * stride_w;
      int32_t acc = b;
      for (int32_t kh = 0; kh < kh_n; ++kh) {
        const int16_t* r = base + int64_t{kh} * dilation_h * wp;
        for (int32_t kw = 0; kw < kw_n; ++kw)
          acc += int32_t{r[int64_t{kw} * dilation_w]} * (small ? wv[kh * kw_n + kw] : int32_t{wc[kh * kw_n + kw]});
      }
      // ref::detail::Requant with the channel's constants.
      const int64_t v = int64_t{ref::detail::Scale(acc, multiplier, shift)} + zero_point;
      yr[ow] = static_cast<int8_t>(ref::detail::Clamp(v, act_min, act_max));
    }
  }
}
}  // namespace

namespace {
size_t RoundUp64(size_t n) { return (n + 63) / 64 * 64; }
}  // namespace

// The convolutions of x86's pairs kernels (rows.h: PairsChannelAvx512): one input plane per
// output channel (depthwise, or groups = 1 with one input channel), stride_w 1 or 2, dilation 1, at
// most kPairsMaxWeights pair weights, and output rows of 8 or more (narrower ones would leave most
// of the 16 lanes empty: the channels-last kernel takes them).
constexpr int32_t kPairsMaxWeights = 32, kPairsSlack = 64;
#if defined(SQUINT_X86_KERNELS)
static_assert(kPairsMaxWeights == x86::kPairsMaxWeights && kPairsSlack == x86::kPairsSlack, "rows.h's");
#endif
bool PairsConv(const ref::Conv2DParams& p) {
  const bool depthwise = p.groups > 1 && p.groups == p.in_channels && p.out_channels == p.in_channels;
  const bool one_input = p.groups == 1 && p.in_channels == 1;
  return (depthwise || one_input) && (p.stride_w == 1 || p.stride_w == 2) && p.dilation_h == 1 && p.dilation_w == 1 &&
         p.out_w >= 8 &&
         int64_t{p.kernel_h} * ((int64_t{p.kernel_w} + 1) / 2) <= kPairsMaxWeights;
}

namespace {
// The channels-last path's scratch: the image [ih][iw][c], the weights [tap][c] int32 (rows of C
// rounded up to 16), the outputs [pos][c]; byte offsets.
struct DepthwiseLastLayout {
  size_t weights = 0, outputs = 0, total = 0;
};
DepthwiseLastLayout DepthwiseLast(const ref::Conv2DParams& p) {
  const auto c = static_cast<size_t>(p.out_channels);
  DepthwiseLastLayout l;
  const size_t plane = static_cast<size_t>(p.in_h) * static_cast<size_t>(p.in_w);
  l.weights = RoundUp64(c * plane);
  l.outputs = l.weights + RoundUp64((c + 15) / 16 * 16 * static_cast<size_t>(p.kernel_h) *
                                    static_cast<size_t>(p.kernel_w) * sizeof(int32_t));
  l.total = l.outputs + c * static_cast<size_t>(p.out_h) * static_cast<size_t>(p.out_w);
  return l;
}
}  // namespace

size_t Qs8DepthwiseScratchBytes(const ref::Conv2DParams& p) {
  const auto positions = static_cast<size_t>(PaddedExtent(p.out_h, p.stride_h, p.kernel_h, p.dilation_h) *
                                             PaddedExtent(p.out_w, p.stride_w, p.kernel_w, p.dilation_w));
  const size_t plane = positions * sizeof(int16_t);
  // PairsConv on AVX-512: the padded plane (int16) and its slack.
  const size_t pairs = PairsConv(p) ? (positions + kPairsSlack) * sizeof(int16_t) : 0;
  return std::max({plane, pairs, DepthwiseLast(p).total});
}

#if defined(SQUINT_X86_KERNELS)
void Qs8PairsConvItems(const ref::Conv2DParams& p, const int8_t* x, const int8_t* w, const int32_t* bias,
                       int16_t* scratch, int8_t* y, int64_t first, int64_t last) {
  const int64_t hp = PaddedExtent(p.out_h, p.stride_h, p.kernel_h, p.dilation_h);
  const int64_t wp = PaddedExtent(p.out_w, p.stride_w, p.kernel_w, p.dilation_w);
  const int64_t in_plane = int64_t{p.in_h} * p.in_w, out_plane = int64_t{p.out_h} * p.out_w;
  const int64_t taps = int64_t{p.kernel_h} * p.kernel_w;
  if (out_plane == 0 || p.out_channels == 0) return;
  const ref::RequantParams& rq = p.requant;
  const bool one_input = p.in_channels == 1;  // every output channel of an image reads its one plane
  const int64_t channels = p.out_channels, in_channels = p.in_channels;
  int64_t n = first / channels, c = first % channels;  // item n·channels + c, stepped without dividing
  for (int64_t item = first; item < last; ++item) {
    if (!one_input || c == 0 || item == first)
      x86::PadPlaneAvx512(p, x + (n * in_channels + (one_input ? 0 : c)) * in_plane, hp, wp, scratch);
    x86::PairsChannelAvx512(p, scratch, wp, w + c * taps, bias != nullptr ? bias[c] : 0,
                            rq.count == 1 ? rq.multiplier[0] : rq.multiplier[c], rq.count == 1 ? rq.shift[0] : rq.shift[c],
                            y + item * out_plane);
    if (++c == channels) c = 0, ++n;
  }
}
#endif

void Qs8DepthwiseConv2D(const ref::Conv2DParams& p, const int8_t* x, const int8_t* w, const int32_t* bias,
                        int16_t* scratch, int8_t* y, bool avx512, TransposeBytesFn transpose) {
#if defined(SQUINT_X86_KERNELS)
  if (avx512 && PairsConv(p)) {  // straight from and into NCHW, a channel's plane at a time
    Qs8PairsConvItems(p, x, w, bias, scratch, y, 0, int64_t{p.batch} * p.out_channels);
    return;
  }
  if (avx512) {
    const DepthwiseLastLayout l = DepthwiseLast(p);
    auto* base = reinterpret_cast<uint8_t*>(scratch);
    auto* xt = reinterpret_cast<int8_t*>(base);
    auto* wt = reinterpret_cast<int32_t*>(base + l.weights);
    auto* yt = reinterpret_cast<int8_t*>(base + l.outputs);
    const int32_t channels = p.out_channels, cpad = (channels + 15) / 16 * 16;
    const int64_t taps = int64_t{p.kernel_h} * p.kernel_w;
    const int64_t in_plane = int64_t{p.in_h} * p.in_w, out_plane = int64_t{p.out_h} * p.out_w;
    if (out_plane == 0 || channels == 0) return;
    // w[oc][0][kh][kw] either way (depthwise: one input channel per group), as int16 in the low
    // half of each int32 (rows.h).
    for (int64_t t = 0; t < taps; ++t)
      for (int32_t c = 0; c < cpad; ++c) wt[t * cpad + c] = c < channels ? static_cast<uint16_t>(int16_t{w[c * taps + t]}) : 0;
    for (int32_t n = 0; n < p.batch; ++n) {
      const int8_t* x_n = x + int64_t{n} * p.in_channels * in_plane;
      transpose(x_n, channels, in_plane, xt);
      x86::Qs8DepthwiseChannelsLastAvx512(p, xt, wt, bias, yt);
      transpose(yt, out_plane, channels, y + int64_t{n} * channels * out_plane);
    }
    return;
  }
#else
  (void)avx512, (void)transpose;
#endif
  const int64_t hp = PaddedExtent(p.out_h, p.stride_h, p.kernel_h, p.dilation_h);
  const int64_t wp = PaddedExtent(p.out_w, p.stride_w, p.kernel_w, p.dilation_w);
  if (hp == 0 || wp == 0) return;
  const int64_t in_plane = int64_t{p.in_h} * p.in_w, out_plane = int64_t{p.out_h} * p.out_w;
  const int64_t taps = int64_t{p.kernel_h} * p.kernel_w;
  const bool k3x3 = p.kernel_h == 3 && p.kernel_w == 3;
  for (int32_t n = 0; n < p.batch; ++n) {
    for (int32_t c = 0; c < p.in_channels; ++c) {
      PadPlane(p, x + (int64_t{n} * p.in_channels + c) * in_plane, hp, wp, scratch);
      const int8_t* wc = w + int64_t{c} * taps;
      const int32_t b = bias != nullptr ? bias[c] : 0;
      int8_t* yc = y + (int64_t{n} * p.out_channels + c) * out_plane;
      if (k3x3) DepthwisePlane<3, 3>(p, scratch, wp, wc, b, c, yc);
      else DepthwisePlane<0, 0>(p, scratch, wp, wc, b, c, yc);
    }
  }
}

}  // namespace squint::rt::portable

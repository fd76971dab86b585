// Optimized int8 ADD / SUB / MUL (misc.h states the contract: the reference kernels' output codes,
// bit for bit): the 65536-entry table of the reference's results, looked up along the folded
// broadcast, and on AVX-512 ADD / SUB in float where prepare has checked every code pair. int16
// ADD / SUB along the same folded broadcast: AVX-512's 16 lanes on runs of both operands, the
// reference kernel on the others.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "runtime/kernels/portable/misc.h"
#if defined(SQUINT_X86_KERNELS)
#include "runtime/kernels/x86/rows.h"
#endif

namespace squint::rt::portable {

// ---- ADD / SUB / MUL ----

void BuildQs8BinaryTable(BinaryKind kind, const ref::ElementwiseParams& p, int8_t* table, bool b_major) {
  int8_t codes[256];
  for (int32_t u = 0; u < 256; ++u) codes[u] = static_cast<int8_t>(static_cast<uint8_t>(u));
  // a as [256, 1], b as [256]: y[ua][ub] = f(codes[ua], codes[ub]) by the reference kernel;
  // b_major: a as [256], b as [256, 1], y[ub][ua].
  const int32_t column[2] = {256, 1}, row[1] = {256};
  ref::BroadcastShape s;
  if (b_major) ref::ComputeBroadcast(row, 1, column, 2, &s);
  else ref::ComputeBroadcast(column, 2, row, 1, &s);
  if (kind == BinaryKind::kAdd) ref::Add<int8_t>(p, s, codes, codes, table);
  else if (kind == BinaryKind::kSub) ref::Sub<int8_t>(p, s, codes, codes, table);
  else ref::Mul<int8_t>(p, s, codes, codes, table);
}

namespace {
// BinaryFloat's estimate (misc.h), in the order of operations the AVX-512 kernel uses.
float BinaryFloatEstimate(const BinaryFloat& f, int32_t a, int32_t b) {
  return std::fma(static_cast<float>(a), f.ca, std::fma(static_cast<float>(b), f.cb, f.c0));
}
}  // namespace

bool BuildQs8BinaryFloat(BinaryKind kind, const ref::ElementwiseParams& p, const int8_t* table, BinaryFloat* f) {
  if (kind == BinaryKind::kMul || p.output.count != 1 || p.a_shift > 0 || p.b_shift > 0 || p.output.shift[0] > 0 ||
      p.a_multiplier < 0 || p.b_multiplier < 0 || p.output.multiplier[0] < 0)
    return false;
  // y ≈ (a − za)·2^left·ma·2^(sa − 31)·mo·2^(so − 31) ± (b − zb)·…: each int32 requantization
  // rounds twice (at most 1 off), the output's by 2^(31 − so) finer than the output code.
  const double out = std::ldexp(static_cast<double>(p.output.multiplier[0]), p.output.shift[0] - 31);
  const double ca = std::ldexp(static_cast<double>(p.a_multiplier), p.left_shift + p.a_shift - 31) * out;
  const double cb = std::ldexp(static_cast<double>(p.b_multiplier), p.left_shift + p.b_shift - 31) * out *
                    (kind == BinaryKind::kSub ? -1.0 : 1.0);
  const double c0 = p.output.zero_point - p.a_zero_point * ca - p.b_zero_point * cb;
  // The margin: the output's first rounding (1/2 of 2^shift), the inputs' (1 each, times out), and
  // the float estimate's error (a few roundings of relative 2^−24 of terms of at most
  // 256·(|ca| + |cb|) + |zp|).
  const double margin = std::ldexp(1.0, p.output.shift[0]) + 3.0 * out +
                        0x1p-21 * (256.0 * (std::fabs(ca) + std::fabs(cb)) + std::abs(p.output.zero_point) + 1.0);
  if (!(margin < 0.25)) return false;
  BinaryFloat g;
  g.ca = static_cast<float>(ca);
  g.cb = static_cast<float>(cb);
  g.c0 = static_cast<float>(c0);
  g.half_minus_margin = static_cast<float>(0.5 - margin);
  g.act_min = p.output.act_min, g.act_max = p.output.act_max;
  // Every code pair: outside the margin, the estimate's code must be the table's.
  for (int32_t a = -128; a < 128; ++a)
    for (int32_t b = -128; b < 128; ++b) {
      const float est = BinaryFloatEstimate(g, a, b);
      if (!(std::fabs(est) < 1048576.0f)) return false;  // 2^20: rint fits int32; NaN excluded
      const float r = std::nearbyint(est);
      if (std::fabs(est - r) > g.half_minus_margin) continue;  // near a boundary: the table's
      const int32_t v = std::min(std::max(static_cast<int32_t>(r), g.act_min), g.act_max);
      if (v != table[static_cast<uint8_t>(a) * 256 + static_cast<uint8_t>(b)]) return false;
    }
  *f = g;
  return true;
}

namespace {
// A broadcast folded: size-1 axes dropped, an axis merged into the next inner one when both
// operands step through them as one (contiguous, or both broadcast). Innermost axis first.
struct FoldedBroadcast {
  int32_t rank = 0;
  int64_t dims[ref::kMaxKernelRank], as[ref::kMaxKernelRank], bs[ref::kMaxKernelRank];
  bool empty = false;
};
FoldedBroadcast Fold(const ref::BroadcastShape& s) {
  FoldedBroadcast f;
  for (int32_t i = s.rank - 1; i >= 0; --i) {
    const int64_t d = s.out_dims[i];
    if (d == 0) f.empty = true;
    if (d <= 1) continue;
    if (f.rank > 0 && f.as[f.rank - 1] * f.dims[f.rank - 1] == s.a_strides[i] &&
        f.bs[f.rank - 1] * f.dims[f.rank - 1] == s.b_strides[i]) {
      f.dims[f.rank - 1] *= d;
      continue;
    }
    f.dims[f.rank] = d;
    f.as[f.rank] = s.a_strides[i];
    f.bs[f.rank] = s.b_strides[i];
    ++f.rank;
  }
  return f;
}
// run(a_offset, b_offset, y_offset, inner, a_step, b_step) for every run of the innermost folded
// axis (one run of one element when everything folded away).
template <typename Run>
void ForEachRun(const FoldedBroadcast& f, Run run) {
  if (f.empty) return;
  if (f.rank == 0) return run(int64_t{0}, int64_t{0}, int64_t{0}, int64_t{1}, int64_t{0}, int64_t{0});
  const int64_t inner = f.dims[0];
  int64_t rows = 1;
  for (int32_t i = 1; i < f.rank; ++i) rows *= f.dims[i];
  int64_t index[ref::kMaxKernelRank] = {};
  int64_t a_off = 0, b_off = 0;
  for (int64_t row = 0; row < rows; ++row) {
    run(a_off, b_off, row * inner, inner, f.as[0], f.bs[0]);
    for (int32_t i = 1; i < f.rank; ++i) {  // odometer over the outer axes
      a_off += f.as[i];
      b_off += f.bs[i];
      if (++index[i] < f.dims[i]) break;
      a_off -= f.as[i] * f.dims[i];
      b_off -= f.bs[i] * f.dims[i];
      index[i] = 0;
    }
  }
}
}  // namespace

bool BinaryRunsHoldB(const ref::BroadcastShape& s) {
  const FoldedBroadcast f = Fold(s);
  return f.rank > 0 && f.as[0] != 0 && f.bs[0] == 0;
}

void Qs8Binary(const ref::BroadcastShape& s, const int8_t* table, const int8_t* a, const int8_t* b, int8_t* y,
               const BinaryFloat* f, bool b_major, bool vbmi) {
  ForEachRun(Fold(s), [&](int64_t a_off, int64_t b_off, int64_t y_off, int64_t inner, int64_t ai, int64_t bi) {
    int8_t* yr = y + y_off;
#if defined(SQUINT_X86_KERNELS)
    if (f != nullptr && !b_major && ai == 1 && bi == 1)
      return x86::Qs8BinaryFloatAvx512(*f, table, inner, a + a_off, b + b_off, yr);
#endif
    // u: the table's major operand (row), v: the minor one (column).
    const auto* ur = reinterpret_cast<const uint8_t*>(b_major ? b + b_off : a + a_off);
    const int8_t* vr = b_major ? a + a_off : b + b_off;
    const int64_t ui = b_major ? bi : ai, vi = b_major ? ai : bi;
    const auto* uv = reinterpret_cast<const uint8_t*>(vr);
    if (ui == 0 && vi == 1) return Qs8Lut(inner, table + ur[0] * 256, vr, yr, vbmi);  // one row: a LUT
    if (ui == 1 && vi == 1) {
      for (int64_t j = 0; j < inner; ++j) yr[j] = table[ur[j] * 256 + uv[j]];
    } else if (vi == 0) {  // the minor operand fixed: one column of the table
      const int8_t* t = table + uv[0];
      for (int64_t j = 0; j < inner; ++j) yr[j] = t[ur[j * ui] * 256];
    } else {
      for (int64_t j = 0; j < inner; ++j) yr[j] = table[ur[j * ui] * 256 + uv[j * vi]];
    }
  });
}

// ---- int16 ADD / SUB ----

void Qs16AddSub(const ref::ElementwiseParams& p, int32_t sign, const ref::BroadcastShape& s, const int16_t* a,
                const int16_t* b, int16_t* y, bool avx512) {
  (void)avx512;  // (no AVX-512 kernel outside x86-64 builds)
  ForEachRun(Fold(s), [&](int64_t a_off, int64_t b_off, int64_t y_off, int64_t inner, int64_t ai, int64_t bi) {
    const int16_t* ar = a + a_off;
    const int16_t* br = b + b_off;
    int16_t* yr = y + y_off;
#if defined(SQUINT_X86_KERNELS)
    if (avx512 && ai == 1 && bi == 1) return x86::Qs16AddSubAvx512(p, sign, inner, ar, br, yr);
#endif
    // The run as a one-axis broadcast of the reference kernel (its walk costs little per run).
    ref::BroadcastShape run;
    run.rank = 1;
    run.out_dims[0] = static_cast<int32_t>(inner);
    run.a_strides[0] = static_cast<int32_t>(ai);
    run.b_strides[0] = static_cast<int32_t>(bi);
    if (sign > 0) ref::Add<int16_t>(p, run, ar, br, yr);
    else ref::Sub<int16_t>(p, run, ar, br, yr);
  });
}

}  // namespace squint::rt::portable

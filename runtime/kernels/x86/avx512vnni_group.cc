// Group-scaled FULLY_CONNECTED and CONV_2D on AVX-512 VNNI (group_scaled.h states what they
// compute). Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni.
//
// Within a block of 16 units, int32 lane 2j holds unit j and lane 2j + 1 unit 8 + j, so that
// vpmuldq on the even lanes gives units 0–7 in order and on the odd lanes (shifted down) units
// 8–15: the int64 sums t of a block are two vectors of 8 units each, in order.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC bug 105593, as in avx512vnni.cc
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "runtime/kernels/portable/misc.h"
#include "runtime/kernels/portable/qs8_gemm.h"
#include "runtime/kernels/x86/group_scaled.h"

namespace squint::rt::x86 {
namespace {

constexpr int32_t kUnits = 16;       // units a block
constexpr int32_t kChunkRows = 64;   // activation rows laid out per pass over the weight
constexpr int64_t kFinalBytes = 128;  // a block's requantization: 16 multipliers, 16 values of 31 − shift
constexpr int64_t kCopySlack = 16;    // a convolution's kernel rows are copied 16 bytes at a time

int32_t LaneOf(int32_t unit_in_block) { return unit_in_block < 8 ? 2 * unit_in_block : 2 * (unit_in_block - 8) + 1; }

int64_t GroupBytes(const GroupScaledLayout& l) { return (int64_t{l.group_bytes} / 4 + 2) * 64; }

// The block's per-row constants of the output stage, units 0–7 (h = 0) and 8–15 (h = 1).
struct Finals {
  __m512i bias[2], mult[2], round[2], r[2];
};

Finals LoadFinals(const uint8_t* block_end, const int32_t* bias, int32_t valid) {
  Finals f;
  const auto* mult = reinterpret_cast<const int32_t*>(block_end - kFinalBytes);
  const __m512i b = bias != nullptr ? _mm512_maskz_loadu_epi32(static_cast<__mmask16>((1u << valid) - 1), bias)
                                    : _mm512_setzero_si512();
  const __m512i m = _mm512_loadu_si512(mult), r = _mm512_loadu_si512(mult + kUnits);
  const __m512i one = _mm512_set1_epi64(1);
  for (int h = 0; h < 2; ++h) {
    f.bias[h] = _mm512_cvtepi32_epi64(h == 0 ? _mm512_castsi512_si256(b) : _mm512_extracti64x4_epi64(b, 1));
    f.mult[h] = _mm512_cvtepu32_epi64(h == 0 ? _mm512_castsi512_si256(m) : _mm512_extracti64x4_epi64(m, 1));
    f.r[h] = _mm512_cvtepu32_epi64(h == 0 ? _mm512_castsi512_si256(r) : _mm512_extracti64x4_epi64(r, 1));
    f.round[h] = _mm512_sllv_epi64(one, _mm512_sub_epi64(f.r[h], one));
  }
  return f;
}

// The layer's output stage: requantization, the unit of the block's first lane and the scalar
// fallback's parameters.
struct Stage {
  const ref::RequantParams* requant;
  const int32_t* bias;
  int32_t units;
  __m512i zp, lo, hi;
};

// Output codes of 8 units (half h of the block starting at unit u0) from their sums t.
inline __m128i Codes8(__m512i t, const Finals& f, int h, const Stage& s, int32_t u0) {
  // acc = bias + RoundDiv(t, 2^B): |t| rounded half up by the shift, the sign put back.
  const __m512i sign = _mm512_srai_epi64(t, 63);
  const __m512i q = _mm512_srli_epi64(_mm512_add_epi64(_mm512_abs_epi64(t), _mm512_set1_epi64(int64_t{1} << (ref::kGroupScaleBits - 1))),
                                      ref::kGroupScaleBits);
  const __m512i acc = _mm512_add_epi64(f.bias[h], _mm512_sub_epi64(_mm512_xor_si512(q, sign), sign));
  const __m512i a = _mm512_abs_epi64(acc);
  if (_mm512_cmpge_epu64_mask(a, _mm512_set1_epi64(int64_t{1} << 32)) != 0) {
    alignas(64) int64_t tv[8];
    alignas(16) int8_t out[16];
    _mm512_store_si512(tv, t);
    for (int i = 0; i < 8; ++i) {
      const int32_t u = u0 + 8 * h + i;  // a padding unit's code is never stored
      out[i] = u < s.units ? static_cast<int8_t>(portable::GroupScaledOutputCode(*s.requant, s.bias, u, tv[i])) : 0;
    }
    return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(out));
  }
  // MultiplyByQuantizedMultiplier64: q = ⌊(|acc|·m + 2^(r−1)) / 2^r⌋ (|acc|·m < 2^63, r >= 1, so
  // q < 2^62), the sign put back. The reference saturates q at 2^31 − 1 (2^31 for a negative acc)
  // before it adds the zero point and clamps to the activation range; for int8 codes that clamp
  // alone gives the same code, so q is not saturated here.
  const __mmask8 negative = _mm512_cmplt_epi64_mask(acc, _mm512_setzero_si512());
  __m512i v = _mm512_srlv_epi64(_mm512_add_epi64(_mm512_mul_epu32(a, f.mult[h]), f.round[h]), f.r[h]);
  v = _mm512_mask_sub_epi64(v, negative, _mm512_setzero_si512(), v);
  v = _mm512_min_epi64(_mm512_max_epi64(_mm512_add_epi64(v, s.zp), s.lo), s.hi);
  return _mm512_cvtepi64_epi8(v);
}

// Σ_g m·a[g] of MR rows (activations `xu`, row_bytes apart) × the block at `block`, into t[i][0]
// (units 0–7) and t[i][1] (units 8–15).
template <int MR>
inline __attribute__((always_inline)) void GroupSums(const GroupScaledLayout& l, const uint8_t* xu,
                                                     const uint8_t* block, __m512i (*t)[2]) {
  __m512i lo[MR], hi[MR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) lo[i] = hi[i] = _mm512_setzero_si512();
  const int32_t steps = l.group_bytes / 4;
  const uint8_t* gw = block;
  for (int32_t g = 0; g < l.groups; ++g) {
    const __m512i start = _mm512_load_si512(gw + int64_t{steps} * 64);
    __m512i acc[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) acc[i] = start;
    const uint8_t* xg = xu + int64_t{g} * l.group_bytes;
    auto step = [&](__m512i* a, int32_t k) __attribute__((always_inline)) {
      const __m512i w = _mm512_load_si512(gw + int64_t{k} * 64);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        int32_t x4;
        std::memcpy(&x4, xg + i * l.row_bytes + 4 * k, 4);
        a[i] = _mm512_dpbusd_epi32(a[i], _mm512_set1_epi32(x4), w);
      }
    };
    int32_t k = 0;
    if constexpr (MR < 8) {
      // MR accumulator chains, each waiting on its vpdpbusd's latency a step: 8/MR depth phases
      // of their own (step k into phase k mod kP, summed after the group; exact modulo 2^32).
      constexpr int kP = 8 / MR;
      __m512i part[kP - 1][MR];
#pragma GCC unroll 8
      for (int j = 0; j < kP - 1; ++j)
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) part[j][i] = _mm512_setzero_si512();
      for (; k + kP <= steps; k += kP) {
        step(acc, k);
#pragma GCC unroll 8
        for (int j = 1; j < kP; ++j) step(part[j - 1], k + j);
      }
#pragma GCC unroll 8
      for (int j = 0; j < kP - 1; ++j)
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) acc[i] = _mm512_add_epi32(acc[i], part[j][i]);
    }
    for (; k < steps; ++k) step(acc, k);
    const __m512i m = _mm512_load_si512(gw + int64_t{steps + 1} * 64);
    const __m512i m_odd = _mm512_srli_epi64(m, 32);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      lo[i] = _mm512_add_epi64(lo[i], _mm512_mul_epi32(acc[i], m));
      hi[i] = _mm512_add_epi64(hi[i], _mm512_mul_epi32(_mm512_srli_epi64(acc[i], 32), m_odd));
    }
    gw += GroupBytes(l);
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) t[i][0] = lo[i], t[i][1] = hi[i];
}

// Codes of `rows` laid-out rows × every unit: row i's 16 codes of block b go to
// y + i·row_stride + (16b + n)·unit_stride for the block's valid units n.
template <int MR>
void RowsTimesBlock(const GroupScaledLayout& l, const uint8_t* xu, const uint8_t* block, const Finals& f,
                    const Stage& s, int32_t u0, int32_t valid, int8_t* y, int64_t row_stride, int64_t unit_stride) {
  __m512i t[MR][2];
  GroupSums<MR>(l, xu, block, t);
  for (int i = 0; i < MR; ++i) {
    const __m128i codes = _mm_unpacklo_epi64(Codes8(t[i][0], f, 0, s, u0), Codes8(t[i][1], f, 1, s, u0));
    int8_t* yr = y + i * row_stride + u0 * unit_stride;
    if (unit_stride == 1) {
      _mm_mask_storeu_epi8(yr, static_cast<__mmask16>((1u << valid) - 1), codes);
    } else {
      alignas(16) int8_t c[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(c), codes);
      for (int32_t n = 0; n < valid; ++n) yr[n * unit_stride] = c[n];
    }
  }
}

// Every unit's codes for `rows` (at most kChunkRows) laid-out rows.
void Rows(const GroupScaledLayout& l, const uint8_t* packed, const uint8_t* xu, int32_t rows, const Stage& s,
          int8_t* y, int64_t row_stride, int64_t unit_stride) {
  for (int32_t b = 0; b < l.blocks; ++b) {
    const uint8_t* block = packed + b * l.block_bytes;
    const int32_t u0 = b * kUnits, valid = std::min(kUnits, l.units - u0);
    const Finals f = LoadFinals(block + l.block_bytes, s.bias != nullptr ? s.bias + u0 : nullptr, valid);
    int32_t r = 0;
    for (; r + 8 <= rows; r += 8)
      RowsTimesBlock<8>(l, xu + r * l.row_bytes, block, f, s, u0, valid, y + r * row_stride, row_stride, unit_stride);
    for (; r + 2 <= rows; r += 2)
      RowsTimesBlock<2>(l, xu + r * l.row_bytes, block, f, s, u0, valid, y + r * row_stride, row_stride, unit_stride);
    if (r < rows)
      RowsTimesBlock<1>(l, xu + r * l.row_bytes, block, f, s, u0, valid, y + r * row_stride, row_stride, unit_stride);
  }
}

Stage StageOf(const ref::RequantParams& requant, const int32_t* bias, int32_t units) {
  return Stage{&requant, bias, units, _mm512_set1_epi64(requant.zero_point), _mm512_set1_epi64(requant.act_min),
               _mm512_set1_epi64(requant.act_max)};
}

// u[k] = x[k] + 128 (x ^ 0x80) for k < n, 64 bytes a step.
void FlipSigns(const int8_t* x, int64_t n, uint8_t* u) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  int64_t k = 0;
  for (; k + 64 <= n; k += 64) _mm512_storeu_si512(u + k, _mm512_xor_si512(_mm512_loadu_si512(x + k), flip));
  if (k < n) {
    const __mmask64 tail = (uint64_t{1} << (n - k)) - 1;  // n − k < 64
    _mm512_mask_storeu_epi8(u + k, tail, _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, x + k), flip));
  }
}

// The padded image of the convolution: rows and columns as far as any window reaches.
int64_t PaddedH(const ref::Conv2DParams& p) {
  return portable::PaddedSize(p.in_h, p.pad_top, p.out_h, p.stride_h, p.kernel_h, p.dilation_h);
}
int64_t PaddedW(const ref::Conv2DParams& p) {
  return portable::PaddedSize(p.in_w, p.pad_left, p.out_w, p.stride_w, p.kernel_w, p.dilation_w);
}

}  // namespace

GroupScaledLayout GroupScaledLayoutOf(int32_t units, int32_t depth, int32_t group_size) {
  GroupScaledLayout l;
  l.units = units;
  l.depth = depth;
  l.group_size = group_size;
  l.groups = depth / group_size;
  l.group_bytes = (group_size + 3) / 4 * 4;
  l.blocks = (units + kUnits - 1) / kUnits;
  l.row_bytes = int64_t{l.groups} * l.group_bytes;
  l.block_bytes = l.groups * GroupBytes(l) + kFinalBytes;
  return l;
}

int64_t GroupScaledPackedBytes(const GroupScaledLayout& l) { return l.blocks * l.block_bytes; }

void PackGroupScaledAvx512(const GroupScaledLayout& l, const int8_t* codes, const uint16_t* group_multiplier,
                           int32_t input_zero_point, const ref::RequantParams& requant, uint8_t* packed) {
  std::memset(packed, 0, static_cast<size_t>(GroupScaledPackedBytes(l)));
  const int64_t group_bytes = GroupBytes(l);
  for (int32_t u = 0; u < l.units; ++u) {
    uint8_t* block = packed + (u / kUnits) * l.block_bytes;
    const int32_t n = u % kUnits, lane = LaneOf(n);
    for (int32_t g = 0; g < l.groups; ++g) {
      uint8_t* gw = block + g * group_bytes;
      const int8_t* w = codes + int64_t{u} * l.depth + int64_t{g} * l.group_size;
      int32_t sum = 0;
      for (int32_t k = 0; k < l.group_size; ++k) {
        gw[(k / 4) * 64 + lane * 4 + k % 4] = static_cast<uint8_t>(w[k]);
        sum += w[k];
      }
      const int32_t start = -(128 + input_zero_point) * sum, m = group_multiplier[int64_t{u} * l.groups + g];
      std::memcpy(gw + int64_t{l.group_bytes / 4} * 64 + lane * 4, &start, 4);
      std::memcpy(gw + int64_t{l.group_bytes / 4 + 1} * 64 + lane * 4, &m, 4);
    }
    const int32_t i = requant.count == 1 ? 0 : u;
    const int32_t mult = requant.multiplier[i], r = 31 - requant.shift[i];
    uint8_t* finals = block + l.block_bytes - kFinalBytes;
    std::memcpy(finals + n * 4, &mult, 4);
    std::memcpy(finals + (kUnits + n) * 4, &r, 4);
  }
}

int64_t GroupScaledFcScratchBytes(const GroupScaledLayout& l, int32_t rows) {
  return std::min(rows, kChunkRows) * l.row_bytes;
}

int64_t GroupScaledConvScratchBytes(const GroupScaledLayout& l, const ref::Conv2DParams& p) {
  const int64_t positions = int64_t{p.out_h} * p.out_w;
  return p.in_channels * PaddedH(p) * PaddedW(p) + std::min<int64_t>(positions, kChunkRows) * l.row_bytes +
         2 * kCopySlack;
}

void Qs8GroupScaledFcAvx512(const GroupScaledLayout& l, const uint8_t* packed, const ref::FullyConnectedLowBitParams& p,
                            const int8_t* x, const int32_t* bias, uint8_t* scratch, int8_t* y) {
  const Stage s = StageOf(p.requant, bias, p.units);
  for (int32_t r0 = 0; r0 < p.rows; r0 += kChunkRows) {
    const int32_t rows = std::min(kChunkRows, p.rows - r0);
    // Lay the rows out as u = x + 128 (x ^ 0x80), each group at a multiple of group_bytes (the bytes
    // between groups meet zero weights: their values do not matter).
    for (int32_t r = 0; r < rows; ++r) {
      const int8_t* xr = x + int64_t{r0 + r} * p.depth;
      uint8_t* d = scratch + r * l.row_bytes;
      if (l.group_bytes == l.group_size) {
        FlipSigns(xr, p.depth, d);
        continue;
      }
      for (int32_t g = 0; g < l.groups; ++g)
        FlipSigns(xr + int64_t{g} * l.group_size, l.group_size, d + int64_t{g} * l.group_bytes);
    }
    Rows(l, packed, scratch, rows, s, y + int64_t{r0} * p.units, p.units, 1);
  }
}

void Qs8GroupScaledConv2DAvx512(const GroupScaledLayout& l, const uint8_t* packed,
                                const ref::Conv2DGroupScaledParams& gp, const int8_t* x, const int32_t* bias,
                                uint8_t* scratch, int8_t* y) {
  const ref::Conv2DParams& p = gp.conv;
  const Stage s = StageOf(p.requant, bias, p.out_channels);
  const int64_t hp = PaddedH(p), wp = PaddedW(p), plane = hp * wp;
  const int64_t in_plane = int64_t{p.in_h} * p.in_w, positions = int64_t{p.out_h} * p.out_w;
  uint8_t* image = scratch;
  uint8_t* rows = scratch + p.in_channels * plane + kCopySlack;
  // A padded tap holds z_x + 128: its u − 128 − z_x is 0, as the reference's padding contributes.
  const auto pad = static_cast<uint8_t>(p.input_zero_point + 128);
  const bool dense = l.group_bytes == l.group_size;  // else the bytes between groups are skipped (zero weights)
  // The geometry in locals: the patch loops store bytes, which the compiler must otherwise assume
  // may change p.
  const int32_t channels = p.in_channels, kernel_h = p.kernel_h, kernel_w = p.kernel_w, dilation_w = p.dilation_w;
  const int64_t out_w = p.out_w, stride_h = p.stride_h, stride_w = p.stride_w, row_step = p.dilation_h * wp;
  const int64_t row_bytes = l.row_bytes;
  for (int32_t n = 0; n < p.batch; ++n) {
    const int8_t* x_n = x + int64_t{n} * p.in_channels * in_plane;
    std::memset(image, pad, static_cast<size_t>(p.in_channels * plane));
    for (int32_t c = 0; c < p.in_channels; ++c)
      for (int32_t ih = 0; ih < p.in_h; ++ih) {
        const int8_t* src = x_n + c * in_plane + int64_t{ih} * p.in_w;
        uint8_t* dst = image + c * plane + (ih + p.pad_top) * wp + p.pad_left;
        FlipSigns(src, p.in_w, dst);
      }
    int8_t* y_n = y + int64_t{n} * p.out_channels * positions;
    for (int64_t pos0 = 0; pos0 < positions; pos0 += kChunkRows) {
      const auto count = static_cast<int32_t>(std::min<int64_t>(kChunkRows, positions - pos0));
      if (dense && dilation_w == 1 && kernel_w <= 8) {
        // Kernel rows ("runs": (c, kh), kernel_w taps each) outermost, each copied for every position as
        // 8 bytes while at least 8 bytes of the row start there (the bytes past the run are written over
        // by the next runs), exactly after that.
        int64_t window[kChunkRows];
        for (int32_t i = 0; i < count; ++i)
          window[i] = (pos0 + i) / out_w * stride_h * wp + (pos0 + i) % out_w * stride_w;
        const int32_t runs = channels * kernel_h;
        for (int32_t j = 0; j < runs; ++j) {
          const uint8_t* src = image + j / kernel_h * plane + j % kernel_h * row_step;
          uint8_t* dst = rows + int64_t{j} * kernel_w;
          if (int64_t{runs - j} * kernel_w >= 8) {
            for (int32_t i = 0; i < count; ++i, dst += row_bytes) std::memcpy(dst, src + window[i], 8);
          } else {
            for (int32_t i = 0; i < count; ++i, dst += row_bytes)
              for (int32_t kw = 0; kw < kernel_w; ++kw) dst[kw] = src[window[i] + kw];
          }
        }
        Rows(l, packed, rows, count, s, y_n + pos0, 1, positions);
        continue;
      }
      for (int32_t i = 0; i < count; ++i) {
        const int64_t oh = (pos0 + i) / out_w, ow = (pos0 + i) % out_w;
        const uint8_t* window = image + oh * stride_h * wp + ow * stride_w;
        uint8_t* d = rows + i * row_bytes;
        if (dense && dilation_w == 1) {  // 16-byte copies: the bytes past a run are written over next
          for (int32_t c = 0; c < channels; ++c)
            for (int32_t kh = 0; kh < kernel_h; ++kh, d += kernel_w)
              for (int32_t kw = 0; kw < kernel_w; kw += 16) std::memcpy(d + kw, window + c * plane + kh * row_step + kw, 16);
          continue;
        }
        int32_t left = l.group_size;  // taps left in the current group
        for (int32_t c = 0; c < channels; ++c)
          for (int32_t kh = 0; kh < kernel_h; ++kh) {
            const uint8_t* src = window + c * plane + kh * row_step;
            for (int32_t kw = 0; kw < kernel_w; ++kw) {
              *d++ = src[int64_t{kw} * dilation_w];
              if (--left == 0) {
                d += l.group_bytes - l.group_size;
                left = l.group_size;
              }
            }
          }
      }
      Rows(l, packed, rows, count, s, y_n + pos0, 1, positions);
    }
  }
}

}  // namespace squint::rt::x86

// The int8 GEMM's ISA-independent parts (layouts and math in qs8_gemm.h): prepare-time packing, the
// loops around the microkernels (with the optional thread split), and BATCH_MATMUL / CONV_2D built
// on them. Plain C++ for any target: no intrinsics, no target flags.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/kernels/portable/qs8_gemm.h"
#include "runtime/kernels/portable/transpose_tiles.h"

#if defined(SQUINT_X86_KERNELS)
#include "runtime/kernels/x86/rows.h"
#endif

namespace squint::rt::portable {
namespace {

size_t RoundUp(size_t v, size_t to) { return (v + to - 1) / to * to; }

int32_t Panels(const Qs8GemmKernel& k, int32_t units) { return (units + k.nr - 1) / k.nr; }

// The distance between two panels (qs8_gemm.h: each 64-byte aligned in size), for the packing at
// prepare, BATCH_MATMUL's packing per call and the sweep alike: k_pad·nr elements need not be a
// multiple of 64 bytes (e.g. 8 units × 4 bytes of depth).
size_t PanelBytes(const Qs8GemmKernel& k, size_t k_pad) {
  return RoundUp(k_pad * static_cast<size_t>(k.nr) * static_cast<size_t>(k.weight_bytes), 64);
}

// Element (g, j, i) of panel p as the kernel reads it.
void StoreElement(const Qs8GemmKernel& k, uint8_t* panel, size_t index, int8_t value) {
  if (k.weight_bytes == 1) {
    panel[index] = static_cast<uint8_t>(value);
  } else {
    const int16_t v = value;
    std::memcpy(panel + 2 * index, &v, 2);
  }
}

}  // namespace

const Qs8GemmKernel* Qs8GemmKernelFor(Isa isa, int32_t depth, int64_t rows) {
  switch (isa) {
#if defined(SQUINT_X86_KERNELS)
    case Isa::kAvx2: return &x86::kQs8Gemm4x16c2Avx2;
    case Isa::kAvx512Vnni:
      return (depth >= kAmxMinDepth || (rows >= kAmxMinRows && depth >= kAmxMinRowsDepth)) && AmxSupported()
                 ? &x86::kQs8Gemm32x32c4Amx
                 : &x86::kQs8Gemm8x32c4Avx512Vnni;
#endif
#if defined(SQUINT_ARM_KERNELS)
    case Isa::kNeon: return &arm::kQs8Gemm2x8c8Neon;
    case Isa::kNeonDot: return &arm::kQs8Gemm4x8c4NeonDot;
#endif
    default: return nullptr;
  }
}

Qs8GemmLayout Qs8GemmPackedLayout(const Qs8GemmKernel& k, int32_t units, int32_t depth) {
  const size_t k_pad = RoundUp(static_cast<size_t>(depth), static_cast<size_t>(k.kr));
  const size_t panels = static_cast<size_t>(Panels(k, units));
  const size_t panel_bytes = PanelBytes(k, k_pad);
  const size_t unit_bytes = RoundUp(panels * static_cast<size_t>(k.nr) * sizeof(int32_t), 64);
  Qs8GemmLayout l;
  l.weights = 0;
  l.bias = panels * panel_bytes;
  l.multiplier = l.bias + unit_bytes;
  l.left_shift = l.multiplier + unit_bytes;
  l.right_shift = l.left_shift + unit_bytes;
  l.float_scale = l.right_shift + unit_bytes;
  l.float_delta = l.float_scale + unit_bytes;
  l.total = l.float_delta + unit_bytes;
  return l;
}

size_t Qs8GemmScratchBytes(const Qs8GemmKernel& k, int32_t rows, int32_t depth) {
  const size_t k_pad = RoundUp(static_cast<size_t>(depth), static_cast<size_t>(k.kr));
  return static_cast<size_t>(rows) * k_pad * static_cast<size_t>(k.weight_bytes);
}

float Qs8FloatOutputScale(int32_t multiplier, int32_t right_shift) {
  return static_cast<float>(multiplier) * std::ldexp(1.0f, -(31 + right_shift));
}
float Qs8FloatOutputDelta(int32_t right_shift) { return 0x1p-13f + std::ldexp(1.0f, -(std::min(right_shift, 12) + 1)); }

void PackQs8Gemm(const Qs8GemmKernel& k, const Qs8GemmProblem& pr, void* block) {
  const Qs8GemmLayout l = Qs8GemmPackedLayout(k, pr.units, pr.depth);
  auto* base = static_cast<uint8_t*>(block);
  std::memset(base, 0, l.total);
  const size_t k_pad = RoundUp(static_cast<size_t>(pr.depth), static_cast<size_t>(k.kr));
  const size_t panel_bytes = PanelBytes(k, k_pad);
  int32_t* bias = reinterpret_cast<int32_t*>(base + l.bias);
  int32_t* mult = reinterpret_cast<int32_t*>(base + l.multiplier);
  int32_t* left = reinterpret_cast<int32_t*>(base + l.left_shift);
  int32_t* right = reinterpret_cast<int32_t*>(base + l.right_shift);
  float* float_scale = reinterpret_cast<float*>(base + l.float_scale);
  float* float_delta = reinterpret_cast<float*>(base + l.float_delta);
  const int64_t offset = int64_t{pr.input_zero_point} + k.activation_offset;
  for (int32_t n = 0; n < pr.units; ++n) {
    uint8_t* panel = base + static_cast<size_t>(n / k.nr) * panel_bytes;
    const size_t j = static_cast<size_t>(n % k.nr);
    const int8_t* w_n = pr.w + static_cast<int64_t>(n) * pr.depth;
    int64_t sum = 0;
    for (int32_t d = 0; d < pr.depth; ++d) {
      const size_t g = static_cast<size_t>(d / k.kr), i = static_cast<size_t>(d % k.kr);
      StoreElement(k, panel, (g * static_cast<size_t>(k.nr) + j) * static_cast<size_t>(k.kr) + i, w_n[d]);
      sum += w_n[d];
    }
    // b'[n] = bias[n] − (z_x + o)·Σw, reduced modulo 2^32 (the kernels' int32 sums wrap alike).
    const int64_t folded = (pr.bias != nullptr ? int64_t{pr.bias[n]} : 0) - offset * sum;
    const uint32_t wrapped = static_cast<uint32_t>(static_cast<uint64_t>(folded));
    std::memcpy(&bias[n], &wrapped, sizeof(wrapped));
    const int32_t c = pr.requant.count == 1 ? 0 : n;
    const int32_t shift = pr.requant.shift[c];
    mult[n] = pr.requant.multiplier[c];
    left[n] = shift > 0 ? shift : 0;
    right[n] = shift > 0 ? 0 : -shift;
    const int32_t r = right[n];
    float_scale[n] = left[n] == 0 && r >= kQs8FloatOutputMinShift ? Qs8FloatOutputScale(mult[n], r) : 0.0f;
    float_delta[n] = Qs8FloatOutputDelta(r);
  }
}

void BindQs8Gemm(const Qs8GemmKernel& k, const Qs8GemmProblem& pr, const void* block, Qs8GemmParams* p) {
  const Qs8GemmLayout l = Qs8GemmPackedLayout(k, pr.units, pr.depth);
  const auto* base = static_cast<const uint8_t*>(block);
  p->units = pr.units;
  p->depth = pr.depth;
  p->weights = base + l.weights;
  p->bias = reinterpret_cast<const int32_t*>(base + l.bias);
  p->multiplier = reinterpret_cast<const int32_t*>(base + l.multiplier);
  p->left_shift = reinterpret_cast<const int32_t*>(base + l.left_shift);
  p->right_shift = reinterpret_cast<const int32_t*>(base + l.right_shift);
  p->float_scale = reinterpret_cast<const float*>(base + l.float_scale);
  p->float_delta = reinterpret_cast<const float*>(base + l.float_delta);
  p->zero_point = pr.requant.zero_point;
  p->act_min = pr.requant.act_min;
  p->act_max = pr.requant.act_max;
}

namespace {

// Panels [first, last) × rows [row_first, row_last) of one call (tiles of k.mr rows from row_first):
// chunks of panels that fit the L2 cache, row tile by row tile inside a chunk. The activations
// are already packed in p.scratch.
void SweepPanels(const Qs8GemmKernel& k, const Qs8GemmParams& p, int32_t first, int32_t last, int32_t row_first,
                 int32_t row_last, int8_t* y) {
  constexpr size_t kChunkBytes = size_t{256} * 1024;
  const size_t k_pad = RoundUp(static_cast<size_t>(p.depth), static_cast<size_t>(k.kr));
  const size_t panel_bytes = PanelBytes(k, k_pad);
  const size_t row_bytes = k_pad * static_cast<size_t>(k.weight_bytes);
  int32_t chunk = panel_bytes == 0 ? last - first : static_cast<int32_t>(kChunkBytes / panel_bytes);
  if (chunk < 1) chunk = 1;
  const auto* weights = static_cast<const uint8_t*>(p.weights);
  const auto* a = static_cast<const uint8_t*>(p.scratch);
  for (int32_t c0 = first; c0 < last; c0 += chunk) {
    const int32_t c1 = c0 + chunk < last ? c0 + chunk : last;
    for (int32_t t = row_first; t < row_last; t += k.mr) {
      // Unless the kernel's partial tiles cost in proportion to their rows (k.tails_in_place), a
      // last partial tile of more than half a tile moves back to end at row_last when the range
      // holds a whole tile: it recomputes rows of the tile before with the same instructions (the
      // same codes again). Shorter tails stay partial (recomputing most of a tile costs more).
      const bool back = !k.tails_in_place && t + k.mr > row_last && 2 * (row_last - t) > k.mr &&
                        row_last - row_first >= k.mr;
      const int32_t r0 = back ? row_last - k.mr : t;
      const int32_t m = row_last - r0 < k.mr ? row_last - r0 : k.mr;
      if (k.row_panels != nullptr) {
        k.row_panels(p, m, a + static_cast<size_t>(r0) * row_bytes, k_pad, weights + static_cast<size_t>(c0) * panel_bytes,
                     panel_bytes, c0 * k.nr, c1 - c0, p.row_bias != nullptr ? p.row_bias + r0 : nullptr,
                     y + static_cast<int64_t>(r0) * p.units);
        continue;
      }
      for (int32_t pi = c0; pi < c1; ++pi) {
        const int32_t n0 = pi * k.nr;
        k.tile(p, m, a + static_cast<size_t>(r0) * row_bytes, k_pad, weights + static_cast<size_t>(pi) * panel_bytes,
               n0, p.units - n0 < k.nr ? p.units - n0 : k.nr, p.row_bias != nullptr ? p.row_bias + r0 : nullptr,
               y + static_cast<int64_t>(r0) * p.units);
      }
    }
  }
}

// Rows are split between threads in multiples of this: a row tile, or 16 rows (one AMX tile
// register) for taller tiles, so that two threads share 197 rows 96/101, not 128/69.
int32_t RowGranule(const Qs8GemmKernel& k) { return k.mr > 16 ? 16 : k.mr; }

// How one call is split: `parts` threads, each a contiguous range of rows (by_rows: every
// thread packs and computes its own rows against every panel, so its activations and outputs
// stay in its core's cache) or, when there are fewer row granules than threads (decoding one
// token), of panels. parts = 1: serial.
struct Split {
  int32_t parts = 1;
  bool by_rows = true;
};
Split SplitOf(const Qs8GemmKernel& k, const Qs8GemmParams& p) {
  Split s;
  if (p.parallel.run == nullptr || p.parallel.threads <= 1 || p.rows <= 0 || p.units <= 0) return s;
  const int64_t by_work = int64_t{p.rows} * p.units * p.depth / (p.parallel.min_part_macs > 0 ? p.parallel.min_part_macs : 1);
  const int32_t granules = (p.rows + RowGranule(k) - 1) / RowGranule(k), panels = Panels(k, p.units);
  s.by_rows = granules >= p.parallel.threads || granules >= panels;
  int64_t parts = p.parallel.threads;
  if (by_work < parts) parts = by_work;
  if ((s.by_rows ? granules : panels) < parts) parts = s.by_rows ? granules : panels;
  s.parts = parts < 1 ? 1 : static_cast<int32_t>(parts);
  return s;
}

// Part `part` of `parts` equal ranges of `total` items: [*first, *last).
void PartRange(int32_t total, int32_t part, int32_t parts, int32_t* first, int32_t* last) {
  *first = static_cast<int32_t>(int64_t{total} * part / parts);
  *last = static_cast<int32_t>(int64_t{total} * (part + 1) / parts);
}
// The rows of part `part` when the rows are split: whole granules, the last part to p.rows.
void PartRows(const Qs8GemmKernel& k, int32_t rows, int32_t part, int32_t parts, int32_t* first, int32_t* last) {
  const int32_t g = RowGranule(k);
  PartRange((rows + g - 1) / g, part, parts, first, last);
  *first *= g;
  *last = *last * g < rows ? *last * g : rows;
}

// One thread's share of a call.
struct Sweep {
  const Qs8GemmKernel* k;
  const Qs8GemmParams* p;
  const int8_t* x;  // null: the activations are packed already
  int8_t* y;
  Split split;
};
void SweepPart(void* ctx, int32_t part) {
  const Sweep& s = *static_cast<const Sweep*>(ctx);
  const Qs8GemmKernel& k = *s.k;
  const Qs8GemmParams& p = *s.p;
  const int32_t panels = Panels(k, p.units);
  int32_t first = 0, last = 0;
  if (!s.split.by_rows) {
    PartRange(panels, part, s.split.parts, &first, &last);
    SweepPanels(k, p, first, last, 0, p.rows, s.y);
    return;
  }
  PartRows(k, p.rows, part, s.split.parts, &first, &last);
  if (s.x != nullptr) {
    const size_t k_pad = RoundUp(static_cast<size_t>(p.depth), static_cast<size_t>(k.kr));
    const size_t row_bytes = k_pad * static_cast<size_t>(k.weight_bytes);
    k.pack_activations(s.x + static_cast<size_t>(first) * static_cast<size_t>(p.depth), last - first, p.depth, k_pad,
                       static_cast<uint8_t*>(p.scratch) + static_cast<size_t>(first) * row_bytes);
  }
  SweepPanels(k, p, 0, panels, first, last, s.y);
}

// Packs (x non-null) and sweeps, on the calling thread or split over the pool.
void Run(const Qs8GemmKernel& k, const Qs8GemmParams& p, const int8_t* x, int8_t* y) {
  if (p.rows <= 0 || p.units <= 0) return;
  const size_t k_pad = RoundUp(static_cast<size_t>(p.depth), static_cast<size_t>(k.kr));
  Sweep s{&k, &p, x, y, SplitOf(k, p)};
  if (x != nullptr && !(s.split.parts > 1 && s.split.by_rows)) {  // packed once, for every thread
    k.pack_activations(x, p.rows, p.depth, k_pad, p.scratch);
    s.x = nullptr;
  }
  if (s.split.parts <= 1) {
    SweepPanels(k, p, 0, Panels(k, p.units), 0, p.rows, y);
    return;
  }
  p.parallel.run(p.parallel.pool, &SweepPart, &s, s.split.parts);
}

}  // namespace

void Qs8Gemm(const Qs8GemmKernel& k, const Qs8GemmParams& p, const int8_t* x, int8_t* y) { Run(k, p, x, y); }

void Qs8GemmPacked(const Qs8GemmKernel& k, const Qs8GemmParams& p, int8_t* y) { Run(k, p, nullptr, y); }

namespace {
struct MatMulScratch {
  size_t panels = 0, bias = 0, row_bias = 0, total = 0;  // byte offsets after the packed activations
};
MatMulScratch MatMulLayout(const Qs8GemmKernel& k, int32_t m, int32_t n, int32_t depth) {
  const size_t k_pad = RoundUp(static_cast<size_t>(depth), static_cast<size_t>(k.kr));
  const size_t units_pad = static_cast<size_t>(Panels(k, n)) * static_cast<size_t>(k.nr);
  MatMulScratch l;
  l.panels = RoundUp(Qs8GemmScratchBytes(k, m, depth), 64);
  l.bias = l.panels + static_cast<size_t>(Panels(k, n)) * PanelBytes(k, k_pad);
  l.row_bias = l.bias + RoundUp(units_pad * sizeof(int32_t), 64);
  l.total = l.row_bias + static_cast<size_t>(m) * sizeof(int32_t);
  return l;
}
// Σ x[i] per row (|Σ| <= 128·depth < 2^31: the loop vectorizes in int32).
void SumRows(const int8_t* x, int32_t rows, int32_t depth, int32_t* sums) {
  for (int32_t r = 0; r < rows; ++r) {
    const int8_t* xr = x + static_cast<int64_t>(r) * depth;
    int32_t sum = 0;
    for (int32_t d = 0; d < depth; ++d) sum += xr[d];
    sums[r] = sum;
  }
}
// c·v modulo 2^32 as int32 (two's complement), in uint32 arithmetic (the loops vectorize).
int32_t WrapProduct(int64_t c, int32_t v) {
  const uint32_t u = static_cast<uint32_t>(static_cast<uint64_t>(c)) * static_cast<uint32_t>(v);
  int32_t out;
  std::memcpy(&out, &u, sizeof(out));
  return out;
}
}  // namespace

size_t Qs8MatMulScratchBytes(const Qs8GemmKernel& k, int32_t m, int32_t n, int32_t depth) {
  return MatMulLayout(k, m, n, depth).total;
}

void Qs8MatMul(const Qs8GemmKernel& k, const Qs8GemmParams& p, int32_t a_zero_point, int32_t b_zero_point,
               const int8_t* a, const int8_t* b, int8_t* y) {
  if (p.rows <= 0 || p.units <= 0) return;
  const MatMulScratch l = MatMulLayout(k, p.rows, p.units, p.depth);
  auto* base = static_cast<uint8_t*>(p.scratch);
  uint8_t* panels = base + l.panels;
  auto* bias = reinterpret_cast<int32_t*>(base + l.bias);
  auto* row_bias = reinterpret_cast<int32_t*>(base + l.row_bias);
  const size_t k_pad = RoundUp(static_cast<size_t>(p.depth), static_cast<size_t>(k.kr));
  const size_t panel_bytes = PanelBytes(k, k_pad);
  // Panels from b's rows, and the column terms −(z_a + o)·Σ_k b[k][j] in bias; with z_b, the row
  // terms −z_b·(Σ_k a[r][k] − depth·z_a) in row_bias; all modulo 2^32 (the sums wrap alike).
  const int64_t offset = int64_t{a_zero_point} + k.activation_offset;
  const int32_t col_scale = WrapProduct(-offset, 1);
  if (k.pack_columns != nullptr) {
    k.pack_columns(b, p.depth, p.units, k_pad, panel_bytes, panels, col_scale, bias);
  } else {
    const size_t units_pad = static_cast<size_t>(Panels(k, p.units)) * static_cast<size_t>(k.nr);
    std::memset(panels, 0, units_pad / static_cast<size_t>(k.nr) * panel_bytes);
    std::memset(bias, 0, units_pad * sizeof(int32_t));
    for (int32_t d = 0; d < p.depth; ++d) {
      const int8_t* b_d = b + static_cast<int64_t>(d) * p.units;
      const size_t g = static_cast<size_t>(d / k.kr), i = static_cast<size_t>(d % k.kr);
      for (int32_t j = 0; j < p.units; ++j) {
        uint8_t* panel = panels + static_cast<size_t>(j / k.nr) * panel_bytes;
        StoreElement(k, panel,
                     (g * static_cast<size_t>(k.nr) + static_cast<size_t>(j % k.nr)) * static_cast<size_t>(k.kr) + i,
                     b_d[j]);
        bias[j] += b_d[j];  // |Σ| <= 128·depth: int32
      }
    }
    for (int32_t j = 0; j < p.units; ++j) bias[j] = WrapProduct(col_scale, bias[j]);
  }
  if (b_zero_point != 0) {
    const int32_t row_offset = WrapProduct(int64_t{b_zero_point} * p.depth, a_zero_point);
    if (k.sum_rows != nullptr) {
      k.sum_rows(a, p.rows, p.depth, -b_zero_point, row_offset, row_bias);
    } else {
      SumRows(a, p.rows, p.depth, row_bias);
      for (int32_t r = 0; r < p.rows; ++r)
        row_bias[r] = static_cast<int32_t>(static_cast<uint32_t>(WrapProduct(-int64_t{b_zero_point}, row_bias[r])) +
                                           static_cast<uint32_t>(row_offset));
    }
  }
  Qs8GemmParams q = p;
  q.weights = panels;
  q.bias = bias;
  q.row_bias = b_zero_point != 0 ? row_bias : nullptr;  // z_b = 0: no row term
  q.scratch = base;
  Qs8Gemm(k, q, a, y);
}

void ReorderConvWeights(const ref::Conv2DParams& c, const int8_t* w, int8_t* reordered) {
  const int64_t taps = int64_t{c.kernel_h} * c.kernel_w, depth = taps * c.in_channels;
  for (int32_t oc = 0; oc < c.out_channels; ++oc)
    for (int32_t ic = 0; ic < c.in_channels; ++ic)
      for (int64_t t = 0; t < taps; ++t)
        reordered[oc * depth + t * c.in_channels + ic] = w[oc * depth + ic * taps + t];
}

int64_t PaddedSize(int32_t in, int32_t pad_before, int32_t out, int32_t stride, int32_t kernel, int32_t dilation) {
  return std::max(int64_t{in} + pad_before, (int64_t{out} - 1) * stride + int64_t{kernel - 1} * dilation + 1);
}

namespace {
// Whether kernel k's packed activation element is one byte, x XOR o (o = 0 or 128: x + 128 as
// u8 is the sign bit flipped): im2col then writes the packed rows itself (Im2ColChannelsLast).
bool BytePacked(const Qs8GemmKernel& k) {
  return k.weight_bytes == 1 && (k.activation_offset == 0 || k.activation_offset == 128);
}
// Whether the channels-last input is the patch matrix itself (1×1 kernel, stride 1, no padding).
bool PointwiseConv(const ref::Conv2DParams& c) {
  return c.kernel_h == 1 && c.kernel_w == 1 && c.stride_h == 1 && c.stride_w == 1 && c.pad_top == 0 &&
         c.pad_left == 0 && c.out_h == c.in_h && c.out_w == c.in_w;
}
// Whether k's conv_tiles can read the patch rows of c in place (qs8_gemm.h: Qs8ConvRows).
bool ImplicitConv(const Qs8GemmKernel& k, const ref::Conv2DParams& c) {
  return k.conv_tiles != nullptr && BytePacked(k) && !PointwiseConv(c) && c.dilation_w == 1 &&
         (int64_t{c.kernel_w} * c.in_channels) % k.kr == 0 && int64_t{c.out_h} * c.out_w >= kConvTilesMinRows;
}
int64_t PaddedBytes(const ref::Conv2DParams& c) {
  return PaddedSize(c.in_h, c.pad_top, c.out_h, c.stride_h, c.kernel_h, c.dilation_h) *
         PaddedSize(c.in_w, c.pad_left, c.out_w, c.stride_w, c.kernel_w, c.dilation_w) * c.in_channels;
}
struct ConvScratch {
  size_t col = 0, tmp = 0, gemm = 0, total = 0;  // byte offsets: channels-last input at 0, patch matrix
                                                 // (or the padded image), [pos][C_out], then the GEMM's
};
ConvScratch ConvLayout(const Qs8GemmKernel& k, const ref::Conv2DParams& c) {
  const size_t positions = static_cast<size_t>(c.out_h) * static_cast<size_t>(c.out_w);
  const size_t depth = static_cast<size_t>(c.in_channels) * static_cast<size_t>(c.kernel_h) * static_cast<size_t>(c.kernel_w);
  const size_t image = static_cast<size_t>(c.in_channels) * static_cast<size_t>(c.in_h) * static_cast<size_t>(c.in_w);
  ConvScratch l;
  l.col = c.in_channels > 1 ? RoundUp(image, 64) : 0;
  size_t col_bytes = PointwiseConv(c) || BytePacked(k) ? 0 : positions * depth;
  if (ImplicitConv(k, c)) col_bytes = static_cast<size_t>(PaddedBytes(c));
  l.tmp = l.col + RoundUp(col_bytes, 64);
  l.gemm = l.tmp + RoundUp(positions * static_cast<size_t>(c.out_channels), 64);
  l.total = l.gemm + Qs8GemmScratchBytes(k, static_cast<int32_t>(positions), static_cast<int32_t>(depth));
  return l;
}

// Swaps the `bits`-wide blocks of a that sit `bits` above b's (the blocks `mask` selects in b).
inline void SwapBlocks(uint64_t& a, uint64_t& b, int bits, uint64_t mask) {
  const uint64_t t = ((a >> bits) ^ b) & mask;
  b ^= t;
  a ^= t << bits;
}


// The runs of im2col: n bytes of src XOR flip (every byte of the word `flip` the same), and n
// bytes of one value, in 8-byte words (the last word overlapping the one before when n is not a
// multiple of 8) so that the short runs of a conv's kernel rows (kernel_w · in_channels bytes)
// cost a few moves, not a library call each.
inline void CopyRun(int8_t* dst, const int8_t* src, size_t n, uint64_t flip) {
  if (n < 8) {
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<int8_t>(src[i] ^ static_cast<int8_t>(flip));
    return;
  }
  uint64_t v;
  for (size_t i = 0; i + 8 < n; i += 8) {
    std::memcpy(&v, src + i, 8);
    v ^= flip;
    std::memcpy(dst + i, &v, 8);
  }
  std::memcpy(&v, src + n - 8, 8);
  v ^= flip;
  std::memcpy(dst + n - 8, &v, 8);
}
inline void FillRun(int8_t* dst, uint64_t value, size_t n) {
  if (n < 8) {
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<int8_t>(value);
    return;
  }
  for (size_t i = 0; i + 8 < n; i += 8) std::memcpy(dst + i, &value, 8);
  std::memcpy(dst + n - 8, &value, 8);
}

// The patch matrix of one image from its channels-last input xt (see qs8_gemm.h), each code XOR
// `flip`, rows `stride` bytes apart (>= depth; the bytes past depth are 0): with flip = o and
// stride = k_pad the rows the byte-packed kernels read (BytePacked), with 0 and depth the plain matrix.
// Aligned to 64 bytes: where the link put it 16 bytes past a line, its loops took 17 % longer on the
// PP-OCR classifier's first convolution (54 → 63 µs), as code added elsewhere moved it (session 19).
__attribute__((aligned(64))) void Im2ColChannelsLast(const ref::Conv2DParams& c, const int8_t* xt, uint8_t flip,
                                                     size_t stride, int8_t* col) {
  // Geometry in locals: the int8 stores below may alias anything, so fields read through `c`
  // would be reloaded after every byte.
  const int32_t in_h = c.in_h, in_w = c.in_w, out_h = c.out_h, out_w = c.out_w;
  const int32_t kernel_h = c.kernel_h, kernel_w = c.kernel_w, stride_h = c.stride_h, stride_w = c.stride_w;
  const int32_t dilation_h = c.dilation_h, dilation_w = c.dilation_w, pad_top = c.pad_top, pad_left = c.pad_left;
  const size_t ch = static_cast<size_t>(c.in_channels), row_bytes = static_cast<size_t>(kernel_w) * ch;
  const size_t depth = row_bytes * static_cast<size_t>(kernel_h), tail = stride - depth;
  const uint64_t flip8 = uint64_t{flip} * 0x0101010101010101ULL;
  const uint64_t pad = (static_cast<uint64_t>(static_cast<uint8_t>(c.input_zero_point)) * 0x0101010101010101ULL) ^ flip8;
  int8_t* row = col;
  for (int32_t oh = 0; oh < out_h; ++oh)
    for (int32_t ow = 0; ow < out_w; ++ow) {
      // Kernel columns [kw_lo, kw_hi) fall inside the image (iw = iw0 + kw·dilation_w).
      const int64_t iw0 = int64_t{ow} * stride_w - pad_left;
      int32_t kw_lo = 0, kw_hi = kernel_w;
      while (kw_lo < kw_hi && iw0 + int64_t{kw_lo} * dilation_w < 0) ++kw_lo;
      while (kw_hi > kw_lo && iw0 + int64_t{kw_hi - 1} * dilation_w >= in_w) --kw_hi;
      for (int32_t kh = 0; kh < kernel_h; ++kh, row += row_bytes) {
        const int64_t ih = int64_t{oh} * stride_h - pad_top + int64_t{kh} * dilation_h;
        if (ih < 0 || ih >= in_h || kw_lo == kw_hi) {
          FillRun(row, pad, row_bytes);
          continue;
        }
        const int8_t* x_row = xt + (ih * in_w + iw0) * static_cast<int64_t>(ch);
        FillRun(row, pad, static_cast<size_t>(kw_lo) * ch);
        if (dilation_w == 1) {
          CopyRun(row + static_cast<size_t>(kw_lo) * ch, x_row + int64_t{kw_lo} * static_cast<int64_t>(ch),
                  static_cast<size_t>(kw_hi - kw_lo) * ch, flip8);
        } else {
          for (int32_t kw = kw_lo; kw < kw_hi; ++kw)
            CopyRun(row + static_cast<size_t>(kw) * ch, x_row + int64_t{kw} * dilation_w * static_cast<int64_t>(ch), ch,
                    flip8);
        }
        FillRun(row + static_cast<size_t>(kw_hi) * ch, pad, static_cast<size_t>(kernel_w - kw_hi) * ch);
      }
      FillRun(row, 0, tail);
      row += tail;
    }
}

// The padded image of Qs8ConvRows from the channels-last input xt: codes XOR flip, padding z_x XOR flip.
void PadImage(const ref::Conv2DParams& c, const int8_t* xt, uint8_t flip, int64_t rows, int64_t cols, int8_t* out) {
  const size_t ch = static_cast<size_t>(c.in_channels), pitch = static_cast<size_t>(cols) * ch;
  const size_t left = static_cast<size_t>(c.pad_left) * ch, run = static_cast<size_t>(c.in_w) * ch;
  const uint64_t flip8 = uint64_t{flip} * 0x0101010101010101ULL;
  const uint64_t pad = (static_cast<uint64_t>(static_cast<uint8_t>(c.input_zero_point)) * 0x0101010101010101ULL) ^ flip8;
  const int32_t in_h = c.in_h, pad_top = c.pad_top;
  for (int64_t r = 0; r < rows; ++r, out += pitch) {
    const int64_t ih = r - pad_top;
    if (ih < 0 || ih >= in_h) {
      FillRun(out, pad, pitch);
      continue;
    }
    FillRun(out, pad, left);
    CopyRun(out + left, xt + ih * static_cast<int64_t>(run), run, flip8);
    FillRun(out + left + run, pad, pitch - left - run);
  }
}
}  // namespace

// 8 × 8 blocks in 64-bit words, the edges a byte at a time.
void TransposeBytes(const int8_t* x, int64_t rows, int64_t cols, int8_t* t) {
  const int64_t rows8 = rows / 8 * 8, cols8 = cols / 8 * 8;
  ForEachTransposeBlock(rows8, cols8, [&](int64_t i0, int64_t j0) {
    // Byte k of r_i = element (i0 + i, j0 + k); after the swaps of 1-, 2- and 4-byte blocks
    // between rows 1, 2 and 4 apart, byte k of r_i = element (i0 + k, j0 + i).
    uint64_t r0, r1, r2, r3, r4, r5, r6, r7;
    const int8_t* xb = x + i0 * cols + j0;
    std::memcpy(&r0, xb, 8), std::memcpy(&r1, xb + cols, 8), std::memcpy(&r2, xb + 2 * cols, 8);
    std::memcpy(&r3, xb + 3 * cols, 8), std::memcpy(&r4, xb + 4 * cols, 8), std::memcpy(&r5, xb + 5 * cols, 8);
    std::memcpy(&r6, xb + 6 * cols, 8), std::memcpy(&r7, xb + 7 * cols, 8);
    constexpr uint64_t k1 = 0x00ff00ff00ff00ffULL, k2 = 0x0000ffff0000ffffULL, k4 = 0x00000000ffffffffULL;
    SwapBlocks(r0, r1, 8, k1), SwapBlocks(r2, r3, 8, k1), SwapBlocks(r4, r5, 8, k1), SwapBlocks(r6, r7, 8, k1);
    SwapBlocks(r0, r2, 16, k2), SwapBlocks(r1, r3, 16, k2), SwapBlocks(r4, r6, 16, k2), SwapBlocks(r5, r7, 16, k2);
    SwapBlocks(r0, r4, 32, k4), SwapBlocks(r1, r5, 32, k4), SwapBlocks(r2, r6, 32, k4), SwapBlocks(r3, r7, 32, k4);
    int8_t* tb = t + j0 * rows + i0;
    std::memcpy(tb, &r0, 8), std::memcpy(tb + rows, &r1, 8), std::memcpy(tb + 2 * rows, &r2, 8);
    std::memcpy(tb + 3 * rows, &r3, 8), std::memcpy(tb + 4 * rows, &r4, 8), std::memcpy(tb + 5 * rows, &r5, 8);
    std::memcpy(tb + 6 * rows, &r6, 8), std::memcpy(tb + 7 * rows, &r7, 8);
  });
  for (int64_t i = 0; i < rows; ++i)  // the right edge (j >= cols8), then the bottom one
    for (int64_t j = cols8; j < cols; ++j) t[j * rows + i] = x[i * cols + j];
  for (int64_t i = rows8; i < rows; ++i)
    for (int64_t j = 0; j < cols8; ++j) t[j * rows + i] = x[i * cols + j];
}

TransposeBytesFn TransposeBytesFor(Isa isa) {
#if defined(SQUINT_X86_KERNELS)
  if (isa == Isa::kAvx512Vnni && Avx512VbmiSupported()) return &x86::TransposeBytesAvx512Vbmi;
#else
  (void)isa;
#endif
  return &TransposeBytes;
}

size_t Qs8Conv2DScratchBytes(const Qs8GemmKernel& k, const ref::Conv2DParams& c) { return ConvLayout(k, c).total; }

void Qs8Conv2D(const Qs8GemmKernel& k, const Qs8GemmParams& p, const ref::Conv2DParams& c, const int8_t* x, int8_t* y,
               TransposeBytesFn transpose) {
  const ConvScratch l = ConvLayout(k, c);
  auto* base = static_cast<uint8_t*>(p.scratch);
  auto* xt = reinterpret_cast<int8_t*>(base);
  auto* col = reinterpret_cast<int8_t*>(base + l.col);
  auto* tmp = reinterpret_cast<int8_t*>(base + l.tmp);
  const int64_t positions = int64_t{c.out_h} * c.out_w, plane = int64_t{c.in_h} * c.in_w;
  if (positions == 0 || c.out_channels == 0) return;
  Qs8GemmParams q = p;
  q.rows = static_cast<int32_t>(positions);
  q.scratch = base + l.gemm;
  const bool pointwise = PointwiseConv(c);
  const bool implicit = ImplicitConv(k, c) && SplitOf(k, q).parts <= 1;  // conv_tiles are single-threaded
  const int64_t padded_h = PaddedSize(c.in_h, c.pad_top, c.out_h, c.stride_h, c.kernel_h, c.dilation_h);
  const int64_t padded_w = PaddedSize(c.in_w, c.pad_left, c.out_w, c.stride_w, c.kernel_w, c.dilation_w);
  for (int32_t n = 0; n < c.batch; ++n) {
    const int8_t* x_n = x + int64_t{n} * c.in_channels * plane;
    const int8_t* image = x_n;  // channels last
    if (c.in_channels > 1) {
      transpose(x_n, c.in_channels, plane, xt);
      image = xt;
    }
    if (implicit) {  // the tiles read the patch rows in place
      PadImage(c, image, static_cast<uint8_t>(k.activation_offset), padded_h, padded_w, col);
      Qs8ConvRows r;
      r.image = reinterpret_cast<const uint8_t*>(col);
      r.pitch = padded_w * c.in_channels;
      r.segment_step = int64_t{c.dilation_h} * r.pitch;
      r.channels = c.in_channels;
      r.out_w = c.out_w;
      r.stride_h = c.stride_h;
      r.stride_w = c.stride_w;
      r.segments = c.kernel_h;
      r.segment_groups = c.kernel_w * c.in_channels / k.kr;
      r.panel_bytes = PanelBytes(k, static_cast<size_t>(p.depth));
      k.conv_tiles(q, r, tmp);
    } else if (pointwise) {
      Qs8Gemm(k, q, image, tmp);
    } else if (BytePacked(k)) {  // the packed rows straight into the GEMM's scratch
      const size_t k_pad = RoundUp(static_cast<size_t>(p.depth), static_cast<size_t>(k.kr));
      Im2ColChannelsLast(c, image, static_cast<uint8_t>(k.activation_offset), k_pad, static_cast<int8_t*>(q.scratch));
      Qs8GemmPacked(k, q, tmp);
    } else {
      Im2ColChannelsLast(c, image, 0, static_cast<size_t>(p.depth), col);
      Qs8Gemm(k, q, col, tmp);
    }
    transpose(tmp, positions, c.out_channels, y + int64_t{n} * c.out_channels * positions);  // → NCHW
  }
}

}  // namespace squint::rt::portable

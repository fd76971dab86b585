// Prepare of the optimized kernels (runtime/kernels/{portable,x86,arm}, dispatch.h): after an op's
// reference prepare has checked every precondition, these replace its run function with
// pools->isa's kernel where one exists (int8 FULLY_CONNECTED, BATCH_MATMUL, CONV_2D on the set's
// GEMM microkernel, portable::Qs8GemmKernelFor; int8 ADD / SUB / MUL, LUT, TRANSPOSE, SOFTMAX,
// LAYER_NORM, depthwise CONV_2D, global AVERAGE_POOL_2D and (any type) GATHER, constant PAD by
// runtime/kernels/portable/misc.h, the same for every set, with
// the x86 vector rows of SOFTMAX / LAYER_NORM on avx2 and avx512vnni), packing constants into
// PreparePools::packed and growing the shared scratch; otherwise they leave the op unchanged.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "runtime/op_prepare_util.h"
#if defined(SQUINT_X86_KERNELS)
#include "runtime/kernels/x86/rows.h"
#endif

namespace squint::rt::prep {
namespace {

#if defined(SQUINT_FAST_KERNELS)
// One thread's time per output element (per multiply-accumulate for BATCH_MATMUL), as measured
// on all-MiniLM-L6-v2 and gpt_tiny (docs/benchmarks.md, "Two threads"): what the interpreter
// weighs against Interpreter::kMinPartPicoseconds before it splits an op (PreparedOp::item_ps).
constexpr int64_t kLutPsPerElement = 45, kBinaryPsPerElement = 260, kSoftmaxPsPerElement = 400,
                  kLayerNormPsPerElement = 770, kBatchMatMulPsPerMac = 5;
// An int16-input LUT's element (AVX-512 gathers from a 128 KiB table: all-MiniLM-L6-v2's GELU
// under `--a16 Gelu`, about 230 ps).
constexpr int64_t kLut16PsPerElement = 250;
// A group-scaled FULLY_CONNECTED's multiply-accumulate (AVX-512: vit_tiny W4 g32's layers, about
// 100 GMAC/s; the portable kernels are slower, which only makes a split more worthwhile).
constexpr int64_t kGroupScaledPsPerMac = 10;
// A pairs convolution's output per kernel weight pair (plus one for its requantization): the
// recognizer's 5 × 5 depthwise layers, about 40 ps (docs/benchmarks.md, session 19).
constexpr int64_t kPairsPsPerTap = 40;
// An int16 FULLY_CONNECTED's multiply-accumulate (AVX-512 VNNI: MiniLM's int16 layers, about
// 50 GMAC/s; the other sets are slower, which only makes a split more worthwhile).
constexpr int64_t kInt16FcPsPerMac = 20;
int64_t SaturatingProduct(int64_t a, int64_t b) {
  int64_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}
// One 64-byte-aligned slot of `bytes` of the shared scratch per thread (the parts of run_items):
// grows the scratch, returns the slot's stride in bytes.
size_t ThreadScratchSlots(int64_t bytes, PreparePools* pools) {
  const auto stride = static_cast<size_t>((bytes + 63) / 64 * 64);
  pools->NeedScratch(stride * static_cast<size_t>(pools->threads) / sizeof(int32_t));
  return stride;
}
// `run` of an op whose run_items covers it whole: every item on the calling thread.
template <RunItemsFn kItems>
void RunAllItems(const PreparedOp& op, const void* const* in, void* const* out) {
  kItems(op, in, out, 0, op.items, 0);
}

void RunFastFc(const PreparedOp& op, const void* const* in, void* const* out) {
  const FastFcState& s = Get<FastFcState>(op);
  portable::Qs8Gemm(*s.kernel, s.gemm, static_cast<const int8_t*>(in[0]), static_cast<int8_t*>(out[0]));
}
void RunFastConv(const PreparedOp& op, const void* const* in, void* const* out) {
  const FastConvState& s = Get<FastConvState>(op);
  portable::Qs8Conv2D(*s.fc.kernel, s.fc.gemm, s.p, static_cast<const int8_t*>(in[0]), static_cast<int8_t*>(out[0]),
                      s.transpose);
}
#if !defined(__OPTIMIZE_SIZE__)
void RunFastGroupedFc(const PreparedOp& op, const void* const* in, void* const* out) {
  const FastGroupedFcState& s = Get<FastGroupedFcState>(op);
  const ref::FullyConnectedParams& p = s.p;
  const int32_t depth = p.depth / p.groups, units = p.units / p.groups;
  const auto* x = static_cast<const int8_t*>(in[0]);
  auto* y = static_cast<int8_t*>(out[0]);
  int8_t* const gx = s.scratch + s.tmp_offset;             // [rows][depth]
  int8_t* const gy = gx + int64_t{p.rows} * depth;          // [rows][units]
  for (int32_t g = 0; g < p.groups; ++g) {
    for (int32_t r = 0; r < p.rows; ++r)
      std::memcpy(gx + int64_t{r} * depth, x + int64_t{r} * p.depth + int64_t{g} * depth, static_cast<size_t>(depth));
    portable::Qs8Gemm(*s.states[g].kernel, s.states[g].gemm, gx, gy);
    for (int32_t r = 0; r < p.rows; ++r)
      std::memcpy(y + int64_t{r} * p.units + int64_t{g} * units, gy + int64_t{r} * units, static_cast<size_t>(units));
  }
}
#endif
void RunFastGroupedConv(const PreparedOp& op, const void* const* in, void* const* out) {
  const FastGroupedConvState& s = Get<FastGroupedConvState>(op);
  const ref::Conv2DParams& p = s.p;
  const int64_t in_plane = int64_t{p.in_h} * p.in_w, out_plane = int64_t{p.out_h} * p.out_w;
  const auto* x = static_cast<const int8_t*>(in[0]);
  auto* y = static_cast<int8_t*>(out[0]);
  for (int32_t n = 0; n < p.batch; ++n)
    for (int32_t g = 0; g < p.groups; ++g)
      portable::Qs8Conv2D(*s.states[g].kernel, s.states[g].gemm, s.group,
                          x + (int64_t{n} * p.in_channels + int64_t{g} * s.group.in_channels) * in_plane,
                          y + (int64_t{n} * p.out_channels + int64_t{g} * s.group.out_channels) * out_plane,
                          s.transpose);
}
// product(a, b, y) for the matrices of batches [first, last) of a BATCH_MATMUL, in the
// reference's broadcast walk.
template <typename Product>
void ForBatches(const ref::BatchMatMulParams& p, const void* const* in, void* const* out, int64_t first, int64_t last,
                Product product) {
  const auto* a = static_cast<const int8_t*>(in[0]);
  const auto* b = static_cast<const int8_t*>(in[1]);
  auto* y = static_cast<int8_t*>(out[0]);
  int64_t index[4] = {0, 0, 0, 0};  // of batch `first` (row-major over batch_dims)
  for (int64_t i = p.batch_rank - 1, rest = first; i >= 0; --i) {
    index[i] = rest % p.batch_dims[i];
    rest /= p.batch_dims[i];
  }
  for (int64_t batch = first; batch < last; ++batch) {
    int64_t a_offset = 0, b_offset = 0;
    for (int32_t i = 0; i < p.batch_rank; ++i) {
      a_offset += index[i] * p.a_batch_strides[i];
      b_offset += index[i] * p.b_batch_strides[i];
    }
    product(a + a_offset * p.m * p.k, b + b_offset * p.k * p.n, y + batch * p.m * p.n);
    for (int32_t i = p.batch_rank - 1; i >= 0; --i) {
      if (++index[i] < p.batch_dims[i]) break;
      index[i] = 0;
    }
  }
}
// Batches [first, last) of a BATCH_MATMUL, each a Qs8MatMul with `gemm` (its scratch, its split).
void BatchMatMulRange(const FastBatchMatMulState& s, const portable::Qs8GemmParams& gemm, const void* const* in,
                      void* const* out, int64_t first, int64_t last) {
  ForBatches(s.p, in, out, first, last, [&](const int8_t* a, const int8_t* b, int8_t* y) {
    portable::Qs8MatMul(*s.kernel, gemm, s.p.a_zero_point, s.p.b_zero_point, a, b, y);
  });
}
int64_t NumBatches(const ref::BatchMatMulParams& p) {
  int64_t n = 1;
  for (int32_t i = 0; i < p.batch_rank; ++i) n *= p.batch_dims[i];
  return n;
}
void RunFastBatchMatMul(const PreparedOp& op, const void* const* in, void* const* out) {
  const FastBatchMatMulState& s = Get<FastBatchMatMulState>(op);
  BatchMatMulRange(s, s.gemm, in, out, 0, NumBatches(s.p));
}
// A part of the batches: its own slot of scratch, and each product on this thread alone.
void RunFastBatchMatMulItems(const PreparedOp& op, const void* const* in, void* const* out, int64_t first, int64_t last,
                             int32_t part) {
  const FastBatchMatMulState& s = Get<FastBatchMatMulState>(op);
  portable::Qs8GemmParams gemm = s.gemm;
  gemm.scratch = static_cast<uint8_t*>(gemm.scratch) + static_cast<size_t>(part) * s.scratch_stride;
  gemm.parallel = portable::Qs8Parallel();
  BatchMatMulRange(s, gemm, in, out, first, last);
}
// P·V with log-grid P: batches [first, last), with the scratch slot of `part`.
void RunFastLogGridMatMulItems(const PreparedOp& op, const void* const* in, void* const* out, int64_t first,
                               int64_t last, int32_t part) {
  const FastLogGridMatMulState& s = Get<FastLogGridMatMulState>(op);
  double* scratch = s.scratch + static_cast<size_t>(part) * s.scratch_stride;
  ForBatches(s.p, in, out, first, last, [&](const int8_t* a, const int8_t* b, int8_t* y) {
    s.product(s.p, s.coefficients, a, b, y, scratch);
  });
}
template <int kKind>
void RunFastBinary(const PreparedOp& op, const void* const* in, void* const* out) {
  const FastBinaryState& s = Get<FastBinaryState>(op);
  portable::Qs8Binary(s.shape, s.table, static_cast<const int8_t*>(in[0]), static_cast<const int8_t*>(in[1]),
                      static_cast<int8_t*>(out[0]), s.use_float ? &s.float_path : nullptr, s.b_major, s.vbmi);
}
// Elements [first, last) of a binary op whose operands have the output's shape (no broadcast).
void RunFastBinaryItems(const PreparedOp& op, const void* const* in, void* const* out, int64_t first, int64_t last,
                        int32_t) {
  const FastBinaryState& s = Get<FastBinaryState>(op);
  ref::BroadcastShape flat;
  flat.rank = 1;
  flat.out_dims[0] = static_cast<int32_t>(last - first);  // prepare: the count fits int32
  flat.a_strides[0] = flat.b_strides[0] = 1;
  portable::Qs8Binary(flat, s.table, static_cast<const int8_t*>(in[0]) + first, static_cast<const int8_t*>(in[1]) + first,
                      static_cast<int8_t*>(out[0]) + first, s.use_float ? &s.float_path : nullptr, s.b_major, s.vbmi);
}
// Whether both operands of `s` walk the output's elements in order (no broadcast).
bool NoBroadcast(const ref::BroadcastShape& s) {
  int64_t stride = 1;
  for (int32_t i = s.rank - 1; i >= 0; --i) {
    if (s.out_dims[i] != 1 && (s.a_strides[i] != stride || s.b_strides[i] != stride)) return false;
    stride *= s.out_dims[i];
  }
  return true;
}
template <bool kVbmi>
void RunFastLutItems(const PreparedOp& op, const void* const* in, void* const* out, int64_t first, int64_t last,
                     int32_t) {
  const FastLutState& s = Get<FastLutState>(op);
  portable::Qs8Lut(last - first, s.table, static_cast<const int8_t*>(in[0]) + first, static_cast<int8_t*>(out[0]) + first,
                   kVbmi);
}
template <typename TOut, bool kAvx512>
void RunFastLut16Items(const PreparedOp& op, const void* const* in, void* const* out, int64_t first, int64_t last,
                       int32_t) {
  const LutState& s = Get<LutState>(op);
  portable::Qs16Lut<TOut>(last - first, s.table, s.table_size, s.min_code, static_cast<const int16_t*>(in[0]) + first,
                          static_cast<TOut*>(out[0]) + first, kAvx512);
}
template <typename TIn, typename TOut>
void RunFastRequantizeItems(const PreparedOp& op, const void* const* in, void* const* out, int64_t first, int64_t last,
                            int32_t) {
  const FastRequantizeState& s = Get<FastRequantizeState>(op);
  const TOut* table = static_cast<const TOut*>(s.table) + s.offset;
  const TIn* x = static_cast<const TIn*>(in[0]);
  TOut* y = static_cast<TOut*>(out[0]);
  for (int64_t i = first; i < last; ++i) y[i] = table[x[i]];
}
template <int32_t kSign>
void RunFastAddSub16(const PreparedOp& op, const void* const* in, void* const* out) {
  const ElementwiseState& s = Get<ElementwiseState>(op);
  portable::Qs16AddSub(s.p, kSign, s.shape, static_cast<const int16_t*>(in[0]), static_cast<const int16_t*>(in[1]),
                       static_cast<int16_t*>(out[0]), true);
}
#if defined(SQUINT_X86_KERNELS)
#if !defined(__OPTIMIZE_SIZE__)
// An int8 → int16 REQUANTIZE's table by vpermi2b (AVX-512 VBMI), 64 codes a step.
void RunFastRequantize8To16VbmiItems(const PreparedOp& op, const void* const* in, void* const* out, int64_t first,
                                     int64_t last, int32_t) {
  const FastRequantizeState& s = Get<FastRequantizeState>(op);
  x86::Qs8ToQs16LutAvx512Vbmi(last - first, static_cast<const int16_t*>(s.table) + s.offset,
                              static_cast<const int8_t*>(in[0]) + first, static_cast<int16_t*>(out[0]) + first);
}
#endif
template <typename TOut>
void RunFastRequantize16Avx512Items(const PreparedOp& op, const void* const* in, void* const* out, int64_t first,
                                    int64_t last, int32_t) {
  const FastRequantizeState& s = Get<FastRequantizeState>(op);
  x86::Qs16RequantizeAvx512(s.p, last - first, static_cast<const int16_t*>(in[0]) + first,
                            static_cast<TOut*>(out[0]) + first, static_cast<int32_t>(sizeof(TOut)));
}
#endif
template <typename T>
void RunFastResize(const PreparedOp& op, const void* const* in, void* const* out) {
  const FastResizeState& s = Get<FastResizeState>(op);
  portable::ResizeNearest<T>(s.p, s.rows, s.cols, static_cast<const T*>(s.table), static_cast<const T*>(in[0]),
                             static_cast<T*>(out[0]));
}
template <typename T>
void RunFastConcat(const PreparedOp& op, const void* const* in, void* const* out) {
  const ConcatState& s = Get<ConcatState>(op);
  portable::ConcatTables<T>(s.num_inputs, reinterpret_cast<const T* const*>(in), s.axis_sizes, s.outer, s.inner,
                            static_cast<const T*>(s.tables), s.identity, static_cast<T*>(out[0]));
}
void RunFastConvTranspose(const PreparedOp& op, const void* const* in, void* const* out) {
  const FastConvTransposeState& s = Get<FastConvTransposeState>(op);
  const ref::Conv2DParams& p = s.p;
  const int64_t positions = int64_t{p.in_h} * p.in_w, out_plane = int64_t{p.out_h} * p.out_w;
  const int64_t taps = int64_t{p.kernel_h} * p.kernel_w, units = taps * p.out_channels;
  auto* base = static_cast<int8_t*>(s.fc.gemm.scratch);
  int8_t *xt = base + s.xt_offset, *yg = base + s.y_offset, *yt = base + s.yt_offset;
  for (int32_t n = 0; n < p.batch; ++n) {
    const int8_t* x = static_cast<const int8_t*>(in[0]) + int64_t{n} * p.in_channels * positions;
    int8_t* y = static_cast<int8_t*>(out[0]) + int64_t{n} * p.out_channels * out_plane;
    s.transpose(x, p.in_channels, positions, xt);  // [position][C_in]
    portable::Qs8Gemm(*s.fc.kernel, s.fc.gemm, xt, yg);  // [position][(kh, kw, oc)]
    s.transpose(yg, positions, units, yt);         // [(kh, kw, oc)][position]
    for (int32_t kh = 0; kh < p.kernel_h; ++kh)
      for (int32_t kw = 0; kw < p.kernel_w; ++kw)
        for (int32_t oc = 0; oc < p.out_channels; ++oc) {
          const int8_t* plane = yt + ((int64_t{kh} * p.kernel_w + kw) * p.out_channels + oc) * positions;
          int8_t* yc = y + int64_t{oc} * out_plane;
          for (int32_t ih = 0; ih < p.in_h; ++ih) {
            const int64_t oh = int64_t{ih} * p.stride_h + kh - p.pad_top;
            if (oh < 0 || oh >= p.out_h) continue;
            int8_t* yr = yc + oh * p.out_w;
            const int8_t* pr = plane + int64_t{ih} * p.in_w;
            for (int32_t iw = 0; iw < p.in_w; ++iw) {
              const int64_t ow = int64_t{iw} * p.stride_w + kw - p.pad_left;
              if (ow >= 0 && ow < p.out_w) yr[ow] = pr[iw];
            }
          }
        }
  }
}
void RunFastTranspose(const PreparedOp& op, const void* const* in, void* const* out) {
  portable::Transpose(Get<FastTransposeState>(op).plan, in[0], out[0]);
}
// SOFTMAX runs write int8 codes: a uint8 output's bytes are the same (portable::Qs8Softmax<uint8_t>).
template <portable::SoftmaxRows kRows>
void RunFastSoftmaxItems(const PreparedOp& op, const void* const* in, void* const* out, int64_t first, int64_t last,
                         int32_t) {
  portable::Qs8Softmax<int8_t>(Get<ref::SoftmaxParams>(op), static_cast<const int8_t*>(in[0]),
                               static_cast<int8_t*>(out[0]), kRows, nullptr, first, last);
}
template <portable::SoftmaxRows kRows>
void RunFastSoftmaxMaskedItems(const PreparedOp& op, const void* const* in, void* const* out, int64_t first,
                               int64_t last, int32_t part) {
  const FastSoftmaxMaskedState& s = Get<FastSoftmaxMaskedState>(op);
  ref::SoftmaxParams p = s.p;
  p.mask32 = static_cast<const int32_t*>(in[1]);
  portable::Qs8Softmax<int8_t>(p, static_cast<const int8_t*>(in[0]), static_cast<int8_t*>(out[0]), kRows,
                               s.keep + part * s.keep_stride, first, last);
}
// The run functions of a SOFTMAX for a rows path and mask kind.
template <portable::SoftmaxRows kRows>
void SetSoftmaxRun(bool dynamic_mask, PreparedOp* out) {
  out->run_items = dynamic_mask ? &RunFastSoftmaxMaskedItems<kRows> : &RunFastSoftmaxItems<kRows>;
  out->run = dynamic_mask ? &RunAllItems<&RunFastSoftmaxMaskedItems<kRows>> : &RunAllItems<&RunFastSoftmaxItems<kRows>>;
}
void SetSoftmaxRun(portable::SoftmaxRows rows, bool dynamic_mask, PreparedOp* out) {
  using portable::SoftmaxRows;
  switch (rows) {
    case SoftmaxRows::kAvx512Vbmi: return SetSoftmaxRun<SoftmaxRows::kAvx512Vbmi>(dynamic_mask, out);
    case SoftmaxRows::kAvx512: return SetSoftmaxRun<SoftmaxRows::kAvx512>(dynamic_mask, out);
    default: return SetSoftmaxRun<SoftmaxRows::kCpp>(dynamic_mask, out);
  }
}
void RunFastGroupScaledConv(const PreparedOp& op, const void* const* in, void* const* out) {
  const FastGroupScaledState& s = Get<FastGroupScaledState>(op);
  portable::Qs8GroupScaledConv2D(s.conv_p, static_cast<const int8_t*>(in[0]), s.weights,
                                 static_cast<const int32_t*>(in[2]), static_cast<int16_t*>(s.scratch),
                                 static_cast<int8_t*>(out[0]));
}
// A group-scaled FULLY_CONNECTED's rows [first, last), with the scratch slot of `part`.
template <bool kAvx512>
void RunFastGroupScaledFcItems(const PreparedOp& op, const void* const* in, void* const* out, int64_t first,
                               int64_t last, int32_t part) {
  const FastGroupScaledState& s = Get<FastGroupScaledState>(op);
  ref::FullyConnectedLowBitParams p = s.fc;
  p.rows = static_cast<int32_t>(last - first);
  const auto* x = static_cast<const int8_t*>(in[0]) + first * p.depth;
  const auto* bias = static_cast<const int32_t*>(in[2]);
  auto* y = static_cast<int8_t*>(out[0]) + first * p.units;
  void* scratch = static_cast<uint8_t*>(s.scratch) + static_cast<size_t>(part) * s.scratch_stride;
#if defined(SQUINT_X86_KERNELS)
  if constexpr (kAvx512) {
    x86::Qs8GroupScaledFcAvx512(s.layout, reinterpret_cast<const uint8_t*>(s.weights), p, x, bias,
                                static_cast<uint8_t*>(scratch), y);
    return;
  }
#endif
  portable::Qs8GroupScaledFc(p, x, s.weights, bias, static_cast<int16_t*>(scratch), y);
}
// An int16 FULLY_CONNECTED's rows [first, last), with the scratch slot of `part`.
void RunFastInt16FcItems(const PreparedOp& op, const void* const* in, void* const* out, int64_t first, int64_t last,
                         int32_t part) {
  const FastInt16FcState& s = Get<FastInt16FcState>(op);
  ref::FullyConnectedParams p = s.p;
  p.rows = static_cast<int32_t>(last - first);
  const int8_t* w = s.weights != nullptr ? s.weights : static_cast<const int8_t*>(in[1]);
  s.kernel(p, static_cast<const int16_t*>(in[0]) + first * p.depth, w, s.folded_bias, s.block,
           static_cast<uint8_t*>(s.scratch) + static_cast<size_t>(part) * s.scratch_stride,
           static_cast<int16_t*>(out[0]) + first * p.units);
}
#if defined(SQUINT_X86_KERNELS)
void RunFastGroupScaledConvAvx512(const PreparedOp& op, const void* const* in, void* const* out) {
  const FastGroupScaledState& s = Get<FastGroupScaledState>(op);
  x86::Qs8GroupScaledConv2DAvx512(s.layout, reinterpret_cast<const uint8_t*>(s.weights), s.conv_p,
                                  static_cast<const int8_t*>(in[0]), static_cast<const int32_t*>(in[2]),
                                  static_cast<uint8_t*>(s.scratch), static_cast<int8_t*>(out[0]));
}
#endif

#if defined(SQUINT_X86_KERNELS)
// Output planes [first, last) of a pairs convolution (portable::Qs8PairsConvItems), on thread
// part's scratch slot.
void RunFastPairsConvItems(const PreparedOp& op, const void* const* in, void* const* out, int64_t first, int64_t last,
                           int32_t part) {
  const FastDepthwiseState& s = Get<FastDepthwiseState>(op);
  const int8_t* w = s.weights != nullptr ? s.weights : static_cast<const int8_t*>(in[1]);
  portable::Qs8PairsConvItems(s.p, static_cast<const int8_t*>(in[0]), w, static_cast<const int32_t*>(in[2]),
                              reinterpret_cast<int16_t*>(reinterpret_cast<uint8_t*>(s.scratch) +
                                                         static_cast<size_t>(part) * s.scratch_stride),
                              static_cast<int8_t*>(out[0]), first, last);
}
#endif
template <bool kAvx512>
void RunFastDepthwise(const PreparedOp& op, const void* const* in, void* const* out) {
  const FastDepthwiseState& s = Get<FastDepthwiseState>(op);
  const int8_t* w = s.weights != nullptr ? s.weights : static_cast<const int8_t*>(in[1]);
  portable::Qs8DepthwiseConv2D(s.p, static_cast<const int8_t*>(in[0]), w,
                               static_cast<const int32_t*>(in[2]), s.scratch, static_cast<int8_t*>(out[0]), kAvx512,
                               s.transpose);
}
template <typename T, portable::RowIsa kIsa>
void RunFastLayerNormItems(const PreparedOp& op, const void* const* in, void* const* out, int64_t first, int64_t last,
                           int32_t) {
  const FastLayerNormState& s = Get<FastLayerNormState>(op);
  ref::LayerNormParams p = s.p;
  p.rows = static_cast<int32_t>(last - first);
  const int64_t at = first * p.channels;
  const portable::LayerNormConsts* consts = s.has_consts ? &s.consts : nullptr;
  if constexpr (sizeof(T) == 1)
    portable::Qs8LayerNorm(p, static_cast<const int8_t*>(in[0]) + at, static_cast<int8_t*>(out[0]) + at, kIsa, consts);
  else
    portable::Qs16LayerNorm(p, static_cast<const int16_t*>(in[0]) + at, static_cast<int16_t*>(out[0]) + at, kIsa,
                            consts);
}

template <int kElementSize>
void RunFastGather(const PreparedOp& op, const void* const* in, void* const* out) {
  const GatherState& s = Get<GatherState>(op);
  portable::GatherRows(s.outer, s.axis_dim, int64_t{s.inner} * kElementSize, static_cast<const int32_t*>(in[1]),
                       s.num_indices, in[0], out[0]);
}
template <typename T>
void RunFastPad(const PreparedOp& op, const void* const* in, void* const* out) {
  const PadState& s = Get<PadState>(op);
  portable::PadConstant<T>(s.rank, s.in_dims, s.pads, static_cast<T>(s.value), static_cast<const T*>(in[0]),
                           static_cast<T*>(out[0]));
}

template <typename T, bool kMax>
void RunFastPool(const PreparedOp& op, const void* const* in, void* const* out) {
  portable::Pool2D<T, kMax>(Get<ref::Pool2DParams>(op), static_cast<const T*>(in[0]), static_cast<T*>(out[0]));
}
void RunFastGlobalAveragePool(const PreparedOp& op, const void* const* in, void* const* out) {
  portable::Qs8GlobalAveragePool(Get<ref::Pool2DParams>(op), static_cast<const int8_t*>(in[0]),
                                 static_cast<int8_t*>(out[0]));
}

#endif

#if defined(SQUINT_FAST_KERNELS)
// A constant weight's `count` codes as int8 for packing at prepare: an int8 weight's own bytes, or
// an int4 weight unpacked into `unpacked` (a prepare-time copy; the caller's TempScope gives it back).
const int8_t* WeightCodes(const TensorDesc& w, int64_t count, TempVec<int8_t>* unpacked) {
  if (w.type != ElementType::INT4) return reinterpret_cast<const int8_t*>(w.data);
  unpacked->resize(static_cast<size_t>(count));
  ref::UnpackInt4(w.data, count, unpacked->data());
  return unpacked->data();
}
// A constant weight's `count` codes as int8 in a new pools block (an int4 weight unpacked, an int8
// one copied); returns the block's index.
size_t AddWeightCodes(const TensorDesc& w, int64_t count, PreparePools* pools) {
  const size_t at = pools->AddPacked(static_cast<size_t>(count));
  auto* codes = reinterpret_cast<int8_t*>(pools->packed_bytes(at));
  if (w.type == ElementType::INT4)
    ref::UnpackInt4(static_cast<const uint8_t*>(w.data), count, codes);
  else
    std::memcpy(codes, w.data, static_cast<size_t>(count));
  return at;
}
#endif

// Packs an int8 or packed int4 weight [units][depth] with one scale per unit (FULLY_CONNECTED, or
// CONV_2D's [C_out][C_in·kH·kW]) for pools->isa's GEMM into the pools and grows the scratch to
// `scratch_bytes(kernel)`. An int4 weight is unpacked into a prepare-time copy first: its codes as
// int8 give the reference's sums exactly (kernels.h: the per-channel int4 path is the int8 kernel
// on the unpacked codes), and the packed panels are the int8 weight's size either way. `reorder`,
// if set, then permutes the weight's values into a prepare-time copy (CONV_2D's depth order). False
// (and nothing changed) when the set has no GEMM kernel or the weight has group scales.
template <typename ScratchBytes>
bool PackFastWeights(int32_t units, int32_t depth, int32_t rows, int32_t input_zero_point,
                     const ref::RequantParams& requant, const TensorDesc& w, const TensorDesc* bias,
                     PreparePools* pools, ScratchBytes scratch_bytes, FastFcState* s,
                     void (*reorder)(const ref::Conv2DParams&, const int8_t*, int8_t*) = nullptr,
                     const ref::Conv2DParams* conv = nullptr) {
#if defined(SQUINT_FAST_KERNELS)
  const portable::Qs8GemmKernel* kernel = portable::Qs8GemmKernelFor(pools->isa, depth, rows);
  if (kernel == nullptr || (w.type != ElementType::INT8 && w.type != ElementType::INT4) || w.group_size != 0)
    return false;
  const size_t count = static_cast<size_t>(units) * static_cast<size_t>(depth);
  TempVec<int8_t> unpacked, reordered;  // the caller's TempScope gives them back
  const int8_t* codes = WeightCodes(w, static_cast<int64_t>(count), &unpacked);
  if (reorder != nullptr) {
    reordered.resize(count);
    reorder(*conv, codes, reordered.data());
    codes = reordered.data();
  }
  s->kernel = kernel;
  s->problem.units = units;
  s->problem.depth = depth;
  s->problem.w = codes;
  s->problem.bias = bias != nullptr ? reinterpret_cast<const int32_t*>(bias->data) : nullptr;
  s->problem.input_zero_point = input_zero_point;
  s->problem.requant = requant;
  const size_t bytes = portable::Qs8GemmPackedLayout(*kernel, units, depth).total;
  s->packed_at = pools->AddPacked(bytes);
  portable::PackQs8Gemm(*kernel, s->problem, pools->packed_bytes(s->packed_at));
  s->problem.w = nullptr;  // packed; the unpacked and reordered copies go away
  s->gemm.rows = rows;
  const size_t scratch = (scratch_bytes(*kernel) + sizeof(int32_t) - 1) / sizeof(int32_t);
  pools->NeedScratch(scratch);
  return true;
#else
  (void)units, (void)depth, (void)rows, (void)input_zero_point, (void)requant, (void)w, (void)bias, (void)pools;
  (void)scratch_bytes, (void)s, (void)reorder, (void)conv;
  return false;
#endif
}

#if !defined(__OPTIMIZE_SIZE__)
// A grouped FULLY_CONNECTED (weight [units, depth / groups], int8 codes): group g's GEMM packed
// from weight rows, bias and requantization of its units; the scratch holds the largest GEMM
// scratch, then the group's gathered input and its output.
void PrepareFastGroupedFc(const ref::FullyConnectedParams& p, const TensorDesc& w, const TensorDesc* bias,
                          PreparePools* pools, PreparedOp* out) {
  const int32_t depth = p.depth / p.groups, units = p.units / p.groups;
  if (portable::Qs8GemmKernelFor(pools->isa, depth, p.rows) == nullptr || w.type != ElementType::INT8 ||
      w.group_size != 0)
    return;
  FastGroupedFcState s;
  s.p = p;
  s.first_state = pools->fc_states.size();
  const size_t tmp_bytes = static_cast<size_t>(p.rows) * static_cast<size_t>(depth + units);
  auto scratch = [&](const portable::Qs8GemmKernel& k) {
    s.tmp_offset = std::max(s.tmp_offset, (portable::Qs8GemmScratchBytes(k, p.rows, depth) + 63) / 64 * 64);
    return s.tmp_offset + tmp_bytes;
  };
  for (int32_t g = 0; g < p.groups; ++g) {
    TensorDesc wg = w;  // the group's rows of the weight
    wg.data = w.data + int64_t{g} * units * depth;
    TensorDesc bg;
    if (bias != nullptr) {
      bg = *bias;
      bg.data = bias->data + int64_t{g} * units * static_cast<int64_t>(sizeof(int32_t));
    }
    ref::RequantParams rq = p.requant;
    if (rq.count > 1) rq.multiplier += int64_t{g} * units, rq.shift += int64_t{g} * units, rq.count = units;
    FastFcState f;
    if (!PackFastWeights(units, depth, p.rows, p.input_zero_point, rq, wg, bias != nullptr ? &bg : nullptr, pools,
                         scratch, &f)) {
      pools->fc_states.resize(s.first_state);  // (not reached: the kernel exists) the blocks stay unused
      return;
    }
    pools->fc_states.push_back(f);
  }
  out->params = s;
  out->run = &RunFastGroupedFc;
}
#endif

}  // namespace

// The optimized FULLY_CONNECTED of pools->isa (dispatch.h) for int8 activations and int8 weights
// (groups = 1, or groups > 1 by PrepareFastGroupedFc), all already checked against the reference
// kernel's preconditions. Other ISAs (kReference) and other builds keep the reference kernel.
void PrepareFastFc(const ref::FullyConnectedParams& p, const TensorDesc& w, const TensorDesc* bias,
                          PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  if (p.groups > 1) {
#if !defined(__OPTIMIZE_SIZE__)  // the -Os library (bench/footprint.sh): the reference kernel
    PrepareFastGroupedFc(p, w, bias, pools, out);
#endif
    return;
  }
  FastFcState s;
  auto scratch = [&p](const portable::Qs8GemmKernel& k) { return portable::Qs8GemmScratchBytes(k, p.rows, p.depth); };
  if (!PackFastWeights(p.units, p.depth, p.rows, p.input_zero_point, p.requant, w, bias, pools, scratch, &s)) return;
  out->params = s;
  out->run = &RunFastFc;
#else
  (void)p, (void)w, (void)bias, (void)pools, (void)out;
#endif
}

// int16 activations: portable::Qs16FullyConnected on every optimized set (its AVX2 build on
// avx2; on avx512vnni x86::Qs16FullyConnectedAvx512 on the weight packed here), the folded bias
// and an int4 weight's codes in the pools.
void PrepareFastInt16Fc(const ref::FullyConnectedParams& p, const TensorDesc& w, const TensorDesc* bias,
                        PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  if (pools->isa == Isa::kReference || p.groups != 1 || w.group_size != 0 ||
      (w.type != ElementType::INT8 && w.type != ElementType::INT4))
    return;
  FastInt16FcState s;
  s.p = p;
  const int64_t count = int64_t{p.units} * p.depth;
  TempVec<int8_t> unpacked;  // the caller's TempScope gives it back
  const int8_t* codes = WeightCodes(w, count, &unpacked);
  int32_t max_abs = 0;
  for (int64_t i = 0; i < count; ++i) max_abs = std::max(max_abs, std::abs(int32_t{codes[i]}));
  s.block = portable::Int16FcBlock(max_abs, p.depth);
  s.folded_bias_at = pools->AddPacked(static_cast<size_t>(p.units) * sizeof(int64_t));
  portable::Int16FcFoldedBias(codes, p.units, p.depth,
                              bias != nullptr ? reinterpret_cast<const int32_t*>(bias->data) : nullptr,
                              p.input_zero_point, reinterpret_cast<int64_t*>(pools->packed_bytes(s.folded_bias_at)));
  size_t scratch_bytes = portable::Int16FcScratchBytes(s.block);
  bool packed = false;
#if defined(SQUINT_X86_KERNELS)
  if (pools->isa == Isa::kAvx2) s.kernel = &x86::Qs16FullyConnectedAvx2;
  if (pools->isa == Isa::kAvx512Vnni) {  // the weight packed into panels of 32 units
    s.kernel = &x86::Qs16FullyConnectedAvx512;
    s.weights_at = pools->AddPacked(x86::Qs16FcAvx512PackedBytes(p.units, p.depth));
    x86::PackQs16FcAvx512(codes, p.units, p.depth, reinterpret_cast<int8_t*>(pools->packed_bytes(s.weights_at)));
    scratch_bytes = x86::Qs16FullyConnectedAvx512ScratchBytes();
    packed = true;
  }
#endif
  if (!packed && w.type == ElementType::INT4) s.weights_at = AddWeightCodes(w, count, pools);
  s.scratch_stride = ThreadScratchSlots(static_cast<int64_t>(scratch_bytes), pools);
  out->params = s;
  out->run_items = &RunFastInt16FcItems;
  out->run = &RunAllItems<&RunFastInt16FcItems>;
  out->items = p.rows;
  out->item_bytes = static_cast<int32_t>(std::min<int64_t>(int64_t{p.units} * 2, kInt32Max));  // int16 outputs
  out->item_ps = SaturatingProduct(int64_t{p.units} * p.depth, kInt16FcPsPerMac);
#else
  (void)p, (void)w, (void)bias, (void)pools, (void)out;
#endif
}

// The optimized CONV_2D of pools->isa (int8 activations and weights): groups = 1 by im2col on
// the GEMM; depthwise (groups = in = out channels) by portable::Qs8DepthwiseConv2D.
#if defined(SQUINT_FAST_KERNELS)
namespace {
// CONV_2D with groups > 1, not depthwise: each group a groups = 1 convolution of cin/groups input
// and cout/groups output channels (depth: cin/groups·kH·kW), its slice of the weight, bias and
// per-channel requantization packed for the set's GEMM (an int4 weight unpacked first: a group's
// slice may start mid-byte). Nothing changes when the set has no GEMM kernel.
void PrepareFastGroupedConv(const ref::Conv2DParams& p, const TensorDesc& w, const TensorDesc* bias, int32_t depth,
                            PreparePools* pools, PreparedOp* out) {
  if (portable::Qs8GemmKernelFor(pools->isa, depth) == nullptr || w.group_size != 0 ||
      (w.type != ElementType::INT8 && w.type != ElementType::INT4))
    return;
  FastGroupedConvState s;
  s.p = p;
  s.group = p;
  s.group.batch = 1;
  s.group.groups = 1;
  s.group.in_channels = p.in_channels / p.groups;
  s.group.out_channels = p.out_channels / p.groups;
  s.transpose = portable::TransposeBytesFor(pools->isa);
  const int64_t group_weights = int64_t{s.group.out_channels} * depth;
  TempVec<int8_t> unpacked;  // the caller's TempScope gives it back
  const int8_t* codes = WeightCodes(w, group_weights * p.groups, &unpacked);
  s.first_state = pools->fc_states.size();
  auto scratch = [&s](const portable::Qs8GemmKernel& k) { return portable::Qs8Conv2DScratchBytes(k, s.group); };
  for (int32_t g = 0; g < p.groups; ++g) {
    TensorDesc wg = w;  // the group's int8 codes
    wg.type = ElementType::INT8;
    wg.data = reinterpret_cast<const uint8_t*>(codes + g * group_weights);
    TensorDesc bg;
    if (bias != nullptr) {
      bg = *bias;
      bg.data = bias->data + int64_t{g} * s.group.out_channels * static_cast<int64_t>(sizeof(int32_t));
    }
    ref::Conv2DParams c = s.group;
    if (c.requant.count > 1) {
      c.requant.multiplier += int64_t{g} * s.group.out_channels;
      c.requant.shift += int64_t{g} * s.group.out_channels;
      c.requant.count = s.group.out_channels;
    }
    FastFcState f;
    if (!PackFastWeights(c.out_channels, depth, c.out_h * c.out_w, p.input_zero_point, c.requant, wg,
                         bias != nullptr ? &bg : nullptr, pools, scratch, &f, &portable::ReorderConvWeights, &c)) {
      pools->fc_states.resize(s.first_state);  // (not reached: the kernel exists) the blocks stay unused
      return;
    }
    pools->fc_states.push_back(f);
  }
  out->params = s;
  out->run = &RunFastGroupedConv;
}
}  // namespace
#endif

void PrepareFastConv(const ref::Conv2DParams& p, const TensorDesc& w, const TensorDesc* bias,
                            PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  // Depthwise (one output channel per input channel), and on AVX-512 a groups = 1 conv with one
  // input channel by the same kernel (every output channel reads the one input plane).
  const bool depthwise = p.groups > 1 && p.groups == p.in_channels && p.out_channels == p.in_channels;
  // (Up to 16 output channels, where the GEMM's 32-unit panels would be half empty; with more,
  // vit_tiny's 64-channel patch conv, the GEMM is faster. Those of portable::PairsConv only, a
  // plane at a time: the others take the GEMM.)
  const bool one_input = p.groups == 1 && p.in_channels == 1 && p.out_channels <= 16 &&
                         pools->isa == Isa::kAvx512Vnni && portable::PairsConv(p);
  if (pools->isa != Isa::kReference && (depthwise || one_input) && w.group_size == 0) {
    FastDepthwiseState d;
    d.p = p;
    if (w.type == ElementType::INT4)  // its codes unpacked once, read as the int8 weight's
      d.weights_at = AddWeightCodes(
          w, int64_t{p.out_channels} * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w, pools);
    d.transpose = portable::TransposeBytesFor(pools->isa);
#if defined(SQUINT_X86_KERNELS)
    const int64_t planes = int64_t{p.batch} * p.out_channels, out_plane = int64_t{p.out_h} * p.out_w;
    if (pools->isa == Isa::kAvx512Vnni && portable::PairsConv(p) && out_plane <= kInt32Max) {
      // A plane at a time: threads may share the planes out, each with its own scratch slot.
      d.scratch_stride = ThreadScratchSlots(static_cast<int64_t>(portable::Qs8DepthwiseScratchBytes(p)), pools);
      out->params = d;
      out->run_items = &RunFastPairsConvItems;
      out->run = &RunAllItems<&RunFastPairsConvItems>;
      out->items = planes;
      out->item_bytes = static_cast<int32_t>(out_plane);
      out->item_ps = SaturatingProduct(out_plane, (int64_t{p.kernel_h} * ((p.kernel_w + 1) / 2) + 1) * kPairsPsPerTap);
      return;
    }
#endif
    const size_t words = (portable::Qs8DepthwiseScratchBytes(p) + sizeof(int32_t) - 1) / sizeof(int32_t);
    pools->NeedScratch(words);
    out->params = d;
    out->run = pools->isa == Isa::kAvx512Vnni ? &RunFastDepthwise<true> : &RunFastDepthwise<false>;
    return;
  }
  const int64_t positions = int64_t{p.out_h} * p.out_w;
  const int64_t depth = int64_t{p.in_channels} / p.groups * p.kernel_h * p.kernel_w;
  if (positions > kInt32Max || depth > kInt32Max) return;
  if (p.groups > 1) {
    PrepareFastGroupedConv(p, w, bias, static_cast<int32_t>(depth), pools, out);
    return;
  }
  FastConvState s;
  s.p = p;
  s.transpose = portable::TransposeBytesFor(pools->isa);
  auto scratch = [&p](const portable::Qs8GemmKernel& k) { return portable::Qs8Conv2DScratchBytes(k, p); };
  if (!PackFastWeights(p.out_channels, static_cast<int32_t>(depth), static_cast<int32_t>(positions),
                       p.input_zero_point, p.requant, w, bias, pools, scratch, &s.fc, &portable::ReorderConvWeights, &p))
    return;
  out->params = s;
  out->run = &RunFastConv;
#else
  (void)p, (void)w, (void)bias, (void)pools, (void)out;
#endif
}

#if defined(SQUINT_FAST_KERNELS)
namespace {
// The group-scaled kernels' state and run functions: on avx512vnni the weight packed for
// x86::Qs8GroupScaledFcAvx512 / Qs8GroupScaledConv2DAvx512 (from a prepare-time copy of its codes)
// and their scratch; on the other sets the weight's codes as int8 in the pools (unpacked when int4)
// and scratch for one row (or patch) of x − z_x for the portable kernels. `conv`: the CONV_2D's
// parameters, or null for FULLY_CONNECTED with `rows` rows, whose rows threads may share out
// (run_items, a scratch slot per thread). False (nothing changed) on the reference set or for a
// group longer than the kernels take.
bool PrepareGroupScaled(int64_t units, int64_t depth, int32_t group_size, const uint16_t* group_multiplier,
                        const ref::RequantParams& requant, const ref::Conv2DParams* conv, int32_t rows,
                        int32_t input_zero_point, const TensorDesc& w, PreparePools* pools, FastGroupScaledState* s,
                        PreparedOp* out) {
  if (pools->isa == Isa::kReference || group_size <= 0 || group_size > 4096 || depth > (int64_t{1} << 24))
    return false;
  int64_t scratch_bytes = depth * int64_t{sizeof(int16_t)};  // the portable kernels' row of x − z_x
  RunFn run = conv != nullptr ? &RunFastGroupScaledConv : &RunAllItems<&RunFastGroupScaledFcItems<false>>;
  RunItemsFn run_items = &RunFastGroupScaledFcItems<false>;
  bool packed = false;
#if defined(SQUINT_X86_KERNELS)
  if (pools->isa == Isa::kAvx512Vnni) {
    TempVec<int8_t> unpacked;  // the caller's TempScope gives it back
    const int8_t* codes = WeightCodes(w, units * depth, &unpacked);
    s->layout = x86::GroupScaledLayoutOf(static_cast<int32_t>(units), static_cast<int32_t>(depth), group_size);
    s->weights_at = pools->AddPacked(static_cast<size_t>(x86::GroupScaledPackedBytes(s->layout)));
    x86::PackGroupScaledAvx512(s->layout, codes, group_multiplier, input_zero_point, requant,
                               pools->packed_bytes(s->weights_at));
    scratch_bytes = conv != nullptr ? x86::GroupScaledConvScratchBytes(s->layout, *conv)
                                    : x86::GroupScaledFcScratchBytes(s->layout, rows);
    run = conv != nullptr ? &RunFastGroupScaledConvAvx512 : &RunAllItems<&RunFastGroupScaledFcItems<true>>;
    run_items = &RunFastGroupScaledFcItems<true>;
    packed = true;
  }
#else
  (void)group_multiplier, (void)requant, (void)rows, (void)input_zero_point;
#endif
  if (!packed) s->weights_at = AddWeightCodes(w, units * depth, pools);
  out->run = run;
  if (conv != nullptr) {  // one call: the shared scratch
    pools->NeedScratch(static_cast<size_t>((scratch_bytes + 3) / 4));
    return true;
  }
  // FULLY_CONNECTED: its rows may be shared out over threads, each part with a scratch slot.
  s->scratch_stride = ThreadScratchSlots(scratch_bytes, pools);
  out->run_items = run_items;
  out->items = rows;
  out->item_bytes = static_cast<int32_t>(units);  // int8 outputs
  out->item_ps = SaturatingProduct(units * depth, kGroupScaledPsPerMac);
  return true;
}
}  // namespace
#endif

// Group-scaled weights on int8 activations (x86::Qs8GroupScaledFcAvx512 / Qs8GroupScaledConv2DAvx512
// on avx512vnni, portable::Qs8GroupScaledFc / Qs8GroupScaledConv2D on every other optimized set);
// checked against the reference's preconditions already (CheckGroupScaled).
void PrepareFastGroupScaledFc(const ref::FullyConnectedLowBitParams& p, const TensorDesc& w, PreparePools* pools,
                              PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  FastGroupScaledState s;
  s.fc = p;
  if (!PrepareGroupScaled(p.units, p.depth, p.group_size, p.group_multiplier, p.requant, nullptr, p.rows,
                          p.input_zero_point, w, pools, &s, out))
    return;
  out->params = s;
#else
  (void)p, (void)w, (void)pools, (void)out;
#endif
}

void PrepareFastGroupScaledConv(const ref::Conv2DGroupScaledParams& p, const TensorDesc& w, PreparePools* pools,
                                PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  if (p.conv.groups != 1) return;
  FastGroupScaledState s;
  s.conv = true;
  s.conv_p = p;
  const int64_t depth = int64_t{p.conv.in_channels} * p.conv.kernel_h * p.conv.kernel_w;
  if (!PrepareGroupScaled(p.conv.out_channels, depth, p.group_size, p.group_multiplier, p.conv.requant, &p.conv, 0,
                          p.conv.input_zero_point, w, pools, &s, out))
    return;
  out->params = s;
#else
  (void)p, (void)w, (void)pools, (void)out;
#endif
}

// The optimized BATCH_MATMUL of pools->isa for int8 affine operands (not log-grid P·V), already
// checked against the reference kernel's preconditions: per-unit requant arrays into the pools,
// the per-call scratch (packed a, b panels, column and row sums) planned.
void PrepareFastBatchMatMul(const ref::BatchMatMulParams& p, PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  const portable::Qs8GemmKernel* kernel = portable::Qs8GemmKernelFor(pools->isa, p.k, p.m);
  if (kernel == nullptr || p.a_grid != nullptr) return;
  FastBatchMatMulState s;
  s.kernel = kernel;
  s.p = p;
  s.problem.units = p.n;
  s.problem.depth = 0;
  s.problem.requant = p.requant;
  const size_t bytes = portable::Qs8GemmPackedLayout(*kernel, p.n, 0).total;
  s.packed_at = pools->AddPacked(bytes);
  portable::PackQs8Gemm(*kernel, s.problem, pools->packed_bytes(s.packed_at));
  s.gemm.rows = p.m;
  // A slot of scratch per thread: the batches may be shared out (run_items), each part packing
  // its own operands.
  s.scratch_stride = ThreadScratchSlots(static_cast<int64_t>(portable::Qs8MatMulScratchBytes(*kernel, p.m, p.n, p.k)),
                                        pools);
  out->params = s;
  out->run = &RunFastBatchMatMul;
  const int64_t batches = NumBatches(p), product_bytes = int64_t{p.m} * p.n;  // int8 outputs
  if (batches > 1 && product_bytes <= kInt32Max) {
    out->run_items = &RunFastBatchMatMulItems;
    out->items = batches;
    out->item_bytes = static_cast<int32_t>(product_bytes);
    out->item_ps = SaturatingProduct(product_bytes, int64_t{p.k} * kBatchMatMulPsPerMac);
  }
#else
  (void)p, (void)pools, (void)out;
#endif
}

// BATCH_MATMUL with a log-grid left operand (P·V), already checked against the reference's
// preconditions: portable::Qs8LogGridMatMul (x86::Qs8LogGridMatMulAvx512 on avx512vnni, the same
// source) when its double sums are exact (LogGridMatMulInDouble); its 256 coefficients in the
// pools, a scratch slot per thread.
void PrepareFastLogGridMatMul(const ref::BatchMatMulParams& p, PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  if (pools->isa == Isa::kReference || p.a_grid == nullptr) return;
  FastLogGridMatMulState s;
  s.p = p;
  double v[256];
  portable::LogGridCoefficients(*p.a_grid, v);
  if (!portable::LogGridMatMulInDouble(p, v)) return;
  s.coefficients_at = pools->AddPacked(sizeof(v));
  std::memcpy(pools->packed_bytes(s.coefficients_at), v, sizeof(v));
#if defined(SQUINT_X86_KERNELS)
  if (pools->isa == Isa::kAvx512Vnni) s.product = &x86::Qs8LogGridMatMulAvx512;
#endif
  s.scratch_stride = ThreadScratchSlots(portable::Qs8LogGridMatMulScratchBytes(p), pools) / sizeof(double);
  out->params = s;
  out->run_items = &RunFastLogGridMatMulItems;
  out->run = &RunAllItems<&RunFastLogGridMatMulItems>;
  out->items = NumBatches(p);
  out->item_bytes = static_cast<int32_t>(std::min<int64_t>(int64_t{p.m} * p.n, kInt32Max));
  out->item_ps = SaturatingProduct(int64_t{p.m} * p.n, int64_t{p.k} * kBatchMatMulPsPerMac);
#else
  (void)p, (void)pools, (void)out;
#endif
}

// int8 ADD / SUB / MUL: the reference's output for each of the 65536 code pairs tabulated in
// the pools (64 KiB per op), so only ops whose output is at least kMinTableOutput elements use it.
void PrepareFastElementwise(fb::OpCode code, const ElementwiseState& s, int64_t count, PreparePools* pools,
                            PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  constexpr int64_t kMinTableOutput = 1024;
  if (pools->isa == Isa::kReference || count < kMinTableOutput) return;
  const portable::BinaryKind kind = code == fb::OpCode::ADD   ? portable::BinaryKind::kAdd
                                    : code == fb::OpCode::SUB ? portable::BinaryKind::kSub
                                                              : portable::BinaryKind::kMul;
  FastBinaryState f;
  f.shape = s.shape;
  f.b_major = portable::BinaryRunsHoldB(s.shape);  // then each run is a LUT of one table row
  f.table_at = pools->AddPacked(portable::kQs8BinaryTableBytes);
  portable::BuildQs8BinaryTable(kind, s.p, reinterpret_cast<int8_t*>(pools->packed_bytes(f.table_at)), f.b_major);
#if defined(SQUINT_X86_KERNELS)
  f.vbmi = pools->isa == Isa::kAvx512Vnni && Avx512VbmiSupported();
  // ADD / SUB on AVX-512: in float where every code pair has been checked against the table.
  f.use_float = pools->isa == Isa::kAvx512Vnni && !f.b_major &&
                portable::BuildQs8BinaryFloat(kind, s.p, reinterpret_cast<const int8_t*>(pools->packed_bytes(f.table_at)),
                                              &f.float_path);
#endif
  if (NoBroadcast(f.shape) && count <= kInt32Max) {  // threads may share the elements out
    out->run_items = &RunFastBinaryItems;
    out->items = count;
    out->item_bytes = 1;
    out->item_ps = kBinaryPsPerElement;
  }
  out->params = f;
  out->run = kind == portable::BinaryKind::kAdd   ? &RunFastBinary<0>
             : kind == portable::BinaryKind::kSub ? &RunFastBinary<1>
                                                  : &RunFastBinary<2>;
#else
  (void)code, (void)s, (void)count, (void)pools, (void)out;
#endif
}

void PrepareFastAddSub16(int32_t sign, PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  // AVX-512 only: the plain C++ path alone (AVX2, NEON) is no faster than the reference kernel
  // (vit_tiny --a16 Add on AVX2: 332 against 339 µs), so those sets keep the reference.
  if (pools->isa != Isa::kAvx512Vnni) return;
  out->run = sign > 0 ? &RunFastAddSub16<1> : &RunFastAddSub16<-1>;
#else
  (void)sign, (void)pools, (void)out;
#endif
}

namespace {
template <typename TOut>
void SetLut16Run(bool avx512, PreparedOp* out) {
  out->run_items = avx512 ? &RunFastLut16Items<TOut, true> : &RunFastLut16Items<TOut, false>;
  out->run = avx512 ? &RunAllItems<&RunFastLut16Items<TOut, true>> : &RunAllItems<&RunFastLut16Items<TOut, false>>;
  out->item_bytes = sizeof(TOut);
}
}  // namespace

// int8 → int8 and int8 → int16: the reference's 256 outputs tabulated in the pools (int16 ones by
// vpermi2b on VBMI, as an int8 → int16 REQUANTIZE's). int16 inputs: the model's table
// read in place (its entries, not the reference's clamp, are the outputs: prepare has checked
// that it covers every int16 code), 16 codes a gather on avx512vnni.
void PrepareFastLut(const LutState& s, ElementType in, ElementType out_type, PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  if (pools->isa == Isa::kReference) return;
  if (in == ElementType::INT16) {
    const bool avx512 = pools->isa == Isa::kAvx512Vnni;
#if !defined(SQUINT_X86_KERNELS) || defined(__OPTIMIZE_SIZE__)
    if (avx512) return;  // not built here: the reference loop
#endif
    if (out_type == ElementType::INT8) SetLut16Run<int8_t>(avx512, out);
    else SetLut16Run<int16_t>(avx512, out);
    out->items = s.count;
    out->item_ps = kLut16PsPerElement;
    return;
  }
#if !defined(__OPTIMIZE_SIZE__)  // the -Os library (bench/footprint.sh): the reference loop
  if (out_type == ElementType::INT16) {  // the reference's 256 results, read as a REQUANTIZE's table
    FastRequantizeState f;
    int8_t codes[256];
    for (int32_t c = 0; c < 256; ++c) codes[c] = static_cast<int8_t>(c - 128);
    f.offset = 128;
    f.table_at = pools->AddPacked(256 * sizeof(int16_t));
    ref::Lut<int8_t, int16_t>(256, codes, s.table, s.table_size, s.min_code,
                              reinterpret_cast<int16_t*>(pools->packed_bytes(f.table_at)));
    out->params = f;
    out->run_items = &RunFastRequantizeItems<int8_t, int16_t>;
    out->run = &RunAllItems<&RunFastRequantizeItems<int8_t, int16_t>>;
#if defined(SQUINT_X86_KERNELS)
    if (pools->isa == Isa::kAvx512Vnni && Avx512VbmiSupported()) {
      out->run_items = &RunFastRequantize8To16VbmiItems;
      out->run = &RunAllItems<&RunFastRequantize8To16VbmiItems>;
    }
#endif
    out->items = s.count;
    out->item_bytes = 2;
    out->item_ps = kLutPsPerElement;
    return;
  }
#endif
  if (out_type != ElementType::INT8) return;
  FastLutState f;
  f.table_at = pools->AddPacked(256);
  portable::BuildQs8Lut(s.table, s.table_size, s.min_code, reinterpret_cast<int8_t*>(pools->packed_bytes(f.table_at)));
  out->params = f;
  const bool vbmi = pools->isa == Isa::kAvx512Vnni && Avx512VbmiSupported();
  out->run_items = vbmi ? &RunFastLutItems<true> : &RunFastLutItems<false>;
  out->run = vbmi ? &RunAllItems<&RunFastLutItems<true>> : &RunAllItems<&RunFastLutItems<false>>;
  out->items = s.count;
  out->item_bytes = 1;
  out->item_ps = kLutPsPerElement;
#else
  (void)s, (void)in, (void)out_type, (void)pools, (void)out;
#endif
}

#if defined(SQUINT_FAST_KERNELS)
namespace {
// The table of a REQUANTIZE from TIn to TOut: every input code through the reference kernel.
template <typename TIn, typename TOut>
void SetRequantizeTable(const RequantizeState& s, PreparePools* pools, FastRequantizeState* f, PreparedOp* out) {
  constexpr int64_t kCodes = int64_t{1} << (8 * sizeof(TIn));
  TempVec<TIn> codes(static_cast<size_t>(kCodes));  // the caller's TempScope gives it back
  const int64_t lowest = std::is_signed_v<TIn> ? -kCodes / 2 : 0;
  for (int64_t i = 0; i < kCodes; ++i) codes[static_cast<size_t>(i)] = static_cast<TIn>(lowest + i);
  f->offset = static_cast<int32_t>(-lowest);
  f->table_at = pools->AddPacked(static_cast<size_t>(kCodes) * sizeof(TOut));
  ref::Requantize<TIn, TOut>(s.p, static_cast<int32_t>(kCodes), codes.data(),
                             reinterpret_cast<TOut*>(pools->packed_bytes(f->table_at)));
  out->run_items = &RunFastRequantizeItems<TIn, TOut>;
  out->run = &RunAllItems<&RunFastRequantizeItems<TIn, TOut>>;
}
template <typename TIn>
void SetRequantizeTable(const RequantizeState& s, ElementType out_type, PreparePools* pools, FastRequantizeState* f,
                        PreparedOp* out) {
  switch (out_type) {
    case ElementType::INT8: return SetRequantizeTable<TIn, int8_t>(s, pools, f, out);
    case ElementType::UINT8: return SetRequantizeTable<TIn, uint8_t>(s, pools, f, out);
    default: return SetRequantizeTable<TIn, int16_t>(s, pools, f, out);
  }
}
}  // namespace
#endif

void PrepareFastRequantize(const RequantizeState& s, ElementType in, ElementType out_type, PreparePools* pools,
                           PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  // A 65536-entry table (64 or 128 KiB) pays for itself only on larger tensors.
  constexpr int64_t kMinInt16RequantizeTable = 4096;
  const bool vector16 = in == ElementType::INT16 && pools->isa == Isa::kAvx512Vnni;  // no table
  if (pools->isa == Isa::kReference || (in == ElementType::INT16 && !vector16 && s.count < kMinInt16RequantizeTable))
    return;
  FastRequantizeState f;
  f.p = s.p;
  if (vector16) {
#if defined(SQUINT_X86_KERNELS)
    switch (out_type) {
      case ElementType::INT8: out->run_items = &RunFastRequantize16Avx512Items<int8_t>; break;
      case ElementType::UINT8: out->run_items = &RunFastRequantize16Avx512Items<uint8_t>; break;
      default: out->run_items = &RunFastRequantize16Avx512Items<int16_t>; break;
    }
    out->run = out_type == ElementType::INT8    ? &RunAllItems<&RunFastRequantize16Avx512Items<int8_t>>
               : out_type == ElementType::UINT8 ? &RunAllItems<&RunFastRequantize16Avx512Items<uint8_t>>
                                                : &RunAllItems<&RunFastRequantize16Avx512Items<int16_t>>;
#endif
  } else if (in == ElementType::INT8) {
    SetRequantizeTable<int8_t>(s, out_type, pools, &f, out);
#if defined(SQUINT_X86_KERNELS) && !defined(__OPTIMIZE_SIZE__)
    if (out_type == ElementType::INT16 && pools->isa == Isa::kAvx512Vnni && Avx512VbmiSupported()) {
      out->run_items = &RunFastRequantize8To16VbmiItems;
      out->run = &RunAllItems<&RunFastRequantize8To16VbmiItems>;
    }
#endif
  } else if (in == ElementType::UINT8) {
    SetRequantizeTable<uint8_t>(s, out_type, pools, &f, out);
  } else {
    SetRequantizeTable<int16_t>(s, out_type, pools, &f, out);
  }
  out->params = f;
  out->items = s.count;
  out->item_bytes = out_type == ElementType::INT16 ? 2 : 1;
  out->item_ps = kLutPsPerElement;
#else
  (void)s, (void)in, (void)out_type, (void)pools, (void)out;
#endif
}

#if defined(SQUINT_FAST_KERNELS)
namespace {
// RESIZE's requantization of every code of T (2^bits of them), by the reference kernel itself on
// one row that reads each code in place (asymmetric coordinates, floor: index = position).
template <typename T>
void ResizeCodes(const ref::ResizeParams& p, T* codes_out) {
  constexpr int32_t kCodes = sizeof(T) == 1 ? 256 : 65536, kMin = std::is_signed_v<T> ? -kCodes / 2 : 0;
  TempVec<T> codes(kCodes);  // the caller's TempScope gives it back
  for (int32_t c = 0; c < kCodes; ++c) codes[static_cast<size_t>(c)] = static_cast<T>(kMin + c);
  ref::ResizeParams row = p;
  row.batch = row.channels = row.in_h = row.out_h = 1;
  row.in_w = row.out_w = kCodes;
  row.mode = 0;
  row.coordinate_mode = 1;
  row.nearest_mode = 2;
  ref::Resize<T>(row, codes.data(), codes_out);
}
template <typename T>
bool SetResize(const ref::ResizeParams& p, PreparePools* pools, FastResizeState* s, PreparedOp* out) {
  constexpr int32_t kCodes = sizeof(T) == 1 ? 256 : 65536, kMin = std::is_signed_v<T> ? -kCodes / 2 : 0;
  TempVec<T> table(kCodes);
  ResizeCodes<T>(p, table.data());
  bool identity = true;
  for (int32_t c = 0; c < kCodes; ++c) identity = identity && table[static_cast<size_t>(c)] == kMin + c;
  if (!identity && sizeof(T) != 1) return false;  // int16 with a requantization: the reference
  if (!identity) {
    s->table_at = pools->AddPacked(256 * sizeof(T));
    std::memcpy(pools->packed_bytes(s->table_at), table.data(), 256 * sizeof(T));
  }
  out->run = &RunFastResize<T>;
  return true;
}
}  // namespace
#endif

// CONV_TRANSPOSE_2D of int8 codes with stride = kernel, dilation 1, groups = 1 and no output
// past the inputs' reach (end pads >= 0): every output position is one input position times one
// tap, so the reference's accumulator is one GEMM unit's (the weight, bias and requantization of
// output channel oc for unit (kh·kernel_w + kw)·C_out + oc).
void PrepareFastConvTranspose(const ref::Conv2DParams& p, const TensorDesc& w, const TensorDesc* bias, bool end_pads_ok,
                              PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  if (pools->isa == Isa::kReference || !end_pads_ok || p.groups != 1 || p.stride_h != p.kernel_h ||
      p.stride_w != p.kernel_w || p.dilation_h != 1 || p.dilation_w != 1 || w.type != ElementType::INT8)
    return;
  const int64_t taps = int64_t{p.kernel_h} * p.kernel_w, units = taps * p.out_channels;
  const int64_t positions = int64_t{p.in_h} * p.in_w;
  if (units > kInt32Max || positions > kInt32Max) return;
  TempVec<int8_t> weights(static_cast<size_t>(units * p.in_channels));  // the caller's TempScope gives them back
  TempVec<int32_t> biases(static_cast<size_t>(units)), mult(static_cast<size_t>(units)), shift(static_cast<size_t>(units));
  const auto* wsrc = reinterpret_cast<const int8_t*>(w.data);
  const auto* bsrc = bias != nullptr ? reinterpret_cast<const int32_t*>(bias->data) : nullptr;
  for (int64_t t = 0; t < taps; ++t)
    for (int32_t oc = 0; oc < p.out_channels; ++oc) {
      const int64_t u = t * p.out_channels + oc;
      for (int32_t ic = 0; ic < p.in_channels; ++ic)  // w[oc][ic][kh][kw]
        weights[static_cast<size_t>(u * p.in_channels + ic)] = wsrc[(int64_t{oc} * p.in_channels + ic) * taps + t];
      biases[static_cast<size_t>(u)] = bsrc != nullptr ? bsrc[oc] : 0;
      const int32_t c = p.requant.count == 1 ? 0 : oc;
      mult[static_cast<size_t>(u)] = p.requant.multiplier[c];
      shift[static_cast<size_t>(u)] = p.requant.shift[c];
    }
  TensorDesc wt = w;
  wt.data = reinterpret_cast<const uint8_t*>(weights.data());
  TensorDesc bt;
  bt.type = ElementType::INT32;
  bt.data = reinterpret_cast<const uint8_t*>(biases.data());
  ref::RequantParams rq = p.requant;
  rq.multiplier = mult.data();
  rq.shift = shift.data();
  rq.count = static_cast<int32_t>(units);
  FastConvTransposeState s;
  s.p = p;
  s.transpose = portable::TransposeBytesFor(pools->isa);
  auto scratch = [&](const portable::Qs8GemmKernel& k) {
    const size_t gemm_bytes =
        (portable::Qs8GemmScratchBytes(k, static_cast<int32_t>(positions), p.in_channels) + 63) / 64 * 64;
    const size_t xt = static_cast<size_t>(positions) * static_cast<size_t>(p.in_channels);
    const size_t y = static_cast<size_t>(positions) * static_cast<size_t>(units);
    s.xt_offset = gemm_bytes;
    s.y_offset = s.xt_offset + (xt + 63) / 64 * 64;
    s.yt_offset = s.y_offset + (y + 63) / 64 * 64;
    return s.yt_offset + y;
  };
  if (!PackFastWeights(static_cast<int32_t>(units), p.in_channels, static_cast<int32_t>(positions), p.input_zero_point,
                       rq, wt, &bt, pools, scratch, &s.fc))
    return;
  out->params = s;
  out->run = &RunFastConvTranspose;
#else
  (void)p, (void)w, (void)bias, (void)end_pads_ok, (void)pools, (void)out;
#endif
}

// RESIZE in nearest mode: the source indices once, rows looked up (8-bit codes through their
// requantization's table) or copied.
void PrepareFastResize(const ref::ResizeParams& p, ElementType type, PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  if (pools->isa == Isa::kReference || p.mode != 0) return;
  FastResizeState s;
  s.p = p;
  s.indices_at = pools->AddPacked((static_cast<size_t>(p.out_h) + static_cast<size_t>(p.out_w)) * sizeof(int32_t));
  auto* indices = reinterpret_cast<int32_t*>(pools->packed_bytes(s.indices_at));
  ref::ResizeNearestIndices(p, true, indices);
  ref::ResizeNearestIndices(p, false, indices + p.out_h);
  const bool ok = type == ElementType::INT8    ? SetResize<int8_t>(p, pools, &s, out)
                  : type == ElementType::UINT8 ? SetResize<uint8_t>(p, pools, &s, out)
                                               : SetResize<int16_t>(p, pools, &s, out);
  if (ok) out->params = s;  // (else the index block stays unused)
#else
  (void)p, (void)type, (void)pools, (void)out;
#endif
}

// CONCAT of 8-bit codes with requantized inputs: each input's 256 output codes tabulated, an
// input whose table is the identity copied.
void PrepareFastConcat(ConcatState* s, ElementType type, PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  if (pools->isa == Isa::kReference || !s->has_rescale || (type != ElementType::INT8 && type != ElementType::UINT8))
    return;
  const auto n = static_cast<size_t>(s->num_inputs);
  s->tables_at = pools->AddPacked(256 * n + n);
  uint8_t* block = pools->packed_bytes(s->tables_at);
  for (size_t i = 0; i < n; ++i) {
    const ref::RescaleParams& r = pools->rescales[s->rescale_at + i];
    const bool identity = type == ElementType::INT8
                              ? portable::BuildRescaleTable<int8_t>(r, reinterpret_cast<int8_t*>(block + 256 * i))
                              : portable::BuildRescaleTable<uint8_t>(r, block + 256 * i);
    block[256 * n + i] = identity ? 1 : 0;
  }
  out->params = *s;
  out->run = type == ElementType::INT8 ? &RunFastConcat<int8_t> : &RunFastConcat<uint8_t>;
#else
  (void)s, (void)type, (void)pools, (void)out;
#endif
}

// TRANSPOSE of 1-, 2- or 4-byte elements: the output's axes folded once here.
void PrepareFastTranspose(const TransposeState& s, int32_t element_size, PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  if (pools->isa == Isa::kReference || (element_size != 1 && element_size != 2 && element_size != 4)) return;
  FastTransposeState f;
  f.plan = portable::PlanTranspose(s.rank, s.in_dims, s.perm, element_size);
  f.plan.transpose_bytes = portable::TransposeBytesFor(pools->isa);
  out->params = f;
  out->run = &RunFastTranspose;
#else
  (void)s, (void)element_size, (void)pools, (void)out;
#endif
}

// GATHER of 1-, 2- or 4-byte elements: rows copied with memcpy; parameters unchanged.
void PrepareFastGather(int32_t element_size, PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  if (pools->isa == Isa::kReference) return;
  if (element_size == 1) out->run = &RunFastGather<1>;
  else if (element_size == 2) out->run = &RunFastGather<2>;
  else if (element_size == 4) out->run = &RunFastGather<4>;
#else
  (void)element_size, (void)pools, (void)out;
#endif
}

// PAD in constant mode (rank >= 1): rows of pad values and input runs; parameters unchanged.
void PrepareFastPad(const PadState& s, ElementType type, PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  if (pools->isa == Isa::kReference || s.mode != 0 || s.rank < 1) return;
  switch (type) {
    case ElementType::INT8: out->run = &RunFastPad<int8_t>; break;
    case ElementType::UINT8: out->run = &RunFastPad<uint8_t>; break;
    case ElementType::INT16: out->run = &RunFastPad<int16_t>; break;
    case ElementType::INT32: out->run = &RunFastPad<int32_t>; break;
    default: break;
  }
#else
  (void)s, (void)type, (void)pools, (void)out;
#endif
}

// SOFTMAX, int8 input (the caller checks it), uniform-grid or log-grid output; parameters
// unchanged. With a run-time int32 mask (input 1), a row's keep bytes are planned in the scratch.
void PrepareFastSoftmax(const ref::SoftmaxParams& p, bool dynamic_mask, PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  if (pools->isa == Isa::kReference || p.exp_table_size != 256) return;
  // The VBMI rows where the CPU has VBMI: 1.7x the per-element float rows' speed on rows of
  // 50–64, 1.2x on 128, 2.2–2.4x on 197–512 (docs/benchmarks.md, "Fast kernels"). A log grid's
  // codes take the plain C++ rows on every set.
  const portable::SoftmaxRows rows = pools->isa != Isa::kAvx512Vnni || p.grid != nullptr
                                         ? portable::SoftmaxRows::kCpp
                                     : Avx512VbmiSupported() ? portable::SoftmaxRows::kAvx512Vbmi
                                                             : portable::SoftmaxRows::kAvx512;
  if (dynamic_mask) {  // `keep` bytes: a 64-byte-aligned slot per thread
    FastSoftmaxMaskedState s;
    s.p = p;
    s.keep_stride = static_cast<int64_t>(ThreadScratchSlots(p.depth, pools));
    out->params = s;
  }
  SetSoftmaxRun(rows, dynamic_mask, out);
  out->items = p.rows;
  out->item_bytes = p.depth;  // one byte per output element
  out->item_ps = int64_t{p.depth} * kSoftmaxPsPerElement;
#else
  (void)p, (void)dynamic_mask, (void)pools, (void)out;
#endif
}

#if defined(SQUINT_FAST_KERNELS)
namespace {
template <typename T>
void SetLayerNormRun(Isa isa, PreparedOp* out) {
  using portable::RowIsa;
  out->run_items = isa == Isa::kAvx512Vnni ? &RunFastLayerNormItems<T, RowIsa::kAvx512>
                   : isa == Isa::kAvx2     ? &RunFastLayerNormItems<T, RowIsa::kAvx2>
                                           : &RunFastLayerNormItems<T, RowIsa::kCpp>;
  out->run = isa == Isa::kAvx512Vnni ? &RunAllItems<&RunFastLayerNormItems<T, RowIsa::kAvx512>>
             : isa == Isa::kAvx2     ? &RunAllItems<&RunFastLayerNormItems<T, RowIsa::kAvx2>>
                                     : &RunAllItems<&RunFastLayerNormItems<T, RowIsa::kCpp>>;
}
}  // namespace
#endif

// LAYER_NORM, int8 (both modes; rows vectorized 16 or 8 (AVX-512) or 4 (AVX2) channels a step,
// plain C++ rows on NEON) or int16 (AVX-512); the AVX-512 rows' per-channel constants computed here.
void PrepareFastLayerNorm(const ref::LayerNormParams& p, bool int16, PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  // int16 rows on AVX-512 only: the plain C++ rows are no faster than the reference kernel there
  // (vit_tiny --a16 LayerNormalization on AVX2: 298 against 271 µs).
  if (pools->isa == Isa::kReference || (int16 && pools->isa != Isa::kAvx512Vnni)) return;
  FastLayerNormState s;
  s.p = p;
  if (pools->isa == Isa::kAvx512Vnni) {  // the AVX-512 rows' constants, once
    const size_t at = pools->AddPacked(portable::LayerNormConstsBytes(p));
    s.consts = portable::LayerNormConstsInit(p, pools->packed_bytes(at));
    s.has_consts = true;
  }
  out->params = s;
  if (int16) SetLayerNormRun<int16_t>(pools->isa, out);
  else SetLayerNormRun<int8_t>(pools->isa, out);
  out->items = p.rows;
  out->item_bytes = p.channels * (int16 ? 2 : 1);
  out->item_ps = int64_t{p.channels} * kLayerNormPsPerElement;
#else
  (void)p, (void)int16, (void)pools, (void)out;
#endif
}

// MAX_POOL_2D / AVERAGE_POOL_2D with dilation 1 (portable::Pool2D, int8 or int16); an int8
// average whose one window is each whole plane (global pooling: 1×1 output, kernel = input size,
// no padding) by a sum per plane. Parameters unchanged.
void PrepareFastPool(const ref::Pool2DParams& p, bool is_max, bool int16, PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_FAST_KERNELS)
  if (pools->isa == Isa::kReference) return;
  if (!is_max && !int16 && portable::IsGlobalPool(p)) {
    out->run = &RunFastGlobalAveragePool;
    return;
  }
  if (p.dilation_h != 1 || p.dilation_w != 1) return;
  if (is_max) out->run = int16 ? &RunFastPool<int16_t, true> : &RunFastPool<int8_t, true>;
  else out->run = int16 ? &RunFastPool<int16_t, false> : &RunFastPool<int8_t, false>;
#else
  (void)p, (void)is_max, (void)int16, (void)pools, (void)out;
#endif
}

#if defined(SQUINT_X86_KERNELS) && !defined(__OPTIMIZE_SIZE__)
namespace {
template <typename TIn>
void RunFastHadamardAvx512(const PreparedOp& op, const void* const* in, void* const* out) {
  x86::HadamardAvx512(Get<HadamardState>(op).p, static_cast<const TIn*>(in[0]), static_cast<int8_t*>(out[0]));
}
}  // namespace
#endif

void PrepareFastHadamard(const ref::HadamardParams& p, bool int16, PreparePools* pools, PreparedOp* out) {
#if defined(SQUINT_X86_KERNELS) && !defined(__OPTIMIZE_SIZE__)  // the -Os library: the reference
  if (pools->isa != Isa::kAvx512Vnni || p.block / p.k < x86::kHadamardAvx512MinSegment) return;
  pools->NeedScratch(static_cast<size_t>(x86::HadamardAvx512ScratchInts(p.block, p.k)));
  out->run = int16 ? &RunFastHadamardAvx512<int16_t> : &RunFastHadamardAvx512<int8_t>;
#else
  (void)p, (void)int16, (void)pools, (void)out;
#endif
}

}  // namespace squint::rt::prep

// Internal to the runtime: an operator after prepare. Its FlatBuffers options have been
// checked and converted into the reference kernels' plain parameter structs, and the kernel
// (a function for the op's element types) has been chosen once. Invoke only calls `run`.
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "runtime/dispatch.h"
#include "runtime/kernels/reference/kernels.h"
#include "runtime/memory.h"
#if defined(SQUINT_FAST_KERNELS)
#include "runtime/kernels/portable/misc.h"
#include "runtime/kernels/portable/qs8_gemm.h"
#endif
#if defined(SQUINT_X86_KERNELS)
#include "runtime/kernels/x86/group_scaled.h"
#endif
#include "runtime/model.h"
#include "runtime/status.h"

namespace squint::rt {

struct PreparedOp;
// in[k] / out[k]: data of the op's k-th input (null if absent) / output.
using RunFn = void (*)(const PreparedOp& op, const void* const* in, void* const* out);
// The same for items [first, last) of the op's output alone (PreparedOp::items), as part `part`
// of at most PreparePools::threads running at once (its slot of per-thread scratch).
using RunItemsFn = void (*)(const PreparedOp& op, const void* const* in, void* const* out, int64_t first,
                            int64_t last, int32_t part);

struct ElementwiseState {
  ref::ElementwiseParams p;
  ref::BroadcastShape shape;
};
struct LutState {
  int32_t count = 0;
  const int16_t* table = nullptr;
  int32_t table_size = 0;
  int32_t min_code = 0;
};
struct CopyState {
  int64_t bytes = 0;
};
struct TransposeState {
  int32_t rank = 0;
  int32_t in_dims[kMaxRank] = {};
  int32_t perm[kMaxRank] = {};
};
struct ConcatState {
  int32_t num_inputs = 0, outer = 0, inner = 0;
  size_t sizes_at = 0, rescale_at = 0;  // into the interpreter's pools; pointers fixed after prepare
  bool has_rescale = false;
  const int32_t* axis_sizes = nullptr;
  const ref::RescaleParams* rescale = nullptr;
  // The optimized sets with 8-bit codes and requantized inputs (portable::ConcatTables): per
  // input a 256-entry code table, then one identity byte per input, at PreparePools::packed[tables_at].
  size_t tables_at = SIZE_MAX;
  const void* tables = nullptr;
  const bool* identity = nullptr;
};
struct SliceState {
  int32_t rank = 0;
  int32_t in_dims[kMaxRank] = {}, starts[kMaxRank] = {}, steps[kMaxRank] = {}, out_dims[kMaxRank] = {};
};
struct GatherState {
  int32_t outer = 0, axis_dim = 0, inner = 0, num_indices = 0;
};
struct SplitState {
  int32_t outer = 0, inner = 0, num_outputs = 0;
  size_t sizes_at = 0;
  const int32_t* sizes = nullptr;
};
struct PadState {
  int32_t rank = 0;
  int32_t in_dims[kMaxRank] = {};
  int32_t pads[2 * kMaxRank] = {};
  int32_t mode = 0, value = 0;
};
struct RequantizeState {
  ref::RescaleParams p;
  int32_t count = 0;
};

struct HadamardState {
  ref::HadamardParams p;  // p.scratch points at PreparePools::scratch once the pools are final
};

#if defined(SQUINT_FAST_KERNELS)
// FULLY_CONNECTED on an optimized GEMM microkernel: the weights, folded bias and per-unit
// requantization packed at prepare into PreparePools::packed (block packed_at), the
// activations packed per call into PreparePools::scratch.
struct FastFcState {
  const portable::Qs8GemmKernel* kernel = nullptr;
  portable::Qs8GemmParams gemm;  // pointers set once the pools are final
  portable::Qs8GemmProblem problem;
  size_t packed_at = 0;
};
// BATCH_MATMUL (int8, affine operands) on the same microkernels: per batch matrix, b packed into
// panels in scratch (portable::Qs8MatMul); packed block `packed_at` holds only the per-unit requant arrays.
struct FastBatchMatMulState {
  const portable::Qs8GemmKernel* kernel = nullptr;
  ref::BatchMatMulParams p;
  portable::Qs8GemmParams gemm;
  portable::Qs8GemmProblem problem;  // depth 0: no weights
  size_t packed_at = 0;
  size_t scratch_stride = 0;  // bytes of scratch per thread (the parts of run_items)
};
// CONV_2D (int8, groups = 1) by im2col on the FULLY_CONNECTED GEMM (portable::Qs8Conv2D): `fc` holds
// the packed weight, the patch matrix and the GEMM's buffers live in scratch.
struct FastConvState {
  FastFcState fc;
  ref::Conv2DParams p;
  portable::TransposeBytesFn transpose = &portable::TransposeBytes;  // portable::TransposeBytesFor(isa)
};
// CONV_2D with groups > 1 that is not depthwise: one groups = 1 convolution per group
// (portable::Qs8Conv2D) on the group's input and output channels, each with its own packed weight
// in PreparePools::fc_states[first_state + g] (bound to `states` once the pools are final).
// A grouped FULLY_CONNECTED (groups > 1, int8): one packed GEMM per group in PreparePools::fc_states
// from first_state; each group's input columns gathered into scratch (tmp_offset bytes past the
// GEMMs' own scratch, then its outputs), its output columns scattered back.
struct FastGroupedFcState {
  ref::FullyConnectedParams p;
  size_t first_state = 0;
  FastFcState* states = nullptr;
  size_t tmp_offset = 0;
  int8_t* scratch = nullptr;  // PreparePools::scratch once the pools are final
};
struct FastGroupedConvState {
  ref::Conv2DParams p;      // the whole convolution
  ref::Conv2DParams group;  // one group's: batch 1, its input and output channels, groups 1
  size_t first_state = 0;
  FastFcState* states = nullptr;
  portable::TransposeBytesFn transpose = &portable::TransposeBytes;  // portable::TransposeBytesFor(isa)
};
// int8 ADD / SUB / MUL by a table of the reference's 65536 results (portable/misc.h), in
// PreparePools::packed block table_at.
struct FastBinaryState {
  ref::BroadcastShape shape;
  size_t table_at = 0;
  const int8_t* table = nullptr;  // set once the pools are final
  portable::BinaryFloat float_path;  // used when use_float (avx512vnni, BuildQs8BinaryFloat held)
  bool use_float = false;
  bool b_major = false;  // the table's layout (portable::BinaryRunsHoldB)
  bool vbmi = false;     // Qs8Lut's VBMI path for the runs that read one table row
};
// int8 → int8 LUT by the reference's 256 results, in PreparePools::packed block table_at.
struct FastLutState {
  size_t table_at = 0;
  const int8_t* table = nullptr;  // set once the pools are final
};
struct FastTransposeState {
  portable::TransposePlan plan;
};
// CONV_TRANSPOSE_2D with stride = kernel (every output reached by one input position and tap),
// groups = 1, int8: one GEMM of the input's positions (channels-last) by units (kh, kw, oc) in
// `fc` (the weight, bias and requantization expanded per tap), its result scattered into NCHW.
// The scratch: the GEMM's, then the channels-last input at xt_offset, the GEMM's [position][unit]
// result at y_offset and its transpose [unit][position] at yt_offset (bytes).
struct FastConvTransposeState {
  FastFcState fc;
  ref::Conv2DParams p;
  size_t xt_offset = 0, y_offset = 0, yt_offset = 0;
  portable::TransposeBytesFn transpose = &portable::TransposeBytes;
};
// RESIZE in nearest mode (portable::ResizeNearest): the source row and column indices at
// PreparePools::packed[indices_at] (out_h, then out_w int32), and for 8-bit codes the 256-entry
// table of the requantization at table_at (SIZE_MAX: the identity, rows copied as they are).
struct FastResizeState {
  ref::ResizeParams p;
  size_t indices_at = 0, table_at = SIZE_MAX;
  const int32_t* rows = nullptr;  // set once the pools are final, with cols and table
  const int32_t* cols = nullptr;
  const void* table = nullptr;
};
// REQUANTIZE (any pair of int8, uint8, int16): the reference's output for every input code
// tabulated in PreparePools::packed[table_at] (256 entries for an 8-bit input, 65536 for int16;
// the output's element type), indexed by the code + `offset` (128, 0 or 32768); or, for an int16
// input on avx512vnni, x86::Qs16RequantizeAvx512 with p (no table). An int8 → int16 LUT uses
// the same state for the reference's 256 results (p unused).
struct FastRequantizeState {
  ref::RescaleParams p;
  int32_t offset = 0;
  size_t table_at = SIZE_MAX;   // SIZE_MAX: no table
  const void* table = nullptr;  // set once the pools are final
};

// Depthwise CONV_2D, and on AVX-512 a groups = 1 CONV_2D with one input channel
// (portable::Qs8DepthwiseConv2D): its working memory lives in PreparePools::scratch.
struct FastDepthwiseState {
  ref::Conv2DParams p;
  int16_t* scratch = nullptr;  // set once the pools are final
  size_t scratch_stride = 0;   // bytes between threads' scratch slots (the pairs path's items)
  // A packed int4 weight's codes unpacked at prepare (PreparePools::packed[weights_at], bound to
  // `weights` once the pools are final); an int8 weight is read in place (weights_at = SIZE_MAX).
  size_t weights_at = SIZE_MAX;
  const int8_t* weights = nullptr;
  portable::TransposeBytesFn transpose = &portable::TransposeBytes;  // portable::TransposeBytesFor(isa)
};
// FULLY_CONNECTED or CONV_2D (groups = 1) with group-scaled weights on int8 activations:
// PreparePools::packed[weights_at] (bound to `weights` once the pools are final) holds the weight's
// codes as int8 (an int4 weight unpacked) for portable::Qs8GroupScaledFc / Qs8GroupScaledConv2D,
// or on avx512vnni the weight packed for x86::Qs8GroupScaledFcAvx512 / Qs8GroupScaledConv2DAvx512
// (`layout`); their rows of activations live in the shared scratch (FULLY_CONNECTED: a slot of
// scratch_stride bytes per thread, its rows split over threads by run_items).
struct FastGroupScaledState {
  bool conv = false;
  ref::FullyConnectedLowBitParams fc;
  ref::Conv2DGroupScaledParams conv_p;
  size_t weights_at = 0;
  const int8_t* weights = nullptr;
  void* scratch = nullptr;
  size_t scratch_stride = 0;  // FULLY_CONNECTED: bytes of scratch per thread (the parts of run_items)
#if defined(SQUINT_X86_KERNELS)
  x86::GroupScaledLayout layout;
#endif
};
// BATCH_MATMUL with a log-grid left operand (portable::Qs8LogGridMatMul): its 256 coefficients in
// PreparePools::packed[coefficients_at] (bound to `coefficients` once the pools are final), a
// scratch slot of scratch_stride doubles per thread.
struct FastLogGridMatMulState {
  ref::BatchMatMulParams p;
  size_t coefficients_at = 0;
  const double* coefficients = nullptr;
  double* scratch = nullptr;
  size_t scratch_stride = 0;
  void (*product)(const ref::BatchMatMulParams&, const double*, const int8_t*, const int8_t*, int8_t*,
                  double*) = &portable::Qs8LogGridMatMul;
};
// FULLY_CONNECTED with int16 activations (groups = 1; portable::Qs16FullyConnected or its
// x86 builds, `kernel`): the folded bias in PreparePools::packed[folded_bias_at]; the weight there
// too (weights_at) as AVX-512's panels, or a packed int4 weight's codes unpacked (an int8 weight
// on the other sets is read in place, SIZE_MAX); a
// scratch slot of scratch_stride bytes per thread (the parts of run_items). Bound once the pools are final.
struct FastInt16FcState {
  ref::FullyConnectedParams p;
  int32_t block = 0;  // portable::Int16FcBlock
  size_t folded_bias_at = 0, weights_at = SIZE_MAX;
  const int64_t* folded_bias = nullptr;
  const int8_t* weights = nullptr;
  void* scratch = nullptr;
  size_t scratch_stride = 0;
  void (*kernel)(const ref::FullyConnectedParams&, const int16_t*, const int8_t*, const int64_t*, int32_t, void*,
                 int16_t*) = &portable::Qs16FullyConnected;
};
// LAYER_NORM on the optimized rows: the AVX-512 rows' per-channel constants computed at prepare
// (portable::LayerNormConstsInit, in the pools' packed memory; unset for other rows).
struct FastLayerNormState {
  ref::LayerNormParams p;
  portable::LayerNormConsts consts;
  bool has_consts = false;
};
// SOFTMAX with a run-time int32 keep mask (input 1, portable::Qs8Softmax): a row's combined keep
// bytes live in PreparePools::scratch.
struct FastSoftmaxMaskedState {
  ref::SoftmaxParams p;
  uint8_t* keep = nullptr;  // set once the pools are final: one slot of keep_stride bytes per thread
  int64_t keep_stride = 0;
};
#else
struct FastFcState {};
struct FastBatchMatMulState {};
struct FastConvState {};
struct FastGroupedConvState {};
struct FastGroupedFcState {};
struct FastBinaryState {};
struct FastLutState {};
struct FastTransposeState {};
struct FastDepthwiseState {};
struct FastGroupScaledState {};
struct FastSoftmaxMaskedState {};
struct FastLayerNormState {};
struct FastLogGridMatMulState {};
struct FastInt16FcState {};
struct FastRequantizeState {};
struct FastResizeState {};
struct FastConvTransposeState {};
#endif

using OpParams =
    std::variant<std::monostate, ref::Conv2DParams, ref::FullyConnectedParams, ref::BatchMatMulParams,
                 ElementwiseState, ref::SoftmaxParams, ref::LayerNormParams, LutState, ref::Pool2DParams,
                 CopyState, TransposeState, ConcatState, SliceState, GatherState, SplitState, PadState,
                 ref::ResizeParams, RequantizeState, ref::FullyConnectedLowBitParams, HadamardState,
                 ref::Conv2DGroupScaledParams, ref::MeanParams, FastFcState, FastBatchMatMulState, FastConvState,
                 FastBinaryState, FastLutState, FastTransposeState, FastDepthwiseState, FastSoftmaxMaskedState,
                 FastGroupScaledState, FastLogGridMatMulState, FastGroupedConvState, FastGroupedFcState,
                 FastInt16FcState, FastRequantizeState, FastResizeState, FastConvTransposeState,
                 FastLayerNormState>;

struct PreparedOp {
  RunFn run = nullptr;
  OpParams params;
  // Ops whose output is `items` independent items of item_bytes bytes each (the rows of a
  // LAYER_NORM or SOFTMAX, the products of a BATCH_MATMUL, the elements of a LUT or of an ADD
  // without broadcast), each computed from its own inputs alone: run_items computes a range of
  // them with the instructions `run` uses, so the interpreter may share the items out over its
  // threads when the op is long enough (Interpreter::kMinPartPicoseconds): item_ps estimates an
  // item's time on one thread. Null: `run`.
  RunItemsFn run_items = nullptr;
  int64_t items = 0;
  int32_t item_bytes = 0;
  int64_t item_ps = 0;
};

// Side storage for per-op arrays whose length is an op's arity (concat sizes, rescales, split
// sizes) and for kernel scratch; filled during prepare, never resized afterwards (invoke never
// allocates). Containers from the current memory source (memory.h): every block is allocated at
// its final size where the size is known (packed blocks, scratch), so a heapless arena wastes
// nothing on growth.
struct PreparePools {
  Vec<int32_t> ints;
  Vec<ref::RescaleParams> rescales;
  // Kernels' working memory, shared: ops run one at a time, so it holds the largest need
  // (HADAMARD: 2·block; GEMM: packed activations), written by invoke. Ops state their need with
  // NeedScratch; the interpreter allocates scratch_words once every op is prepared.
  size_t scratch_words = 0;
  int32_t threads = 1;  // the interpreter's: ops with run_items size per-thread scratch by it
  Vec<int32_t> scratch;
  void NeedScratch(size_t words) { scratch_words = words > scratch_words ? words : scratch_words; }
  struct alignas(64) Line {
    uint8_t bytes[64];
  };
  // Constants repacked at prepare for optimized kernels (weight panels, tables), read-only in
  // invoke: one block per use, whose data never moves; AddPacked returns its index.
  Vec<Vec<Line>> packed;
  size_t AddPacked(size_t bytes) {
    packed.emplace_back((bytes + sizeof(Line) - 1) / sizeof(Line));
    return packed.size() - 1;
  }
  uint8_t* packed_bytes(size_t at) { return reinterpret_cast<uint8_t*>(packed[at].data()); }
  // Parameters a compact file leaves out, computed at prepare (requantization pairs derived from
  // the scales, 8-bit shifts, tables and 1-bit masks widened): one array per use, whose data never moves.
  Vec<Vec<int32_t>> owned;
  Vec<FastFcState> fc_states;  // the per-group GEMMs of grouped convolutions and FULLY_CONNECTED layers
  Vec<Vec<int16_t>> owned16;
  Vec<Vec<uint8_t>> owned8;
  Isa isa = Isa::kReference;  // the resolved instruction set the ops are prepared for
};

// Checks op `index` of `model` against every precondition of its reference kernel and fills
// `out`, choosing an optimized kernel of pools->isa where one exists for the op. Errors name the op: "op 3 'conv_1' (CONV_2D): ...".
Status PrepareOp(const Model& model, int32_t index, PreparePools* pools, PreparedOp* out);

}  // namespace squint::rt

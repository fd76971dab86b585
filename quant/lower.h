// Lowering: the canonical float graph plus calibrated ranges become the integer model the
// runtime executes (the FlatBuffers object model of runtime/schema/squint.fbs), with every
// tensor typed and quantized and every kernel parameter precomputed by runtime/quant_math.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/calibrate.h"
#include "quant/softmax_grid.h"
#include "runtime/schema/squint_generated.h"

namespace squint::quant {

struct InputHessian;  // quant/gptq.h

// The activation types the lowering chooses for every value of a graph (SelectActivationTypes):
// which values are int16 (--a16), which take act_bits codes (act_bits_scope), and the element type
// the tensor of each value is written in. Block reconstruction (quant/block_recon.h) lowers one
// block of a graph at a time as a graph of its own, with its whole graph's types, so that every
// tensor of the block has the grid and type it has in the whole model.
struct ActivationTypes {
  std::vector<bool> wide;                // per ir::ValueId: int16 activations
  std::vector<bool> narrow;              // per ir::ValueId: act_bits codes
  std::vector<fb::ElementType> written;  // per ir::ValueId: INT8 or INT16 (float activations)
};

// The weight codes GPTQ or AdaRound chose, by weight tensor name, with the scales and bits they
// were chosen on: a lowering with the same scales takes them instead of running the rounding
// again (block reconstruction lowers each block many times with the same weights).
struct WeightCodeCache {
  struct Entry {
    std::vector<float> scales;
    int bits = 0;
    std::vector<int8_t> codes;
  };
  std::map<std::string, Entry> entries;
};

struct LowerOptions {
  bool per_channel = true;  // weights: one scale per output channel (else per tensor)
  // Node names or op types (as ir::OpName, e.g. "Softmax", "LayerNormalization", "Gelu")
  // whose activation inputs and outputs are int16 (symmetric, zero point 0); REQUANTIZE ops
  // convert between int8 and int16 where a node reads a value of the other type.
  std::vector<std::string> a16;
  // Code widths, 8, 6, 4 or 3 (else Lower fails with InvalidInput). Narrower grids are stored
  // one code per int8, so the int8 kernels compute them exactly: weights use the symmetric
  // [−2^(b−1)+1, 2^(b−1)−1], calibrated activations [−2^(b−1), 2^(b−1)−1] — except 4-bit
  // weights of FULLY_CONNECTED and CONV_2D layers with int8 activations, packed two per byte
  // (INT4); int16-activation layers keep one code per byte (with a warning).
  int weight_bits = 8;
  // Node names or op types whose weights keep 8-bit codes when weight_bits is 6, 4 or 3 (a layer
  // that loses too much at the narrow width); empty with weight_bits 8 (else InvalidInput).
  std::vector<std::string> w8;
  int act_bits = 8;
  // Which calibrated int8 activations take act_bits: kMatMulInputs, the values a matrix product
  // reads (the activation inputs of FULLY_CONNECTED, CONV_2D and BATCH_MATMUL: the papers' WxAy),
  // the others (residual stream, normalization inputs, model outputs) keeping 8 bits; or kAll.
  enum class ActBitsScope { kMatMulInputs, kAll };
  ActBitsScope act_bits_scope = ActBitsScope::kMatMulInputs;
  // Group scales for FULLY_CONNECTED weights [units, depth] and CONV_2D weights [C_out, C_in/groups,
  // kH, kW] (depth (C_in/groups)·kH·kW): one scale per unit and group of group_size consecutive
  // depth elements (0: per channel). 32, 64 or 128 (else InvalidInput); not with per_channel =
  // false. Legal with every weight_bits (8-bit groups use the grouped kernels on int8 codes).
  // Layers whose depth group_size does not divide and layers with int16 activations keep
  // per-channel scales; each case adds a warning.
  int group_size = 0;
  int softmax_bits = 8;      // softmax output: uniform grid of step 1/2^bits, bits in [2, 8]
  // Softmax output grids other than the uniform one, by Softmax node name (log2, log√2, SULQ:
  // quant/softmax_grid.h builds and calibrates them). Such a softmax must have every reader a
  // MatMul of two activations taking the probabilities as its left operand (P·V, computed by
  // shifts); clipped softmax with zeta − gamma <= 2.
  std::map<std::string, LogGridTables> softmax_grids;
  // By Linear node name: a constant δ added to its input, folded into its bias as b + W·δ
  // (softmax bias correction, quant/softmax_bias.h).
  std::map<std::string, std::vector<float>> linear_input_offset;
  // By Linear or Conv node name: its input's Hessians, one per weight group (quant/gptq.h
  // ComputeGptqHessians); the codes of those layers' weights are chosen on round-to-nearest's
  // scales by `rounding`: GPTQ or AdaRound (quant/adaround.h). Grouped Linears (groups > 1) and
  // ConvTranspose always round to nearest.
  std::map<std::string, std::vector<std::shared_ptr<const InputHessian>>> input_hessians;
  enum class Rounding { kGptq, kAdaRound };
  Rounding rounding = Rounding::kGptq;
  double gptq_damp = 0.01;
  bool gptq_act_order = true;
  // false: 4-bit weights stored one code per int8 instead of packed (INT4). The int8 kernels
  // compute the same codes; block reconstruction's trial blocks use them (the x86 fast kernels
  // have no packed-INT4 path).
  bool pack_int4 = true;
  // Chains of ops that each map codes of one int8 tensor element by element (LUT, REQUANTIZE,
  // ADD / SUB / MUL of two such values) become one LUT each (quant/fuse_code_maps.h: the same
  // output codes). false: every node keeps its own op (the fusion's tests compare the two).
  bool fuse_code_maps = true;
  // Optional: the codes GPTQ/AdaRound chose in earlier lowerings, reused for equal scales, and
  // filled with the new ones.
  std::shared_ptr<WeightCodeCache> weight_cache;
  // Set when g is one block of a larger graph (same value ids, SelectActivationTypes of the
  // larger graph): its types replace the selection made on g, a float graph input takes the type
  // its producer writes in the larger graph, and --a16/--w8 names need not be nodes of g.
  std::shared_ptr<const ActivationTypes> activation_types;
};

// What lowering did to a float node, for reports: which runtime op computes it, or which
// op it was folded into (a ReLU into its producer's clamp).
struct LoweredNode {
  std::string node;     // float node name
  std::string op;       // float op name
  std::string lowered;  // runtime op code name, or "folded into <node>"
};

struct LoweredModel {
  std::unique_ptr<fb::ModelT> model;
  std::vector<LoweredNode> nodes;
  std::vector<std::string> warnings;  // options that did not apply to some layers, for the user
};

// The graph must be canonical (passes::Canonicalize) with concrete shapes; every op must
// have an integer lowering (error lists the nodes that have none).
// InvalidInput unless the options are valid for g: bit widths supported, every a16 entry a
// node name or an op type of the (canonical) graph. Lower checks it too; callers check it
// before calibrating so that a bad option fails fast.
Status CheckLowerOptions(const ir::Graph& g, const LowerOptions& options);

Result<LoweredModel> Lower(const ir::Graph& g, const Calibration& calibration, const LowerOptions& options);

// The memory plan of a lowered model (every tensor's arena offset, the arena size): what Lower
// ends with, and what a model derived from a lowered one (quant/fuse_code_maps.cc) needs before
// the runtime loads it.
Status PlanModelArena(fb::ModelT* model);

// The activation types Lower(g, ..., options) uses (ActivationTypes); they do not depend on the
// calibrated ranges.
Result<ActivationTypes> SelectActivationTypes(const ir::Graph& g, const LowerOptions& options);

}  // namespace squint::quant

// Internal to quant/: the lowering's state and shared helpers (quant/lower.h is the interface).
// One class, its member functions split by op family:
//   lower.cc             the driver: the op table (op -> lowering), ReLU folding, softmax masks,
//                        --a16 selection, graph inputs, the memory plan
//   lower_linear.cc      Conv, ConvTranspose, MatMul/Gemm/Linear and their weights and biases
//   lower_elementwise.cc lookup tables (unary elementwise ops) and Add/Sub/Mul/Div
//   lower_attention.cc   Softmax (uniform and log grids), LayerNorm, RMSNorm, Hadamard
//   lower_data.cc        data movement, pooling, Mean, Concat, Gather, Resize
// A new op is one entry in the table of lower.cc plus its member function.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "ir/eval/op_def.h"
#include "passes/graph_edit.h"
#include "quant/affine.h"
#include "quant/lower.h"
#include "quant/lower_conv_transpose.h"
#include "quant/weights.h"
#include "runtime/kernels/reference/kernels.h"
#include "runtime/planner.h"
#include "runtime/quant_math/quant_math.h"

namespace squint::quant::lowering {

using ir::DType;
using ir::Node;
using ir::OpType;
using ir::ValueId;
using ir::kNoValue;

inline constexpr IntType kInt8{8, true};
inline constexpr IntType kInt16{16, true};
inline constexpr int kSoftmaxExpBits = 20;

// Ops whose output codes are their input codes rearranged: the output keeps the input grid.
inline bool IsScalePreserving(OpType op) {
  switch (op) {
    case OpType::kReshape:
    case OpType::kFlatten:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
    case OpType::kIdentity:
    case OpType::kDropout:
    case OpType::kTranspose:
    case OpType::kSlice:
    case OpType::kSplit:
    case OpType::kMaxPool:
    case OpType::kPad:
    case OpType::kExpand:
    case OpType::kTile:
      return true;
    default:
      return false;
  }
}

// Elementwise ops a lookup table can compute when they have one activation input and every
// other input is a single-element constant.
inline bool IsElementwise(OpType op) {
  switch (op) {
    case OpType::kAbs: case OpType::kAdd: case OpType::kClip: case OpType::kDiv: case OpType::kErf:
    case OpType::kExp: case OpType::kGelu: case OpType::kHardSigmoid: case OpType::kHardSwish:
    case OpType::kLeakyRelu: case OpType::kLog: case OpType::kMul: case OpType::kNeg: case OpType::kPow:
    case OpType::kPRelu: case OpType::kReciprocal: case OpType::kRelu: case OpType::kSigmoid:
    case OpType::kSqrt: case OpType::kSub: case OpType::kTanh:
      return true;
    default:
      return false;
  }
}

inline fb::RequantizationT MakeRequant(const std::vector<rt::QuantizedMultiplier>& ms, quant_math::CodeRange act) {
  fb::RequantizationT r;
  for (const auto& m : ms) {
    r.multiplier.push_back(m.multiplier);
    r.shift.push_back(m.shift);
  }
  r.activation_min = act.min;
  r.activation_max = act.max;
  return r;
}

inline std::unique_ptr<fb::RequantizationT> MakeRequantPtr(const std::vector<rt::QuantizedMultiplier>& ms,
                                                    quant_math::CodeRange act) {
  return std::make_unique<fb::RequantizationT>(MakeRequant(ms, act));
}

// The element type of an activation grid: int16 grids use codes beyond int8's.
inline fb::ElementType GridType(const AffineParams& p) {
  return p.qmax > 127 || p.qmin < -128 ? fb::ElementType::INT16 : fb::ElementType::INT8;
}
inline quant_math::CodeRange TypeRange(fb::ElementType t) {
  return t == fb::ElementType::INT16 ? quant_math::CodeRange{-32768, 32767} : quant_math::CodeRange{-128, 127};
}
inline int TypeBits(fb::ElementType t) { return t == fb::ElementType::INT16 ? 16 : 8; }

class Lowerer {
 public:
  Lowerer(const ir::Graph& g, const Calibration& cal, const LowerOptions& opts)
      : g_(g), cal_(cal), opts_(opts), tensor_of_(g.values.size(), -1), grid_(g.values.size()),
        narrow_(g.values.size(), false), wide_(g.values.size(), false),
        redirect_(g.values.size(), kNoValue), index_(g) {
    model_ = std::make_unique<fb::ModelT>();
    model_->buffers.push_back(std::make_unique<fb::BufferT>());  // buffer 0: empty
  }

  Result<LoweredModel> Run();

  // The activation types Run would use (quant/lower.h SelectActivationTypes).
  Result<ActivationTypes> Types();

 private:
  // ---- Structure -------------------------------------------------------------------------

  Status CheckSupported();

  // ReLU and softmax-mask folding, then wide_ and narrow_: selected on g_, or taken from
  // LowerOptions::activation_types when g_ is a block of a larger graph.
  Status SelectTypes();

  bool IsActivation(ValueId id) const { return id != kNoValue && !g_.value(id).constant; }
  const ir::Tensor* Const(ValueId id) const { return g_.constant(id); }
  int CountActivationInputs(const Node& n) const {
    int c = 0;
    for (ValueId id : n.inputs) c += IsActivation(id);
    return c;
  }
  bool IsLutCandidate(const Node& n) const {
    if (!IsElementwise(n.op) || CountActivationInputs(n) != 1) return false;
    for (ValueId id : n.inputs)
      if (id != kNoValue && !IsActivation(id) && Const(id)->size() != 1) return false;
    return g_.value(n.outputs[0]).dtype == DType::kFloat32;
  }

  // The op table (lower.cc) and the conditions its entries use.
  struct OpLowering;
  static const OpLowering* FindLowering(OpType op);
  bool Always(const Node&) const { return true; }
  bool HasActivationInput(const Node& n) const { return CountActivationInputs(n) >= 1; }
  // Div by a constant: a multiplication by its reciprocal.
  bool DividesByConstant(const Node& n) const { return IsActivation(n.input(0)) && !IsActivation(n.input(1)); }
  // ReduceMean over consecutive constant axes.
  bool HasConstantAxes(const Node& n) const {
    return IsActivation(n.input(0)) && n.inputs.size() > 1 && Const(n.input(1)) != nullptr;
  }
  bool Lowerable(const Node& n) const;

  // ReLU / Clip(min, max constants) whose only input is the sole use of a Conv, linear or
  // Add/Sub output: the producer clamps directly to the activation's range, and writes the
  // activation's output value.
  void FindFoldedActivations();

  // Add(scores, M) → Softmax with a constant M of zeros and large negatives (causal attention):
  // the Softmax reads the scores and M as a mask, so masked positions get probability exactly
  // 0 and never enter the max or the sum. The Add is folded into the Softmax.
  static constexpr float kMaskedBelow = -1e4f;
  void FindSoftmaxMasks();

  // --a16: every node named by node name or op type reads and writes int16 activations
  // (symmetric, zero point 0): its activation inputs and its outputs are marked wide, and the
  // producers of wide values compute in int16.
  Status SelectInt16();

  // The values whose int8 grid takes act_bits codes (LowerOptions::act_bits_scope): every value,
  // or those a matrix product (Linear, Gemm, MatMul, Conv, ConvTranspose) reads as an activation.
  void SelectNarrow();

  // Whether a --a16 / --w8 list names node n, by its name or its op type.
  static bool Lists(const std::vector<std::string>& list, const Node& n) {
    return std::count(list.begin(), list.end(), n.name) > 0 ||
           std::count(list.begin(), list.end(), std::string(ir::OpName(n.op))) > 0;
  }

  // The code width of node n's weights: 8 for a node --w8 names, else --weight-bits.
  int WeightBits(const Node& n) const { return Lists(opts_.w8, n) ? 8 : opts_.weight_bits; }

  // The type node i computes in: int16 when it writes a wide value, and its runtime kernel has
  // an int16 output (SOFTMAX writes 8-bit probabilities only, and reads int16 scores as they are;
  // HADAMARD writes int8 for the linear layers it feeds, and reads either type as it is; an
  // embedding GATHER, below).
  fb::ElementType NodeType(size_t i) const {
    const Node& n = g_.nodes[i];
    if (n.op == OpType::kSoftmax || n.op == OpType::kHadamard) return fb::ElementType::INT8;
    // An embedding table (Gather from a constant) stays int8 and a REQUANTIZE widens the rows it
    // reads: int16 codes would double the largest constant of a language model.
    if (n.op == OpType::kGather && !IsActivation(n.input(0))) return fb::ElementType::INT8;
    for (ValueId o : n.outputs)
      if (o != kNoValue && wide_[static_cast<size_t>(Resolve(o))]) return fb::ElementType::INT16;
    return fb::ElementType::INT8;
  }

  // The value whose tensor holds `id`'s codes (a folded ReLU's output for its producer's).
  ValueId Resolve(ValueId id) const {
    const ValueId r = redirect_[static_cast<size_t>(id)];
    return r == kNoValue ? id : r;
  }

  // ---- Tensors ---------------------------------------------------------------------------

  static std::vector<int32_t> Shape32(const ir::Dims& d) { return std::vector<int32_t>(d.begin(), d.end()); }
  ir::Dims DimsOf(ValueId id) const { return *ir::DimsFromShape(*g_.value(id).shape); }

  int32_t AddTensor(std::unique_ptr<fb::TensorT> t) {
    model_->tensors.push_back(std::move(t));
    return static_cast<int32_t>(model_->tensors.size() - 1);
  }

  static fb::QuantizationUnion AffineUnion(const std::vector<float>& scale, const std::vector<int32_t>& zp,
                                           int32_t axis) {
    fb::AffineQuantizationT q;
    q.scale = scale;
    if (std::any_of(zp.begin(), zp.end(), [](int32_t z) { return z != 0; })) q.zero_point = zp;  // absent: all 0
    q.axis = axis;
    fb::QuantizationUnion u;
    u.Set(std::move(q));
    return u;
  }

  // Creates the int32 tensor (no quantization) of an integer value computed at run time: token
  // ids, attention masks and their reshapes.
  int32_t NewIndexTensor(ValueId id) {
    auto t = std::make_unique<fb::TensorT>();
    t->name = g_.value(id).name;
    t->type = fb::ElementType::INT32;
    t->shape = Shape32(DimsOf(id));
    return tensor_of_[static_cast<size_t>(id)] = AddTensor(std::move(t));
  }

  // Creates the activation tensor of value `id` with grid `p` (int8 or int16).
  int32_t NewActivation(ValueId id, const AffineParams& p) {
    auto t = std::make_unique<fb::TensorT>();
    t->name = g_.value(id).name;
    t->type = GridType(p);
    t->shape = Shape32(DimsOf(id));
    t->quantization = AffineUnion({p.scale}, {p.zero_point}, -1);
    grid_[static_cast<size_t>(id)] = p;
    return tensor_of_[static_cast<size_t>(id)] = AddTensor(std::move(t));
  }

  // The tensor and grid through which the node being lowered reads value `id`: when the node
  // computes in another type than the producer wrote (int8 vs int16), a REQUANTIZE op converts
  // the codes to the calibrated grid of that type, once per value and type. LUT and SOFTMAX
  // read either type as it is; index tensors are never converted.
  Result<std::pair<int32_t, AffineParams>> Read(ValueId id) {
    const ValueId r = Resolve(id);
    const int32_t t = tensor_of_[static_cast<size_t>(r)];
    if (t < 0) return Internal("value '{}' has no tensor yet", g_.value(id).name);
    const auto& p = grid_[static_cast<size_t>(r)];
    if (!p) return std::make_pair(t, AffineParams{});  // indices
    if (!type_ || GridType(*p) == *type_) return std::make_pair(t, *p);
    const auto key = std::make_pair(r, static_cast<int>(*type_));
    if (auto it = converted_.find(key); it != converted_.end()) return it->second;
    SQ_ASSIGN_OR_RETURN(AffineParams q, CalibratedGrid(r, *type_));
    const rt::ref::RescaleParams rs =
        quant_math::BuildRescale(p->scale, p->zero_point, q.scale, q.zero_point, TypeRange(*type_));
    fb::RequantizeOptionsT o;
    o.requant = MakeRequantPtr({{rs.multiplier, rs.shift}}, {rs.act_min, rs.act_max});
    auto y = std::make_unique<fb::TensorT>(*model_->tensors[static_cast<size_t>(t)]);
    y->name = fmt::format("{}.{}", y->name, fb::EnumNameElementType(*type_));
    y->type = *type_;
    y->quantization = AffineUnion({q.scale}, {q.zero_point}, -1);
    const int32_t yt = AddTensor(std::move(y));
    auto op = std::make_unique<fb::OperatorT>();
    op->opcode = fb::OpCode::REQUANTIZE;
    op->name = model_->tensors[static_cast<size_t>(yt)]->name;
    op->inputs = {t};
    op->outputs = {yt};
    op->options = Options(std::move(o));
    model_->operators.push_back(std::move(op));
    return converted_[key] = std::make_pair(yt, q);
  }
  Result<int32_t> Activation(ValueId id) {
    SQ_ASSIGN_OR_RETURN(auto r, Read(id));
    return r.first;
  }
  Result<AffineParams> Grid(ValueId id) {
    SQ_ASSIGN_OR_RETURN(auto r, Read(id));
    return r.second;
  }

  // The grid calibration chose for value `id`: asymmetric in int8, act_bits wide where
  // LowerOptions::act_bits_scope puts it (SelectNarrow) and 8 bits elsewhere, or symmetric int16.
  Result<AffineParams> CalibratedGrid(ValueId id, fb::ElementType type = fb::ElementType::INT8) const {
    const auto& r = cal_.ranges[static_cast<size_t>(id)];
    if (!r) return Internal("value '{}' was not calibrated", g_.value(id).name);
    if (type == fb::ElementType::INT16) return ComputeAffineParams(*r, kInt16, /*symmetric=*/true);
    const int bits = narrow_[static_cast<size_t>(id)] ? opts_.act_bits : 8;
    return ComputeAffineParams(*r, IntType{bits, true}, /*symmetric=*/false);
  }

  uint32_t AddBuffer(const void* data, size_t bytes) {
    auto b = std::make_unique<fb::BufferT>();
    b->data.resize(bytes);
    if (bytes) std::memcpy(b->data.data(), data, bytes);
    model_->buffers.push_back(std::move(b));
    return static_cast<uint32_t>(model_->buffers.size() - 1);
  }

  int32_t AddConstTensor(const std::string& name, fb::ElementType type, const ir::Dims& dims, const void* data,
                         size_t bytes, fb::QuantizationUnion q) {
    auto t = std::make_unique<fb::TensorT>();
    t->name = name;
    t->type = type;
    t->shape = Shape32(dims);
    t->quantization = std::move(q);
    t->buffer = AddBuffer(data, bytes);
    return AddTensor(std::move(t));
  }

  // A float constant quantized on grid `p` (per tensor, int8 or int16).
  int32_t QuantizedConst(const std::string& name, const ir::Tensor& c, const AffineParams& p) {
    const fb::ElementType type = GridType(p);
    const std::vector<float> f = c.ToFloatVector();
    std::vector<int16_t> q16(f.size());
    std::vector<int8_t> q8(f.size());
    for (size_t i = 0; i < f.size(); ++i) q8[i] = static_cast<int8_t>(q16[i] = static_cast<int16_t>(p.Quantize(f[i])));
    const bool wide = type == fb::ElementType::INT16;
    return AddConstTensor(name, type, c.dims(), wide ? static_cast<const void*>(q16.data()) : q8.data(),
                          f.size() * (wide ? 2 : 1), AffineUnion({p.scale}, {p.zero_point}, -1));
  }

  // A float constant on its own grid spanning its values (and 0), in the type of the node
  // being lowered: asymmetric int8 or symmetric int16.
  Result<std::pair<int32_t, AffineParams>> OwnGridConst(const std::string& name, const ir::Tensor& c) {
    const std::vector<float> f = c.ToFloatVector();
    Range r{0, 0};
    if (!f.empty()) {
      auto [lo, hi] = std::minmax_element(f.begin(), f.end());
      r = {*lo, *hi};
    }
    const bool wide = type_ == fb::ElementType::INT16;
    SQ_ASSIGN_OR_RETURN(AffineParams p, ComputeAffineParams(r, wide ? kInt16 : kInt8, /*symmetric=*/wide));
    return std::make_pair(QuantizedConst(name, c, p), p);
  }

  // Weights [units, depth] (row per output channel) to a symmetric `bits` grid
  // ([−7, 7] for 4 bits), per channel or per tensor, stored one code per int8 — or, for a
  // kernel with a low-bit path, packed two per byte (INT4) when bits is 4 and pack_ok
  // (FULLY_CONNECTED with int8 or int16 activations, CONV_2D with int8), and with one scale per
  // group of opts_.group_size depth elements when set and group_ok (the same layers; a depth that
  // group_size does not divide falls back to per-channel scales, with a warning).
  // With `hessians` (a FULLY_CONNECTED or CONV_2D layer's input Hessians, one per weight group,
  // LowerOptions::input_hessians), the codes on those scales are chosen by GPTQ (quant/gptq.h) or
  // AdaRound (quant/adaround.h) instead of rounded to nearest.
  // Returns the tensor, its scales and the group size used (0: per channel / per tensor).
  struct WeightTensor {
    int32_t tensor = -1;
    std::vector<float> scales;
    int32_t group_size = 0;
  };
  Result<WeightTensor> Weights(const std::string& name, const std::vector<float>& w, const ir::Dims& dims,
                               bool pack_ok, bool group_ok, int bits, const std::vector<float>& min_scale = {},
                               const std::vector<std::shared_ptr<const InputHessian>>* hessians = nullptr);
  // The layer's entry of opts_.input_hessians, or nullptr.
  const std::vector<std::shared_ptr<const InputHessian>>* HessiansOf(const Node& n) const {
    const auto it = opts_.input_hessians.find(n.name);
    return it == opts_.input_hessians.end() ? nullptr : &it->second;
  }

  // Floors on the weight scales that keep the int32 bias and accumulator in range for a layer
  // of reduction depth `depth` reading grid `pin` (weights.h BiasScaleFloor); none without bias.
  std::vector<float> ScaleFloor(const std::vector<float>& bias, const AffineParams& pin, int64_t depth) const;

  // An int32 bias on the accumulator's grid s_x·s_w[c], zero point 0. The file stores no
  // quantization for it: the runtime derives nothing from it, and a reader can from x and w.
  int32_t Bias(const std::string& name, const std::vector<float>& b, double s_x, const std::vector<float>& s_w);

  // The output grid and clamp range of node i writing value `out` (after ReLU folding).
  struct OutGrid {
    ValueId value;
    AffineParams grid;
    quant_math::CodeRange act;
  };
  // The bias (appended to `inputs` when `bias` is not empty) and the requant of a layer whose
  // weights wq have `units` output channels, input grid s_x: on each unit's common scale s_c for
  // group-scaled weights (kernels.h FullyConnectedLowBit; the group multipliers go to
  // *group_multiplier), else on the per-channel grid s_x·s_w.
  std::unique_ptr<fb::RequantizationT> BiasAndRequant(const std::string& name, const std::vector<float>& bias,
                                                      double s_x, const WeightTensor& wq, int64_t units,
                                                      const OutGrid& out, std::vector<int32_t>* inputs,
                                                      std::vector<uint16_t>* group_multiplier);

  Result<OutGrid> Output(size_t node_index) {
    const Node& n = g_.nodes[node_index];
    const ValueId out = Resolve(n.outputs[0]);
    SQ_ASSIGN_OR_RETURN(AffineParams p, CalibratedGrid(out, NodeType(node_index)));
    quant_math::CodeRange act{p.qmin, p.qmax};
    if (auto it = clamp_.find(node_index); it != clamp_.end())
      act = quant_math::BuildActivationRange(act, p.scale, p.zero_point, it->second.first, it->second.second);
    return OutGrid{out, p, act};
  }

  void AddOp(fb::OpCode code, const Node& n, std::vector<int32_t> inputs, std::vector<int32_t> outputs,
             fb::OpOptionsUnion options = {}) {
    auto op = std::make_unique<fb::OperatorT>();
    op->opcode = code;
    op->name = n.name;
    op->inputs = std::move(inputs);
    op->outputs = std::move(outputs);
    op->options = std::move(options);
    model_->operators.push_back(std::move(op));
  }

  template <typename T>
  static fb::OpOptionsUnion Options(T&& t) {
    fb::OpOptionsUnion u;
    u.Set(std::forward<T>(t));
    return u;
  }

  // ---- Graph inputs ----------------------------------------------------------------------

  Status AddGraphInput(ValueId id);

  // ---- Nodes -----------------------------------------------------------------------------

  Status LowerNode(size_t i);

  // squint.Hadamard → HADAMARD: the same rotation on codes (the ±1 butterflies and h_k in int32),
  // the orthonormal 1/√block folded into the multiplier M = s_x / (√block·s_y). The input is read
  // in the type its producer wrote (int16 when it has an int16 kernel, see SelectInt16).
  Status LowerHadamard(size_t i);

  // y = f(x) elementwise, f evaluated by the float evaluator's own kernel on every input code.
  Status LowerLut(size_t i);

  Status LowerScalePreserving(const Node& n);

  // ONNX Slice with constant starts/ends/axes/steps → per-axis start and step (kernel form).
  Status LowerSlice(const Node& n, int32_t x, const AffineParams& p);

  Status LowerPool(const Node& n, int32_t x, const AffineParams& pin, const AffineParams& pout, bool max,
                   quant_math::CodeRange act);

  // Explicit [top, left, bottom, right] pads of a 2-D conv/pool from pads or auto_pad.
  Result<std::vector<int32_t>> ExplicitPads(const Node& n, const ir::Dims& in, const ir::Dims& out,
                                            const std::vector<int64_t>& k, const std::vector<int64_t>& s,
                                            const std::vector<int64_t>& d) {
    if (k.size() != 2) return Unsupported("kernel of rank {} (2-D is supported)", k.size());
    const std::string auto_pad = n.attrs.GetString("auto_pad", "NOTSET");
    std::vector<int64_t> pads = n.attrs.GetInts("pads", {0, 0, 0, 0});
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      for (size_t a = 0; a < 2; ++a) {
        const int64_t total = std::max<int64_t>(
            0, (out[2 + a] - 1) * s[a] + (k[a] - 1) * d[a] + 1 - in[2 + a]);
        const int64_t small = total / 2, large = total - small;
        pads[a] = auto_pad == "SAME_UPPER" ? small : large;
        pads[a + 2] = auto_pad == "SAME_UPPER" ? large : small;
      }
    } else if (auto_pad == "VALID") {
      pads = {0, 0, 0, 0};
    }
    return std::vector<int32_t>(pads.begin(), pads.end());
  }

  Status LowerConv(size_t i);

  // ConvTranspose → CONV_TRANSPOSE_2D: geometry and weight layout from lower_conv_transpose.h,
  // int8 weights (per channel on the output channel) and bias as a Conv's.
  Status LowerConvTranspose(size_t i);

  // Linear (W [K, N]), Gemm (B constant), MatMul with a constant 2-D B: FULLY_CONNECTED with
  // weights stored [N, K]. A grouped Linear (W [K/G, N], groups G > 1) keeps its groups, weights
  // stored [N, K/G], on int8 per-channel codes whatever --weight-bits/--group-size: it is an
  // online transform of the activations (quant/wush.h), and the runtime's grouped layer takes
  // int8 weights only. MatMul of two activations: BATCH_MATMUL.
  Status LowerMatMul(size_t i);

  // Add/Sub/Mul with two activations or an activation and a (non-scalar) constant; Div by a
  // constant as Mul by its reciprocal.
  Status LowerBinary(size_t i);

  Status LowerSoftmax(size_t i);

  // Log-grid output (LogGridQuantization): every reader must be the left operand of a MatMul of
  // two activations (lowered to BATCH_MATMUL's shift path). The grid recorded for the readers is
  // the P·V accumulator's: scale delta·2^−R (R = the largest shift), zero point 0, so
  // LowerMatMul's requantization s_P·s_V/s_out is the one the kernel needs.
  Status LowerLogGridSoftmax(const Node& n, int32_t x, int32_t keep_input, const LogGridTables& grid,
                             fb::SoftmaxOptionsT o);

  Status LowerLayerNorm(size_t i);

  // squint.RMSNorm: LAYER_NORM in RMS mode with γ = 1, β = 0.
  Status LowerRMSNorm(size_t i);

  Status EmitLayerNorm(size_t i, const std::vector<float>& gamma, const std::vector<float>& beta, bool rms);

  // ReduceMean over consecutive axes → MEAN (with the keep mask of passes/fuse_masked_mean as
  // its int32 input 1): the requantization is the average pool's, s_in / (s_out·2^8).
  Status LowerMean(size_t i);

  Status LowerAveragePool(size_t i);

  Status LowerConcat(size_t i);

  Status LowerGather(size_t i);

  Status LowerResize(size_t i);

  // ---- Memory plan -----------------------------------------------------------------------

  Status PlanArena();

  const ir::Graph& g_;
  const Calibration& cal_;
  const LowerOptions& opts_;
  std::unique_ptr<fb::ModelT> model_;
  std::vector<int32_t> tensor_of_;                  // per value: tensor index, −1 none
  std::vector<std::optional<AffineParams>> grid_;   // per value: its grid (int8 or int16)
  std::vector<bool> narrow_;                        // per value: act_bits codes (SelectNarrow)
  std::vector<bool> wide_;                          // per value: int16 wanted (--a16)
  std::optional<fb::ElementType> type_;             // the type the node being lowered reads
  std::map<std::pair<ValueId, int>, std::pair<int32_t, AffineParams>> converted_;  // REQUANTIZE outputs
  std::vector<ValueId> redirect_;                   // producer output → folded ReLU output
  const passes::GraphIndex index_;                  // producers, readers and use counts of g_
  std::map<size_t, size_t> folded_into_;            // ReLU node → producer node
  std::map<size_t, std::pair<double, double>> clamp_;  // producer node → real clamp interval
  std::map<size_t, std::pair<ValueId, ValueId>> softmax_mask_;  // Softmax node → (scores, mask constant)
  std::vector<LoweredNode> report_;
  std::vector<std::string> warnings_;           // for the user (LoweredModel::warnings)
};

}  // namespace squint::quant::lowering

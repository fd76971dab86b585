#include "quant/lower.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "ir/eval/op_def.h"
#include "passes/graph_edit.h"
#include "quant/affine.h"
#include "quant/lower_conv_transpose.h"
#include "quant/weights.h"
#include "runtime/kernels/reference/kernels.h"
#include "runtime/planner.h"
#include "runtime/quant_math/quant_math.h"

namespace squint::quant {
namespace {

using ir::DType;
using ir::Node;
using ir::OpType;
using ir::ValueId;
using ir::kNoValue;

constexpr IntType kInt8{8, true};
constexpr IntType kInt16{16, true};
constexpr int kSoftmaxExpBits = 20;

// Ops whose output codes are their input codes rearranged: the output keeps the input grid.
bool IsScalePreserving(OpType op) {
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
bool IsElementwise(OpType op) {
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

fb::RequantizationT MakeRequant(const std::vector<rt::QuantizedMultiplier>& ms, quant_math::CodeRange act) {
  fb::RequantizationT r;
  for (const auto& m : ms) {
    r.multiplier.push_back(m.multiplier);
    r.shift.push_back(m.shift);
  }
  r.activation_min = act.min;
  r.activation_max = act.max;
  return r;
}

std::unique_ptr<fb::RequantizationT> MakeRequantPtr(const std::vector<rt::QuantizedMultiplier>& ms,
                                                    quant_math::CodeRange act) {
  return std::make_unique<fb::RequantizationT>(MakeRequant(ms, act));
}

// The element type of an activation grid: int16 grids use codes beyond int8's.
fb::ElementType GridType(const AffineParams& p) {
  return p.qmax > 127 || p.qmin < -128 ? fb::ElementType::INT16 : fb::ElementType::INT8;
}
quant_math::CodeRange TypeRange(fb::ElementType t) {
  return t == fb::ElementType::INT16 ? quant_math::CodeRange{-32768, 32767} : quant_math::CodeRange{-128, 127};
}
int TypeBits(fb::ElementType t) { return t == fb::ElementType::INT16 ? 16 : 8; }

class Lowerer {
 public:
  Lowerer(const ir::Graph& g, const Calibration& cal, const LowerOptions& opts)
      : g_(g), cal_(cal), opts_(opts), tensor_of_(g.values.size(), -1), grid_(g.values.size()), wide_(g.values.size(), false),
        redirect_(g.values.size(), kNoValue), index_(g) {
    model_ = std::make_unique<fb::ModelT>();
    model_->buffers.push_back(std::make_unique<fb::BufferT>());  // buffer 0: empty
  }

  Result<LoweredModel> Run() {
    SQ_RETURN_IF_ERROR(CheckSupported());
    FindFoldedActivations();
    FindSoftmaxMasks();
    SQ_RETURN_IF_ERROR(SelectInt16());
    for (ValueId id : g_.inputs) SQ_RETURN_IF_ERROR(AddGraphInput(id));
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& n = g_.nodes[i];
      if (folded_into_.count(i)) {
        report_.push_back({n.name, std::string(ir::OpName(n.op)),
                           fmt::format("folded into '{}'", g_.nodes[folded_into_.at(i)].name)});
        continue;
      }
      const size_t before = model_->operators.size();
      if (!IsLutCandidate(n) && n.op != OpType::kSoftmax && n.op != OpType::kHadamard) type_ = NodeType(i);
      SQ_RETURN_IF_ERROR(LowerNode(i).WithContext(n.Label()));
      type_.reset();
      std::string lowered = before == model_->operators.size()
                                ? "constant"
                                : fb::EnumNameOpCode(model_->operators.back()->opcode);
      report_.push_back({n.name, std::string(ir::OpName(n.op)), lowered});
    }
    for (ValueId id : g_.outputs) {
      SQ_ASSIGN_OR_RETURN(int32_t t, Activation(Resolve(id)));
      model_->outputs.push_back(t);
    }
    SQ_RETURN_IF_ERROR(PlanArena());
    return LoweredModel{std::move(model_), std::move(report_), std::move(warnings_)};
  }

 private:
  // ---- Structure -------------------------------------------------------------------------

  Status CheckSupported() {
    std::map<std::string, std::vector<std::string>> bad;
    for (const Node& n : g_.nodes) {
      for (ValueId o : n.outputs) {
        if (o == kNoValue) continue;
        const ir::Value& v = g_.value(o);
        if (!v.shape || !ir::DimsFromShape(*v.shape))
          return InvalidInput("{}: output '{}' has no concrete shape; bind input shapes first (--input-shape)",
                              n.Label(), v.name);
      }
      if (!Lowerable(n)) bad[std::string(ir::OpName(n.op))].push_back(n.name);
    }
    if (bad.empty()) return Status::Ok();
    std::string list;
    for (const auto& [op, names] : bad)
      list += fmt::format("{}{} ('{}')", list.empty() ? "" : ", ", op, fmt::join(names, "', '"));
    return Unsupported("no integer lowering for: {}", list);
  }

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

  bool Lowerable(const Node& n) const {
    if (IsLutCandidate(n) || IsScalePreserving(n.op)) return true;
    switch (n.op) {
      case OpType::kConv:
      case OpType::kConvTranspose:
      case OpType::kLinear:
      case OpType::kGemm:
      case OpType::kMatMul:
      case OpType::kSoftmax:
      case OpType::kLayerNormalization:
      case OpType::kRMSNorm:
      case OpType::kAveragePool:
      case OpType::kGlobalAveragePool:
      case OpType::kConcat:
      case OpType::kGather:
      case OpType::kResize:
      case OpType::kHadamard:
        return true;
      case OpType::kAdd:
      case OpType::kSub:
      case OpType::kMul:
        return CountActivationInputs(n) >= 1;
      case OpType::kDiv:  // by a constant: a multiplication by its reciprocal
        return IsActivation(n.input(0)) && !IsActivation(n.input(1));
      default:
        return false;
    }
  }

  // ReLU / Clip(min, max constants) whose only input is the sole use of a Conv, linear or
  // Add/Sub output: the producer clamps directly to the activation's range, and writes the
  // activation's output value.
  void FindFoldedActivations() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& n = g_.nodes[i];
      if (n.op != OpType::kRelu && n.op != OpType::kClip) continue;
      const ValueId in = n.input(0);
      if (!IsActivation(in) || index_.Uses(in) != 1 || index_.IsGraphOutput(in)) continue;
      if (CountActivationInputs(n) != 1) continue;  // Clip bounds computed at run time
      const int32_t p = index_.ProducerIndex(in);
      if (p < 0) continue;
      const OpType pop = g_.nodes[static_cast<size_t>(p)].op;
      const bool foldable = pop == OpType::kConv || pop == OpType::kConvTranspose || pop == OpType::kLinear ||
                            pop == OpType::kGemm ||
                            ((pop == OpType::kAdd || pop == OpType::kSub) &&
                             !IsLutCandidate(g_.nodes[static_cast<size_t>(p)]));
      if (!foldable) continue;
      folded_into_[i] = static_cast<size_t>(p);
      redirect_[static_cast<size_t>(in)] = n.outputs[0];
      double lo = 0, hi = INFINITY;
      if (n.op == OpType::kClip) {
        lo = -INFINITY;
        if (const ir::Tensor* t = Const(n.input(1))) lo = t->ToFloatVector()[0];
        if (const ir::Tensor* t = Const(n.input(2))) hi = t->ToFloatVector()[0];
      }
      clamp_[static_cast<size_t>(p)] = {lo, hi};
    }
  }

  // Add(scores, M) → Softmax with a constant M of zeros and large negatives (causal attention):
  // the Softmax reads the scores and M as a mask, so masked positions get probability exactly
  // 0 and never enter the max or the sum. The Add is folded into the Softmax.
  static constexpr float kMaskedBelow = -1e4f;
  void FindSoftmaxMasks() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& sm = g_.nodes[i];
      if (sm.op != OpType::kSoftmax) continue;
      const ValueId in = sm.input(0);
      const int32_t p = index_.ProducerIndex(in);
      if (p < 0 || index_.Uses(in) != 1) continue;
      const Node& add = g_.nodes[static_cast<size_t>(p)];
      if (add.op != OpType::kAdd || CountActivationInputs(add) != 1) continue;
      const int k = IsActivation(add.input(0)) ? 1 : 0;
      const ir::Tensor* m = Const(add.input(static_cast<size_t>(k)));
      if (!m || m->dtype() != DType::kFloat32) continue;
      bool any_masked = false, all_binary = true;
      for (float v : m->span<float>()) {
        if (v <= kMaskedBelow) any_masked = true;
        else if (v != 0.0f) all_binary = false;
      }
      if (!any_masked || !all_binary) continue;
      folded_into_[static_cast<size_t>(p)] = i;
      softmax_mask_[i] = {add.input(static_cast<size_t>(1 - k)), add.input(static_cast<size_t>(k))};
    }
  }

  // --a16: every node named by node name or op type reads and writes int16 activations
  // (symmetric, zero point 0): its activation inputs and its outputs are marked wide, and the
  // producers of wide values compute in int16.
  Status SelectInt16() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& n = g_.nodes[i];
      if (!std::count(opts_.a16.begin(), opts_.a16.end(), n.name) &&
          !std::count(opts_.a16.begin(), opts_.a16.end(), ir::OpName(n.op)))
        continue;
      std::vector<ValueId> values(n.inputs.begin(), n.inputs.end());
      if (auto it = softmax_mask_.find(i); it != softmax_mask_.end()) values.push_back(it->second.first);
      values.insert(values.end(), n.outputs.begin(), n.outputs.end());
      for (ValueId v : values)
        if (IsActivation(v) && g_.value(v).dtype == DType::kFloat32) wide_[static_cast<size_t>(Resolve(v))] = true;
    }
    // An online Hadamard reads its input at int16: the rotation spreads the input's outliers over
    // the block, which helps only if the outliers were not already rounded to an 8-bit grid.
    for (const Node& n : g_.nodes)
      if (n.op == OpType::kHadamard && IsActivation(n.input(0))) wide_[static_cast<size_t>(Resolve(n.input(0)))] = true;
    return Status::Ok();
  }

  // The type node i computes in: int16 when it writes a wide value, and its runtime kernel has
  // an int16 output (SOFTMAX writes 8-bit probabilities only, and reads int16 scores as they are;
  // HADAMARD writes int8 for the linear layers it feeds, and reads either type as it is).
  fb::ElementType NodeType(size_t i) const {
    const Node& n = g_.nodes[i];
    if (n.op == OpType::kSoftmax || n.op == OpType::kHadamard) return fb::ElementType::INT8;
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

  // The grid calibration chose for value `id`: asymmetric and act_bits wide in int8, or
  // symmetric int16.
  Result<AffineParams> CalibratedGrid(ValueId id, fb::ElementType type = fb::ElementType::INT8) const {
    const auto& r = cal_.ranges[static_cast<size_t>(id)];
    if (!r) return Internal("value '{}' was not calibrated", g_.value(id).name);
    if (type == fb::ElementType::INT16) return ComputeAffineParams(*r, kInt16, /*symmetric=*/true);
    return ComputeAffineParams(*r, IntType{opts_.act_bits, true}, /*symmetric=*/false);
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
  // kernel reading int8 activations, packed two per byte (INT4) when bits is 4 and
  // pack_ok (FULLY_CONNECTED, CONV_2D), and with one scale per group of opts_.group_size depth
  // elements when set and group_ok (FULLY_CONNECTED, CONV_2D with int8 activations; a depth that
  // group_size does not divide falls back to per-channel scales, with a warning).
  // Returns the tensor, its scales and the group size used (0: per channel / per tensor).
  struct WeightTensor {
    int32_t tensor = -1;
    std::vector<float> scales;
    int32_t group_size = 0;
  };
  Result<WeightTensor> Weights(const std::string& name, const std::vector<float>& w, const ir::Dims& dims,
                               bool pack_ok, bool group_ok, int bits, const std::vector<float>& min_scale = {}) {
    const int64_t units = dims[0];
    const int64_t depth = units ? static_cast<int64_t>(w.size()) / units : 0;
    WeightTensor out;
    if (group_ok && opts_.group_size > 0) {
      if (depth % opts_.group_size == 0 && depth > 0) {
        out.group_size = opts_.group_size;
      } else {
        warnings_.push_back(fmt::format("'{}': depth {} is not a multiple of --group-size {}; this layer keeps "
                                        "per-channel scales",
                                        name, depth, opts_.group_size));
      }
    }
    const int64_t blocks = out.group_size > 0 ? units * (depth / out.group_size) : (opts_.per_channel ? units : 1);
    SQ_ASSIGN_OR_RETURN(QuantizedWeights q, QuantizeWeightBlocks(w, blocks, bits, min_scale));
    out.scales = q.scales;
    fb::QuantizationUnion quant =
        AffineUnion(q.scales, std::vector<int32_t>(q.scales.size(), 0), opts_.per_channel || out.group_size ? 0 : -1);
    quant.AsAffineQuantization()->group_size = out.group_size;
    if (pack_ok && bits == 4) {
      const std::vector<uint8_t> packed = quant_math::PackInt4(q.codes);
      out.tensor = AddConstTensor(name, fb::ElementType::INT4, dims, packed.data(), packed.size(), std::move(quant));
    } else {
      out.tensor = AddConstTensor(name, fb::ElementType::INT8, dims, q.codes.data(), q.codes.size(), std::move(quant));
    }
    return out;
  }

  // Floors on the weight scales that keep the int32 bias and accumulator in range for a layer
  // of reduction depth `depth` reading grid `pin` (weights.h BiasScaleFloor); none without bias.
  std::vector<float> ScaleFloor(const std::vector<float>& bias, const AffineParams& pin, int64_t depth) const {
    if (bias.empty()) return {};
    return BiasScaleFloor(bias, pin.scale, depth, pin.zero_point, type_ != fb::ElementType::INT16);
  }

  // An int32 bias on the accumulator's grid s_x·s_w[c], zero point 0. The file stores no
  // quantization for it: the runtime derives nothing from it, and a reader can from x and w.
  int32_t Bias(const std::string& name, const std::vector<float>& b, double s_x, const std::vector<float>& s_w) {
    std::vector<int32_t> q = quant_math::QuantizeBias(b, s_x, s_w);
    return AddConstTensor(name, fb::ElementType::INT32, {static_cast<int64_t>(b.size())}, q.data(), q.size() * 4, {});
  }

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
                                                      std::vector<uint16_t>* group_multiplier) {
    if (wq.group_size > 0) {
      quant_math::GroupScaleParams gp = quant_math::BuildGroupScaleParams(s_x, wq.scales, units, out.grid.scale);
      if (!bias.empty()) inputs->push_back(Bias(name, bias, s_x, gp.common_scale));
      *group_multiplier = std::move(gp.group_multiplier);
      return MakeRequantPtr(gp.requant, out.act);
    }
    if (!bias.empty()) inputs->push_back(Bias(name, bias, s_x, wq.scales));
    return MakeRequantPtr(quant_math::BuildChannelRequant(s_x, wq.scales, out.grid.scale), out.act);
  }

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

  Status AddGraphInput(ValueId id) {
    const ir::Value& v = g_.value(id);
    if (v.dtype == DType::kFloat32) {
      SQ_ASSIGN_OR_RETURN(AffineParams p, CalibratedGrid(id));
      model_->inputs.push_back(NewActivation(id, p));
      return Status::Ok();
    }
    if (v.dtype == DType::kInt64 || v.dtype == DType::kInt32) {  // indices (token ids)
      auto t = std::make_unique<fb::TensorT>();
      t->name = v.name;
      t->type = fb::ElementType::INT32;
      t->shape = Shape32(DimsOf(id));
      tensor_of_[static_cast<size_t>(id)] = AddTensor(std::move(t));
      model_->inputs.push_back(tensor_of_[static_cast<size_t>(id)]);
      return Status::Ok();
    }
    return Unsupported("model input '{}' has type {}; squint quantizes float32 inputs and takes int32/int64 indices",
                       v.name, ir::DTypeName(v.dtype));
  }

  // ---- Nodes -----------------------------------------------------------------------------

  Status LowerNode(size_t i) {
    const Node& n = g_.nodes[i];
    if (IsLutCandidate(n)) return LowerLut(i);
    if (IsScalePreserving(n.op)) return LowerScalePreserving(n);
    switch (n.op) {
      case OpType::kConv: return LowerConv(i);
      case OpType::kConvTranspose: return LowerConvTranspose(i);
      case OpType::kLinear:
      case OpType::kGemm:
      case OpType::kMatMul: return LowerMatMul(i);
      case OpType::kAdd:
      case OpType::kSub:
      case OpType::kMul:
      case OpType::kDiv: return LowerBinary(i);
      case OpType::kSoftmax: return LowerSoftmax(i);
      case OpType::kLayerNormalization: return LowerLayerNorm(i);
      case OpType::kRMSNorm: return LowerRMSNorm(i);
      case OpType::kAveragePool:
      case OpType::kGlobalAveragePool: return LowerAveragePool(i);
      case OpType::kConcat: return LowerConcat(i);
      case OpType::kGather: return LowerGather(i);
      case OpType::kResize: return LowerResize(i);
      case OpType::kHadamard: return LowerHadamard(i);
      default: return Internal("no lowering");
    }
  }

  // squint.Hadamard → HADAMARD: the same rotation on codes (the ±1 butterflies and h_k in int32),
  // the orthonormal 1/√block folded into the multiplier M = s_x / (√block·s_y). The input is read
  // in the type its producer wrote (int16 when it has an int16 kernel, see SelectInt16).
  Status LowerHadamard(size_t i) {
    const Node& n = g_.nodes[i];
    const ValueId in = n.input(0);
    SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(in));
    SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
    const int64_t block = n.attrs.GetInt("block", 0);
    const int32_t k = quant_math::HadamardK(static_cast<int32_t>(block));
    if (block < 1 || block > (int64_t{1} << 16) || k < 1)
      return Unsupported("Hadamard block {}: the runtime takes k·2^m blocks up to 2^16", block);
    fb::HadamardOptionsT o;
    o.block = static_cast<int32_t>(block);
    o.k = k;
    if (k > 1) {
      const std::vector<int8_t> h = quant_math::BuildHadamardMatrix(k);
      o.h_k.assign(h.begin(), h.end());
    }
    for (int64_t s : n.attrs.GetInts("signs")) o.signs.push_back(static_cast<int8_t>(s));
    o.requant = MakeRequantPtr(
        {quant_math::RequantFromReal(static_cast<double>(pin.scale) / (std::sqrt(static_cast<double>(block)) *
                                                                       static_cast<double>(out.grid.scale)))},
        out.act);
    SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(in)));
    AddOp(fb::OpCode::HADAMARD, n, {x}, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
    return Status::Ok();
  }

  // y = f(x) elementwise, f evaluated by the float evaluator's own kernel on every input code.
  Status LowerLut(size_t i) {
    const Node& n = g_.nodes[i];
    size_t act_pos = 0;
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (IsActivation(n.input(k))) act_pos = k;
    const ValueId in = n.input(act_pos);
    SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(in));
    SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
    // Every code of the input type (int8 or int16), dequantized.
    const quant_math::CodeRange in_codes = TypeRange(GridType(pin));
    const int64_t num_codes = int64_t{in_codes.max} - in_codes.min + 1;
    ir::Tensor codes(DType::kFloat32, {num_codes});
    for (int64_t k = 0; k < num_codes; ++k)
      codes.data<float>()[k] = pin.Dequantize(static_cast<int32_t>(in_codes.min + k));
    // The other inputs are single-element constants: viewed as scalars they broadcast over the codes.
    std::vector<ir::Tensor> args(n.inputs.size());
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      if (k == act_pos) args[k] = codes;
      else if (const ir::Tensor* c = Const(n.input(k))) args[k] = c->Reshaped({});
    }
    std::vector<const ir::Tensor*> ins(n.inputs.size(), nullptr);
    std::vector<ir::Shape> shapes(n.inputs.size());
    std::vector<ir::eval::InputInfo> infos(n.inputs.size());
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      if (args[k].empty_type()) continue;
      ins[k] = &args[k];
      shapes[k] = ir::ShapeFromDims(args[k].dims());
      infos[k] = {true, args[k].dtype(), &shapes[k], &args[k]};
    }
    const ir::eval::OpDef& def = ir::eval::GetOpDef(n.op);
    ir::eval::InferContext ctx{n, infos, g_.opset};
    SQ_RETURN_IF_ERROR(def.infer(ctx).status());  // validates attributes before the kernel runs
    std::vector<ir::Tensor> outs;
    outs.emplace_back(DType::kFloat32, ir::Dims{num_codes});
    SQ_RETURN_IF_ERROR(def.kernel(n, ins, outs));
    fb::LutOptionsT lut;
    lut.min_code = in_codes.min;
    for (int64_t k = 0; k < num_codes; ++k) {
      const float y = outs[0].data<float>()[k];
      int32_t q = std::isfinite(y) ? out.grid.Quantize(y) : (y > 0 ? out.act.max : out.act.min);
      lut.table.push_back(static_cast<int16_t>(std::clamp(q, out.act.min, out.act.max)));
    }
    SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(in)));
    AddOp(fb::OpCode::LUT, n, {x}, {NewActivation(out.value, out.grid)}, Options(std::move(lut)));
    return Status::Ok();
  }

  Status LowerScalePreserving(const Node& n) {
    const ValueId in = n.input(0);
    SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(in)));
    SQ_ASSIGN_OR_RETURN(AffineParams p, Grid(in));
    const ir::Dims in_dims = DimsOf(in);
    switch (n.op) {
      case OpType::kReshape:
      case OpType::kFlatten:
      case OpType::kSqueeze:
      case OpType::kUnsqueeze:
      case OpType::kIdentity:
      case OpType::kDropout:
        AddOp(fb::OpCode::RESHAPE, n, {x}, {NewActivation(n.outputs[0], p)});
        return Status::Ok();
      case OpType::kTranspose: {
        fb::TransposeOptionsT o;
        std::vector<int64_t> perm = n.attrs.GetInts("perm");
        if (perm.empty())
          for (int64_t k = static_cast<int64_t>(in_dims.size()) - 1; k >= 0; --k) perm.push_back(k);
        o.perm.assign(perm.begin(), perm.end());
        AddOp(fb::OpCode::TRANSPOSE, n, {x}, {NewActivation(n.outputs[0], p)}, Options(std::move(o)));
        return Status::Ok();
      }
      case OpType::kSlice: return LowerSlice(n, x, p);
      case OpType::kSplit: {
        fb::SplitOptionsT o;
        const int64_t rank = static_cast<int64_t>(in_dims.size());
        int64_t axis = n.attrs.GetInt("axis", 0);
        if (axis < 0) axis += rank;
        o.axis = static_cast<int32_t>(axis);
        std::vector<int32_t> outs;
        for (ValueId v : n.outputs) {
          if (v == kNoValue) return Unsupported("Split with an unused output");
          o.sizes.push_back(static_cast<int32_t>(DimsOf(v)[static_cast<size_t>(axis)]));
          outs.push_back(NewActivation(v, p));
        }
        AddOp(fb::OpCode::SPLIT, n, {x}, outs, Options(std::move(o)));
        return Status::Ok();
      }
      case OpType::kMaxPool: return LowerPool(n, x, p, p, /*max=*/true, {p.qmin, p.qmax});
      case OpType::kPad: {
        const std::string mode = n.attrs.GetString("mode", "constant");
        fb::PadOptionsT o;
        o.mode = mode == "reflect" ? 1 : mode == "edge" ? 2 : 0;
        if (mode != "constant" && mode != "reflect" && mode != "edge")
          return Unsupported("pad mode '{}' (constant, reflect and edge are supported)", mode);
        if (const ir::Tensor* v = Const(n.input(2)); v && v->size() == 1 && v->ToFloatVector()[0] != 0.0f)
          return Unsupported("constant pad value {} (only 0 is supported)", v->ToFloatVector()[0]);
        const ir::Tensor* pads = Const(n.input(1));
        if (!pads) return Unsupported("pads must be constant");
        const std::vector<int64_t> pv = pads->ToInt64Vector();
        const size_t rank = in_dims.size();
        std::vector<int64_t> axes;
        if (const ir::Tensor* a = Const(n.input(3))) axes = a->ToInt64Vector();
        else for (size_t k = 0; k < rank; ++k) axes.push_back(static_cast<int64_t>(k));
        o.pads.assign(2 * rank, 0);
        for (size_t k = 0; k < axes.size(); ++k) {
          int64_t ax = axes[k] < 0 ? axes[k] + static_cast<int64_t>(rank) : axes[k];
          if (pv[k] < 0 || pv[k + axes.size()] < 0) return Unsupported("negative pads (cropping)");
          o.pads[static_cast<size_t>(ax)] = static_cast<int32_t>(pv[k]);
          o.pads[rank + static_cast<size_t>(ax)] = static_cast<int32_t>(pv[k + axes.size()]);
        }
        AddOp(fb::OpCode::PAD, n, {x}, {NewActivation(n.outputs[0], p)}, Options(std::move(o)));
        return Status::Ok();
      }
      case OpType::kExpand:
      case OpType::kTile:
        if (ir::ElementCount(in_dims) == ir::ElementCount(DimsOf(n.outputs[0]))) {
          AddOp(fb::OpCode::RESHAPE, n, {x}, {NewActivation(n.outputs[0], p)});
          return Status::Ok();
        }
        return Unsupported("{} that replicates data", ir::OpName(n.op));
      default: return Internal("not scale-preserving");
    }
  }

  // ONNX Slice with constant starts/ends/axes/steps → per-axis start and step (kernel form).
  Status LowerSlice(const Node& n, int32_t x, const AffineParams& p) {
    const ir::Dims in_dims = DimsOf(n.input(0));
    const ir::Dims out_dims = DimsOf(n.outputs[0]);
    const size_t rank = in_dims.size();
    const ir::Tensor* st = Const(n.input(1));
    const ir::Tensor* en = Const(n.input(2));
    if (!st || !en) return Unsupported("Slice bounds must be constant");
    const std::vector<int64_t> starts = st->ToInt64Vector(), ends = en->ToInt64Vector();
    std::vector<int64_t> axes, steps(starts.size(), 1);
    if (const ir::Tensor* a = Const(n.input(3))) axes = a->ToInt64Vector();
    else for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
    if (const ir::Tensor* s = Const(n.input(4))) steps = s->ToInt64Vector();
    fb::SliceOptionsT o;
    o.starts.assign(rank, 0);
    o.steps.assign(rank, 1);
    o.ends.assign(in_dims.begin(), in_dims.end());
    for (size_t k = 0; k < axes.size(); ++k) {
      const int64_t ax = axes[k] < 0 ? axes[k] + static_cast<int64_t>(rank) : axes[k];
      const int64_t dim = in_dims[static_cast<size_t>(ax)];
      const int64_t step = steps[k];
      int64_t s = starts[k] < 0 ? starts[k] + dim : starts[k];
      s = step > 0 ? std::clamp<int64_t>(s, 0, dim) : std::clamp<int64_t>(s, 0, dim - 1);
      o.starts[static_cast<size_t>(ax)] = static_cast<int32_t>(s);
      o.steps[static_cast<size_t>(ax)] = static_cast<int32_t>(step);
      o.ends[static_cast<size_t>(ax)] =
          static_cast<int32_t>(s + step * out_dims[static_cast<size_t>(ax)]);  // exclusive, consistent with out dims
    }
    AddOp(fb::OpCode::SLICE, n, {x}, {NewActivation(n.outputs[0], p)}, Options(std::move(o)));
    return Status::Ok();
  }

  Status LowerPool(const Node& n, int32_t x, const AffineParams& pin, const AffineParams& pout, bool max,
                   quant_math::CodeRange act) {
    const ir::Dims in = DimsOf(n.input(0));
    const ir::Dims out = DimsOf(n.outputs[0]);
    if (in.size() != 4) return Unsupported("pooling over rank {} (2-D pooling on NCHW is supported)", in.size());
    fb::Pool2DOptionsT o;
    if (n.op == OpType::kGlobalAveragePool) {
      o.kernel = {static_cast<int32_t>(in[2]), static_cast<int32_t>(in[3])};
      o.stride = {1, 1};
      o.dilation = {1, 1};
      o.pads = {0, 0, 0, 0};
    } else {
      const std::vector<int64_t> k = n.attrs.GetInts("kernel_shape");
      const std::vector<int64_t> s = n.attrs.GetInts("strides", {1, 1});
      const std::vector<int64_t> d = n.attrs.GetInts("dilations", {1, 1});
      SQ_ASSIGN_OR_RETURN(std::vector<int32_t> pads, ExplicitPads(n, in, out, k, s, d));
      o.kernel.assign(k.begin(), k.end());
      o.stride.assign(s.begin(), s.end());
      o.dilation.assign(d.begin(), d.end());
      o.pads = pads;
      o.count_include_pad = n.attrs.GetInt("count_include_pad", 0) != 0;
    }
    o.requant = MakeRequantPtr({max ? quant_math::RequantFromReal(1.0) : quant_math::BuildAvgPoolRequant(pin.scale, pout.scale)},
                               act);
    AddOp(max ? fb::OpCode::MAX_POOL_2D : fb::OpCode::AVERAGE_POOL_2D, n, {x},
          {NewActivation(n.outputs[0], pout)}, Options(std::move(o)));
    return Status::Ok();
  }

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

  Status LowerConv(size_t i) {
    const Node& n = g_.nodes[i];
    const ir::Dims in = DimsOf(n.input(0));
    const ir::Dims out_dims = DimsOf(n.outputs[0]);
    const ir::Tensor* w = Const(n.input(1));
    if (!w) return Unsupported("Conv weights must be constant");
    if (in.size() != 4) return Unsupported("Conv over rank {} (2-D convolution on NCHW is supported)", in.size());
    SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(n.input(0)));
    SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
    // Packed int4 and group scales need the W4A8 kernels: int8 activations.
    const bool low_bit_ok = type_ != fb::ElementType::INT16;
    if (!low_bit_ok && (opts_.weight_bits == 4 || opts_.group_size > 0))
      warnings_.push_back(fmt::format("'{}': int16 activations (--a16); its weights stay one code per byte with "
                                      "per-channel scales",
                                      n.name));
    const ir::Tensor* b = Const(n.input(2));
    const std::vector<float> bias = b ? b->ToFloatVector() : std::vector<float>{};
    SQ_ASSIGN_OR_RETURN(WeightTensor wq,
                        Weights(n.name + ".weight", w->ToFloatVector(), w->dims(), low_bit_ok, low_bit_ok,
                                opts_.weight_bits, ScaleFloor(bias, pin, w->dim(0) ? w->size() / w->dim(0) : 0)));
    SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(n.input(0))));
    std::vector<int32_t> inputs = {x, wq.tensor};
    fb::Conv2DOptionsT o;
    o.requant = BiasAndRequant(n.name + ".bias", bias, pin.scale, wq, w->dim(0), out, &inputs, &o.group_multiplier);
    const std::vector<int64_t> k(w->dims().begin() + 2, w->dims().end());
    const std::vector<int64_t> s = n.attrs.GetInts("strides", {1, 1});
    const std::vector<int64_t> d = n.attrs.GetInts("dilations", {1, 1});
    SQ_ASSIGN_OR_RETURN(o.pads, ExplicitPads(n, in, out_dims, k, s, d));
    o.stride.assign(s.begin(), s.end());
    o.dilation.assign(d.begin(), d.end());
    o.groups = static_cast<int32_t>(n.attrs.GetInt("group", 1));
    AddOp(fb::OpCode::CONV_2D, n, inputs, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
    return Status::Ok();
  }

  // ConvTranspose → CONV_TRANSPOSE_2D: geometry and weight layout from lower_conv_transpose.h,
  // int8 weights (per channel on the output channel) and bias as a Conv's.
  Status LowerConvTranspose(size_t i) {
    const Node& n = g_.nodes[i];
    const ir::Tensor* w = Const(n.input(1));
    if (!w) return Unsupported("ConvTranspose weights must be constant");
    SQ_ASSIGN_OR_RETURN(ConvTransposeLayout l,
                        ConvTransposeForRuntime(n, *w, DimsOf(n.input(0)), DimsOf(n.outputs[0])));
    SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(n.input(0)));
    SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
    if (opts_.weight_bits == 4 || opts_.group_size > 0)
      warnings_.push_back(fmt::format("'{}': ConvTranspose weights stay one code per byte with per-channel scales",
                                      n.name));
    const ir::Tensor* b = Const(n.input(2));
    const std::vector<float> bias = b ? b->ToFloatVector() : std::vector<float>{};
    const int64_t depth = l.weight_dims[1] * l.weight_dims[2] * l.weight_dims[3];
    SQ_ASSIGN_OR_RETURN(WeightTensor wq, Weights(n.name + ".weight", l.weight, l.weight_dims, /*pack_ok=*/false,
                                                 /*group_ok=*/false, opts_.weight_bits, ScaleFloor(bias, pin, depth)));
    SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(n.input(0))));
    std::vector<int32_t> inputs = {x, wq.tensor};
    fb::Conv2DOptionsT o;
    o.requant = BiasAndRequant(n.name + ".bias", bias, pin.scale, wq, l.weight_dims[0], out, &inputs,
                               &o.group_multiplier);
    o.stride = l.stride;
    o.dilation = l.dilation;
    o.pads = l.pads;
    o.groups = l.groups;
    AddOp(fb::OpCode::CONV_TRANSPOSE_2D, n, inputs, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
    return Status::Ok();
  }

  // Linear (W [K, N]), Gemm (B constant), MatMul with a constant 2-D B: FULLY_CONNECTED with
  // weights stored [N, K]. A grouped Linear (W [K/G, N], groups G > 1) keeps its groups, weights
  // stored [N, K/G], on int8 per-channel codes whatever --weight-bits/--group-size: it is an
  // online transform of the activations (quant/wush.h), and the runtime's grouped layer takes
  // int8 weights only. MatMul of two activations: BATCH_MATMUL.
  Status LowerMatMul(size_t i) {
    const Node& n = g_.nodes[i];
    SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
    SQ_ASSIGN_OR_RETURN(AffineParams pa, Grid(n.input(0)));
    SQ_ASSIGN_OR_RETURN(int32_t a, Activation(Resolve(n.input(0))));
    if (n.op == OpType::kMatMul && IsActivation(n.input(1))) {
      SQ_ASSIGN_OR_RETURN(AffineParams pb, Grid(n.input(1)));
      SQ_ASSIGN_OR_RETURN(int32_t b, Activation(Resolve(n.input(1))));
      fb::BatchMatMulOptionsT o;
      o.requant = MakeRequantPtr({quant_math::BuildMulRequant(pa.scale, pb.scale, out.grid.scale)}, out.act);
      AddOp(fb::OpCode::BATCH_MATMUL, n, {a, b}, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
      return Status::Ok();
    }
    const ir::Tensor* wt = Const(n.input(1));
    if (!wt || wt->rank() != 2) return Unsupported("the weight must be a constant matrix");
    if (n.op == OpType::kGemm && n.attrs.GetInt("transA", 0) != 0) return Unsupported("Gemm with transA");
    // Weights as [N, K] (grouped: [N, K/G], K below being K/G).
    const bool already_nk = n.op == OpType::kGemm && n.attrs.GetInt("transB", 0) != 0;
    const int64_t groups = n.op == OpType::kLinear ? n.attrs.GetInt("groups", 1) : 1;
    const int64_t rows = wt->dim(0), cols = wt->dim(1);
    const int64_t K = already_nk ? cols : rows, N = already_nk ? rows : cols;
    if (groups < 1 || groups > std::numeric_limits<int32_t>::max() || N % groups != 0)
      return Unsupported("groups = {} for {} output channels (must be >= 1 and divide them)", groups, N);
    const std::vector<float> wf = wt->ToFloatVector();
    std::vector<float> w(wf.size());
    const float alpha = n.op == OpType::kGemm ? n.attrs.GetFloat("alpha", 1.0f) : 1.0f;
    for (int64_t r = 0; r < N; ++r)
      for (int64_t k = 0; k < K; ++k)
        w[static_cast<size_t>(r * K + k)] = alpha * (already_nk ? wf[static_cast<size_t>(r * K + k)]
                                                                : wf[static_cast<size_t>(k * N + r)]);
    // Packed int4 and group scales need the W4A8 kernel: int8 activations.
    const bool low_bit_ok = type_ != fb::ElementType::INT16 && groups == 1;
    if (type_ == fb::ElementType::INT16 && groups == 1 && (opts_.weight_bits == 4 || opts_.group_size > 0))
      warnings_.push_back(fmt::format("'{}': int16 activations (--a16); its weights stay one code per byte with "
                                      "per-channel scales",
                                      n.name));
    std::vector<float> bias;
    if (const ir::Tensor* b = Const(n.input(2))) {
      bias = b->ToFloatVector();
      const float beta = n.op == OpType::kGemm ? n.attrs.GetFloat("beta", 1.0f) : 1.0f;
      if (bias.size() == 1) bias.assign(static_cast<size_t>(N), bias[0]);
      if (static_cast<int64_t>(bias.size()) != N) return Unsupported("bias of {} elements for {} outputs", bias.size(), N);
      for (float& v : bias) v *= beta;
    } else if (n.input(2) != kNoValue) {
      return Unsupported("a bias computed at run time");
    }
    if (auto it = opts_.linear_input_offset.find(n.name); it != opts_.linear_input_offset.end()) {
      const std::vector<float>& delta = it->second;  // x + δ: b + W·δ (unit r reads its group's channels)
      if (static_cast<int64_t>(delta.size()) != K * groups)
        return Internal("input offset of {} values for {} input channels", delta.size(), K * groups);
      bias.resize(static_cast<size_t>(N), 0.0f);
      for (int64_t r = 0; r < N; ++r) {
        const float* d = delta.data() + r / (N / groups) * K;
        double sum = 0;
        for (int64_t k = 0; k < K; ++k) sum += double{w[static_cast<size_t>(r * K + k)]} * d[k];
        bias[static_cast<size_t>(r)] += static_cast<float>(sum);
      }
    }
    SQ_ASSIGN_OR_RETURN(WeightTensor wq, Weights(n.name + ".weight", w, {N, K}, low_bit_ok, low_bit_ok,
                                                 groups == 1 ? opts_.weight_bits : 8, ScaleFloor(bias, pa, K)));
    std::vector<int32_t> inputs = {a, wq.tensor};
    fb::FullyConnectedOptionsT o;
    o.groups = static_cast<int32_t>(groups);
    o.requant = BiasAndRequant(n.name + ".bias", bias, pa.scale, wq, N, out, &inputs, &o.group_multiplier);
    AddOp(fb::OpCode::FULLY_CONNECTED, n, inputs, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
    return Status::Ok();
  }

  // Add/Sub/Mul with two activations or an activation and a (non-scalar) constant; Div by a
  // constant as Mul by its reciprocal.
  Status LowerBinary(size_t i) {
    const Node& n = g_.nodes[i];
    SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
    int32_t t[2];
    AffineParams p[2];
    for (int k = 0; k < 2; ++k) {
      const ValueId v = n.input(static_cast<size_t>(k));
      if (IsActivation(v)) {
        SQ_ASSIGN_OR_RETURN(t[k], Activation(Resolve(v)));
        SQ_ASSIGN_OR_RETURN(p[k], Grid(v));
      } else {
        ir::Tensor c = Const(v)->Clone();
        if (c.dtype() != DType::kFloat32) return Unsupported("a non-float constant operand");
        if (n.op == OpType::kDiv)
          for (float& f : c.span<float>()) f = 1.0f / f;
        SQ_ASSIGN_OR_RETURN(auto qc, OwnGridConst(g_.value(v).name, c));
        t[k] = qc.first;
        p[k] = qc.second;
      }
    }
    fb::ElementwiseOptionsT o;
    fb::OpCode code = fb::OpCode::MUL;
    if (n.op == OpType::kAdd || n.op == OpType::kSub) {
      code = n.op == OpType::kAdd ? fb::OpCode::ADD : fb::OpCode::SUB;
      const quant_math::AddParams ap =
          quant_math::BuildAddParams(p[0].scale, p[1].scale, out.grid.scale, TypeBits(GridType(out.grid)));
      o.left_shift = ap.left_shift;
      o.input1 = MakeRequantPtr({ap.a}, TypeRange(GridType(out.grid)));
      o.input2 = MakeRequantPtr({ap.b}, TypeRange(GridType(out.grid)));
      o.output = MakeRequantPtr({ap.out}, out.act);
    } else {
      o.input1 = MakeRequantPtr({}, TypeRange(GridType(out.grid)));
      o.input2 = MakeRequantPtr({}, TypeRange(GridType(out.grid)));
      o.output = MakeRequantPtr({quant_math::BuildMulRequant(p[0].scale, p[1].scale, out.grid.scale)}, out.act);
    }
    AddOp(code, n, {t[0], t[1]}, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
    return Status::Ok();
  }

  Status LowerSoftmax(size_t i) {
    const Node& n = g_.nodes[i];
    const ir::Dims in = DimsOf(n.input(0));
    int64_t axis = n.attrs.GetInt("axis", -1);
    if (axis < 0) axis += static_cast<int64_t>(in.size());
    if (axis != static_cast<int64_t>(in.size()) - 1)
      return Unsupported("softmax over axis {} of rank {} (the last axis is supported)", axis, in.size());
    fb::SoftmaxOptionsT o;
    ValueId scores = n.input(0);
    if (auto it = softmax_mask_.find(i); it != softmax_mask_.end()) {
      scores = it->second.first;
      const ir::Tensor& m = *Const(it->second.second);
      std::vector<uint8_t> keep(static_cast<size_t>(m.size()));
      for (size_t k = 0; k < keep.size(); ++k) keep[k] = m.data<float>()[k] > kMaskedBelow;
      o.mask = AddConstTensor(g_.value(it->second.second).name, fb::ElementType::UINT8, m.dims(), keep.data(),
                              keep.size(), {});
    }
    SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(scores));
    SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(scores)));
    o.exp_bits = kSoftmaxExpBits;
    o.exp_table = quant_math::BuildSoftmaxExpTable(pin.scale, kSoftmaxExpBits, TypeBits(GridType(pin)));
    o.zeta = n.attrs.GetFloat("zeta", 1.0f);
    o.gamma = n.attrs.GetFloat("gamma", 0.0f);
    if (auto grid = opts_.softmax_grids.find(n.name); grid != opts_.softmax_grids.end())
      return LowerLogGridSoftmax(n, x, grid->second, std::move(o));
    // Uniform output grid: probabilities in [0, 1) with step 1/2^b (int8, zero point −128,
    // codes −128 .. −128 + 2^b − 1; the kernel derives b from the scale).
    AffineParams pout;
    pout.scale = std::ldexp(1.0f, -opts_.softmax_bits);
    pout.zero_point = -128;
    pout.qmin = -128;
    pout.qmax = -128 + (1 << opts_.softmax_bits) - 1;
    AddOp(fb::OpCode::SOFTMAX, n, {x}, {NewActivation(n.outputs[0], pout)}, Options(std::move(o)));
    return Status::Ok();
  }

  // Log-grid output (LogGridQuantization): every reader must be the left operand of a MatMul of
  // two activations (lowered to BATCH_MATMUL's shift path). The grid recorded for the readers is
  // the P·V accumulator's: scale delta·2^−R (R = the largest shift), zero point 0, so
  // LowerMatMul's requantization s_P·s_V/s_out is the one the kernel needs.
  Status LowerLogGridSoftmax(const Node& n, int32_t x, const LogGridTables& grid, fb::SoftmaxOptionsT o) {
    const char* kind = fb::EnumNameSoftmaxGrid(grid.kind);
    if (o.zeta - o.gamma > 2.0f)
      return Unsupported("--softmax-quant {} with a clipped softmax of zeta - gamma = {} (at most 2)", kind,
                         o.zeta - o.gamma);
    const ValueId pv = n.outputs[0];
    int32_t matmul_reads = 0;
    const std::span<const int32_t> readers = index_.Readers(pv);  // ascending; twice for two reads
    for (size_t r = 0; r < readers.size(); ++r) {
      if (r > 0 && readers[r] == readers[r - 1]) continue;
      const auto j = static_cast<size_t>(readers[r]);
      const Node& c = g_.nodes[j];
      for (size_t k = 0; k < c.inputs.size(); ++k) {
        if (c.inputs[k] != pv) continue;
        if (c.op != OpType::kMatMul || k != 0 || !IsActivation(c.input(1)) || c.input(1) == pv)
          return Unsupported("--softmax-quant {}: softmax output '{}' is read by {} '{}' (input {}); only the "
                             "left operand of a MatMul of two activations can read log-grid codes",
                             kind, g_.value(pv).name, ir::OpName(c.op), c.name, k);
        if (NodeType(j) != fb::ElementType::INT8)
          return Unsupported("--softmax-quant {}: MatMul '{}' computes in int16 (--a16); log grids need int8", kind,
                             c.name);
        ++matmul_reads;
      }
    }
    if (matmul_reads != index_.Uses(pv))
      return Unsupported("--softmax-quant {}: softmax output '{}' is a graph output", kind, g_.value(pv).name);
    const int32_t max_shift = *std::max_element(grid.shifts.begin(), grid.shifts.end());
    AffineParams pacc;
    pacc.scale = std::ldexp(grid.delta, -max_shift);
    pacc.zero_point = 0;
    pacc.qmin = -128;  // int8 bytes; the codes themselves are unsigned (up to 254)
    pacc.qmax = 127;
    const int32_t y = NewActivation(pv, pacc);
    fb::LogGridQuantizationT q;
    q.bits = grid.bits;
    q.kind = grid.kind;
    q.delta = grid.delta;
    q.eta = grid.eta;
    q.thresholds = grid.thresholds;
    q.shifts = grid.shifts;
    q.sqrt2 = grid.sqrt2;
    model_->tensors[static_cast<size_t>(y)]->quantization.Set(std::move(q));
    AddOp(fb::OpCode::SOFTMAX, n, {x}, {y}, Options(std::move(o)));
    return Status::Ok();
  }

  Status LowerLayerNorm(size_t i) {
    const Node& n = g_.nodes[i];
    const ir::Dims in = DimsOf(n.input(0));
    int64_t axis = n.attrs.GetInt("axis", -1);
    if (axis < 0) axis += static_cast<int64_t>(in.size());
    if (axis != static_cast<int64_t>(in.size()) - 1)
      return Unsupported("LayerNormalization over axes from {} of rank {} (the last axis is supported)", axis,
                         in.size());
    const int64_t c = in.back();
    const ir::Tensor* gamma = Const(n.input(1));
    if (!gamma) return Unsupported("scale must be constant");
    std::vector<float> gv = gamma->ToFloatVector(), bv(static_cast<size_t>(c), 0.0f);
    if (n.input(2) != kNoValue) {
      const ir::Tensor* beta = Const(n.input(2));
      if (!beta) return Unsupported("bias must be constant");
      bv = beta->ToFloatVector();
    }
    if (gv.size() == 1) gv.assign(static_cast<size_t>(c), gv[0]);
    if (bv.size() == 1) bv.assign(static_cast<size_t>(c), bv[0]);
    if (static_cast<int64_t>(gv.size()) != c || static_cast<int64_t>(bv.size()) != c)
      return Unsupported("scale/bias not of the normalized size {}", c);
    return EmitLayerNorm(i, gv, bv, /*rms=*/false);
  }

  // squint.RMSNorm: LAYER_NORM in RMS mode with γ = 1, β = 0.
  Status LowerRMSNorm(size_t i) {
    const size_t c = static_cast<size_t>(DimsOf(g_.nodes[i].input(0)).back());
    return EmitLayerNorm(i, std::vector<float>(c, 1.0f), std::vector<float>(c, 0.0f), /*rms=*/true);
  }

  Status EmitLayerNorm(size_t i, const std::vector<float>& gamma, const std::vector<float>& beta, bool rms) {
    const Node& n = g_.nodes[i];
    SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(n.input(0)));
    SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
    SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(n.input(0))));
    const quant_math::LayerNormParamsQ lp = quant_math::BuildLayerNormParams(
        pin.scale, out.grid.scale, gamma, beta, n.attrs.GetFloat("epsilon", 1e-5f));
    fb::LayerNormOptionsT o;
    o.norm_bits = lp.norm_bits;
    o.epsilon_q = lp.epsilon_q;
    o.gamma_q = lp.gamma_q;
    o.beta_q = lp.beta_q;
    o.requant = MakeRequantPtr({lp.requant}, out.act);
    o.rms = rms;
    AddOp(fb::OpCode::LAYER_NORM, n, {x}, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
    return Status::Ok();
  }

  Status LowerAveragePool(size_t i) {
    const Node& n = g_.nodes[i];
    SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(n.input(0)));
    SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
    SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(n.input(0))));
    return LowerPool(n, x, pin, out.grid, /*max=*/false, out.act);
  }

  Status LowerConcat(size_t i) {
    const Node& n = g_.nodes[i];
    SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
    const int64_t rank = static_cast<int64_t>(DimsOf(n.outputs[0]).size());
    int64_t axis = n.attrs.GetInt("axis", 0);
    if (axis < 0) axis += rank;
    fb::ConcatOptionsT o;
    o.axis = static_cast<int32_t>(axis);
    std::vector<int32_t> inputs;
    for (ValueId v : n.inputs) {
      if (IsActivation(v)) {
        SQ_ASSIGN_OR_RETURN(int32_t t, Activation(Resolve(v)));
        SQ_ASSIGN_OR_RETURN(AffineParams p, Grid(v));
        inputs.push_back(t);
        const rt::ref::RescaleParams r = quant_math::BuildRescale(p.scale, p.zero_point, out.grid.scale,
                                                                  out.grid.zero_point, out.act);
        o.requant.push_back(MakeRequantPtr({{r.multiplier, r.shift}}, {r.act_min, r.act_max}));
      } else {
        inputs.push_back(QuantizedConst(g_.value(v).name, *Const(v), out.grid));
        o.requant.push_back(MakeRequantPtr({quant_math::RequantFromReal(1.0)}, out.act));
      }
    }
    AddOp(fb::OpCode::CONCAT, n, inputs, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
    return Status::Ok();
  }

  Status LowerGather(size_t i) {
    const Node& n = g_.nodes[i];
    const int64_t rank = static_cast<int64_t>(DimsOf(n.input(0)).size());
    int64_t axis = n.attrs.GetInt("axis", 0);
    if (axis < 0) axis += rank;
    fb::GatherOptionsT o;
    o.axis = static_cast<int32_t>(axis);
    int32_t data = -1;
    AffineParams p;
    if (IsActivation(n.input(0))) {
      SQ_ASSIGN_OR_RETURN(data, Activation(Resolve(n.input(0))));
      SQ_ASSIGN_OR_RETURN(p, Grid(n.input(0)));
    } else {  // an embedding table
      SQ_ASSIGN_OR_RETURN(auto qc, OwnGridConst(g_.value(n.input(0)).name, *Const(n.input(0))));
      data = qc.first;
      p = qc.second;
    }
    int32_t indices = -1;
    if (const ir::Tensor* idx = Const(n.input(1))) {
      const std::vector<int64_t> iv = idx->ToInt64Vector();
      std::vector<int32_t> i32(iv.begin(), iv.end());
      indices = AddConstTensor(g_.value(n.input(1)).name, fb::ElementType::INT32, idx->dims(), i32.data(),
                               i32.size() * 4, {});
    } else {
      SQ_ASSIGN_OR_RETURN(indices, Activation(n.input(1)));
    }
    AddOp(fb::OpCode::GATHER, n, {data, indices}, {NewActivation(n.outputs[0], p)}, Options(std::move(o)));
    return Status::Ok();
  }

  Status LowerResize(size_t i) {
    const Node& n = g_.nodes[i];
    const std::string mode = n.attrs.GetString("mode", "nearest");
    const std::string coord = n.attrs.GetString("coordinate_transformation_mode", "half_pixel");
    const std::string nearest = n.attrs.GetString("nearest_mode", "round_prefer_floor");
    fb::ResizeOptionsT o;
    if (mode != "nearest" && mode != "linear") return Unsupported("resize mode '{}'", mode);
    o.mode = mode == "linear" ? 1 : 0;
    static const char* kCoord[] = {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"};
    static const char* kNearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    o.coordinate_mode = -1;
    for (int k = 0; k < 4; ++k) {
      if (coord == kCoord[k]) o.coordinate_mode = static_cast<int8_t>(k);
      if (nearest == kNearest[k]) o.nearest_mode = static_cast<int8_t>(k);
    }
    if (o.coordinate_mode < 0) return Unsupported("coordinate_transformation_mode '{}'", coord);
    const ir::Dims in = DimsOf(n.input(0)), out_dims = DimsOf(n.outputs[0]);
    if (in.size() != 4 || in[0] != out_dims[0] || in[1] != out_dims[1])
      return Unsupported("resize other than over H and W of NCHW");
    SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(n.input(0)));
    SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
    SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(n.input(0))));
    o.requant = MakeRequantPtr({quant_math::BuildResizeRequant(pin.scale, out.grid.scale, o.mode == 1)}, out.act);
    AddOp(fb::OpCode::RESIZE, n, {x}, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
    return Status::Ok();
  }

  // ---- Memory plan -----------------------------------------------------------------------

  Status PlanArena() {
    rt::PlanProblem problem;
    for (const auto& t : model_->tensors) {
      int64_t bytes = t->type == fb::ElementType::INT32 ? 4 : t->type == fb::ElementType::INT16 ? 2 : 1;
      for (int32_t d : t->shape) bytes *= d;
      problem.tensor_bytes.push_back(t->buffer ? -1 : std::max<int64_t>(bytes, 1));
    }
    for (const auto& op : model_->operators) {
      problem.op_inputs.push_back(op->inputs);
      problem.op_outputs.push_back(op->outputs);
      problem.op_may_alias.push_back(false);
    }
    problem.model_inputs = model_->inputs;
    problem.model_outputs = model_->outputs;
    rt::MemoryPlanResult plan;
    rt::Status s = rt::PlanMemory(problem, /*allow_alias=*/false, &plan);
    if (!s.ok()) return Internal("memory plan: {}", s.message());
    for (size_t t = 0; t < model_->tensors.size(); ++t) model_->tensors[t]->arena_offset = plan.offsets[t];
    model_->plan = std::make_unique<fb::MemoryPlanT>();
    model_->plan->arena_size = plan.arena_size;
    model_->plan->lower_bound = plan.lower_bound;
    return Status::Ok();
  }

  const ir::Graph& g_;
  const Calibration& cal_;
  const LowerOptions& opts_;
  std::unique_ptr<fb::ModelT> model_;
  std::vector<int32_t> tensor_of_;                  // per value: tensor index, −1 none
  std::vector<std::optional<AffineParams>> grid_;   // per value: its grid (int8 or int16)
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

}  // namespace

Status CheckLowerOptions(const ir::Graph& g, const LowerOptions& options) {
  for (auto [flag, bits] : {std::pair{"--weight-bits", options.weight_bits}, std::pair{"--act-bits", options.act_bits}})
    if (bits != 8 && bits != 6 && bits != 4)
      return InvalidInput("{}: bits {} is not supported (8, 6 or 4)", flag, bits);
  if (options.group_size != 0 && options.group_size != 32 && options.group_size != 64 && options.group_size != 128)
    return InvalidInput("--group-size {} is not supported (0 = one scale per output channel, 32, 64 or 128)",
                        options.group_size);
  if (options.group_size != 0 && !options.per_channel)
    return InvalidInput("--group-size {} with --per-tensor: group scales refine per-channel scales; give one or "
                        "the other",
                        options.group_size);
  if (options.softmax_bits < 2 || options.softmax_bits > 8)
    return InvalidInput("--softmax-bits {} is not supported (the softmax output takes 2 to 8 bits)",
                        options.softmax_bits);
  std::set<std::string> names, op_types;
  for (const Node& n : g.nodes) {
    names.insert(n.name);
    op_types.insert(std::string(ir::OpName(n.op)));
  }
  for (const std::string& want : options.a16)
    if (!names.count(want) && !op_types.count(want))
      return InvalidInput("--a16 '{}': no node has this name or op type (op types in the model: {})", want,
                          fmt::join(op_types, ", "));
  return Status::Ok();
}

Result<LoweredModel> Lower(const ir::Graph& g, const Calibration& calibration, const LowerOptions& options) {
  if (calibration.ranges.size() != g.values.size())
    return Internal("calibration is for another graph ({} values, graph has {})", calibration.ranges.size(),
                    g.values.size());
  SQ_RETURN_IF_ERROR(CheckLowerOptions(g, options));
  Lowerer lowerer(g, calibration, options);
  return lowerer.Run();
}

}  // namespace squint::quant

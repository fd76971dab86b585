// The lowering driver (quant/lowerer.h has the layout): the op table, the graph-level decisions made
// before any node is lowered, graph inputs and the memory plan; CheckLowerOptions and Lower.
#include <map>
#include <string>

#include "quant/fuse_code_maps.h"
#include "quant/lowerer.h"

namespace squint::quant::lowering {

Status Lowerer::SelectTypes() {
  FindFoldedActivations();
  FindSoftmaxMasks();
  if (const ActivationTypes* t = opts_.activation_types.get()) {
    if (t->wide.size() != g_.values.size() || t->narrow.size() != g_.values.size() ||
        t->written.size() != g_.values.size())
      return Internal("activation types are for another graph ({} values, graph has {})", t->wide.size(),
                      g_.values.size());
    wide_ = t->wide;
    narrow_ = t->narrow;
    return Status::Ok();
  }
  SQ_RETURN_IF_ERROR(SelectInt16());
  SelectNarrow();
  return Status::Ok();
}

Result<ActivationTypes> Lowerer::Types() {
  SQ_RETURN_IF_ERROR(SelectTypes());
  ActivationTypes t{wide_, narrow_, std::vector<fb::ElementType>(g_.values.size(), fb::ElementType::INT8)};
  // What Run writes: a node's output in NodeType (Output), a folded ReLU's output in its
  // producer's, and the ops that keep their input's grid (data movement, Gather of activations)
  // in their input's type.
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    const Node& n = g_.nodes[i];
    if (folded_into_.count(i)) continue;
    const bool keeps_input = IsScalePreserving(n.op) || (n.op == OpType::kGather && IsActivation(n.input(0)));
    for (ValueId o : n.outputs) {
      if (o == kNoValue) continue;
      const fb::ElementType type =
          keeps_input && IsActivation(n.input(0)) ? t.written[static_cast<size_t>(Resolve(n.input(0)))] : NodeType(i);
      t.written[static_cast<size_t>(o)] = t.written[static_cast<size_t>(Resolve(o))] = type;
    }
  }
  return t;
}

Result<LoweredModel> Lowerer::Run() {
  SQ_RETURN_IF_ERROR(CheckSupported());
  SQ_RETURN_IF_ERROR(SelectTypes());
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
  if (opts_.fuse_code_maps) {
    SQ_ASSIGN_OR_RETURN(std::vector<FusedCodeMap> fused, FuseCodeMaps(model_.get()));
    std::map<std::string, std::string> into;
    for (const FusedCodeMap& f : fused) into[f.removed] = f.into;
    for (LoweredNode& r : report_)
      if (auto it = into.find(r.node); it != into.end())
        r.lowered = fmt::format("fused into the lookup table of '{}'", it->second);
  }
  SQ_RETURN_IF_ERROR(PlanArena());
  return LoweredModel{std::move(model_), std::move(report_), std::move(warnings_)};
}

Status Lowerer::CheckSupported() {
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

// The one list of ops with an integer lowering: for each op type, when a node of it can be lowered
// (beyond the lookup-table and data-movement forms every op gets first) and the member function
// that lowers it. A new op is one entry.
struct Lowerer::OpLowering {
  OpType op;
  bool (Lowerer::*lowerable)(const Node&) const;
  Status (Lowerer::*lower)(size_t);
};

const Lowerer::OpLowering* Lowerer::FindLowering(OpType op) {
  static constexpr OpLowering kTable[] = {
      {OpType::kConv, &Lowerer::Always, &Lowerer::LowerConv},
      {OpType::kConvTranspose, &Lowerer::Always, &Lowerer::LowerConvTranspose},
      {OpType::kLinear, &Lowerer::Always, &Lowerer::LowerMatMul},
      {OpType::kGemm, &Lowerer::Always, &Lowerer::LowerMatMul},
      {OpType::kMatMul, &Lowerer::Always, &Lowerer::LowerMatMul},
      {OpType::kAdd, &Lowerer::HasActivationInput, &Lowerer::LowerBinary},
      {OpType::kSub, &Lowerer::HasActivationInput, &Lowerer::LowerBinary},
      {OpType::kMul, &Lowerer::HasActivationInput, &Lowerer::LowerBinary},
      {OpType::kDiv, &Lowerer::DividesByConstant, &Lowerer::LowerBinary},
      {OpType::kSoftmax, &Lowerer::Always, &Lowerer::LowerSoftmax},
      {OpType::kLayerNormalization, &Lowerer::Always, &Lowerer::LowerLayerNorm},
      {OpType::kRMSNorm, &Lowerer::Always, &Lowerer::LowerRMSNorm},
      {OpType::kHadamard, &Lowerer::Always, &Lowerer::LowerHadamard},
      {OpType::kAveragePool, &Lowerer::Always, &Lowerer::LowerAveragePool},
      {OpType::kGlobalAveragePool, &Lowerer::Always, &Lowerer::LowerAveragePool},
      {OpType::kReduceMean, &Lowerer::HasConstantAxes, &Lowerer::LowerMean},
      {OpType::kConcat, &Lowerer::Always, &Lowerer::LowerConcat},
      {OpType::kGather, &Lowerer::Always, &Lowerer::LowerGather},
      {OpType::kResize, &Lowerer::Always, &Lowerer::LowerResize},
  };
  for (const OpLowering& l : kTable)
    if (l.op == op) return &l;
  return nullptr;
}

bool Lowerer::Lowerable(const Node& n) const {
  if (IsLutCandidate(n) || IsScalePreserving(n.op)) return true;
  const OpLowering* l = FindLowering(n.op);
  return l != nullptr && (this->*(l->lowerable))(n);
}

void Lowerer::FindFoldedActivations() {
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

void Lowerer::FindSoftmaxMasks() {
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

Status Lowerer::SelectInt16() {
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    const Node& n = g_.nodes[i];
    if (!Lists(opts_.a16, n)) continue;
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

void Lowerer::SelectNarrow() {
  if (opts_.act_bits_scope == LowerOptions::ActBitsScope::kAll) {
    narrow_.assign(g_.values.size(), true);
    return;
  }
  for (const Node& n : g_.nodes) {
    if (n.op != OpType::kLinear && n.op != OpType::kGemm && n.op != OpType::kMatMul && n.op != OpType::kConv &&
        n.op != OpType::kConvTranspose)
      continue;
    for (size_t k = 0; k < std::min<size_t>(2, n.inputs.size()); ++k)  // x, and b of a product of two activations
      if (IsActivation(n.inputs[k])) narrow_[static_cast<size_t>(Resolve(n.inputs[k]))] = true;
  }
}

Status Lowerer::AddGraphInput(ValueId id) {
  const ir::Value& v = g_.value(id);
  if (v.dtype == DType::kFloat32) {
    // A block's input takes the type its producer writes in the whole graph.
    const fb::ElementType type = opts_.activation_types ? opts_.activation_types->written[static_cast<size_t>(id)]
                                                        : fb::ElementType::INT8;
    SQ_ASSIGN_OR_RETURN(AffineParams p, CalibratedGrid(id, type));
    model_->inputs.push_back(NewActivation(id, p));
    return Status::Ok();
  }
  if (passes::IsIntegerOrBool(v.dtype)) {  // token ids, masks
    model_->inputs.push_back(NewIndexTensor(id));
    return Status::Ok();
  }
  return Unsupported("model input '{}' has type {}; squint quantizes float32 inputs and takes integer ids and masks",
                     v.name, ir::DTypeName(v.dtype));
}

Status Lowerer::LowerNode(size_t i) {
  const Node& n = g_.nodes[i];
  if (IsLutCandidate(n)) return LowerLut(i);
  if (IsScalePreserving(n.op)) return LowerScalePreserving(n);
  const OpLowering* l = FindLowering(n.op);
  if (l == nullptr) return Internal("no lowering");
  return (this->*(l->lower))(i);
}

Status Lowerer::PlanArena() { return PlanModelArena(model_.get()); }

}  // namespace squint::quant::lowering

namespace squint::quant {

Status PlanModelArena(fb::ModelT* model) {
  rt::PlanProblem problem;
  for (const auto& t : model->tensors) {
    int64_t bytes = t->type == fb::ElementType::INT32 ? 4 : t->type == fb::ElementType::INT16 ? 2 : 1;
    for (int32_t d : t->shape) bytes *= d;
    problem.tensor_bytes.push_back(t->buffer ? -1 : std::max<int64_t>(bytes, 1));
  }
  for (const auto& op : model->operators) {
    problem.op_inputs.emplace_back(op->inputs.begin(), op->inputs.end());
    problem.op_outputs.emplace_back(op->outputs.begin(), op->outputs.end());
    problem.op_may_alias.push_back(false);
  }
  problem.model_inputs.assign(model->inputs.begin(), model->inputs.end());
  problem.model_outputs.assign(model->outputs.begin(), model->outputs.end());
  rt::MemoryPlanResult plan;
  rt::Status s = rt::PlanMemory(problem, /*allow_alias=*/false, &plan);
  if (!s.ok()) return Internal("memory plan: {}", s.message());
  for (size_t t = 0; t < model->tensors.size(); ++t) model->tensors[t]->arena_offset = plan.offsets[t];
  model->plan = std::make_unique<fb::MemoryPlanT>();
  model->plan->arena_size = plan.arena_size;
  model->plan->lower_bound = plan.lower_bound;
  return Status::Ok();
}

using ir::Node;
Status CheckLowerOptions(const ir::Graph& g, const LowerOptions& options) {
  for (auto [flag, bits] : {std::pair{"--weight-bits", options.weight_bits}, std::pair{"--act-bits", options.act_bits}})
    if (bits != 8 && bits != 6 && bits != 4 && bits != 3)
      return InvalidInput("{}: bits {} is not supported (8, 6, 4 or 3)", flag, bits);
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
  for (const auto& [flag, list] : {std::pair{"--a16", &options.a16}, std::pair{"--w8", &options.w8}})
    for (const std::string& want : *list)
      if (!names.count(want) && !op_types.count(want))
        return InvalidInput("{} '{}': no node has this name or op type (op types in the model: {})", flag, want,
                            fmt::join(op_types, ", "));
  if (!options.w8.empty() && options.weight_bits == 8)
    return InvalidInput("--w8 {}: the weights are 8-bit already (--w8 keeps layers at 8 bits with --weight-bits 6, 4 "
                        "or 3)",
                        fmt::join(options.w8, ", "));
  return Status::Ok();
}

Result<LoweredModel> Lower(const ir::Graph& g, const Calibration& calibration, const LowerOptions& options) {
  if (calibration.ranges.size() != g.values.size())
    return Internal("calibration is for another graph ({} values, graph has {})", calibration.ranges.size(),
                    g.values.size());
  // A block of a larger graph (activation_types set) need not have the nodes --a16/--w8 name.
  if (options.activation_types) {
    LowerOptions checked = options;
    checked.a16.clear();
    checked.w8.clear();
    SQ_RETURN_IF_ERROR(CheckLowerOptions(g, checked));
  } else {
    SQ_RETURN_IF_ERROR(CheckLowerOptions(g, options));
  }
  lowering::Lowerer lowerer(g, calibration, options);
  return lowerer.Run();
}

Result<ActivationTypes> SelectActivationTypes(const ir::Graph& g, const LowerOptions& options) {
  const Calibration none;
  lowering::Lowerer lowerer(g, none, options);
  return lowerer.Types();
}

}  // namespace squint::quant

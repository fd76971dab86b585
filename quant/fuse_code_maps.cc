#include "quant/fuse_code_maps.h"

#include <algorithm>
#include <map>
#include <memory>

#include "quant/lower.h"
#include "quant/runtime_model.h"

namespace squint::quant {
namespace {

constexpr int32_t kNone = -1;

bool IsActivation(const fb::ModelT& m, int32_t t) {
  return t >= 0 && static_cast<size_t>(t) < m.tensors.size() && m.tensors[static_cast<size_t>(t)]->buffer == 0;
}
bool SmallType(fb::ElementType t) { return t == fb::ElementType::INT8 || t == fb::ElementType::INT16; }

// Whether op computes each output code from the operands' codes at the same position alone.
bool IsCodeWise(const fb::ModelT& m, const fb::OperatorT& op) {
  if (op.outputs.size() != 1 || !IsActivation(m, op.outputs[0])) return false;
  const fb::TensorT& y = *m.tensors[static_cast<size_t>(op.outputs[0])];
  if (!SmallType(y.type)) return false;
  auto same_shape = [&](int32_t t) { return IsActivation(m, t) && m.tensors[static_cast<size_t>(t)]->shape == y.shape; };
  switch (op.opcode) {
    case fb::OpCode::LUT:
    case fb::OpCode::REQUANTIZE: return op.inputs.size() == 1 && same_shape(op.inputs[0]);
    case fb::OpCode::ADD:
    case fb::OpCode::SUB:
    case fb::OpCode::MUL: return op.inputs.size() == 2 && same_shape(op.inputs[0]) && same_shape(op.inputs[1]);
    default: return false;
  }
}

// The codes of `terminals` for every code of the int8 tensors `origins`, by the ops `ops` (in
// model order) run on the reference kernels over a model of one [256] tensor per value:
// codes[t][c] for origin code c − 128 of t's origin.
Status EvaluateChains(const fb::ModelT& m, const std::vector<int32_t>& ops, const std::vector<int32_t>& origins,
                      const std::vector<int32_t>& terminals, std::map<int32_t, std::vector<int16_t>>* codes) {
  fb::ModelT mini;
  mini.schema_version_major = m.schema_version_major;
  mini.schema_version_minor = m.schema_version_minor;
  mini.buffers.push_back(std::make_unique<fb::BufferT>());  // buffer 0: empty
  std::map<int32_t, int32_t> index;                          // model tensor → mini tensor
  auto tensor = [&](int32_t t) {
    auto it = index.find(t);
    if (it != index.end()) return it->second;
    auto copy = std::make_unique<fb::TensorT>(*m.tensors[static_cast<size_t>(t)]);
    copy->shape = {256};  // (its arena offset: PlanModelArena's, below)
    const auto i = static_cast<int32_t>(mini.tensors.size());
    mini.tensors.push_back(std::move(copy));
    index[t] = i;
    return i;
  };
  for (int32_t s : origins) mini.inputs.push_back(tensor(s));
  for (int32_t i : ops) {
    auto op = std::make_unique<fb::OperatorT>(*m.operators[static_cast<size_t>(i)]);
    for (int32_t& t : op->inputs) t = tensor(t);
    for (int32_t& t : op->outputs) t = tensor(t);
    mini.operators.push_back(std::move(op));
  }
  for (int32_t t : terminals) mini.outputs.push_back(tensor(t));
  SQ_RETURN_IF_ERROR(PlanModelArena(&mini));
  RuntimeModel run;
  SQ_RETURN_IF_ERROR(run.Init(mini, "code-map fusion", rt::Isa::kReference));
  rt::Interpreter& interp = run.interp;
  for (int32_t t : mini.inputs) {
    auto* x = static_cast<int8_t*>(interp.mutable_tensor_data(t));
    for (int32_t c = 0; c < 256; ++c) x[c] = static_cast<int8_t>(c - 128);
  }
  if (rt::Status s = interp.Invoke(); !s.ok()) return Internal("code-map fusion: invoke: {}", s.message());
  for (int32_t t : terminals) {
    std::vector<int16_t>& out = (*codes)[t];
    out.resize(256);
    const void* y = interp.tensor_data(index.at(t));
    for (int32_t c = 0; c < 256; ++c)
      out[static_cast<size_t>(c)] = m.tensors[static_cast<size_t>(t)]->type == fb::ElementType::INT16
                                        ? static_cast<const int16_t*>(y)[c]
                                        : static_cast<const int8_t*>(y)[c];
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<FusedCodeMap>> FuseCodeMaps(fb::ModelT* model) {
  fb::ModelT& m = *model;
  const size_t num_tensors = m.tensors.size(), num_ops = m.operators.size();
  std::vector<int32_t> producer(num_tensors, kNone), origin(num_tensors, kNone), depth(num_tensors, 0);
  std::vector<std::vector<int32_t>> consumers(num_tensors);
  std::vector<bool> is_output(num_tensors, false);
  for (int32_t t : m.outputs) is_output[static_cast<size_t>(t)] = true;
  for (size_t i = 0; i < num_ops; ++i) {
    for (int32_t t : m.operators[i]->inputs)
      if (t >= 0) consumers[static_cast<size_t>(t)].push_back(static_cast<int32_t>(i));
    for (int32_t t : m.operators[i]->outputs)
      if (t >= 0) producer[static_cast<size_t>(t)] = static_cast<int32_t>(i);
  }
  // The origin of each code-wise op's output: the one int8 tensor all its operands derive from.
  for (size_t i = 0; i < num_ops; ++i) {
    const fb::OperatorT& op = *m.operators[i];
    if (!IsCodeWise(m, op)) continue;
    int32_t s = kNone, d = 0;
    bool one = true;
    for (int32_t t : op.inputs) {
      const int32_t from = origin[static_cast<size_t>(t)] != kNone ? origin[static_cast<size_t>(t)] : t;
      one = one && (s == kNone || s == from);
      s = from;
      d = std::max(d, depth[static_cast<size_t>(t)]);
    }
    if (!one || m.tensors[static_cast<size_t>(s)]->type != fb::ElementType::INT8) continue;
    origin[static_cast<size_t>(op.outputs[0])] = s;
    depth[static_cast<size_t>(op.outputs[0])] = d + 1;
  }
  // Terminals: chain values of two or more ops that something outside their chain reads.
  auto in_chain_of = [&](int32_t consumer, int32_t s) {
    const fb::OperatorT& c = *m.operators[static_cast<size_t>(consumer)];
    return c.outputs.size() == 1 && origin[static_cast<size_t>(c.outputs[0])] == s;
  };
  std::vector<int32_t> terminals, origins, ops;
  std::vector<bool> is_origin(num_tensors, false);
  for (size_t t = 0; t < num_tensors; ++t) {
    const int32_t s = origin[t];
    if (s == kNone || depth[t] < 2) continue;
    bool outside = is_output[t];
    for (int32_t c : consumers[t]) outside = outside || !in_chain_of(c, s);
    if (!outside) continue;
    terminals.push_back(static_cast<int32_t>(t));
    if (!is_origin[static_cast<size_t>(s)]) origins.push_back(s);
    is_origin[static_cast<size_t>(s)] = true;
  }
  if (terminals.empty()) return std::vector<FusedCodeMap>{};
  auto chain_output = [&](const fb::OperatorT& op) {  // the op's output if it is a value of a fused chain
    return op.outputs.size() == 1 && op.outputs[0] >= 0 && origin[static_cast<size_t>(op.outputs[0])] != kNone &&
                   is_origin[static_cast<size_t>(origin[static_cast<size_t>(op.outputs[0])])]
               ? op.outputs[0]
               : kNone;
  };
  for (size_t i = 0; i < num_ops; ++i)
    if (chain_output(*m.operators[i]) != kNone) ops.push_back(static_cast<int32_t>(i));
  std::map<int32_t, std::vector<int16_t>> codes;
  SQ_RETURN_IF_ERROR(EvaluateChains(m, ops, origins, terminals, &codes));
  // Each terminal's producer becomes a LUT of its origin.
  for (int32_t t : terminals) {
    fb::OperatorT& op = *m.operators[static_cast<size_t>(producer[static_cast<size_t>(t)])];
    fb::LutOptionsT lut;
    lut.min_code = -128;
    lut.table = codes.at(t);
    op.opcode = fb::OpCode::LUT;
    op.inputs = {origin[static_cast<size_t>(t)]};
    op.options.Reset();
    op.options.Set(std::move(lut));
  }
  // Remove the ops nobody reads any more (last to first, so that a chain goes at once), then the
  // tensors no op and no model input or output refers to.
  std::vector<int32_t> readers(num_tensors, 0);
  for (const auto& op : m.operators)
    for (int32_t t : op->inputs)
      if (t >= 0) ++readers[static_cast<size_t>(t)];
  std::vector<bool> removed(num_ops, false);
  std::vector<FusedCodeMap> fused;
  for (size_t i = num_ops; i-- > 0;) {
    const fb::OperatorT& op = *m.operators[i];
    const int32_t y = op.outputs.empty() ? kNone : op.outputs[0];
    if (op.outputs.size() != 1 || y < 0 || origin[static_cast<size_t>(y)] == kNone || readers[static_cast<size_t>(y)] > 0 ||
        is_output[static_cast<size_t>(y)])
      continue;
    removed[i] = true;
    for (int32_t t : op.inputs)
      if (t >= 0) --readers[static_cast<size_t>(t)];
  }
  // For the report: each removed op, and the LUT that computes its chain (the next terminal of
  // its origin, in a pass from the last op to the first).
  std::vector<int32_t> next_terminal(num_tensors, kNone);  // by origin: the latest terminal op seen
  for (size_t i = num_ops; i-- > 0;) {
    const fb::OperatorT& op = *m.operators[i];
    if (op.outputs.size() != 1 || op.outputs[0] < 0) continue;
    const int32_t s = origin[static_cast<size_t>(op.outputs[0])];
    if (s == kNone) continue;
    if (removed[i]) {
      const int32_t j = next_terminal[static_cast<size_t>(s)];
      fused.push_back({op.name, j == kNone ? std::string() : m.operators[static_cast<size_t>(j)]->name});
    } else if (op.opcode == fb::OpCode::LUT && op.inputs.size() == 1 && op.inputs[0] == s) {
      next_terminal[static_cast<size_t>(s)] = static_cast<int32_t>(i);
    }
  }
  std::reverse(fused.begin(), fused.end());
  std::vector<std::unique_ptr<fb::OperatorT>> kept;
  for (size_t i = 0; i < num_ops; ++i)
    if (!removed[i]) kept.push_back(std::move(m.operators[i]));
  m.operators = std::move(kept);
  std::vector<bool> used(num_tensors, false);
  for (const auto& op : m.operators) {
    for (int32_t t : op->inputs)
      if (t >= 0) used[static_cast<size_t>(t)] = true;
    for (int32_t t : op->outputs)
      if (t >= 0) used[static_cast<size_t>(t)] = true;
  }
  for (int32_t t : m.inputs) used[static_cast<size_t>(t)] = true;
  for (int32_t t : m.outputs) used[static_cast<size_t>(t)] = true;
  std::vector<int32_t> renumber(num_tensors, kNone);
  std::vector<std::unique_ptr<fb::TensorT>> tensors;
  for (size_t t = 0; t < num_tensors; ++t) {
    if (!used[t]) continue;
    renumber[t] = static_cast<int32_t>(tensors.size());
    tensors.push_back(std::move(m.tensors[t]));
  }
  m.tensors = std::move(tensors);
  auto remap = [&](std::vector<int32_t>* list) {
    for (int32_t& t : *list)
      if (t >= 0) t = renumber[static_cast<size_t>(t)];
  };
  for (auto& op : m.operators) remap(&op->inputs), remap(&op->outputs);
  remap(&m.inputs);
  remap(&m.outputs);
  return fused;
}

}  // namespace squint::quant

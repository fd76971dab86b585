#include "report/model_summary.h"

#include <algorithm>

#include <fmt/format.h>

namespace squint::report {
namespace {

std::optional<int64_t> KnownElements(const ir::Graph& g, ir::ValueId id) {
  if (id == ir::kNoValue || !g.value(id).shape) return std::nullopt;
  auto dims = ir::DimsFromShape(*g.value(id).shape);
  if (!dims) return std::nullopt;
  return ir::ElementCount(*dims);
}

// Multiply-accumulates of one node, nullopt when its shapes are not all known, 0 for ops
// that do no multiply-accumulate work worth counting.
std::optional<int64_t> NodeMacs(const ir::Graph& g, const ir::Node& n) {
  using ir::OpType;
  auto out = KnownElements(g, n.outputs.empty() ? ir::kNoValue : n.outputs[0]);
  // Dim `index` of a value's shape (negative counts from the end), when known.
  auto dim = [&](ir::ValueId id, int64_t index) -> std::optional<int64_t> {
    if (id == ir::kNoValue || !g.value(id).shape) return std::nullopt;
    const ir::Shape& s = *g.value(id).shape;
    const int64_t rank = static_cast<int64_t>(s.size());
    const int64_t i = index < 0 ? rank + index : index;
    if (i < 0 || i >= rank || !s[static_cast<size_t>(i)].known()) return std::nullopt;
    return s[static_cast<size_t>(i)].value;
  };
  switch (n.op) {
    case OpType::kConv: {
      // Each output element: (C_in / group) x kernel products = weight elements / C_out.
      auto w = KnownElements(g, n.input(1));
      auto cout = dim(n.input(1), 0);
      if (!out || !w || !cout || *cout == 0) return std::nullopt;
      return *out * (*w / *cout);
    }
    case OpType::kConvTranspose: {
      // Each input element scatters (C_out / group) x kernel products = weight elements / C_in.
      auto in = KnownElements(g, n.input(0));
      auto w = KnownElements(g, n.input(1));
      auto cin = dim(n.input(1), 0);
      if (!in || !w || !cin || *cin == 0) return std::nullopt;
      return *in * (*w / *cin);
    }
    case OpType::kMatMul:
    case OpType::kLinear: {
      auto k = dim(n.input(0), -1);
      if (!out || !k) return std::nullopt;
      return *out * (*k / std::max<int64_t>(1, n.attrs.GetInt("groups", 1)));  // grouped: K/G per output
    }
    case OpType::kGemm: {
      const bool trans_a = n.attrs.GetInt("transA", 0) != 0;
      auto k = dim(n.input(0), trans_a ? 0 : 1);
      if (!out || !k) return std::nullopt;
      return *out * *k;
    }
    default: return 0;
  }
}

TensorSummary Describe(const ir::Value& v) {
  return {v.name, std::string(ir::DTypeName(v.dtype)), v.shape ? ir::ShapeToString(*v.shape) : "unknown"};
}

std::string FormatCount(int64_t n) {
  if (n >= 1000000000) return fmt::format("{:.2f} G", n / 1e9);
  if (n >= 1000000) return fmt::format("{:.2f} M", n / 1e6);
  if (n >= 1000) return fmt::format("{:.1f} k", n / 1e3);
  return std::to_string(n);
}

}  // namespace

ModelSummary Summarize(const ir::Graph& g) {
  ModelSummary s;
  s.opset = g.opset;
  s.producer = g.producer;
  for (ir::ValueId id : g.inputs) s.inputs.push_back(Describe(g.value(id)));
  for (ir::ValueId id : g.outputs) s.outputs.push_back(Describe(g.value(id)));
  // Parameters: float constants read by nodes (weights, biases, norms); integer constants
  // are shape arithmetic and not counted.
  std::vector<char> counted(g.values.size(), 0);
  for (const ir::Node& n : g.nodes) {
    for (ir::ValueId id : n.inputs) {
      const ir::Tensor* c = g.constant(id);
      if (!c || counted[static_cast<size_t>(id)]) continue;
      counted[static_cast<size_t>(id)] = 1;
      if (c->dtype() != ir::DType::kFloat32 && c->dtype() != ir::DType::kFloat64) continue;
      s.parameters += c->size();
      s.parameter_bytes += static_cast<int64_t>(c->bytes());
    }
    OpSummary& op = s.ops[std::string(ir::OpName(n.op))];
    ++op.count;
    auto macs = NodeMacs(g, n);
    if (macs) {
      op.macs += *macs;
      s.total_macs += *macs;
    } else {
      op.macs_known = false;
      s.total_macs_known = false;
    }
  }
  return s;
}

std::string FormatText(const ModelSummary& s) {
  std::string out;
  out += fmt::format("opset {}{}\n", s.opset, s.producer.empty() ? "" : ", produced by " + s.producer);
  out += "inputs:\n";
  for (const auto& t : s.inputs) out += fmt::format("  {:<24} {:<8} {}\n", t.name, t.dtype, t.shape);
  out += "outputs:\n";
  for (const auto& t : s.outputs) out += fmt::format("  {:<24} {:<8} {}\n", t.name, t.dtype, t.shape);
  out += fmt::format("parameters: {} ({} bytes as stored)\n", FormatCount(s.parameters), s.parameter_bytes);
  out += fmt::format("MACs per inference: {}{}\n", FormatCount(s.total_macs),
                     s.total_macs_known ? "" : " (lower bound: some shapes are symbolic; bind them with --input-shape)");
  out += "ops:\n";
  out += fmt::format("  {:<22} {:>6} {:>12}\n", "op", "count", "MACs");
  for (const auto& [name, op] : s.ops)
    out += fmt::format("  {:<22} {:>6} {:>12}\n", name, op.count,
                       op.macs == 0 && op.macs_known ? "-" : FormatCount(op.macs) + (op.macs_known ? "" : "+"));
  if (!s.passes_fired.empty()) {
    out += "canonicalization:\n";
    for (const auto& [pass, count] : s.passes_fired) out += fmt::format("  {:<28} {}\n", pass, count);
  }
  return out;
}

nlohmann::json ToJson(const ModelSummary& s) {
  nlohmann::json j;
  j["opset"] = s.opset;
  j["producer"] = s.producer;
  auto tensors = [](const std::vector<TensorSummary>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& t : v) a.push_back({{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}});
    return a;
  };
  j["inputs"] = tensors(s.inputs);
  j["outputs"] = tensors(s.outputs);
  j["parameters"] = s.parameters;
  j["parameter_bytes"] = s.parameter_bytes;
  j["macs"] = s.total_macs;
  j["macs_complete"] = s.total_macs_known;
  nlohmann::json ops = nlohmann::json::object();
  for (const auto& [name, op] : s.ops) ops[name] = {{"count", op.count}, {"macs", op.macs}, {"macs_complete", op.macs_known}};
  j["ops"] = ops;
  nlohmann::json passes = nlohmann::json::object();
  for (const auto& [pass, count] : s.passes_fired) passes[pass] = count;
  j["canonicalization"] = passes;
  return j;
}

}  // namespace squint::report

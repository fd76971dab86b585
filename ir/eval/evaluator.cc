#include "ir/eval/evaluator.h"

#include <map>

#include "ir/eval/op_def.h"

namespace squint::ir::eval {

Status CheckInput(const Value& v, const Tensor& t, std::map<std::string, int64_t>& symbols) {
  if (t.dtype() != v.dtype)
    return InvalidInput("input '{}': expected {}, got {}", v.name, DTypeName(v.dtype), DTypeName(t.dtype()));
  if (!v.shape) return Status::Ok();
  const Shape& s = *v.shape;
  if (static_cast<size_t>(t.rank()) != s.size())
    return InvalidInput("input '{}': expected shape {}, got {}", v.name, ShapeToString(s), DimsToString(t.dims()));
  for (size_t i = 0; i < s.size(); ++i) {
    const int64_t got = t.dim(static_cast<int64_t>(i));
    if (s[i].known() && s[i].value != got)
      return InvalidInput("input '{}': expected shape {}, got {} (dim {})", v.name, ShapeToString(s),
                          DimsToString(t.dims()), i);
    if (!s[i].known() && !s[i].symbol.empty()) {
      auto [it, inserted] = symbols.emplace(s[i].symbol, got);
      if (!inserted && it->second != got)
        return InvalidInput("input '{}': dim {} ('{}') is {} but another input binds '{}' to {}", v.name, i,
                            s[i].symbol, got, s[i].symbol, it->second);
    }
  }
  return Status::Ok();
}

Evaluator::Evaluator(const Graph& g) : g_(g), last_use_(g.values.size(), -1) {
  for (size_t n = 0; n < g.nodes.size(); ++n)
    for (ValueId id : g.nodes[n].inputs)
      if (id != kNoValue) last_use_[static_cast<size_t>(id)] = static_cast<int32_t>(n);
  for (ValueId id : g.outputs) last_use_[static_cast<size_t>(id)] = static_cast<int32_t>(g.nodes.size());
}

Result<std::vector<Tensor>> Evaluator::Run(std::span<const Tensor> inputs, const NodeHook& hook) const {
  if (inputs.size() != g_.inputs.size())
    return InvalidInput("the model takes {} inputs, got {}", g_.inputs.size(), inputs.size());
  std::vector<Tensor> live(g_.values.size());
  std::map<std::string, int64_t> symbols;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = g_.value(g_.inputs[i]);
    SQ_RETURN_IF_ERROR(CheckInput(v, inputs[i], symbols));
    live[static_cast<size_t>(g_.inputs[i])] = inputs[i];  // shares storage, no copy
  }
  auto get = [&](ValueId id) -> const Tensor* {
    if (id == kNoValue) return nullptr;
    if (const Tensor* c = g_.constant(id)) return c;
    const Tensor& t = live[static_cast<size_t>(id)];
    return t.empty_type() ? nullptr : &t;
  };

  std::vector<InputInfo> infos;
  std::vector<Shape> shapes;
  std::vector<const Tensor*> in_ptrs;
  std::vector<Tensor> outs;
  for (size_t n = 0; n < g_.nodes.size(); ++n) {
    const Node& node = g_.nodes[n];
    const OpDef& def = GetOpDef(node.op);
    infos.assign(node.inputs.size(), InputInfo{});
    shapes.assign(node.inputs.size(), Shape{});
    in_ptrs.assign(node.inputs.size(), nullptr);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const Tensor* t = get(node.inputs[i]);
      if (node.inputs[i] != kNoValue && !t)
        return Internal("{}: input '{}' has no value at evaluation time", node.Label(),
                        g_.value(node.inputs[i]).name);
      if (!t) continue;
      shapes[i] = ShapeFromDims(t->dims());
      infos[i] = InputInfo{true, t->dtype(), &shapes[i], t};
      in_ptrs[i] = t;
    }
    InferContext ctx{node, infos, g_.opset};
    SQ_ASSIGN_OR_RETURN(std::vector<OutputType> types, def.infer(ctx));
    outs.clear();
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      if (node.outputs[o] == kNoValue || o >= types.size()) {
        outs.emplace_back();
        continue;
      }
      const OutputType& t = types[o];
      std::optional<Dims> dims = t.shape ? DimsFromShape(*t.shape) : std::nullopt;
      if (!dims)
        return Internal("{}: output {} shape {} is not concrete at evaluation time", node.Label(), o,
                        t.shape ? ShapeToString(*t.shape) : "unknown");
      SQ_ASSIGN_OR_RETURN(Tensor out, Tensor::Create(t.dtype, *dims));
      outs.push_back(std::move(out));
    }
    SQ_RETURN_IF_ERROR(def.kernel(node, in_ptrs, outs));
    if (hook) hook(node, outs);
    for (size_t o = 0; o < node.outputs.size(); ++o)
      if (node.outputs[o] != kNoValue) live[static_cast<size_t>(node.outputs[o])] = std::move(outs[o]);
    // Free what no later node reads.
    for (ValueId id : node.inputs)
      if (id != kNoValue && last_use_[static_cast<size_t>(id)] == static_cast<int32_t>(n))
        live[static_cast<size_t>(id)] = Tensor();
  }
  std::vector<Tensor> results;
  for (ValueId id : g_.outputs) {
    const Tensor* t = get(id);
    if (!t) return Internal("graph output '{}' was not computed", g_.value(id).name);
    results.push_back(*t);
  }
  return results;
}

}  // namespace squint::ir::eval

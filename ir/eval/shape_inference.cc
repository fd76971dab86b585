#include "ir/eval/shape_inference.h"

#include <charconv>

#include "ir/eval/op_def.h"

namespace squint::ir::eval {
namespace {

// The more specific of two shape estimates of one value; error when they contradict.
Result<std::optional<Shape>> Merge(const Node& node, const Value& v, const std::optional<Shape>& declared,
                                   const std::optional<Shape>& inferred) {
  if (!declared) return inferred;
  if (!inferred) return declared;
  if (declared->size() != inferred->size())
    return InvalidInput("{}: output '{}' is declared with shape {} but inferred as {}", node.Label(), v.name,
                        ShapeToString(*declared), ShapeToString(*inferred));
  Shape out = *inferred;
  for (size_t i = 0; i < out.size(); ++i) {
    const Dim& d = (*declared)[i];
    if (out[i].known() && d.known() && out[i].value != d.value)
      return InvalidInput("{}: output '{}' is declared with shape {} but inferred as {}", node.Label(), v.name,
                          ShapeToString(*declared), ShapeToString(*inferred));
    if (!out[i].known() && (d.known() || (out[i].symbol.empty() && !d.symbol.empty()))) out[i] = d;
  }
  return std::optional<Shape>(std::move(out));
}

}  // namespace

Status InferShapes(Graph& g) {
  std::vector<InputInfo> infos;
  for (const Node& node : g.nodes) {
    infos.clear();
    for (ValueId id : node.inputs) {
      InputInfo info;
      if (id != kNoValue) {
        const Value& v = g.value(id);
        info.present = true;
        info.dtype = v.dtype;
        info.shape = v.shape ? &*v.shape : nullptr;
        info.value = v.constant ? &*v.constant : nullptr;
      }
      infos.push_back(info);
    }
    InferContext ctx{node, infos, g.opset};
    SQ_ASSIGN_OR_RETURN(std::vector<OutputType> types, GetOpDef(node.op).infer(ctx));
    for (size_t i = 0; i < node.outputs.size() && i < types.size(); ++i) {
      if (node.outputs[i] == kNoValue) continue;
      Value& v = g.value(node.outputs[i]);
      if (v.dtype != DType::kUndefined && types[i].dtype != DType::kUndefined && v.dtype != types[i].dtype)
        return InvalidInput("{}: output '{}' is declared {} but the op produces {}", node.Label(), v.name,
                            DTypeName(v.dtype), DTypeName(types[i].dtype));
      v.dtype = types[i].dtype;
      SQ_ASSIGN_OR_RETURN(v.shape, Merge(node, v, v.shape, types[i].shape));
    }
  }
  return Status::Ok();
}

Status BindInputShapes(Graph& g, const std::map<std::string, Dims>& shapes) {
  for (const auto& [name, dims] : shapes) {
    ValueId id = kNoValue;
    for (ValueId in : g.inputs)
      if (g.value(in).name == name) id = in;
    if (id == kNoValue) {
      std::string names;
      for (ValueId in : g.inputs) names += (names.empty() ? "'" : ", '") + g.value(in).name + "'";
      return InvalidInput("--input-shape names '{}', but the model's inputs are {}", name, names);
    }
    Value& v = g.value(id);
    if (v.shape && v.shape->size() != dims.size())
      return InvalidInput("--input-shape {}={}: the input has rank {} ({}), not {}", name, DimsToString(dims),
                          v.shape->size(), ShapeToString(*v.shape), dims.size());
    SQ_RETURN_IF_ERROR(CheckedElementCount(dims).status());
    if (v.shape) {
      for (size_t i = 0; i < dims.size(); ++i) {
        const Dim& d = (*v.shape)[i];
        if (d.known() && d.value != dims[i])
          return InvalidInput("--input-shape {}={}: dim {} is fixed to {} in the model", name, DimsToString(dims),
                              i, d.value);
      }
    }
    v.shape = ShapeFromDims(dims);
  }
  // Forget inferred intermediate shapes that may have been symbolic, then infer again.
  std::vector<char> is_input(g.values.size(), 0);
  for (ValueId in : g.inputs) is_input[static_cast<size_t>(in)] = 1;
  for (const Node& n : g.nodes)
    for (ValueId o : n.outputs)
      if (o != kNoValue) {
        Value& v = g.value(o);
        if (v.shape && !DimsFromShape(*v.shape)) v.shape.reset();
      }
  return InferShapes(g);
}

Result<std::pair<std::string, Dims>> ParseInputShape(const std::string& spec) {
  const auto eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    return InvalidInput("--input-shape '{}': expected NAME=DIMS such as input=1x1x28x28", spec);
  std::pair<std::string, Dims> out{spec.substr(0, eq), {}};
  std::string_view rest(spec);
  rest.remove_prefix(eq + 1);
  while (!rest.empty()) {
    auto x = rest.find_first_of("x,");
    std::string_view tok = rest.substr(0, x);
    int64_t d = 0;
    auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), d);
    if (ec != std::errc() || p != tok.data() + tok.size() || d < 0)
      return InvalidInput("--input-shape '{}': '{}' is not a non-negative dim", spec, tok);
    out.second.push_back(d);
    if (x == std::string_view::npos) break;
    rest.remove_prefix(x + 1);
    if (rest.empty()) return InvalidInput("--input-shape '{}': trailing separator", spec);
  }
  return out;
}

}  // namespace squint::ir::eval

#include "importers/onnx/model_checks.h"

#include <map>
#include <vector>

#include <fmt/format.h>
#include <onnx/checker.h>

#include "importers/onnx/onnx_importer.h"
#include "importers/onnx/tensor_proto.h"
#include "ir/op_type.h"

// Exported by libonnx 1.12 but not declared in its header: check_model with a context, so
// that external data files are looked up in the model's folder rather than the working folder.
namespace onnx::checker {
void check_model(const ModelProto& model, CheckerContext& ctx);
}  // namespace onnx::checker

namespace squint::importers::onnx_detail {
namespace {

// The newest opset Debian's libonnx 1.12 checker knows.
constexpr int64_t kCheckerMaxOpset = 17;

bool IsDefaultDomain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

std::string NodeName(const onnx::NodeProto& n, int index) {
  return n.name().empty() ? UnnamedNodeName(n.op_type(), index) : n.name();
}

std::string NodeLabel(const onnx::NodeProto& n, int index) {
  return fmt::format("{} '{}'", n.op_type(), NodeName(n, index));
}

const onnx::AttributeProto* FindAttr(const onnx::NodeProto& n, const char* name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

// Reads an INTS attribute; absent -> nullopt in `out`. Error when present with another type.
Status GetInts(const onnx::NodeProto& n, int index, const char* name, std::optional<std::vector<int64_t>>& out) {
  out.reset();
  const auto* a = FindAttr(n, name);
  if (!a) return Status::Ok();
  if (a->type() != onnx::AttributeProto::INTS)
    return InvalidInput("{}: attribute '{}' must be a list of ints", NodeLabel(n, index), name);
  out.emplace(a->ints().begin(), a->ints().end());
  return Status::Ok();
}

Status CheckAllPositive(const onnx::NodeProto& n, int index, const char* name,
                        const std::optional<std::vector<int64_t>>& v, int64_t min) {
  if (!v) return Status::Ok();
  for (size_t i = 0; i < v->size(); ++i)
    if ((*v)[i] < min)
      return InvalidInput("{}: {}[{}] is {}, must be >= {}", NodeLabel(n, index), name, i, (*v)[i], min);
  return Status::Ok();
}

Status CheckLength(const onnx::NodeProto& n, int index, const char* name,
                   const std::optional<std::vector<int64_t>>& v, size_t expected, const char* rule) {
  if (v && v->size() != expected)
    return InvalidInput("{}: {} has {} values, expected {} ({})", NodeLabel(n, index), name, v->size(),
                        expected, rule);
  return Status::Ok();
}

// Conv, ConvTranspose, MaxPool, AveragePool (and any op with these attribute names).
Status CheckWindowAttrs(const onnx::NodeProto& n, int index,
                        const std::map<std::string, const onnx::TensorProto*>& inits) {
  std::optional<std::vector<int64_t>> kernel, strides, dilations, pads, out_pad, out_shape;
  SQ_RETURN_IF_ERROR(GetInts(n, index, "kernel_shape", kernel));
  SQ_RETURN_IF_ERROR(GetInts(n, index, "strides", strides));
  SQ_RETURN_IF_ERROR(GetInts(n, index, "dilations", dilations));
  SQ_RETURN_IF_ERROR(GetInts(n, index, "pads", pads));
  SQ_RETURN_IF_ERROR(GetInts(n, index, "output_padding", out_pad));
  SQ_RETURN_IF_ERROR(GetInts(n, index, "output_shape", out_shape));
  SQ_RETURN_IF_ERROR(CheckAllPositive(n, index, "kernel_shape", kernel, 1));
  SQ_RETURN_IF_ERROR(CheckAllPositive(n, index, "strides", strides, 1));
  SQ_RETURN_IF_ERROR(CheckAllPositive(n, index, "dilations", dilations, 1));
  SQ_RETURN_IF_ERROR(CheckAllPositive(n, index, "pads", pads, 0));
  SQ_RETURN_IF_ERROR(CheckAllPositive(n, index, "output_padding", out_pad, 0));
  SQ_RETURN_IF_ERROR(CheckAllPositive(n, index, "output_shape", out_shape, 0));
  if (const auto* g = FindAttr(n, "group")) {
    if (g->type() != onnx::AttributeProto::INT)
      return InvalidInput("{}: attribute 'group' must be an int", NodeLabel(n, index));
    if (g->i() < 1) return InvalidInput("{}: group is {}, must be >= 1", NodeLabel(n, index), g->i());
  }
  // The number of spatial dims: from kernel_shape, else from a constant weight, else strides.
  std::optional<size_t> spatial;
  const char* source = "";
  if (kernel) {
    spatial = kernel->size();
    source = "kernel_shape";
    if (kernel->empty()) return InvalidInput("{}: kernel_shape is empty", NodeLabel(n, index));
  }
  if ((n.op_type() == "Conv" || n.op_type() == "ConvTranspose") && n.input_size() > 1) {
    auto it = inits.find(n.input(1));
    if (it != inits.end()) {
      const int rank = it->second->dims_size();
      if (rank < 3)
        return InvalidInput("{}: weight '{}' has {} dims, expected at least 3", NodeLabel(n, index),
                            n.input(1), rank);
      if (spatial && *spatial != static_cast<size_t>(rank - 2))
        return InvalidInput("{}: kernel_shape has {} values but weight '{}' has {} spatial dims",
                            NodeLabel(n, index), *spatial, n.input(1), rank - 2);
      if (!spatial) {
        spatial = static_cast<size_t>(rank - 2);
        source = "weight rank - 2";
      }
    }
  }
  if (!spatial && strides) {
    spatial = strides->size();
    source = "strides";
  }
  if (!spatial) return Status::Ok();
  SQ_RETURN_IF_ERROR(CheckLength(n, index, "strides", strides, *spatial, source));
  SQ_RETURN_IF_ERROR(CheckLength(n, index, "dilations", dilations, *spatial, source));
  SQ_RETURN_IF_ERROR(CheckLength(n, index, "pads", pads, 2 * *spatial, "2 x spatial dims"));
  SQ_RETURN_IF_ERROR(CheckLength(n, index, "output_padding", out_pad, *spatial, source));
  SQ_RETURN_IF_ERROR(CheckLength(n, index, "output_shape", out_shape, *spatial, source));
  return Status::Ok();
}

}  // namespace

Result<int64_t> CheckOpset(const onnx::ModelProto& model) {
  std::optional<int64_t> opset;
  for (const auto& o : model.opset_import()) {
    if (!IsDefaultDomain(o.domain())) continue;
    if (opset && *opset != o.version())
      return InvalidInput("the model imports the default ONNX domain twice (opsets {} and {})", *opset,
                          o.version());
    opset = o.version();
  }
  if (!opset) {
    if (model.opset_import_size() == 0) return InvalidInput("the model has no opset_import");
    std::string domains;
    for (const auto& o : model.opset_import())
      domains += fmt::format("{}{} {}", domains.empty() ? "" : ", ", o.domain(), o.version());
    return Unsupported("the model imports no default-domain ONNX opset, only {}", domains);
  }
  if (*opset < kMinOpset || *opset > kMaxOpset)
    return Unsupported("model opset {} is not supported (squint reads opsets {} to {})", *opset, kMinOpset,
                       kMaxOpset);
  return *opset;
}

Status CheckSupportedOps(const onnx::GraphProto& graph, int64_t opset) {
  std::map<std::string, std::vector<std::string>> unsupported;  // op (domain-qualified) -> node names
  bool subgraph_ops = false;
  for (int i = 0; i < graph.node_size(); ++i) {
    const auto& n = graph.node(i);
    if (n.op_type().empty()) return InvalidInput("node {} ('{}') has no op_type", i, n.name());
    std::string key;
    if (n.domain() == "squint") {
      key = fmt::format("squint.{} (squint's fused ops never come from a file)", n.op_type());
    } else if (!IsDefaultDomain(n.domain())) {
      key = fmt::format("{}.{} (domain '{}')", n.domain(), n.op_type(), n.domain());
    } else if (!ir::OpFromName("", n.op_type())) {
      key = n.op_type();
    }
    for (const auto& a : n.attribute())
      if (a.type() == onnx::AttributeProto::GRAPH || a.type() == onnx::AttributeProto::GRAPHS ||
          a.has_g() || a.graphs_size() > 0) {
        subgraph_ops = true;
        if (key.empty()) key = n.op_type();
      }
    if (!key.empty()) unsupported[key].push_back(NodeName(n, i));
  }
  if (unsupported.empty()) return Status::Ok();
  std::string list;
  for (const auto& [op, names] : unsupported) {
    std::string quoted;
    constexpr size_t kMaxNames = 8;
    for (size_t i = 0; i < names.size() && i < kMaxNames; ++i)
      quoted += fmt::format("{}'{}'", i ? ", " : "", names[i]);
    if (names.size() > kMaxNames) quoted += fmt::format(", and {} more", names.size() - kMaxNames);
    list += fmt::format("{}{} ({})", list.empty() ? "" : ", ", op, quoted);
  }
  return Unsupported("unsupported ops (opset {}): {}{}", opset, list,
                     subgraph_ops ? "; ops with subgraphs (If, Loop, Scan) are not supported" : "");
}

Status CheckBeforeChecker(const onnx::GraphProto& graph, const std::string& model_dir) {
  const ExternalDataPolicy ext{model_dir};
  auto check_tensor = [&](const onnx::TensorProto& t, const std::string& what) {
    SQ_RETURN_IF_ERROR(CheckTensorDims(t, what));
    return CheckExternalData(t, what, ext);
  };
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : graph.initializer()) {
    SQ_RETURN_IF_ERROR(check_tensor(t, fmt::format("initializer '{}'", t.name())));
    inits.emplace(t.name(), &t);
  }
  for (int i = 0; i < graph.node_size(); ++i) {
    const auto& n = graph.node(i);
    for (const auto& a : n.attribute()) {
      const std::string what = fmt::format("{}: attribute '{}'", NodeLabel(n, i), a.name());
      if (a.has_t()) SQ_RETURN_IF_ERROR(check_tensor(a.t(), what));
      for (const auto& t : a.tensors()) SQ_RETURN_IF_ERROR(check_tensor(t, what));
    }
    const std::string& op = n.op_type();
    if (op == "Conv" || op == "ConvTranspose" || op == "MaxPool" || op == "AveragePool")
      SQ_RETURN_IF_ERROR(CheckWindowAttrs(n, i, inits));
  }
  return Status::Ok();
}

Status RunOnnxChecker(onnx::ModelProto& model, int64_t opset, const std::string& model_dir) {
  if (opset > kCheckerMaxOpset) return Status::Ok();
  // libonnx 1.12 rejects IR versions newer than its own, although an opset <= 17 model of a
  // newer IR version only differs in element types squint refuses anyway.
  const int64_t ir_version = model.ir_version();
  if (ir_version > onnx::Version::IR_VERSION) model.set_ir_version(onnx::Version::IR_VERSION);
  Status s;
  try {
    onnx::checker::CheckerContext ctx;
    ctx.set_model_dir(model_dir);
    onnx::checker::check_model(model, ctx);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (char& c : msg)
      if (c == '\n' || c == '\r') c = ' ';
    while (!msg.empty() && msg.back() == ' ') msg.pop_back();
    s = InvalidInput("ONNX checker: {}", msg);
  }
  model.set_ir_version(ir_version);
  return s;
}

}  // namespace squint::importers::onnx_detail

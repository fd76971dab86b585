// ONNX ModelProto -> ir::Graph.
//
// Import steps, in order: read the file (size checked: protobuf cannot parse a message over
// 2 GiB, so such models must keep weights in external data) -> parse -> opset in [11, 21] ->
// one error listing every unsupported op -> attribute values that would crash libonnx or a
// kernel, and tensor dims -> libonnx checker (opset <= 17 only; never libonnx shape inference)
// -> conversion (initializers become constants, external data read with 64-bit offsets,
// Constant nodes stay nodes) -> topological sort and ir::Verify -> ir::eval::InferShapes.
//
// Normalization of op signatures that changed across opsets: the IR always holds the newest
// form, so kernels see one form. Attribute forms become constant inputs:
//   ReduceL2/ReduceMax/ReduceMean/ReduceSum: attribute axes -> input 1 (int64 [n])
//   Split: attribute split -> input 1 (int64 [n])
//   Squeeze/Unsqueeze: attribute axes -> input 1 (int64 [n])
//   Clip: attributes min/max -> inputs 1/2 (float32 scalars)
//   Pad: attribute pads -> input 1 (int64 [2*rank]), attribute value -> input 2 (float32 scalar)
// The constants are named "<node>_<attribute>" (made unique).
//
// Opsets 11 and 12 differ from 13 in the ops squint reads only by these attribute forms (Split,
// Squeeze, Unsqueeze, ReduceSum: opset 13 moved them to inputs) and by Softmax/LogSoftmax, which
// before opset 13 coerce the input to 2-D at `axis` (default 1): when that is not the last axis,
// the final step rewrites them as Flatten -> Softmax -> Reshape (legacy_softmax.h; it needs shape
// inference, so with infer_shapes off ir/eval reports them Unsupported). Resize's opset-11 form
// (scales an empty tensor when sizes are given, tf_half_pixel_for_nn) and Clip/Pad inputs (opset
// 11) are read as they are. This is done here rather than with libonnx's version converter
// (onnx::version_conversion::ConvertVersion), which builds its own graph from the untrusted proto
// (the importer runs only libonnx's checker on it) and whose adapters need inferred shapes it
// does not compute: Debian's libonnx 1.12 links, converts the PP-OCRv4 detector, but throws on
// the PP-OCRv4 recognizer and on torch's opset-11 exports ("Version conversion for Softmax
// failed because input shape is unknown"; Flatten's input rank is a known gap too).
#include "importers/onnx/onnx_importer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include "importers/onnx/legacy_softmax.h"
#include "importers/onnx/model_checks.h"
#include "importers/onnx/tensor_proto.h"
#include "ir/eval/shape_inference.h"

namespace squint::importers {
namespace {

using namespace onnx_detail;

// Reads a whole file of at most 2 GiB - 1 bytes (protobuf's limit for one message).
Result<std::string> ReadSmallFile(const std::string& path, const char* kind) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return InvalidInput("cannot open {} '{}': {}", kind, path, std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return InvalidInput("cannot stat {} '{}': {}", kind, path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return InvalidInput("{} '{}' is a directory", kind, path);
  if (!S_ISREG(st.st_mode)) return InvalidInput("{} '{}' is not a regular file", kind, path);
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size == 0) return InvalidInput("{} '{}' is empty (0 bytes)", kind, path);
  if (size > static_cast<uint64_t>(INT_MAX))
    return Unsupported("{} '{}' is {} bytes; protobuf cannot parse a message over 2 GiB: save the "
                       "weights as external data (onnx.save_model(..., save_as_external_data=True))",
                       kind, path, size);
  std::string data(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t got = ::read(fd, data.data() + done, data.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return InvalidInput("cannot read {} '{}': {}", kind, path, std::strerror(errno));
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  data.resize(done);
  return data;
}

std::string TypeKind(const onnx::TypeProto& t) {
  switch (t.value_case()) {
    case onnx::TypeProto::kTensorType: return "a tensor";
    case onnx::TypeProto::kSequenceType: return "a sequence";
    case onnx::TypeProto::kMapType: return "a map";
    case onnx::TypeProto::kOptionalType: return "an optional";
    case onnx::TypeProto::kSparseTensorType: return "a sparse tensor";
    default: return "a value of unknown kind";
  }
}

// Declared type of a value (graph input/output or value_info) -> dtype and symbolic shape.
Status ApplyType(const onnx::TypeProto& type, const std::string& what, ir::Value& v) {
  if (type.value_case() == onnx::TypeProto::VALUE_NOT_SET) return Status::Ok();
  if (type.value_case() != onnx::TypeProto::kTensorType)
    return Unsupported("{} is {}; only tensors are supported", what, TypeKind(type));
  const auto& tt = type.tensor_type();
  if (tt.elem_type() != 0) {
    const ir::DType d = ir::DTypeFromOnnx(tt.elem_type());
    if (d == ir::DType::kUndefined)
      return Unsupported("{}: element type {} is not supported", what, OnnxDTypeName(tt.elem_type()));
    if (v.dtype != ir::DType::kUndefined && v.dtype != d)
      return InvalidInput("{} is declared {} and {}", what, ir::DTypeName(v.dtype), ir::DTypeName(d));
    v.dtype = d;
  }
  if (!tt.has_shape()) return Status::Ok();
  ir::Shape shape;
  ir::Dims known;
  for (int i = 0; i < tt.shape().dim_size(); ++i) {
    const auto& d = tt.shape().dim(i);
    if (d.has_dim_value() && d.dim_value() == -1) {
      // Not valid ONNX, but Paddle2ONNX and older exporters write -1 for a free dim (PP-OCR's
      // classifier: x [-1, 3, ?, ?]) and ONNX Runtime reads it so: an unknown dim.
      shape.push_back(ir::Dim::Unknown());
    } else if (d.has_dim_value()) {
      if (d.dim_value() < 0)
        return InvalidInput("{}: dim {} is {}, must be >= 0 (or -1 for a free dim)", what, i, d.dim_value());
      shape.push_back(ir::Dim::Known(d.dim_value()));
      known.push_back(d.dim_value());
    } else if (!d.dim_param().empty() && d.dim_param() != "?") {
      shape.push_back(ir::Dim::Symbol(d.dim_param()));
      // "?" is Paddle2ONNX's word for an unknown dim, not a name two dims share (PP-OCR's
      // classifier: x [-1, 3, ?, ?] takes any height and width).
    } else {
      shape.push_back(ir::Dim::Unknown());
    }
  }
  SQ_RETURN_IF_ERROR(ir::CheckedElementCount(known).status().WithContext(what));
  if (v.shape && v.shape->size() != shape.size())
    return InvalidInput("{} is declared with shapes {} and {}", what, ir::ShapeToString(*v.shape),
                        ir::ShapeToString(shape));
  if (!v.shape) v.shape = std::move(shape);
  return Status::Ok();
}

class Converter {
 public:
  Converter(onnx::ModelProto& model, int64_t opset, const std::string& model_dir)
      : model_(model), ext_{model_dir} {
    g_.opset = opset;
  }

  Result<ir::Graph> Run() {
    onnx::GraphProto& graph = *model_.mutable_graph();
    g_.name = graph.name();
    g_.producer = model_.producer_name();
    if (!model_.producer_version().empty()) g_.producer += " " + model_.producer_version();
    if (graph.sparse_initializer_size() > 0)
      return Unsupported("sparse initializer '{}' is not supported", graph.sparse_initializer(0).values().name());
    for (const auto& vi : graph.value_info()) declared_.emplace(vi.name(), &vi.type());
    for (const auto& vi : graph.output()) declared_.emplace(vi.name(), &vi.type());

    size_t node_outputs = 0;
    for (const auto& n : graph.node()) node_outputs += static_cast<size_t>(n.output_size());
    g_.values.reserve(static_cast<size_t>(graph.initializer_size() + graph.input_size()) + node_outputs);
    for (auto& init : *graph.mutable_initializer()) {
      const std::string what = fmt::format("initializer '{}'", init.name());
      if (init.name().empty()) return InvalidInput("an initializer has no name");
      if (ids_.count(init.name())) return InvalidInput("{} is defined twice", what);
      SQ_ASSIGN_OR_RETURN(ir::Tensor t, ConvertTensor(init, what, ext_, /*release=*/true));
      AddName(init.name(), g_.AddConstant(init.name(), std::move(t)));
    }
    for (const auto& in : graph.input()) {
      if (auto it = ids_.find(in.name()); it != ids_.end()) {
        // A graph input that is also an initializer is a constant (old exporters list weights as inputs).
        if (g_.value(it->second).constant) continue;
        return InvalidInput("graph input '{}' is listed twice", in.name());
      }
      if (in.name().empty()) return InvalidInput("a graph input has no name");
      ir::Value v;
      v.name = in.name();
      SQ_RETURN_IF_ERROR(ApplyType(in.type(), fmt::format("graph input '{}'", in.name()), v));
      if (v.dtype == ir::DType::kUndefined)
        return InvalidInput("graph input '{}' has no element type", in.name());
      const ir::ValueId id = g_.AddValue(std::move(v));
      AddName(in.name(), id);
      g_.inputs.push_back(id);
    }

    // Outputs first, so that inputs may refer to nodes later in the file (sorted below).
    std::vector<std::string> labels(static_cast<size_t>(graph.node_size()));
    g_.nodes.resize(static_cast<size_t>(graph.node_size()));
    for (int i = 0; i < graph.node_size(); ++i) {
      const auto& np = graph.node(i);
      ir::Node& n = g_.nodes[static_cast<size_t>(i)];
      const std::optional<ir::OpType> op = ir::OpFromName(np.domain(), np.op_type());
      if (!op || !ir::OpDomain(*op).empty())  // CheckSupportedOps reported these already
        return Internal("node {}: op {}.{} passed the op check", i, np.domain(), np.op_type());
      n.op = *op;
      n.name = np.name().empty() ? UnnamedNodeName(np.op_type(), i) : np.name();
      for (const std::string& out : np.output()) {
        if (out.empty()) {
          n.outputs.push_back(ir::kNoValue);
          continue;
        }
        if (ids_.count(out))
          return InvalidInput("{}: output '{}' is produced more than once (also a graph input, initializer "
                              "or another node's output)", n.Label(), out);
        ir::Value v;
        v.name = out;
        if (auto it = declared_.find(out); it != declared_.end())
          SQ_RETURN_IF_ERROR(ApplyType(*it->second, fmt::format("value '{}'", out), v));
        const ir::ValueId id = g_.AddValue(std::move(v));
        AddName(out, id);
        n.outputs.push_back(id);
      }
    }
    for (int i = 0; i < graph.node_size(); ++i) {
      auto& np = *graph.mutable_node(i);
      ir::Node& n = g_.nodes[static_cast<size_t>(i)];
      for (const std::string& in : np.input()) {
        if (in.empty()) {
          n.inputs.push_back(ir::kNoValue);
          continue;
        }
        auto it = ids_.find(in);
        if (it == ids_.end())
          return InvalidInput("{}: input '{}' is not produced by any node, graph input or initializer",
                              n.Label(), in);
        n.inputs.push_back(it->second);
      }
      for (auto& a : *np.mutable_attribute()) SQ_RETURN_IF_ERROR(ConvertAttribute(a, n));
      SQ_RETURN_IF_ERROR(Normalize(n));
    }
    for (const auto& out : graph.output()) {
      auto it = ids_.find(out.name());
      if (it == ids_.end())
        return InvalidInput("graph output '{}' is not produced by any node, graph input or initializer",
                            out.name());
      ir::Value& v = g_.value(it->second);
      if (!v.constant) SQ_RETURN_IF_ERROR(ApplyType(out.type(), fmt::format("graph output '{}'", out.name()), v));
      g_.outputs.push_back(it->second);
    }
    if (g_.outputs.empty()) return InvalidInput("the graph has no outputs");
    SQ_RETURN_IF_ERROR(ir::TopologicalSort(g_));
    SQ_RETURN_IF_ERROR(ir::Verify(g_));
    return std::move(g_);
  }

 private:
  void AddName(const std::string& name, ir::ValueId id) {
    ids_.emplace(name, id);
  }

  std::string UniqueName(const std::string& base) {
    std::string n = base;
    for (int i = 1; ids_.count(n); ++i) n = fmt::format("{}_{}", base, i);
    return n;
  }

  Status ConvertAttribute(onnx::AttributeProto& a, ir::Node& n) {
    const std::string what = fmt::format("{}: attribute '{}'", n.Label(), a.name());
    if (a.name().empty()) return InvalidInput("{}: an attribute has no name", n.Label());
    if (n.attrs.has(a.name())) return InvalidInput("{} is given twice", what);
    if (!a.ref_attr_name().empty())
      return Unsupported("{} refers to function attribute '{}'; functions are not supported", what,
                         a.ref_attr_name());
    using A = onnx::AttributeProto;
    switch (a.type()) {
      case A::FLOAT: n.attrs.set(a.name(), a.f()); break;
      case A::INT: n.attrs.set(a.name(), static_cast<int64_t>(a.i())); break;
      case A::STRING: n.attrs.set(a.name(), a.s()); break;
      case A::FLOATS: n.attrs.set(a.name(), std::vector<float>(a.floats().begin(), a.floats().end())); break;
      case A::INTS: n.attrs.set(a.name(), std::vector<int64_t>(a.ints().begin(), a.ints().end())); break;
      case A::STRINGS:
        n.attrs.set(a.name(), std::vector<std::string>(a.strings().begin(), a.strings().end()));
        break;
      case A::TENSOR: {
        SQ_ASSIGN_OR_RETURN(ir::Tensor t, ConvertTensor(*a.mutable_t(), what, ext_, /*release=*/true));
        n.attrs.set(a.name(), std::move(t));
        break;
      }
      case A::GRAPH:
      case A::GRAPHS: return Unsupported("{} is a subgraph; subgraphs are not supported", what);
      case A::UNDEFINED: return InvalidInput("{} has no type", what);
      default:
        return Unsupported("{} has attribute type {}, which squint does not support", what,
                           A::AttributeType_Name(a.type()));
    }
    return Status::Ok();
  }

  Status SetInput(ir::Node& n, size_t index, const char* attr, ir::Tensor t) {
    if (n.input(index) != ir::kNoValue)
      return InvalidInput("{}: '{}' is given both as attribute and as input {}", n.Label(), attr, index);
    const std::string name = UniqueName(fmt::format("{}_{}", n.name, attr));
    const ir::ValueId id = g_.AddConstant(name, std::move(t));
    AddName(name, id);
    if (n.inputs.size() <= index) n.inputs.resize(index + 1, ir::kNoValue);
    n.inputs[index] = id;
    n.attrs.erase(attr);
    return Status::Ok();
  }

  Status IntsToInput(ir::Node& n, const char* attr, size_t index) {
    if (!n.attrs.has(attr)) return Status::Ok();
    if (!n.attrs.HoldsOrAbsent<std::vector<int64_t>>(attr))
      return InvalidInput("{}: attribute '{}' must be a list of ints", n.Label(), attr);
    const std::vector<int64_t> v = n.attrs.GetInts(attr);
    return SetInput(n, index, attr, ir::Tensor::FromVector<int64_t>({static_cast<int64_t>(v.size())}, v));
  }

  Status FloatToInput(ir::Node& n, const char* attr, size_t index) {
    if (!n.attrs.has(attr)) return Status::Ok();
    if (!n.attrs.HoldsOrAbsent<float>(attr))
      return InvalidInput("{}: attribute '{}' must be a float", n.Label(), attr);
    return SetInput(n, index, attr, ir::Tensor::Scalar<float>(n.attrs.GetFloat(attr, 0.f)));
  }

  // See the normalization table at the top of this file.
  Status Normalize(ir::Node& n) {
    using ir::OpType;
    switch (n.op) {
      case OpType::kReduceL2:
      case OpType::kReduceMax:
      case OpType::kReduceMean:
      case OpType::kReduceSum:
      case OpType::kSqueeze:
      case OpType::kUnsqueeze: return IntsToInput(n, "axes", 1);
      case OpType::kSplit: return IntsToInput(n, "split", 1);
      case OpType::kClip:
        SQ_RETURN_IF_ERROR(FloatToInput(n, "min", 1));
        return FloatToInput(n, "max", 2);
      case OpType::kPad:
        SQ_RETURN_IF_ERROR(IntsToInput(n, "pads", 1));
        return FloatToInput(n, "value", 2);
      default: return Status::Ok();
    }
  }

  onnx::ModelProto& model_;
  ExternalDataPolicy ext_;
  ir::Graph g_;
  std::unordered_map<std::string, ir::ValueId> ids_;
  std::unordered_map<std::string, const onnx::TypeProto*> declared_;
};

Result<ir::Graph> ImportModel(onnx::ModelProto& model, const ImportOptions& opts, const std::string& model_dir) {
  if (!model.has_graph()) return InvalidInput("not an ONNX model: it has no graph");
  if (model.ir_version() <= 0) return InvalidInput("not an ONNX model: ir_version is missing");
  SQ_ASSIGN_OR_RETURN(int64_t opset, CheckOpset(model));
  SQ_RETURN_IF_ERROR(CheckSupportedOps(model.graph(), opset));
  SQ_RETURN_IF_ERROR(CheckBeforeChecker(model.graph(), model_dir));
  if (opts.run_onnx_checker) SQ_RETURN_IF_ERROR(RunOnnxChecker(model, opset, model_dir));
  Converter conv(model, opset, model_dir);
  SQ_ASSIGN_OR_RETURN(ir::Graph g, conv.Run());
  if (opts.infer_shapes) {
    // Pre-13 softmaxes over more than the last axis become their opset-13 form (legacy_softmax.h).
    SQ_RETURN_IF_ERROR(opset < 13 ? RewriteLegacySoftmax(g) : ir::eval::InferShapes(g));
  }
  return g;
}

// The importer boundary: no exception leaves it.
template <typename F>
auto CatchAll(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return InvalidInput("out of memory while importing");
  } catch (const std::exception& e) {
    return Internal("unexpected exception while importing: {}", e.what());
  } catch (...) {
    return Internal("unexpected exception while importing");
  }
}

Result<ir::Graph> ParseAndImport(std::string_view bytes, const ImportOptions& opts, const std::string& model_dir) {
  if (bytes.empty()) return InvalidInput("not an ONNX model: it is empty");
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    return Unsupported("the model is {} bytes; protobuf cannot parse a message over 2 GiB", bytes.size());
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return InvalidInput("not an ONNX model: protobuf parsing failed (truncated or not a ModelProto)");
  return ImportModel(model, opts, model_dir);
}

}  // namespace

Result<ir::Graph> ImportOnnxBytes(std::string_view bytes, const ImportOptions& opts, const std::string& model_dir) {
  return CatchAll([&]() -> Result<ir::Graph> { return ParseAndImport(bytes, opts, model_dir); });
}

Result<ir::Graph> ImportOnnxFile(const std::string& path, const ImportOptions& opts) {
  return CatchAll([&]() -> Result<ir::Graph> {
    SQ_ASSIGN_OR_RETURN(std::string bytes, ReadSmallFile(path, "model file"));
    std::string dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    Result<ir::Graph> g = ParseAndImport(bytes, opts, dir);
    if (!g.ok()) return g.status().WithContext(fmt::format("'{}'", path));
    return g;
  });
}

Result<ir::Tensor> LoadTensorProtoFile(const std::string& path) {
  return CatchAll([&]() -> Result<ir::Tensor> {
    SQ_ASSIGN_OR_RETURN(std::string bytes, ReadSmallFile(path, "tensor file"));
    onnx::TensorProto proto;
    if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
      return InvalidInput("tensor file '{}' is not a TensorProto: protobuf parsing failed", path);
    std::string dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    const std::string what = fmt::format("tensor file '{}'{}", path,
                                         proto.name().empty() ? "" : fmt::format(" (tensor '{}')", proto.name()));
    return ConvertTensor(proto, what, ExternalDataPolicy{dir});
  });
}

}  // namespace squint::importers

// The QDQ graph's plumbing: names, initializers, nodes, and the quantize/dequantize pair of
// every tensor (qdq_builder.h). The ops are in qdq_ops.cc.
#include "export/qdq_builder.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "runtime/kernels/reference/kernels.h"
#include "runtime/tensor_codes.h"

namespace squint::exporter::qdq {

namespace {

onnx::AttributeProto NewAttr(const std::string& name, onnx::AttributeProto::AttributeType type) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(type);
  return a;
}

}  // namespace

onnx::AttributeProto AttrInt(const std::string& name, int64_t v) {
  onnx::AttributeProto a = NewAttr(name, onnx::AttributeProto::INT);
  a.set_i(v);
  return a;
}

onnx::AttributeProto AttrInts(const std::string& name, const std::vector<int64_t>& v) {
  onnx::AttributeProto a = NewAttr(name, onnx::AttributeProto::INTS);
  for (int64_t x : v) a.add_ints(x);
  return a;
}

onnx::AttributeProto AttrFloat(const std::string& name, float v) {
  onnx::AttributeProto a = NewAttr(name, onnx::AttributeProto::FLOAT);
  a.set_f(v);
  return a;
}

onnx::AttributeProto AttrString(const std::string& name, const std::string& v) {
  onnx::AttributeProto a = NewAttr(name, onnx::AttributeProto::STRING);
  a.set_s(v);
  return a;
}

namespace {

// The ONNX element type of a tensor's codes (INT4 weights are unpacked to int8 codes).
int32_t CodeDataType(fb::ElementType t) {
  switch (t) {
    case fb::ElementType::UINT8: return onnx::TensorProto::UINT8;
    case fb::ElementType::INT16: return onnx::TensorProto::INT16;
    case fb::ElementType::INT32: return onnx::TensorProto::INT32;
    default: return onnx::TensorProto::INT8;
  }
}

}  // namespace

Builder::Builder(const fb::ModelT& model) : model_(model) {}

std::string Builder::Fresh(const std::string& stem) {
  std::string name = stem;
  for (int k = 1; used_.count(name); ++k) name = fmt::format("{}.{}", stem, k);
  used_.insert(name);
  return name;
}

onnx::NodeProto* Builder::Node(const std::string& op, const Names& inputs, const Names& outputs, const Attrs& attrs) {
  onnx::NodeProto* n = graph_->add_node();
  n->set_op_type(op);
  n->set_name(outputs.empty() ? op : outputs[0]);
  for (const std::string& i : inputs) n->add_input(i);
  for (const std::string& o : outputs) n->add_output(o);
  for (const onnx::AttributeProto& a : attrs) *n->add_attribute() = a;
  return n;
}

std::string Builder::Op(const std::string& op, const Names& inputs, const std::string& out_stem, const Attrs& attrs) {
  std::string out = Fresh(out_stem);
  Node(op, inputs, {out}, attrs);
  return out;
}

std::string Builder::Init(const std::string& stem, int32_t data_type, const std::vector<int64_t>& dims,
                          const void* data, size_t bytes, bool exact) {
  onnx::TensorProto* t = graph_->add_initializer();
  const std::string name = exact ? stem : Fresh(stem);
  t->set_name(name);
  t->set_data_type(data_type);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(static_cast<const char*>(data), bytes);  // little-endian hosts only (x86-64, aarch64)
  return name;
}

std::string Builder::InitFloats(const std::string& stem, const std::vector<int64_t>& dims, const std::vector<float>& v) {
  return Init(stem, onnx::TensorProto::FLOAT, dims, v.data(), v.size() * sizeof(float));
}

std::string Builder::InitInt64s(const std::string& stem, const std::vector<int64_t>& v) {
  return Init(stem, onnx::TensorProto::INT64, {static_cast<int64_t>(v.size())}, v.data(), v.size() * sizeof(int64_t));
}

std::string Builder::FloatScalar(const std::string& stem, float v) { return InitFloats(stem, {}, {v}); }

const fb::AffineQuantizationT* Builder::Affine(int32_t t) const { return T(t).quantization.AsAffineQuantization(); }

std::vector<int64_t> Builder::Dims(int32_t t) const { return {T(t).shape.begin(), T(t).shape.end()}; }

int32_t Builder::TypeMin(int32_t t) const { return rt::CodeMin(T(t).type); }

int32_t Builder::TypeMax(int32_t t) const { return rt::CodeMax(T(t).type); }

std::pair<int32_t, int32_t> Builder::CodeRange(const fb::RequantizationT* r, int32_t lo, int32_t hi) {
  if (r == nullptr) return {lo, hi};
  return {std::max(lo, r->activation_min), std::min(hi, r->activation_max)};
}

std::vector<int8_t> Builder::WeightCodes(int32_t t) const {
  const fb::TensorT& d = T(t);
  int64_t count = 1;
  for (int32_t x : d.shape) count *= x;
  const std::vector<uint8_t>& data = model_.buffers[d.buffer]->data;
  std::vector<int8_t> codes(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    codes[static_cast<size_t>(i)] = d.type == fb::ElementType::INT4 ? static_cast<int8_t>(rt::ref::Int4At(data.data(), i))
                                                                     : static_cast<int8_t>(data[static_cast<size_t>(i)]);
  return codes;
}

std::string Builder::ZeroPoints(const std::string& stem, fb::ElementType type, const std::vector<int32_t>& zps,
                                const std::vector<int64_t>& dims) {
  const int32_t bytes = rt::ElementSize(type);
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<uint8_t> raw(static_cast<size_t>(n) * static_cast<size_t>(bytes), 0);
  for (size_t i = 0; i < zps.size() && i < static_cast<size_t>(n); ++i) {
    if (bytes == 2) {
      const int16_t v = static_cast<int16_t>(zps[i]);
      std::memcpy(raw.data() + 2 * i, &v, 2);
    } else {
      raw[i] = static_cast<uint8_t>(zps[i]);
    }
  }
  return Init(stem, CodeDataType(type), dims, raw.data(), raw.size());
}

Builder::Names Builder::ConstParams(int32_t t) {
  const fb::AffineQuantizationT& q = *Affine(t);
  const fb::ElementType type = T(t).type == fb::ElementType::INT4 ? fb::ElementType::INT8 : T(t).type;
  const bool per_axis = q.scale.size() > 1 || q.group_size > 0;
  const std::vector<int64_t> dims =
      per_axis ? std::vector<int64_t>{static_cast<int64_t>(q.scale.size())} : std::vector<int64_t>{};
  const std::string scale = InitFloats(base_[t] + "/scale", dims, per_axis ? q.scale : std::vector<float>{q.scale[0]});
  // Always a zero point (zeros for symmetric weights): ORT's fused QGemm wants one per scale.
  return {scale, ZeroPoints(base_[t] + "/zero_point", type, q.zero_point, dims)};
}

std::pair<std::string, std::string> Builder::ActivationParams(int32_t t) {
  if (auto it = params_.find(t); it != params_.end()) return it->second;
  const fb::AffineQuantizationT& q = *Affine(t);
  return params_[t] = {FloatScalar(base_[t] + "/scale", q.scale[0]),
                       ZeroPoints(base_[t] + "/zero_point", T(t).type, q.zero_point, {})};
}

void Builder::SetQdqDomain(onnx::NodeProto* node, int32_t t) const {
  if (T(t).type == fb::ElementType::INT16) node->set_domain(kMicrosoftDomain);  // else the default domain, unset
}

Result<std::string> Builder::Value(int32_t t) {
  if (t < 0 || static_cast<size_t>(t) >= model_.tensors.size()) return InvalidInput("tensor index {}", t);
  if (!value_[t].empty()) return value_[t];
  const fb::TensorT& d = T(t);
  if (d.buffer == 0) return Internal("tensor '{}' is read before it is written", d.name);
  const std::vector<uint8_t>& data = model_.buffers[d.buffer]->data;
  const fb::AffineQuantizationT* q = Affine(t);
  if (q == nullptr || q->scale.empty()) {  // plain integers (indices, masks)
    const int32_t type = d.type == fb::ElementType::UINT8 ? onnx::TensorProto::UINT8 : onnx::TensorProto::INT32;
    if (d.type != fb::ElementType::UINT8 && d.type != fb::ElementType::INT32)
      return Unsupported("constant '{}' of type {} has no quantization", d.name, fb::EnumNameElementType(d.type));
    return value_[t] = Init(base_[t], type, Dims(t), data.data(), data.size(), /*exact=*/true);
  }
  // Codes: one per element (INT4 unpacked), as the tensor's shape or, with group scales, one row
  // per group so that a per-axis DequantizeLinear gives each group its scale.
  std::vector<int64_t> dims = Dims(t);
  const int64_t count = [&] {
    int64_t c = 1;
    for (int64_t x : dims) c *= x;
    return c;
  }();
  if (q->group_size > 0) dims = {count / q->group_size, q->group_size};
  std::string codes;
  if (d.type == fb::ElementType::INT4 || d.type == fb::ElementType::INT8) {
    const std::vector<int8_t> c = WeightCodes(t);
    codes = Init(base_[t] + "/codes", onnx::TensorProto::INT8, dims, c.data(), c.size());
  } else {
    codes = Init(base_[t] + "/codes", CodeDataType(d.type), dims, data.data(),
                 static_cast<size_t>(count) * static_cast<size_t>(rt::ElementSize(d.type)));
  }
  const bool per_axis = q->scale.size() > 1 || q->group_size > 0;
  Names ins = {codes};
  for (const std::string& p : ConstParams(t)) ins.push_back(p);
  Attrs attrs;
  if (per_axis) attrs.push_back(AttrInt("axis", q->group_size > 0 ? 0 : q->axis));
  if (q->group_size == 0) {
    SetQdqDomain(Node("DequantizeLinear", ins, {base_[t]}, attrs), t);
    return value_[t] = base_[t];
  }
  const std::string rows = Op("DequantizeLinear", ins, base_[t] + "/groups", attrs);
  Node("Reshape", {rows, InitInt64s(base_[t] + "/shape", Dims(t))}, {base_[t]});
  return value_[t] = base_[t];
}

Result<std::string> Builder::Codes(int32_t t) {
  if (codes_[t].empty()) return Internal("tensor '{}' has no integer codes in the graph", T(t).name);
  return codes_[t];
}

Status Builder::Settle(int32_t t, const std::string& f) { return Settle(t, f, TypeMin(t), TypeMax(t)); }

Status Builder::Settle(int32_t t, const std::string& f, int32_t lo, int32_t hi) {
  const fb::AffineQuantizationT* q = Affine(t);
  if (q == nullptr || q->scale.empty()) {
    if (T(t).quantization.type != fb::Quantization::NONE)
      return Internal("tensor '{}': quantization other than affine", T(t).name);
    Node("Identity", {f}, {base_[t]});
    value_[t] = base_[t];
    return Status::Ok();
  }
  if (q->scale.size() != 1) return Unsupported("activation '{}' with per-channel scales", T(t).name);
  const auto [scale, zero] = ActivationParams(t);
  const float s = q->scale[0];
  const int32_t z = q->zero_point.empty() ? 0 : q->zero_point[0];
  std::string x = f;
  // QuantizeLinear saturates to the type's range by itself; a narrower range needs its own op.
  if (lo > TypeMin(t) && lo == z && hi >= TypeMax(t)) {
    x = Op("Relu", {x}, base_[t] + "/relu");
  } else if (lo > TypeMin(t) || hi < TypeMax(t)) {
    const std::string mn = lo > TypeMin(t) ? FloatScalar(base_[t] + "/min", s * static_cast<float>(lo - z)) : "";
    const std::string mx = hi < TypeMax(t) ? FloatScalar(base_[t] + "/max", s * static_cast<float>(hi - z)) : "";
    x = Op("Clip", {x, mn, mx}, base_[t] + "/clip");
  }
  codes_[t] = Fresh(base_[t] + "/q");
  SetQdqDomain(Node("QuantizeLinear", {x, scale, zero}, {codes_[t]}), t);
  const bool is_input = std::count(model_.inputs.begin(), model_.inputs.end(), t) > 0;
  const std::string out = is_input ? Fresh(base_[t] + "/dq") : base_[t];
  SetQdqDomain(Node("DequantizeLinear", {codes_[t], scale, zero}, {out}), t);
  value_[t] = out;
  return Status::Ok();
}

std::vector<float> Builder::BiasScales(int32_t x, int32_t w) const {
  const float sx = Affine(x)->scale[0];
  const fb::AffineQuantizationT& qw = *Affine(w);
  std::vector<float> s;
  if (qw.group_size > 0) {
    const size_t units = static_cast<size_t>(T(w).shape[0]);
    const size_t groups = qw.scale.size() / units;
    for (size_t u = 0; u < units; ++u)
      s.push_back(sx * *std::max_element(qw.scale.begin() + static_cast<ptrdiff_t>(u * groups),
                                         qw.scale.begin() + static_cast<ptrdiff_t>((u + 1) * groups)));
    return s;
  }
  for (float v : qw.scale) s.push_back(sx * v);
  return s;
}

Result<std::string> Builder::Bias(int32_t x, int32_t w, int32_t b) {
  const fb::TensorT& d = T(b);
  if (d.type != fb::ElementType::INT32 || d.buffer == 0)
    return Unsupported("bias '{}' is not a constant int32 tensor", d.name);
  const std::vector<uint8_t>& data = model_.buffers[d.buffer]->data;
  const std::vector<float> s = BiasScales(x, w);
  const std::string codes = Init(base_[b] + "/codes", onnx::TensorProto::INT32, Dims(b), data.data(), data.size());
  // A bias read by several ops (never made by the quantizer) gets one DequantizeLinear per reader.
  const std::string out = Fresh(base_[b] + "/dq");
  if (s.size() == 1) {
    Node("DequantizeLinear", {codes, FloatScalar(base_[b] + "/scale", s[0])}, {out});
  } else {
    Node("DequantizeLinear", {codes, InitFloats(base_[b] + "/scale", {static_cast<int64_t>(s.size())}, s)}, {out},
         {AttrInt("axis", 0)});
  }
  return out;
}

Status Builder::CannotExpress(const fb::OperatorT& op, const std::string& why) const {
  const std::string out = op.outputs.empty() || op.outputs[0] < 0 ? "" : T(op.outputs[0]).name;
  return Unsupported("{} '{}' (output '{}'): {}", fb::EnumNameOpCode(op.opcode), op.name, out, why);
}

namespace {

// A tensor's value info; `batch` names a free leading dim (replacing shape[0]).
void SetValueInfo(onnx::ValueInfoProto* v, const std::string& name, int32_t elem, const std::vector<int32_t>& shape,
                  const std::string& batch = "") {
  v->set_name(name);
  onnx::TypeProto::Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem);
  onnx::TensorShapeProto* s = t->mutable_shape();
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i == 0 && !batch.empty())
      s->add_dim()->set_dim_param(batch);
    else
      s->add_dim()->set_dim_value(shape[i]);
  }
}

}  // namespace

Result<onnx::ModelProto> Builder::Build() {
  const size_t n = model_.tensors.size();
  for (const auto& t : model_.tensors)
    if (!t) return InvalidInput("a null tensor");
  base_.assign(n, "");
  value_.assign(n, "");
  codes_.assign(n, "");
  // Model inputs and outputs keep their names; every other tensor gets its own or t<index>.
  for (const std::vector<int32_t>* io : {&model_.inputs, &model_.outputs}) {
    for (int32_t t : *io) {
      const std::string& name = T(t).name;
      if (!base_[t].empty()) continue;
      if (name.empty() || used_.count(name))
        return Unsupported("model input/output {} has an empty or repeated name '{}'", t, name);
      base_[t] = name;
      used_.insert(name);
    }
  }
  for (size_t t = 0; t < n; ++t)
    if (base_[t].empty()) base_[t] = Fresh(T(static_cast<int32_t>(t)).name.empty() ? fmt::format("t{}", t) : T(static_cast<int32_t>(t)).name);
  for (int32_t t : model_.inputs)
    if (std::count(model_.outputs.begin(), model_.outputs.end(), t))
      return Unsupported("tensor '{}' is both a model input and output", T(t).name);
  // A model with a batch is computed by a Scan over its runs: the graph below becomes the body,
  // whose inputs and outputs take the names name/sample (the outer graph keeps the names).
  const bool scan = model_.batch > 0;
  if (scan)
    for (const std::vector<int32_t>* io : {&model_.inputs, &model_.outputs})
      for (int32_t t : *io) base_[t] = Fresh(T(t).name + "/sample");

  proto_.set_ir_version(8);
  proto_.set_producer_name("squint");
  if (model_.provenance) proto_.set_producer_version(model_.provenance->squint_version);
  proto_.set_doc_string("QDQ export of a squint integer model (squint export --format qdq)");
  auto* opset = proto_.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  if (std::any_of(model_.tensors.begin(), model_.tensors.end(),
                  [](const auto& t) { return t->type == fb::ElementType::INT16; })) {
    auto* ms = proto_.add_opset_import();
    ms->set_domain(kMicrosoftDomain);
    ms->set_version(1);
  }
  if (model_.provenance) {
    for (const auto& [key, value] :
         {std::pair{"squint.source_sha256", model_.provenance->source_sha256},
          std::pair{"squint.options", model_.provenance->options}}) {
      auto* p = proto_.add_metadata_props();
      p->set_key(key);
      p->set_value(value);
    }
  }
  graph_ = proto_.mutable_graph();
  graph_->set_name("squint_qdq");

  for (int32_t t : model_.inputs) {
    const bool quantized = Affine(t) != nullptr && !Affine(t)->scale.empty();
    SetValueInfo(graph_->add_input(), base_[t], quantized ? onnx::TensorProto::FLOAT : onnx::TensorProto::INT32,
                 T(t).shape);
    if (quantized) {
      SQ_RETURN_IF_ERROR(Settle(t, base_[t]));
    } else {
      if (T(t).type != fb::ElementType::INT32)
        return Unsupported("model input '{}' of type {} without quantization", T(t).name,
                           fb::EnumNameElementType(T(t).type));
      value_[t] = base_[t];
    }
  }
  for (const auto& op : model_.operators) {
    if (!op) return InvalidInput("a null operator");
    SQ_RETURN_IF_ERROR(EmitOp(*op));
  }
  for (int32_t t : model_.outputs) {
    if (value_[t].empty()) return Internal("output '{}' was not produced", T(t).name);
    if (value_[t] != base_[t]) Node("Identity", {value_[t]}, {base_[t]});  // a log-grid output: its values
    const bool quantized = T(t).quantization.type != fb::Quantization::NONE;
    SetValueInfo(graph_->add_output(), base_[t], quantized ? onnx::TensorProto::FLOAT : onnx::TensorProto::INT32,
                 T(t).shape);
  }
  if (scan) SQ_RETURN_IF_ERROR(WrapInBatchScan());
  return std::move(proto_);
}

Status Builder::WrapInBatchScan() {
  onnx::AttributeProto body = NewAttr("body", onnx::AttributeProto::GRAPH);
  *body.mutable_g() = std::move(*graph_);
  body.mutable_g()->set_name("squint_qdq_run");
  graph_->Clear();
  graph_->set_name("squint_qdq");
  // Outer input [N, rest] -> [N / batch, batch, rest] (Reshape fails at run time unless batch
  // divides N), scanned along axis 0: each run sees the .sqnt's own shape [batch, rest].
  Names runs, stacked;
  for (size_t k = 0; k < model_.inputs.size(); ++k) {  // the body's inputs, in this order
    const int32_t t = model_.inputs[k];
    const std::vector<int32_t>& shape = T(t).shape;
    if (shape.empty()) return Internal("batched input '{}' without dims", T(t).name);
    SetValueInfo(graph_->add_input(), T(t).name, body.g().input(static_cast<int>(k)).type().tensor_type().elem_type(),
                 shape, "N");
    std::vector<int64_t> to = {-1};
    to.insert(to.end(), shape.begin(), shape.end());
    runs.push_back(Op("Reshape", {T(t).name, InitInt64s(T(t).name + "/runs_shape", to)}, T(t).name + "/runs"));
  }
  for (int32_t t : model_.outputs) stacked.push_back(Fresh(T(t).name + "/runs"));
  Node("Scan", runs, stacked, {body, AttrInt("num_scan_inputs", static_cast<int64_t>(runs.size()))});
  for (size_t k = 0; k < model_.outputs.size(); ++k) {
    const int32_t t = model_.outputs[k];
    const std::vector<int32_t>& shape = T(t).shape;
    if (shape.empty()) return Internal("batched output '{}' without dims", T(t).name);
    std::vector<int64_t> to = {-1};
    to.insert(to.end(), shape.begin() + 1, shape.end());
    Node("Reshape", {stacked[k], InitInt64s(T(t).name + "/shape", to)}, {T(t).name});
    SetValueInfo(graph_->add_output(), T(t).name, body.g().output(static_cast<int>(k)).type().tensor_type().elem_type(),
                 shape, "N");
  }
  return Status::Ok();
}

}  // namespace squint::exporter::qdq

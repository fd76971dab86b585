#include "report/sqnt_summary.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/aligned.h"
#include "runtime/kernels/reference/kernels.h"
#include "runtime/model.h"
#include "runtime/requant_derive.h"
#include "runtime/tensor_codes.h"

namespace squint::report {
namespace {

std::string Shape(const rt::TensorDesc& d) {
  if (d.rank == 0) return "scalar";
  std::string s;
  for (int32_t i = 0; i < d.rank; ++i) s += (i ? "x" : "") + std::to_string(d.dims[i]);
  return s;
}

std::string Quant(const rt::TensorDesc& d) {
  if (d.log_grid != nullptr) {
    return fmt::format("{} {} bits: {} codes, values {:.4g} .. {:.4g}, 0xFF = 0", rt::SoftmaxGridName(d.log_grid->kind()),
                       d.log_grid->bits(), d.grid.n, rt::DequantizeCode(d, 0), rt::DequantizeCode(d, d.grid.n - 1));
  }
  if (d.quant == nullptr || d.quant->scale() == nullptr || d.quant->scale()->size() == 0) return "none";
  if (!d.per_channel) return fmt::format("scale {:.6g} zp {}", d.scale, d.zero_point);
  float lo = d.quant->scale()->Get(0), hi = lo;
  for (float v : *d.quant->scale()) lo = std::min(lo, v), hi = std::max(hi, v);
  if (d.group_size > 0)
    return fmt::format("per-group axis {} size {}: {} scales in [{:.6g}, {:.6g}]", d.quant_axis, d.group_size,
                       d.quant->scale()->size(), lo, hi);
  return fmt::format("per-channel axis {}: {} scales in [{:.6g}, {:.6g}]", d.quant_axis, d.quant->scale()->size(), lo,
                     hi);
}

std::string Str(const flatbuffers::String* s) { return s ? s->str() : ""; }

}  // namespace

Result<SqntSummary> SummarizeSqnt(const std::string& path, const std::string& bytes) {
  // The runtime wants an aligned buffer; the copy lives as long as the model.
  const AlignedBytes buffer = AlignedCopy(bytes);
  if (!buffer) return Internal("out of memory reading '{}'", path);
  rt::Model m;
  const rt::Status st = m.Load(buffer.get(), bytes.size());
  if (!st.ok()) return InvalidInput("{}: {}", path, st.message());

  SqntSummary s;
  s.file_bytes = static_cast<int64_t>(bytes.size());
  s.schema_major = m.fb()->schema_version_major();
  s.schema_minor = m.fb()->schema_version_minor();
  s.arena_size = m.arena_size();
  s.arena_lower_bound = m.arena_lower_bound();
  s.batch = m.batch();
  std::vector<std::string> role(static_cast<size_t>(m.num_tensors()));
  std::set<uint32_t> counted;
  for (int32_t t : m.inputs()) role[static_cast<size_t>(t)] = "input";
  for (int32_t t : m.outputs()) role[static_cast<size_t>(t)] = "output";
  for (int32_t i = 0; i < m.num_tensors(); ++i) {
    const rt::TensorDesc& d = m.tensor(i);
    std::string& r = role[static_cast<size_t>(i)];
    if (r.empty()) r = d.is_constant ? "constant" : "activation";
    s.tensors.push_back({d.name, rt::ElementTypeName(d.type), Shape(d), r, Quant(d), d.bytes, d.arena_offset});
    // Constants sharing a buffer (schema 1.1) count once.
    const uint32_t buffer = m.fb()->tensors()->Get(static_cast<uint32_t>(i))->buffer();
    if (d.is_constant && counted.insert(buffer).second)  // the stored bytes (int16-stored int32: two per value)
      (d.type == fb::ElementType::INT32 ? s.bias_bytes : s.weight_bytes) +=
          m.fb()->buffers()->Get(buffer)->data()->size();
  }
  auto name = [&](int32_t t) { return t < 0 ? std::string("-") : std::string(m.tensor(t).name); };
  std::vector<rt::QuantizedMultiplier> derived;
  for (int32_t i = 0; i < m.num_operators(); ++i) {
    const fb::Operator* op = m.op(i);
    SqntOp o{rt::OpCodeName(op->opcode()), m.op_name(i), {}, {}, {}};
    if (op->inputs())
      for (int32_t t : *op->inputs()) o.inputs.push_back(name(t));
    if (op->outputs())
      for (int32_t t : *op->outputs()) o.outputs.push_back(name(t));
    if (const fb::LutOptions* lut = op->options_as_LutOptions(); lut && lut->table())
      s.table_bytes += static_cast<int64_t>(lut->table()->size() * sizeof(int16_t));
    if (const fb::LutOptions* lut = op->options_as_LutOptions(); lut && lut->table8())
      s.table_bytes += static_cast<int64_t>(lut->table8()->size());
    for (int32_t slot = 0, n = rt::NumRequantSlots(*op); slot < n; ++slot) {
      const fb::Requantization* r = rt::RequantAt(*op, slot);
      if (r == nullptr) continue;
      if (r->multiplier() != nullptr) s.requant_pairs_stored += r->multiplier()->size();
      else if (r->shift() == nullptr && r->shift8() == nullptr && rt::DeriveRequant(m, i, slot, &derived)) ++s.requant_derived;
    }
    if (const fb::SoftmaxOptions* sm = op->options_as_SoftmaxOptions(); sm && sm->exp_table())
      s.table_bytes += static_cast<int64_t>(sm->exp_table()->size() * sizeof(int32_t));
    if (const fb::LayerNormOptions* ln = op->options_as_LayerNormOptions(); ln != nullptr && ln->rms())
      o.attrs = "rms";
    if (const fb::FullyConnectedOptions* fc = op->options_as_FullyConnectedOptions(); fc && fc->groups() != 1)
      o.attrs = fmt::format("groups={}", fc->groups());
    if (const fb::HadamardOptions* h = op->options_as_HadamardOptions(); h != nullptr)
      s.table_bytes += static_cast<int64_t>((h->h_k() ? h->h_k()->size() : 0) + (h->signs() ? h->signs()->size() : 0));
    s.ops.push_back(std::move(o));
  }
  s.metadata_bytes = s.file_bytes - s.weight_bytes - s.bias_bytes - s.table_bytes;
  if (const fb::Provenance* p = m.fb()->provenance()) {
    s.source_sha256 = Str(p->source_sha256());
    s.squint_version = Str(p->squint_version());
    s.options = Str(p->options());
    s.calibration = Str(p->calibration());
  }
  return s;
}

std::string FormatText(const SqntSummary& s) {
  std::string out = fmt::format("squint model, schema {}.{}, {} bytes\n", s.schema_major, s.schema_minor, s.file_bytes);
  out += fmt::format("provenance: source sha256 {}, squint {}\n  options: {}\n  calibration: {}\n",
                     s.source_sha256.empty() ? "(none)" : s.source_sha256, s.squint_version, s.options, s.calibration);
  out += fmt::format("bytes: weights {}, biases/int32 constants {}, tables {}, metadata {}\n", s.weight_bytes,
                     s.bias_bytes, s.table_bytes, s.metadata_bytes);
  out += fmt::format("requantization: {} (multiplier, shift) pairs stored, {} derived from the scales at load\n",
                     s.requant_pairs_stored, s.requant_derived);
  out += fmt::format("arena: {} bytes (lower bound {} bytes)\n", s.arena_size, s.arena_lower_bound);
  out += s.batch > 0 ? fmt::format("batch: any multiple of {} samples (the leading dim of every input and output)\n",
                                   s.batch)
                     : std::string("batch: fixed shapes\n");
  out += fmt::format("\ntensors ({}):\n", s.tensors.size());
  for (const SqntTensor& t : s.tensors)
    out += fmt::format("  {:<10} {:<5} {:<14} {:<44} {}\n", t.role, t.type, t.shape, t.quant, t.name);
  out += fmt::format("\nops ({}):\n", s.ops.size());
  for (size_t i = 0; i < s.ops.size(); ++i) {
    const SqntOp& o = s.ops[i];
    out += fmt::format("  {:>4} {:<16} {}  ({}) -> ({}){}\n", i, o.opcode, o.name, fmt::join(o.inputs, ", "),
                       fmt::join(o.outputs, ", "), o.attrs.empty() ? "" : "  " + o.attrs);
  }
  return out;
}

nlohmann::json ToJson(const SqntSummary& s) {
  nlohmann::json j;
  j["file_bytes"] = s.file_bytes;
  j["schema_version"] = fmt::format("{}.{}", s.schema_major, s.schema_minor);
  j["bytes"] = {{"weights", s.weight_bytes}, {"biases", s.bias_bytes}, {"tables", s.table_bytes},
                {"metadata", s.metadata_bytes}};
  j["requantization"] = {{"pairs_stored", s.requant_pairs_stored}, {"derived", s.requant_derived}};
  j["arena"] = {{"size", s.arena_size}, {"lower_bound", s.arena_lower_bound}};
  j["batch"] = s.batch;
  j["provenance"] = {{"source_sha256", s.source_sha256}, {"squint_version", s.squint_version},
                     {"options", s.options}, {"calibration", s.calibration}};
  j["tensors"] = nlohmann::json::array();
  for (const SqntTensor& t : s.tensors)
    j["tensors"].push_back({{"name", t.name}, {"type", t.type}, {"shape", t.shape}, {"role", t.role},
                            {"quantization", t.quant}, {"bytes", t.bytes}, {"arena_offset", t.arena_offset}});
  j["ops"] = nlohmann::json::array();
  for (const SqntOp& o : s.ops)
    j["ops"].push_back(
        {{"op", o.opcode}, {"name", o.name}, {"inputs", o.inputs}, {"outputs", o.outputs}, {"attrs", o.attrs}});
  return j;
}

}  // namespace squint::report

#include "quant/fix_candidates.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include <fmt/format.h>

namespace squint::quant {
namespace {

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) out.push_back(part);
  return out;
}

template <typename T>
Status ParseNumber(const std::string& key, const std::string& value, T* out) {
  const char* end = value.data() + value.size();
  auto [p, ec] = std::from_chars(value.data(), end, *out);
  if (ec != std::errc() || p != end)
    return InvalidInput("provenance option {}={}: not a number", key, value);
  return Status::Ok();
}

}  // namespace

Result<PipelineOptions> PipelineOptionsFromProvenance(const std::string& line) {
  PipelineOptions o;
  bool scope_given = false;
  std::stringstream in(line);
  for (std::string item; in >> item;) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) return InvalidInput("provenance options: '{}' is not key=value", item);
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "observer") {
      o.observer = value;
    } else if (key == "weights") {
      if (value != "per-channel" && value != "per-tensor")
        return InvalidInput("provenance option weights={}: expected per-channel or per-tensor", value);
      o.per_tensor = value == "per-tensor";
    } else if (key == "weight_bits") {
      SQ_RETURN_IF_ERROR(ParseNumber(key, value, &o.weight_bits));
    } else if (key == "act_bits") {
      SQ_RETURN_IF_ERROR(ParseNumber(key, value, &o.act_bits));
    } else if (key == "act_bits_scope") {
      if (value != "matmul" && value != "all")
        return InvalidInput("provenance option act_bits_scope={}: expected matmul or all", value);
      o.act_bits_scope = value;
      scope_given = true;
    } else if (key == "softmax_bits") {
      SQ_RETURN_IF_ERROR(ParseNumber(key, value, &o.softmax_bits));
    } else if (key == "softmax_quant") {
      o.softmax_quant = value;
    } else if (key == "calib_samples") {
      SQ_RETURN_IF_ERROR(ParseNumber(key, value, &o.calib_samples));
    } else if (key == "a16") {
      o.a16 = SplitComma(value);
    } else if (key == "w8") {
      o.w8 = SplitComma(value);
    } else if (key == "clip_softmax") {
      double alpha = 0;
      SQ_RETURN_IF_ERROR(ParseNumber(key, value, &alpha));
      o.clip_softmax = alpha;
    } else if (key == "softmax_bias_correction") {
      o.softmax_bias_correction = value == "1";
    } else if (key == "group_size") {
      SQ_RETURN_IF_ERROR(ParseNumber(key, value, &o.group_size));
    } else if (key == "transform") {
      o.transforms = SplitComma(value);
      if (std::count(o.transforms.begin(), o.transforms.end(), "wush"))
        return Unsupported("provenance option transform={}: the WUSH block size is not recorded, so the model "
                           "cannot be made again",
                           value);
    } else if (key == "transform_seed") {
      SQ_RETURN_IF_ERROR(ParseNumber(key, value, &o.transform_seed));
    } else if (key == "weight_rounding") {
      o.weight_rounding = value;
    } else if (key == "reconstruct") {
      o.reconstruct = value;
    } else if (key == "reconstruct_samples") {
      SQ_RETURN_IF_ERROR(ParseNumber(key, value, &o.reconstruct_samples));
    } else {
      return InvalidInput("provenance options: unknown option '{}' (a .sqnt of another squint version?)", key);
    }
  }
  // Files written before act_bits_scope existed narrowed every activation.
  if (o.act_bits != 8 && !scope_given) o.act_bits_scope = "all";
  return o;
}

std::string QuantizeFlags(const PipelineOptions& o) {
  const PipelineOptions d;
  std::vector<std::string> f;
  if (o.observer != d.observer) f.push_back("--observer " + o.observer);
  for (const std::string& a : o.a16) f.push_back("--a16 " + a);
  if (o.per_tensor) f.push_back("--per-tensor");
  if (o.weight_bits != d.weight_bits) f.push_back(fmt::format("--weight-bits {}", o.weight_bits));
  for (const std::string& w : o.w8) f.push_back("--w8 " + w);
  if (o.group_size != d.group_size) f.push_back(fmt::format("--group-size {}", o.group_size));
  if (o.weight_rounding != d.weight_rounding) f.push_back("--weight-rounding " + o.weight_rounding);
  if (o.reconstruct != d.reconstruct) f.push_back("--reconstruct " + o.reconstruct);
  if (o.reconstruct != d.reconstruct && o.reconstruct_samples != d.reconstruct_samples)
    f.push_back(fmt::format("--reconstruct-samples {}", o.reconstruct_samples));
  if (o.act_bits != d.act_bits) f.push_back(fmt::format("--act-bits {}", o.act_bits));
  if (o.act_bits != d.act_bits && o.act_bits_scope != d.act_bits_scope)
    f.push_back("--act-bits-scope " + o.act_bits_scope);
  if (o.softmax_bits != d.softmax_bits) f.push_back(fmt::format("--softmax-bits {}", o.softmax_bits));
  if (o.softmax_quant != d.softmax_quant) f.push_back("--softmax-quant " + o.softmax_quant);
  if (o.softmax_bias_correction) f.push_back("--softmax-bias-correction");
  if (o.clip_softmax) f.push_back(fmt::format("--clip-softmax {}", *o.clip_softmax));
  if (!o.transforms.empty()) f.push_back(fmt::format("--transform {}", fmt::join(o.transforms, ",")));
  if (!o.transforms.empty() && o.transform_seed != d.transform_seed)
    f.push_back(fmt::format("--transform-seed {}", o.transform_seed));
  return fmt::format("{}", fmt::join(f, " "));
}

std::vector<FixCandidate> CandidateFixes(const ir::Graph& g, const PipelineOptions& base,
                                         const std::vector<std::string>& worst) {
  std::vector<FixCandidate> out;
  auto add = [&](const std::string& layer, std::string what, std::string flag, PipelineOptions o) {
    for (const FixCandidate& c : out)
      if (c.flag == flag) return;
    out.push_back({layer, std::move(what), std::move(flag), std::move(o)});
  };
  for (const std::string& name : worst) {
    auto it = std::find_if(g.nodes.begin(), g.nodes.end(), [&](const ir::Node& n) { return n.name == name; });
    if (it == g.nodes.end()) continue;
    const ir::OpType op = it->op;
    const std::string type(ir::OpName(op));
    const auto has = [](const std::vector<std::string>& list, const std::string& s) {
      return std::count(list.begin(), list.end(), s) > 0;
    };
    if (!has(base.a16, name) && !has(base.a16, type)) {
      PipelineOptions o = base;
      o.a16.push_back(name);
      add(name, "int16 activations around " + name, "--a16 " + name, o);
      // The same for every node of its type at once: a loss spread over every LayerNorm or
      // residual Add of a model needs one step instead of one per node.
      if (std::count_if(g.nodes.begin(), g.nodes.end(), [&](const ir::Node& m) { return m.op == op; }) > 1) {
        o = base;
        o.a16.push_back(type);
        add(name, "int16 activations around every " + type, "--a16 " + type, o);
      }
    }
    if (op == ir::OpType::kSoftmax) {
      for (const char* grid : {"log2", "sulq"}) {
        if (base.softmax_quant == grid) continue;
        PipelineOptions o = base;
        o.softmax_quant = grid;
        o.softmax_bias_correction = false;
        add(name, fmt::format("{} grid for every softmax", grid), std::string("--softmax-quant ") + grid, o);
      }
      if (base.softmax_quant == "uniform" && !base.softmax_bias_correction) {
        PipelineOptions o = base;
        o.softmax_bias_correction = true;
        add(name, "softmax bias correction (folded into the output projection)", "--softmax-bias-correction", o);
      }
    }
    // A layer with constant weights (not a MatMul of two activations, as attention's): the matrix
    // products the lowering narrows with --weight-bits and --w8. ConvTranspose keeps per-channel
    // scales (no groups), so --group-size is not its fix.
    const bool weights = (op == ir::OpType::kLinear || op == ir::OpType::kMatMul || op == ir::OpType::kGemm ||
                          op == ir::OpType::kConv || op == ir::OpType::kConvTranspose) &&
                         it->inputs.size() > 1 && it->inputs[1] != ir::kNoValue && g.constant(it->inputs[1]);
    if (weights && base.weight_bits < 8 && !has(base.w8, name) && !has(base.w8, type)) {
      PipelineOptions o = base;
      o.w8.push_back(name);
      add(name, "8-bit weights on " + name, "--w8 " + name, o);
    }
    if (weights && op != ir::OpType::kConvTranspose && base.group_size == 0 && !base.per_tensor) {
      PipelineOptions o = base;
      o.group_size = 32;
      add(name, "weight scales per group of 32 inputs (every Linear and Conv)", "--group-size 32", o);
    }
  }
  if (base.transforms.empty() && !out.empty()) {
    for (const char* t : {"smooth", "hadamard"}) {
      PipelineOptions o = base;
      o.transforms = {t};
      add("", fmt::format("{} transform (float-equivalent, before calibration)", t), std::string("--transform ") + t, o);
    }
  }
  return out;
}

}  // namespace squint::quant

#include "quant/softmax_bias.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <variant>

#include <fmt/format.h>

#include "quant/value_tap.h"

namespace squint::quant {
namespace {

using ir::Node;
using ir::OpType;
using ir::ValueId;

// The only node reading v, or null.
const Node* SoleConsumer(const ir::Graph& g, ValueId v) {
  const Node* found = nullptr;
  for (const Node& n : g.nodes)
    for (ValueId in : n.inputs)
      if (in == v) {
        if (found != nullptr && found != &n) return nullptr;
        found = &n;
      }
  for (ValueId out : g.outputs)
    if (out == v) return nullptr;
  return found;
}

std::optional<ir::Dims> DimsOf(const ir::Graph& g, ValueId v) {
  const ir::Value& value = g.value(v);
  return value.shape ? ir::DimsFromShape(*value.shape) : std::nullopt;
}

// One P·V to measure: its operands, its dims, and where δ goes.
struct Site {
  size_t result = 0;       // index in the result list
  ValueId y = ir::kNoValue, v = ir::kNoValue;
  int64_t batch = 0, heads = 0, rows = 0, keys = 0, d = 0;
  std::vector<double> delta;  // [heads·d]
  int64_t count = 0;          // rows accumulated per channel
};

// Matches P·V → Transpose [0, 2, 1, 3] → Reshape [B, T, H·d] → Linear with a constant weight.
// Fills `site` dims and returns the Linear, or a reason.
std::variant<const Node*, std::string> Projection(const ir::Graph& g, const Node& pv, Site* site) {
  std::optional<ir::Dims> y = DimsOf(g, pv.input(0)), v = DimsOf(g, pv.input(1)), o = DimsOf(g, pv.outputs.at(0));
  if (!y || !v || !o || y->size() != 4 || v->size() != 4 || o->size() != 4) return std::string("not a 4-D attention");
  site->batch = (*o)[0];
  site->heads = (*o)[1];
  site->rows = (*o)[2];
  site->d = (*o)[3];
  site->keys = (*y)[3];
  if ((*y)[0] != site->batch || (*v)[0] != site->batch || (*y)[1] != site->heads || (*v)[1] != site->heads ||
      (*v)[2] != site->keys || (*v)[3] != site->d)
    return std::string("P·V operands broadcast");
  const Node* t = SoleConsumer(g, pv.outputs.at(0));
  if (t == nullptr || t->op != OpType::kTranspose || t->attrs.GetInts("perm") != std::vector<int64_t>{0, 2, 1, 3})
    return std::string("P·V is not followed by Transpose [0, 2, 1, 3]");
  const Node* r = SoleConsumer(g, t->outputs.at(0));
  std::optional<ir::Dims> rd = r ? DimsOf(g, r->outputs.at(0)) : std::nullopt;
  if (r == nullptr || r->op != OpType::kReshape || !rd ||
      *rd != ir::Dims{site->batch, site->rows, site->heads * site->d})
    return std::string("the heads are not merged by a Reshape to [B, T, H·d]");
  const Node* fc = SoleConsumer(g, r->outputs.at(0));
  if (fc == nullptr || fc->op != OpType::kLinear || fc->input(0) != r->outputs.at(0) ||
      g.constant(fc->input(1)) == nullptr)
    return std::string("the merged heads do not enter a Linear (e.g. a gate sits between)");
  return fc;
}

}  // namespace

double QuantizedProbability(double y, int bits) {
  const double levels = std::ldexp(1.0, bits);
  return std::clamp(std::floor(y * levels + 0.5), 0.0, levels - 1) / levels;
}

int64_t AccumulateAttentionError(const float* y, const float* v, int64_t rows, int64_t keys, int64_t d, int bits,
                                 double* delta) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < keys; ++k) {
      const double p = y[r * keys + k];
      const double err = p - QuantizedProbability(p, bits);  // y − ŷ
      if (err == 0.0) continue;
      for (int64_t c = 0; c < d; ++c) delta[c] += err * v[k * d + c];
    }
  return rows;
}

Result<std::vector<SoftmaxBias>> EstimateSoftmaxBias(const ir::Graph& g, const CalibData& data, int64_t max_samples,
                                                     int bits) {
  std::vector<SoftmaxBias> out;
  std::vector<Site> sites;
  for (const Node& pv : g.nodes) {
    if (pv.op != OpType::kMatMul || pv.inputs.size() < 2 || g.constant(pv.input(1)) != nullptr) continue;
    const auto sm = std::find_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) {
      return n.op == OpType::kSoftmax && n.outputs.at(0) == pv.input(0);
    });
    if (sm == g.nodes.end()) continue;
    Site site;
    site.result = out.size();
    site.y = pv.input(0);
    site.v = pv.input(1);
    out.push_back({sm->name, "", {}, ""});
    auto fc = Projection(g, pv, &site);
    if (auto* why = std::get_if<std::string>(&fc)) {
      out.back().why_not = *why;
      continue;
    }
    out.back().projection = std::get<const Node*>(fc)->name;
    site.delta.assign(static_cast<size_t>(site.heads * site.d), 0.0);
    sites.push_back(std::move(site));
  }
  if (sites.empty()) return out;

  std::vector<ValueId> wanted;
  for (const Site& s : sites) wanted.insert(wanted.end(), {s.y, s.v});
  SQ_RETURN_IF_ERROR(TapValues(g, data, max_samples, wanted, [&](const std::map<ValueId, ir::Tensor>& seen) {
    for (Site& site : sites) {
      const ir::Tensor &y = seen.at(site.y), &v = seen.at(site.v);
      for (int64_t b = 0; b < site.batch; ++b)
        for (int64_t h = 0; h < site.heads; ++h) {
          const int64_t bh = b * site.heads + h;
          AccumulateAttentionError(y.data<float>() + bh * site.rows * site.keys,
                                   v.data<float>() + bh * site.keys * site.d, site.rows, site.keys, site.d, bits,
                                   site.delta.data() + h * site.d);
        }
      site.count += site.batch * site.rows;
    }
    return Status::Ok();
  }));
  for (const Site& site : sites) {
    std::vector<float>& off = out[site.result].offset;
    off.resize(site.delta.size());
    for (size_t i = 0; i < off.size(); ++i)
      off[i] = site.count ? static_cast<float>(site.delta[i] / static_cast<double>(site.count)) : 0.0f;
  }
  return out;
}

}  // namespace squint::quant

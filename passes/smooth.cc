// Smoothing: matching (FindSmoothSites) and rewriting (ApplySmoothing); smooth.h has the formula.
#include "passes/smooth.h"

#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "passes/graph_edit.h"

namespace squint::passes {

using ir::Graph;
using ir::Node;
using ir::OpType;
using ir::Tensor;
using ir::ValueId;

namespace {

// The reason a LayerNormalization cannot be smoothed, or "" when it can (site filled in).
std::string MatchSite(const Graph& g, const GraphIndex& index, int32_t i, SmoothSite& site) {
  const Node& n = g.nodes[static_cast<size_t>(i)];
  const ValueId x = n.outputs.empty() ? ir::kNoValue : n.outputs[0];
  const auto& shape = g.value(x).shape;
  if (!shape || shape->empty() || !shape->back().known()) return "its output's last dim is unknown";
  const int64_t c = shape->back().value;
  const int64_t axis = n.attrs.GetInt("axis", -1);
  if (axis != -1 && axis != static_cast<int64_t>(shape->size()) - 1) return fmt::format("axis {} is not the last", axis);
  for (size_t k = 1; k < n.inputs.size(); ++k) {
    if (n.input(k) == ir::kNoValue) continue;
    const Tensor* p = g.constant(n.input(k));
    if (!p || p->dtype() != ir::DType::kFloat32 || p->size() != c)
      return fmt::format("its {} is not a float32 constant of {} elements", k == 1 ? "scale" : "bias", c);
  }
  if (n.input(1) == ir::kNoValue) return "it has no scale";
  for (size_t k = 1; k < n.outputs.size(); ++k)
    if (n.outputs[k] != ir::kNoValue && index.Uses(n.outputs[k]) > 0) return "its mean/inv-std outputs are used";
  if (index.IsGraphOutput(x)) return "its output is a graph output";
  if (index.Readers(x).empty()) return "its output is not read";
  site = SmoothSite{i, x, {}, c};
  for (int32_t r : index.Readers(x)) {
    const Node& l = g.nodes[static_cast<size_t>(r)];
    if (l.op != OpType::kLinear || l.input(0) != x || l.input(1) == x)
      return fmt::format("{} reads its output, not only Linear X inputs", l.Label());
    if (l.attrs.GetInt("groups", 1) != 1) return fmt::format("{} is grouped (block-diagonal W)", l.Label());
    const Tensor* w = g.constant(l.input(1));
    if (!w || w->dtype() != ir::DType::kFloat32 || w->rank() != 2 || w->dim(0) != c)
      return fmt::format("{} has no constant float32 weight [{}, N]", l.Label(), c);
    site.linears.push_back(r);
  }
  return "";
}

}  // namespace

std::vector<SmoothSite> FindSmoothSites(const Graph& g, std::vector<std::string>* skipped) {
  const GraphIndex index(g);
  std::vector<SmoothSite> sites;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].op != OpType::kLayerNormalization) continue;
    SmoothSite site;
    const std::string why = MatchSite(g, index, static_cast<int32_t>(i), site);
    if (why.empty())
      sites.push_back(std::move(site));
    else if (skipped)
      skipped->push_back(fmt::format("{}: {}", g.nodes[i].Label(), why));
  }
  return sites;
}

Status ApplySmoothing(Graph& g, const SmoothSite& site, std::span<const float> s, ir::ValueNames* names,
                      std::span<const float> shift) {
  std::optional<ir::ValueNames> own;
  if (names == nullptr) names = &own.emplace(g);
  const Node& norm = g.nodes[static_cast<size_t>(site.norm)];
  if (static_cast<int64_t>(s.size()) != site.channels)
    return InvalidInput("smoothing {}: {} scales for {} channels", norm.Label(), s.size(), site.channels);
  for (size_t j = 0; j < s.size(); ++j)
    if (!(std::isfinite(s[j]) && s[j] > 0))
      return InvalidInput("smoothing {}: scale {} of channel {} is not finite and > 0", norm.Label(), s[j], j);
  if (!shift.empty() && static_cast<int64_t>(shift.size()) != site.channels)
    return InvalidInput("smoothing {}: {} shifts for {} channels", norm.Label(), shift.size(), site.channels);
  for (size_t j = 0; j < shift.size(); ++j)
    if (!std::isfinite(shift[j]))
      return InvalidInput("smoothing {}: shift {} of channel {} is not finite", norm.Label(), shift[j], j);
  auto delta = [&](int64_t j) { return shift.empty() ? 0.0f : shift[static_cast<size_t>(j)]; };
  // Readers' new biases b_i + δ·W_i, from the weights before scaling.
  std::vector<std::optional<Tensor>> biases(site.linears.size());
  if (!shift.empty()) {
    for (size_t i = 0; i < site.linears.size(); ++i) {
      const Node& l = g.nodes[static_cast<size_t>(site.linears[i])];
      const Tensor& w = *g.constant(l.input(1));
      const int64_t cols = w.dim(1);
      const Tensor* b = l.input(2) != ir::kNoValue ? g.constant(l.input(2)) : nullptr;
      if (l.input(2) != ir::kNoValue && (!b || b->dtype() != ir::DType::kFloat32 || b->size() != cols))
        return InvalidInput("smoothing {}: {} has a bias other than {} float32 constants", norm.Label(), l.Label(),
                            cols);
      Tensor nb(ir::DType::kFloat32, {cols});
      for (int64_t c = 0; c < cols; ++c) {
        double acc = b ? b->data<float>()[c] : 0.0;
        for (int64_t j = 0; j < site.channels; ++j) acc += double{delta(j)} * w.data<float>()[j * cols + c];
        nb.data<float>()[c] = static_cast<float>(acc);
      }
      biases[i] = std::move(nb);
    }
  }
  // γ/s and (β − δ)/s.
  for (size_t k = 1; k < 3; ++k) {
    Node& n = g.nodes[static_cast<size_t>(site.norm)];
    const ValueId v = n.input(k);
    if (v == ir::kNoValue && (k == 1 || shift.empty())) continue;
    Tensor t(ir::DType::kFloat32, v == ir::kNoValue ? ir::Dims{site.channels} : g.constant(v)->dims());
    const float* src = v == ir::kNoValue ? nullptr : g.constant(v)->data<float>();
    for (int64_t j = 0; j < site.channels; ++j)
      t.data<float>()[j] = ((src ? src[j] : 0.0f) - (k == 2 ? delta(j) : 0.0f)) / s[static_cast<size_t>(j)];
    const std::string base = v == ir::kNoValue ? n.name + "_bias" : g.value(v).name;
    const ValueId nv = AddConstant(g, *names, base + "_smoothed", std::move(t));
    Node& m = g.nodes[static_cast<size_t>(site.norm)];
    if (m.inputs.size() <= k) m.inputs.resize(k + 1, ir::kNoValue);
    m.inputs[k] = nv;
  }
  for (size_t i = 0; i < site.linears.size(); ++i) {
    if (!biases[i]) continue;
    Node& l = g.nodes[static_cast<size_t>(site.linears[i])];
    const std::string base = l.input(2) != ir::kNoValue ? g.value(l.input(2)).name : l.name + "_bias";
    const ValueId nv = AddConstant(g, *names, base + "_smoothed", std::move(*biases[i]));
    Node& m = g.nodes[static_cast<size_t>(site.linears[i])];
    if (m.inputs.size() <= 2) m.inputs.resize(3, ir::kNoValue);
    m.inputs[2] = nv;
  }
  // x/s is another tensor than x: a new name, so that nothing matches it to the untransformed
  // model's x by name (squint report compares the .sqnt with the original float model).
  g.value(site.x).name = names->Make(g.value(site.x).name + "_smoothed");
  // diag(s)·W: row j of W [channels, N] times s_j.
  for (int32_t li : site.linears) {
    const ValueId v = g.nodes[static_cast<size_t>(li)].input(1);
    const Tensor& w = *g.constant(v);
    const int64_t cols = w.dim(1);
    Tensor t(ir::DType::kFloat32, w.dims());
    for (int64_t j = 0; j < site.channels; ++j)
      for (int64_t c = 0; c < cols; ++c)
        t.data<float>()[j * cols + c] = w.data<float>()[j * cols + c] * s[static_cast<size_t>(j)];
    const ValueId nv = AddConstant(g, *names, g.value(v).name + "_smoothed", std::move(t));
    g.nodes[static_cast<size_t>(li)].inputs[1] = nv;
  }
  return Status::Ok();
}

}  // namespace squint::passes

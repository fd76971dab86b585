#include "passes/online_hadamard.h"

#include <map>
#include <random>

#include "ir/eval/hadamard.h"
#include "passes/graph_edit.h"
#include "base/hadamard.h"

namespace squint::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::Tensor;
using ir::ValueId;

// Block for K channels: K itself or its largest divisor with a Hadamard construction
// (1 always qualifies). K must fit HadamardK's int32 argument.
int64_t ChooseBlock(int64_t k) {
  for (int64_t d = k; d >= 1; --d)
    if (k % d == 0 && hadamard::HadamardK(static_cast<int32_t>(d)) > 0) return d;
  return 1;
}

// H·W for W [K, N] float32: the rotation applies to each column, i.e. to each row of Wᵀ.
Tensor RotateWeight(const Tensor& w, int64_t block, const std::vector<int64_t>& signs) {
  const int64_t k = w.dim(0), n = w.dim(1);
  Tensor wt(ir::DType::kFloat32, {n, k}), rt(ir::DType::kFloat32, {n, k}), out(ir::DType::kFloat32, {k, n});
  const float* src = w.data<float>();
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) wt.data<float>()[j * k + i] = src[i * n + j];
  ir::eval::ApplyHadamard(wt, block, signs, rt);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) out.data<float>()[i * n + j] = rt.data<float>()[j * k + i];
  return out;
}

// Why a Linear cannot take the rotation, empty when it can; sets *block when it can.
std::string Ineligible(const Graph& g, const Node& n, int64_t min_block, int64_t* block) {
  if (std::string why = DenseLinearIssue(g, n); !why.empty()) return why;
  const Tensor* w = g.constant(n.input(1));
  *block = ChooseBlock(w->dim(0));
  if (*block < min_block)
    return fmt::format("K = {} has no Hadamard block >= {} (largest k·2^m divisor: {})", w->dim(0), min_block, *block);
  return "";
}

}  // namespace

int OnlineHadamardReport::linears() const {
  int n = 0;
  for (const Site& s : transformed) n += static_cast<int>(s.linears.size());
  return n;
}

Result<OnlineHadamardReport> OnlineHadamard(Graph& g, const OnlineHadamardOptions& opts) {
  if (opts.min_block < 1) return InvalidInput("online Hadamard: min_block {} must be >= 1", opts.min_block);
  OnlineHadamardReport report;
  // Eligible Linears grouped by their X, in node order (so the report and the signs are
  // deterministic).
  std::map<ValueId, std::vector<int32_t>> readers;
  std::vector<ValueId> order;
  std::map<ValueId, int64_t> blocks;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.op != ir::OpType::kLinear) continue;
    int64_t block = 0;
    std::string why = Ineligible(g, n, opts.min_block, &block);
    if (!why.empty()) {
      report.skipped.push_back({n.name, std::move(why)});
      continue;
    }
    const ValueId x = n.input(0);
    if (readers.count(x) == 0) order.push_back(x);
    readers[x].push_back(static_cast<int32_t>(i));
    blocks[x] = block;  // same K for every Linear reading x (inference checked X's last dim)
  }
  if (order.empty()) return report;

  std::mt19937 rng(opts.seed);
  const std::vector<int32_t> producers = g.Producers();
  std::map<int32_t, std::vector<Node>> after;  // producer index (-1: graph input/constant) -> new nodes
  ir::ValueNames names(g);
  for (ValueId x : order) {
    const std::vector<int32_t>& linears = readers[x];
    const int64_t channels = g.constant(g.nodes[linears[0]].input(1))->dim(0);
    OnlineHadamardReport::Site site;
    site.value = g.value(x).name;
    site.channels = channels;
    site.block = blocks[x];
    site.k = hadamard::HadamardK(static_cast<int32_t>(site.block));
    std::vector<int64_t> signs;
    if (opts.random_signs) {
      signs.resize(static_cast<size_t>(channels));
      for (int64_t& s : signs) s = (rng() & 1u) ? 1 : -1;
    }
    ir::Value xv = g.value(x);
    xv.name = names.Make(site.value + "_hadamard");
    xv.constant.reset();
    xv.quant.reset();
    Node h;
    h.op = ir::OpType::kHadamard;
    h.name = xv.name;
    h.inputs = {x};
    h.attrs.set("block", site.block);
    if (!signs.empty()) h.attrs.set("signs", signs);
    const ValueId rotated = g.AddValue(std::move(xv));
    h.outputs = {rotated};
    for (int32_t li : linears) {
      Node& lin = g.nodes[static_cast<size_t>(li)];
      const Tensor* w = g.constant(lin.input(1));
      lin.inputs[1] =
          AddConstant(g, names, g.value(lin.input(1)).name + "_hadamard", RotateWeight(*w, site.block, signs));
      lin.inputs[0] = rotated;
      site.linears.push_back(lin.name);
    }
    after[producers[static_cast<size_t>(x)]].push_back(std::move(h));
    report.transformed.push_back(std::move(site));
  }
  // Each Hadamard goes right after the producer of its input (first for graph inputs and
  // constants), so it precedes every Linear reading it: topological order holds.
  InsertAfterProducers(g, std::move(after));
  return report;
}

}  // namespace squint::passes

#include "quant/block_recon.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "ir/eval/evaluator.h"
#include "quant/lowerer.h"
#include "quant/runtime_model.h"
#include "runtime/interpreter.h"
#include "runtime/tensor_codes.h"

namespace squint::quant {
namespace {

using ir::Node;
using ir::OpType;
using ir::ValueId;
using ir::kNoValue;

bool IsActivation(const ir::Graph& g, ValueId v) { return v != kNoValue && !g.value(v).constant; }

// Whether a cut may pass through value v: not between a ReLU/Clip or a softmax mask Add and the
// op the lowering folds it into (then the two halves would lower differently).
bool CutAllowed(const ir::Graph& g, const std::vector<std::vector<size_t>>& readers, ValueId v) {
  const std::vector<size_t>& r = readers[static_cast<size_t>(v)];
  if (r.size() != 1) return true;
  const OpType op = g.nodes[r[0]].op;
  return op != OpType::kRelu && op != OpType::kClip && op != OpType::kSoftmax;
}

// A residual connection: an Add or Sub of two activations.
bool IsResidual(const ir::Graph& g, const std::vector<int32_t>& producers, ValueId v) {
  const int32_t p = producers[static_cast<size_t>(v)];
  if (p < 0) return false;
  const Node& n = g.nodes[static_cast<size_t>(p)];
  return (n.op == OpType::kAdd || n.op == OpType::kSub) && IsActivation(g, n.input(0)) && IsActivation(g, n.input(1));
}

class Reconstructor {
 public:
  Reconstructor(const ir::Graph& g, const CalibData& calib, const LowerOptions& lo, Calibration* cal,
                const BlockReconOptions& o)
      : g_(g), calib_(calib), cal_(cal), o_(o), lo_(lo) {}

  Result<BlockReconReport> Run(const std::function<void(const std::string&)>& info) {
    const auto start = std::chrono::steady_clock::now();
    SQ_ASSIGN_OR_RETURN(ActivationTypes types, SelectActivationTypes(g_, lo_));
    lo_.activation_types = std::make_shared<const ActivationTypes>(std::move(types));
    lo_.pack_int4 = false;  // the same codes on the faster int8 kernels (the test checks it)
    if (!lo_.weight_cache) lo_.weight_cache = std::make_shared<WeightCodeCache>();
    blocks_ = FindBlocks(g_);
    samples_ = std::min<int64_t>(o_.samples, calib_.num_samples);
    if (samples_ <= 0) return InvalidInput("--reconstruct block: no calibration samples");
    SQ_RETURN_IF_ERROR(FloatReference());
    BlockReconReport rep;
    rep.samples = samples_;
    for (const Block& b : blocks_) {
      SQ_ASSIGN_OR_RETURN(BlockResult r, Reconstruct(b, &rep));
      if (info) info(Describe(r));
      rep.blocks.push_back(std::move(r));
    }
    rep.softmax_grids = lo_.softmax_grids;
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return rep;
  }

 private:
  // The float values every block reads and writes, per sample.
  Status FloatReference() {
    std::set<ValueId> want;
    for (const Block& b : blocks_) {
      want.insert(b.inputs.begin(), b.inputs.end());
      want.insert(b.outputs.begin(), b.outputs.end());
    }
    ir::eval::Evaluator evaluator(g_);
    ref_.assign(static_cast<size_t>(samples_), {});
    for (int64_t s = 0; s < samples_; ++s) {
      auto& seen = ref_[static_cast<size_t>(s)];
      SQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> inputs, calib_.Samples(s, 1));
      for (size_t i = 0; i < g_.inputs.size() && i < inputs.size(); ++i)
        if (want.count(g_.inputs[i])) seen[g_.inputs[i]] = inputs[i];
      auto hook = [&](const Node& node, std::span<const ir::Tensor> outs) {
        for (size_t k = 0; k < node.outputs.size(); ++k)
          if (want.count(node.outputs[k])) seen[node.outputs[k]] = outs[k];
      };
      SQ_RETURN_IF_ERROR(evaluator.Run(inputs, hook).status());
      for (ValueId v : want)
        if (!seen.count(v)) return Internal("block reconstruction: the float value '{}' was not produced", g_.value(v).name);
    }
    return Status::Ok();
  }

  // The values of block b whose clipping is searched: the calibrated float activations it
  // produces whose grid the lowering takes from calibration (not those of data movement or a
  // Gather, which keep their input's or their table's grid, nor a softmax output with its fixed
  // grid, nor the output of an op a ReLU folds into; a HADAMARD's output is left alone).
  std::vector<ValueId> Searched(const Block& b, const std::vector<std::vector<size_t>>& readers) const {
    std::vector<ValueId> out;
    for (size_t i = b.begin; i < b.end; ++i) {
      const Node& n = g_.nodes[i];
      if (n.op == OpType::kSoftmax || n.op == OpType::kHadamard || n.op == OpType::kGather ||
          lowering::IsScalePreserving(n.op))
        continue;
      for (ValueId v : n.outputs) {
        if (v == kNoValue || g_.value(v).dtype != ir::DType::kFloat32) continue;
        if (!cal_->ranges[static_cast<size_t>(v)]) continue;
        if (FoldedAway(n, v, readers)) continue;
        out.push_back(v);
      }
    }
    return out;
  }

  // Whether the lowering folds the node writing v into v's one reader (a ReLU or Clip, or the
  // Softmax a constant mask Add feeds), so that v's range is not used.
  bool FoldedAway(const Node& n, ValueId v, const std::vector<std::vector<size_t>>& readers) const {
    const std::vector<size_t>& r = readers[static_cast<size_t>(v)];
    if (r.size() != 1) return false;
    const OpType op = g_.nodes[r[0]].op;
    if (op == OpType::kRelu || op == OpType::kClip) return true;
    return op == OpType::kSoftmax && n.op == OpType::kAdd && !(IsActivation(g_, n.input(0)) && IsActivation(g_, n.input(1)));
  }

  // Block b as a graph of its own: the same values (ids), its nodes, its inputs and outputs.
  ir::Graph SubGraph(const Block& b) const {
    ir::Graph sub;
    sub.name = g_.name;
    sub.opset = g_.opset;
    sub.values = g_.values;
    sub.nodes.assign(g_.nodes.begin() + static_cast<std::ptrdiff_t>(b.begin),
                     g_.nodes.begin() + static_cast<std::ptrdiff_t>(b.end));
    sub.inputs = b.inputs;
    sub.outputs = b.outputs;
    return sub;
  }

  // Lowers and runs block b with the current ranges on every sample; returns the mean squared
  // error of its float outputs against the float model's. With `keep`, stores the output codes.
  // Stops early, returning +inf, once the error summed so far shows the mean will exceed `bound`
  // (such a candidate loses whatever the remaining samples give).
  Result<double> Evaluate(const ir::Graph& sub, const Block& b, bool keep, double bound = INFINITY) {
    SQ_ASSIGN_OR_RETURN(LoweredModel lowered, Lower(sub, *cal_, lo_));
    RuntimeModel m;
    SQ_RETURN_IF_ERROR(m.Init(*lowered.model, "block reconstruction"));
    const auto& ins = m.model.inputs();
    const auto& outs = m.model.outputs();
    if (ins.size() != b.inputs.size() || outs.size() != b.outputs.size())
      return Internal("block reconstruction: a block model has {} inputs and {} outputs, expected {} and {}",
                      ins.size(), outs.size(), b.inputs.size(), b.outputs.size());
    double sse = 0;
    int64_t count = 0, elements = 0;  // elements: per sample
    for (int64_t s = 0; s < samples_; ++s) {
      const auto& ref = ref_[static_cast<size_t>(s)];
      for (size_t k = 0; k < ins.size(); ++k) SQ_RETURN_IF_ERROR(WriteInput(m, ins[k], b.inputs[k], s, ref));
      if (rt::Status st = m.interp.Invoke(); !st.ok()) return Internal("block reconstruction: invoke: {}", st.message());
      for (size_t k = 0; k < outs.size(); ++k) {
        const ValueId v = b.outputs[k];
        const rt::TensorDesc& d = m.model.tensor(outs[k]);
        const void* data = m.interp.tensor_data(outs[k]);
        if (g_.value(v).dtype != ir::DType::kFloat32 || d.quant == nullptr) continue;
        const ir::Tensor& f = ref.at(v);
        if (f.size() != d.num_elements) return Internal("block output '{}': element count differs", g_.value(v).name);
        const float* fv = f.data<float>();
        std::vector<int32_t>* kept = nullptr;
        if (keep) {
          auto& per_sample = codes_[v];
          per_sample.resize(static_cast<size_t>(samples_));
          kept = &per_sample[static_cast<size_t>(s)];
          kept->resize(static_cast<size_t>(d.num_elements));
        }
        for (int64_t e = 0; e < d.num_elements; ++e) {
          const int32_t q = rt::LoadCode(data, d.type, e);
          if (kept) (*kept)[static_cast<size_t>(e)] = q;
          const double err = double{rt::DequantizeCode(d, q)} - fv[e];
          sse += err * err;
        }
        count += d.num_elements;
      }
      if (s == 0) elements = count;
      if (sse > bound * static_cast<double>(elements * samples_)) return INFINITY;
    }
    return count > 0 ? sse / static_cast<double>(count) : 0.0;
  }

  // A block input for sample s: codes a previous block wrote, a graph input quantized to its
  // grid, or an integer value (ids, masks) as the float model computed it.
  Status WriteInput(RuntimeModel& m, int32_t t, ValueId v, int64_t s, const std::map<ValueId, ir::Tensor>& ref) const {
    const rt::TensorDesc& d = m.model.tensor(t);
    void* dst = m.interp.mutable_tensor_data(t);
    if (dst == nullptr) return Internal("block input '{}' has no data", g_.value(v).name);
    if (auto it = codes_.find(v); it != codes_.end()) {
      const std::vector<int32_t>& q = it->second[static_cast<size_t>(s)];
      if (static_cast<int64_t>(q.size()) != d.num_elements)
        return Internal("block input '{}': element count differs", g_.value(v).name);
      for (int64_t e = 0; e < d.num_elements; ++e) rt::StoreCode(dst, d.type, e, q[static_cast<size_t>(e)]);
      return Status::Ok();
    }
    const ir::Tensor& x = ref.at(v);
    if (x.size() != d.num_elements) return Internal("block input '{}': element count differs", g_.value(v).name);
    if (x.dtype() == ir::DType::kFloat32) {
      if (d.quant == nullptr) return Internal("block input '{}' has no grid", g_.value(v).name);
      const float* f = x.data<float>();
      for (int64_t e = 0; e < d.num_elements; ++e) rt::StoreCode(dst, d.type, e, rt::QuantizeValue(d, f[e]));
      return Status::Ok();
    }
    const std::vector<int64_t> iv = x.ToInt64Vector();
    for (int64_t e = 0; e < d.num_elements; ++e)
      rt::StoreCode(dst, d.type, e,
                    static_cast<int32_t>(std::clamp<int64_t>(iv[static_cast<size_t>(e)], INT32_MIN, INT32_MAX)));
    return Status::Ok();
  }

  // One coordinate of the search: a value's clipping ratio (index into o_.ratios) or a Softmax's
  // grid (index into its candidates).
  struct Knob {
    ValueId value = kNoValue;
    const std::string* softmax = nullptr;
    const std::vector<LogGridTables>* grids = nullptr;
    size_t choice = 0;
    size_t choices = 0;
  };

  Result<BlockResult> Reconstruct(const Block& b, BlockReconReport* rep) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::vector<size_t>> readers(g_.values.size());
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      for (ValueId v : g_.nodes[i].inputs)
        if (v != kNoValue) readers[static_cast<size_t>(v)].push_back(i);
    const ir::Graph sub = SubGraph(b);
    std::vector<Knob> knobs;
    std::map<ValueId, Range> base;
    for (ValueId v : Searched(b, readers)) {
      base[v] = *cal_->ranges[static_cast<size_t>(v)];
      knobs.push_back(Knob{.value = v, .choices = o_.ratios.size()});
    }
    for (size_t i = b.begin; i < b.end; ++i) {
      const Node& n = g_.nodes[i];
      if (n.op != OpType::kSoftmax) continue;
      const auto it = o_.softmax_grids.find(n.name);
      if (it == o_.softmax_grids.end() || it->second.size() < 2 || !lo_.softmax_grids.count(n.name)) continue;
      knobs.push_back(Knob{.softmax = &it->first, .grids = &it->second, .choices = it->second.size()});
    }
    auto apply = [&](const Knob& k, size_t c) {
      if (k.grids != nullptr) {
        lo_.softmax_grids[*k.softmax] = (*k.grids)[c];
        return;
      }
      const Range& r0 = base.at(k.value);
      const double r = o_.ratios[c];
      cal_->ranges[static_cast<size_t>(k.value)] = Range{static_cast<float>(r0.min * r), static_cast<float>(r0.max * r)};
    };
    for (const Knob& k : knobs) apply(k, k.choice);
    BlockResult res;
    res.block = b;
    res.first = g_.nodes[b.begin].name;
    res.last = g_.nodes[b.end - 1].name;
    SQ_ASSIGN_OR_RETURN(double best, Evaluate(sub, b, /*keep=*/false));
    res.mse_before = best;
    res.evaluations = 1;
    for (int pass = 0; pass < o_.passes; ++pass) {
      bool changed = false;
      for (Knob& k : knobs) {
        const size_t kept = k.choice;
        for (size_t c = 0; c < k.choices; ++c) {
          if (c == k.choice || c == kept) continue;
          apply(k, c);
          SQ_ASSIGN_OR_RETURN(double mse, Evaluate(sub, b, /*keep=*/false, best));
          ++res.evaluations;
          if (mse < best) {
            best = mse;
            k.choice = c;
            changed = true;
          }
        }
        apply(k, k.choice);
      }
      if (!changed) break;
    }
    // The chosen block once more: its output codes are the next blocks' inputs.
    SQ_ASSIGN_OR_RETURN(res.mse_after, Evaluate(sub, b, /*keep=*/true));
    ++res.evaluations;
    if (res.mse_after != best) return Internal("block reconstruction: the chosen block does not repeat its error");
    for (const Knob& k : knobs) {
      if (k.choice == 0) continue;
      if (k.grids != nullptr)
        res.softmax_grids.push_back({*k.softmax, k.choice});
      else
        res.clipped.push_back({k.value, o_.ratios[k.choice]});
    }
    if (o_.keep_codes)
      for (ValueId v : b.outputs)
        if (auto it = codes_.find(v); it != codes_.end()) rep->codes[v] = it->second;
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return res;
  }

  std::string Describe(const BlockResult& r) const {
    std::string clipped;
    for (const auto& [v, ratio] : r.clipped)
      clipped += fmt::format("{}{} x{}", clipped.empty() ? "" : ", ", g_.value(v).name, ratio);
    std::string grids;
    for (const auto& [name, c] : r.softmax_grids) {
      const LogGridTables& t = o_.softmax_grids.at(name)[c];
      grids += fmt::format("{}{} {}", grids.empty() ? "; softmax grids: " : ", ", name,
                           t.kind == fb::SoftmaxGrid::SULQ ? fmt::format("eta {}", t.eta)
                                                           : fmt::format("delta {:.4g}", t.delta));
    }
    return fmt::format("reconstruct: block '{}' .. '{}' ({} nodes): output MSE {:.4g} -> {:.4g}, {} evaluations, "
                       "{:.2f} s; clipped: {}{}",
                       r.first, r.last, r.block.end - r.block.begin, r.mse_before, r.mse_after, r.evaluations,
                       r.seconds, clipped.empty() ? "none" : clipped, grids);
  }

  const ir::Graph& g_;
  const CalibData& calib_;
  Calibration* cal_;
  const BlockReconOptions& o_;
  LowerOptions lo_;
  std::vector<Block> blocks_;
  int64_t samples_ = 0;
  std::vector<std::map<ValueId, ir::Tensor>> ref_;          // per sample: float values of block inputs/outputs
  std::map<ValueId, std::vector<std::vector<int32_t>>> codes_;  // per block output: codes per sample
};

}  // namespace

std::vector<Block> FindBlocks(const ir::Graph& g) {
  const size_t n = g.nodes.size();
  std::vector<Block> blocks;
  if (n == 0) return blocks;
  const std::vector<int32_t> producers = g.Producers();
  std::vector<int64_t> last_use(g.values.size(), -1);
  std::vector<std::vector<size_t>> readers(g.values.size());
  for (size_t i = 0; i < n; ++i)
    for (ValueId v : g.nodes[i].inputs)
      if (v != kNoValue) {
        last_use[static_cast<size_t>(v)] = static_cast<int64_t>(i);
        readers[static_cast<size_t>(v)].push_back(i);
      }
  for (ValueId v : g.outputs) last_use[static_cast<size_t>(v)] = static_cast<int64_t>(n);
  // Cuts: after node i, the live values (produced at or before i, read after it).
  std::set<ValueId> live;
  for (ValueId v : g.inputs)
    if (last_use[static_cast<size_t>(v)] >= 0) live.insert(v);
  std::vector<std::pair<size_t, ValueId>> cuts;  // (first node after the cut, the one float value)
  for (size_t i = 0; i + 1 < n; ++i) {
    for (ValueId v : g.nodes[i].inputs)
      if (v != kNoValue && last_use[static_cast<size_t>(v)] == static_cast<int64_t>(i)) live.erase(v);
    for (ValueId v : g.nodes[i].outputs)
      if (v != kNoValue && last_use[static_cast<size_t>(v)] > static_cast<int64_t>(i)) live.insert(v);
    ValueId only = kNoValue;
    int floats = 0;
    for (ValueId v : live)
      if (g.value(v).dtype == ir::DType::kFloat32) ++floats, only = v;
    if (floats == 1 && CutAllowed(g, readers, only)) cuts.push_back({i + 1, only});
  }
  const bool residual = std::any_of(cuts.begin(), cuts.end(),
                                    [&](const auto& c) { return IsResidual(g, producers, c.second); });
  std::vector<size_t> starts = {0};
  for (const auto& [at, v] : cuts)
    if (!residual || IsResidual(g, producers, v)) starts.push_back(at);
  starts.push_back(n);
  for (size_t k = 0; k + 1 < starts.size(); ++k) {
    Block b;
    b.begin = starts[k];
    b.end = starts[k + 1];
    std::set<ValueId> seen;
    for (size_t i = b.begin; i < b.end; ++i)
      for (ValueId v : g.nodes[i].inputs) {
        if (!IsActivation(g, v) || seen.count(v)) continue;
        const int32_t p = producers[static_cast<size_t>(v)];
        if (p < static_cast<int32_t>(b.begin)) {
          b.inputs.push_back(v);
          seen.insert(v);
        }
      }
    for (size_t i = b.begin; i < b.end; ++i)
      for (ValueId v : g.nodes[i].outputs) {
        if (v == kNoValue) continue;
        const bool graph_output = std::count(g.outputs.begin(), g.outputs.end(), v) > 0;
        if (graph_output || last_use[static_cast<size_t>(v)] >= static_cast<int64_t>(b.end)) b.outputs.push_back(v);
      }
    blocks.push_back(std::move(b));
  }
  return blocks;
}

Result<BlockReconReport> ReconstructBlocks(const ir::Graph& g, const CalibData& calib, const LowerOptions& lo,
                                           Calibration* cal, const BlockReconOptions& o,
                                           const std::function<void(const std::string&)>& info) {
  if (o.ratios.empty() || o.ratios.front() != 1.0)
    return Internal("block reconstruction: the ratio grid must start at 1");
  Reconstructor r(g, calib, lo, cal, o);
  SQ_ASSIGN_OR_RETURN(BlockReconReport rep, r.Run(info));
  return rep;
}

}  // namespace squint::quant

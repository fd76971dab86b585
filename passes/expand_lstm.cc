// An LSTM (ir/eval/ops/recurrent.cc states what it computes) unrolled over its steps into the ops
// the quantizer lowers: per direction d and step t,
//
//   x_t = Gather(X, t, axis 0)                                  [batch, I]
//   g   = Linear(x_t, W_dᵀ, Wb_d + Rb_d) + Linear(h, R_dᵀ)       [batch, 4H]   (no R term while h is 0)
//   i, o, f, c̃ = Sigmoid/Sigmoid/Sigmoid/Tanh(Slice(g, k·H .. (k+1)·H, axis 1))
//   c = f·c + i·c̃ (i·c̃ while c is 0),   h = o·Tanh(c)
//   Y   = Concat over steps of [1, D, batch, H] (each Unsqueeze, or a Concat of the directions)
//   Y_h, Y_c = the last step's h and c as [D, batch, H]
//
// so each gate's matrix product is a FULLY_CONNECTED with constant weights, the nonlinearities
// LUTs and the cell update elementwise MUL/ADD. Exact in float up to the order of the additions.
// Needs W, R (and B) constant, the number of steps known, and no sequence_lens (or a constant one
// equal to the steps everywhere); otherwise the LSTM is left as it is, and lowering names it.
#include <fmt/format.h>

#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace squint::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::OpType;
using ir::Tensor;
using ir::ValueId;

// The steps of X ([seq, batch, I]) when known and every sequence length equals them.
std::optional<int64_t> StaticSteps(const Graph& g, const Node& n) {
  const auto& shape = g.value(n.input(0)).shape;
  if (!shape || shape->size() != 3 || !(*shape)[0].known() || !(*shape)[2].known()) return std::nullopt;
  const int64_t seq = (*shape)[0].value;
  if (n.inputs.size() > 4 && n.inputs[4] != ir::kNoValue) {
    const Tensor* lens = g.constant(n.inputs[4]);
    if (!lens) return std::nullopt;
    for (int64_t i = 0; i < lens->size(); ++i) {
      const int64_t len = lens->dtype() == ir::DType::kInt64 ? lens->data<int64_t>()[i] : lens->data<int32_t>()[i];
      if (len != seq) return std::nullopt;
    }
  }
  return seq;
}

class Unroller {
 public:
  Unroller(Graph& g, ir::ValueNames& names, const Node& lstm, std::vector<Node>& out)
      : g_(g), names_(names), n_(lstm), out_(out) {}

  void Run(int64_t seq) {
    // Copies: adding values below may move the graph's constants.
    const Tensor w = *g_.constant(n_.input(1));
    const Tensor r = *g_.constant(n_.input(2));
    const Tensor* bp = n_.inputs.size() > 3 ? Float32Constant(g_, n_.inputs[3]) : nullptr;
    const std::optional<Tensor> bias_in = bp ? std::optional<Tensor>(*bp) : std::nullopt;
    const Tensor* b = bias_in ? &*bias_in : nullptr;
    const int64_t h = n_.attrs.GetInt("hidden_size", 0), in = w.dim(2);
    const std::string dir = n_.attrs.GetString("direction", "forward");
    const int64_t dirs = dir == "bidirectional" ? 2 : 1;
    std::vector<std::vector<ValueId>> ys(static_cast<size_t>(seq), std::vector<ValueId>(static_cast<size_t>(dirs)));
    std::vector<ValueId> last_h(static_cast<size_t>(dirs)), last_c(static_cast<size_t>(dirs));
    for (int64_t d = 0; d < dirs; ++d) {
      const std::string stem = n_.name + (dirs == 2 ? (d ? "/backward" : "/forward") : "");
      // Wᵀ [I, 4H], Rᵀ [H, 4H], Wb + Rb [4H] of direction d.
      Tensor wt(ir::DType::kFloat32, {in, 4 * h}), rt(ir::DType::kFloat32, {h, 4 * h}),
          bias(ir::DType::kFloat32, {4 * h});
      for (int64_t j = 0; j < 4 * h; ++j) {
        for (int64_t k = 0; k < in; ++k) wt.data<float>()[k * 4 * h + j] = w.data<float>()[(d * 4 * h + j) * in + k];
        for (int64_t k = 0; k < h; ++k) rt.data<float>()[k * 4 * h + j] = r.data<float>()[(d * 4 * h + j) * h + k];
        bias.data<float>()[j] = b ? b->data<float>()[d * 8 * h + j] + b->data<float>()[d * 8 * h + 4 * h + j] : 0.0f;
      }
      const ValueId wv = Constant(stem + "/W_t", std::move(wt)), rv = Constant(stem + "/R_t", std::move(rt));
      const ValueId bv = Constant(stem + "/bias", std::move(bias));
      ValueId hv = State(5, d, stem + "/h0"), cv = State(6, d, stem + "/c0");
      const bool backward = dir == "reverse" || d == 1;
      for (int64_t step = 0; step < seq; ++step) {
        const int64_t t = backward ? seq - 1 - step : step;
        const std::string s = fmt::format("{}/t{}", stem, t);
        const ValueId xt = Emit(OpType::kGather, s + "/x", {n_.input(0), Constant(s + "/index", Tensor::Scalar<int64_t>(t))},
                                {{"axis", int64_t{0}}});
        ValueId gates = Emit(OpType::kLinear, s + "/input_gates", {xt, wv, bv});
        if (hv != ir::kNoValue)
          gates = Emit(OpType::kAdd, s + "/gates", {gates, Emit(OpType::kLinear, s + "/hidden_gates", {hv, rv})});
        ValueId gate[4];
        static const char* const kGate[] = {"i", "o", "f", "c"};
        for (int k = 0; k < 4; ++k) {
          const ValueId part = Emit(OpType::kSlice, fmt::format("{}/{}_in", s, kGate[k]),
                                    {gates, Ints(s + "/start", {k * h}), Ints(s + "/end", {(k + 1) * h}),
                                     Ints(s + "/axis", {1})});
          gate[k] = Emit(k == 3 ? OpType::kTanh : OpType::kSigmoid, fmt::format("{}/{}", s, kGate[k]), {part});
        }
        const ValueId input = Emit(OpType::kMul, s + "/i_c", {gate[0], gate[3]});
        cv = cv == ir::kNoValue ? input : Emit(OpType::kAdd, s + "/c", {Emit(OpType::kMul, s + "/f_c", {gate[2], cv}), input});
        hv = Emit(OpType::kMul, s + "/h", {gate[1], Emit(OpType::kTanh, s + "/tanh_c", {cv})});
        ys[static_cast<size_t>(t)][static_cast<size_t>(d)] = hv;
      }
      last_h[static_cast<size_t>(d)] = hv;
      last_c[static_cast<size_t>(d)] = cv;
    }
    // Y [seq, D, batch, H], Y_h / Y_c [D, batch, H]: the node's outputs, produced by the last ops.
    if (Wanted(0)) {
      std::vector<ValueId> steps;
      for (int64_t t = 0; t < seq; ++t)
        steps.push_back(Unsqueeze(fmt::format("{}/y{}", n_.name, t),
                                  Directions(fmt::format("{}/y{}_dirs", n_.name, t), ys[static_cast<size_t>(t)])));
      Finish(0, steps);
    }
    if (Wanted(1)) Finish(1, {Directions(n_.name + "/y_h_dirs", last_h)});
    if (Wanted(2)) Finish(2, {Directions(n_.name + "/y_c_dirs", last_c)});
  }

 private:
  bool Wanted(size_t k) const { return k < n_.outputs.size() && n_.outputs[k] != ir::kNoValue; }

  ValueId Value(const std::string& base) {
    ir::Value v;
    v.name = names_.Make(base);
    v.dtype = ir::DType::kFloat32;
    return g_.AddValue(std::move(v));
  }
  ValueId Constant(const std::string& base, Tensor t) { return g_.AddConstant(names_.Make(base), std::move(t)); }
  ValueId Ints(const std::string& base, std::vector<int64_t> v) {
    const int64_t size = static_cast<int64_t>(v.size());
    return Constant(base, Tensor::FromVector<int64_t>({size}, v));
  }

  void Add(OpType op, const std::string& name, std::vector<ValueId> inputs, ValueId output,
           std::vector<std::pair<std::string, ir::AttrValue>> attrs = {}) {
    Node m;
    m.op = op;
    m.name = name;
    m.inputs = std::move(inputs);
    m.outputs = {output};
    for (auto& [key, value] : attrs) m.attrs.set(key, std::move(value));
    out_.push_back(std::move(m));
  }
  ValueId Emit(OpType op, const std::string& name, std::vector<ValueId> inputs,
               std::vector<std::pair<std::string, ir::AttrValue>> attrs = {}) {
    const ValueId v = Value(name);
    Add(op, name, std::move(inputs), v, std::move(attrs));
    return v;
  }
  ValueId Unsqueeze(const std::string& name, ValueId x) {
    return Emit(OpType::kUnsqueeze, name, {x, Ints(name + "/axes", {0})});
  }
  // [D, batch, H] from each direction's [batch, H].
  ValueId Directions(const std::string& name, const std::vector<ValueId>& hs) {
    std::vector<ValueId> parts;
    for (size_t d = 0; d < hs.size(); ++d) parts.push_back(Unsqueeze(fmt::format("{}{}", name, d), hs[d]));
    return parts.size() == 1 ? parts[0] : Emit(OpType::kConcat, name, parts, {{"axis", int64_t{0}}});
  }
  // Output k of the LSTM is the Concat of `parts` on axis 0 (an Identity of a single part).
  void Finish(size_t k, const std::vector<ValueId>& parts) {
    const std::string name = fmt::format("{}/output{}", n_.name, k);
    if (parts.size() == 1)
      Add(OpType::kIdentity, name, parts, n_.outputs[k]);
    else
      Add(OpType::kConcat, name, parts, n_.outputs[k], {{"axis", int64_t{0}}});
  }
  // Direction d of initial_h / initial_c (input i) as [batch, H], or kNoValue (zeros) when absent.
  ValueId State(size_t i, int64_t d, const std::string& name) {
    if (i >= n_.inputs.size() || n_.inputs[i] == ir::kNoValue) return ir::kNoValue;
    return Emit(OpType::kGather, name, {n_.inputs[i], Constant(name + "/index", Tensor::Scalar<int64_t>(d))},
                {{"axis", int64_t{0}}});
  }

  Graph& g_;
  ir::ValueNames& names_;
  const Node& n_;
  std::vector<Node>& out_;
};

class ExpandLstm : public Pass {
 public:
  std::string_view name() const override { return "expand_lstm"; }

  Result<int> Run(Graph& g) override {
    int count = 0;
    std::vector<Node> nodes;
    std::optional<ir::ValueNames> names;
    for (Node& n : g.nodes) {
      std::optional<int64_t> seq;
      if (n.op == OpType::kLSTM && Float32Constant(g, n.input(1)) && Float32Constant(g, n.input(2)) &&
          (n.inputs.size() <= 3 || n.inputs[3] == ir::kNoValue || Float32Constant(g, n.inputs[3])) &&
          (n.inputs.size() <= 7 || n.inputs[7] == ir::kNoValue))
        seq = StaticSteps(g, n);
      if (!seq || *seq < 1) {
        nodes.push_back(std::move(n));
        continue;
      }
      if (!names) names.emplace(g);
      Unroller(g, *names, n, nodes).Run(*seq);
      ++count;
    }
    g.nodes = std::move(nodes);
    return count;
  }
};

}  // namespace

std::unique_ptr<Pass> MakeExpandLstm() { return std::make_unique<ExpandLstm>(); }

}  // namespace squint::passes

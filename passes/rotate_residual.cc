#include "passes/rotate_residual.h"

#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "ir/eval/hadamard.h"
#include "passes/graph_edit.h"
#include "base/hadamard.h"

namespace squint::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::OpType;
using ir::Tensor;
using ir::ValueId;

// Q as d×d row-major doubles.
using Matrix = std::vector<double>;

// Randomized Hadamard (rows of diag(s)·H/√d, via the same rotation squint.Hadamard applies) when
// d has a Hadamard construction, else a random orthogonal matrix (Gram–Schmidt on Gaussian rows,
// twice for accuracy). Both from rng: same seed, same Q.
Matrix MakeRotation(int64_t d, std::mt19937& rng, std::string* kind) {
  Matrix q(static_cast<size_t>(d * d), 0.0);
  if (d <= std::numeric_limits<int32_t>::max() && hadamard::HadamardK(static_cast<int32_t>(d)) > 0) {
    *kind = "hadamard";
    std::vector<int64_t> signs(static_cast<size_t>(d));
    for (int64_t& s : signs) s = (rng() & 1u) ? 1 : -1;
    Tensor eye(ir::DType::kFloat64, {d, d}), rows(ir::DType::kFloat64, {d, d});
    for (int64_t i = 0; i < d; ++i) eye.data<double>()[i * d + i] = 1.0;
    ir::eval::ApplyHadamard(eye, d, signs, rows);  // row i = e_i·Q
    for (int64_t i = 0; i < d * d; ++i) q[static_cast<size_t>(i)] = rows.data<double>()[i];
    return q;
  }
  *kind = "orthogonal";
  std::normal_distribution<double> normal(0.0, 1.0);
  for (double& v : q) v = normal(rng);
  for (int64_t i = 0; i < d; ++i) {
    double* r = &q[static_cast<size_t>(i * d)];
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t j = 0; j < i; ++j) {
        const double* p = &q[static_cast<size_t>(j * d)];
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += r[c] * p[c];
        for (int64_t c = 0; c < d; ++c) r[c] -= dot * p[c];
      }
    double norm = 0;
    for (int64_t c = 0; c < d; ++c) norm += r[c] * r[c];
    norm = std::sqrt(norm);
    for (int64_t c = 0; c < d; ++c) r[c] /= norm;
  }
  return q;
}

// For every vector v along `axis` of t (float32, t.dim(axis) = d): v ← (v − center·mean(v))·Q,
// i.e. v'[o] = Σ_c (v[c] − m)·Q[c, o].
Tensor RotateAxis(const Tensor& t, int64_t axis, const Matrix& q, bool center) {
  const int64_t d = t.dim(axis);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= t.dim(i);
  for (int64_t i = axis + 1; i < t.rank(); ++i) inner *= t.dim(i);
  Tensor out(ir::DType::kFloat32, t.dims());
  const float* src = t.data<float>();
  float* dst = out.data<float>();
  std::vector<double> v(static_cast<size_t>(d));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double mean = 0;
      for (int64_t c = 0; c < d; ++c) mean += v[static_cast<size_t>(c)] = src[(o * d + c) * inner + i];
      mean = center ? mean / static_cast<double>(d) : 0.0;
      for (int64_t r = 0; r < d; ++r) {
        double acc = 0;
        for (int64_t c = 0; c < d; ++c) acc += (v[static_cast<size_t>(c)] - mean) * q[static_cast<size_t>(c * d + r)];
        dst[(o * d + r) * inner + i] = static_cast<float>(acc);
      }
    }
  return out;
}

bool IsFloatConstant(const Graph& g, ValueId v) {
  const Tensor* t = g.constant(v);
  return t != nullptr && t->dtype() == ir::DType::kFloat32;
}

const ir::Shape* ShapeOf(const Graph& g, ValueId v) {
  const auto& s = g.value(v).shape;
  return s ? &*s : nullptr;
}

int64_t Rank(const Graph& g, ValueId v) {
  const ir::Shape* s = ShapeOf(g, v);
  return s ? static_cast<int64_t>(s->size()) : -1;
}

// Where the channel axis goes through a data-movement node: from input 0's axis `a` to the
// output's (forward) or back. nullopt: the node moves or mixes channels (or shapes are unknown).
// `pad_ok`: Pad passes (zero rows keep a zero channel mean; not after a LayerNorm whose β is
// pending: the padded rows would get β).
std::optional<int64_t> MapAxis(const Graph& g, const Node& n, int64_t a, bool forward, bool pad_ok) {
  const ValueId in = n.input(0), out = n.outputs[0];
  const int64_t in_rank = Rank(g, in), out_rank = Rank(g, out);
  if (in_rank < 0 || out_rank < 0) return std::nullopt;
  switch (n.op) {
    case OpType::kTranspose: {
      std::vector<int64_t> perm = n.attrs.GetInts("perm");
      if (perm.empty())
        for (int64_t i = in_rank - 1; i >= 0; --i) perm.push_back(i);
      if (static_cast<int64_t>(perm.size()) != in_rank) return std::nullopt;
      if (!forward) return a < in_rank ? std::optional<int64_t>(perm[static_cast<size_t>(a)]) : std::nullopt;
      for (size_t j = 0; j < perm.size(); ++j)
        if (perm[j] == a) return static_cast<int64_t>(j);
      return std::nullopt;
    }
    case OpType::kReshape: {
      // The channel dim keeps its size and everything before it is the same dims.
      const ir::Shape &from = forward ? *ShapeOf(g, in) : *ShapeOf(g, out), &to = forward ? *ShapeOf(g, out) : *ShapeOf(g, in);
      if (a >= static_cast<int64_t>(from.size()) || !from[static_cast<size_t>(a)].known()) return std::nullopt;
      if (static_cast<int64_t>(to.size()) <= a) return std::nullopt;
      for (int64_t i = 0; i <= a; ++i)
        if (!(from[static_cast<size_t>(i)] == to[static_cast<size_t>(i)])) return std::nullopt;
      return a;
    }
    case OpType::kPad: {
      if (!pad_ok || n.attrs.GetString("mode", "constant") != "constant") return std::nullopt;
      const Tensor* pads = g.constant(n.input(1));
      if (pads == nullptr || pads->size() != 2 * in_rank) return std::nullopt;
      const std::vector<float> p = pads->ToFloatVector();
      if (p[static_cast<size_t>(a)] != 0 || p[static_cast<size_t>(a + in_rank)] != 0) return std::nullopt;
      if (n.input(2) != ir::kNoValue) {
        const std::optional<double> value = ScalarConstant(g, n.input(2));
        if (!value || *value != 0.0) return std::nullopt;
      }
      return a;
    }
    case OpType::kGather: {
      if (g.constant(in) != nullptr) return std::nullopt;  // a table lookup is a writer, not a move
      int64_t axis = n.attrs.GetInt("axis", 0);
      if (axis < 0) axis += in_rank;
      const int64_t idx_rank = Rank(g, n.input(1));
      if (idx_rank < 0) return std::nullopt;
      if (forward) {
        if (a == axis) return std::nullopt;
        return a < axis ? a : a - 1 + idx_rank;
      }
      if (a < axis) return a;
      if (a < axis + idx_rank) return std::nullopt;
      return a + 1 - idx_rank;
    }
    case OpType::kSlice: {
      if (in_rank != out_rank) return std::nullopt;
      const Tensor* starts = g.constant(n.input(1));
      if (starts == nullptr) return std::nullopt;
      std::vector<float> axes;
      if (n.input(3) != ir::kNoValue) {
        const Tensor* t = g.constant(n.input(3));
        if (t == nullptr) return std::nullopt;
        axes = t->ToFloatVector();
      } else {
        for (int64_t i = 0; i < starts->size(); ++i) axes.push_back(static_cast<float>(i));
      }
      for (float s : axes)
        if ((s < 0 ? s + in_rank : s) == a) return std::nullopt;
      return a;
    }
    default: return std::nullopt;
  }
}

bool IsMove(OpType op) {
  return op == OpType::kTranspose || op == OpType::kReshape || op == OpType::kPad || op == OpType::kGather ||
         op == OpType::kSlice;
}

// One stream, explored from a LayerNormalization's input.
class Stream {
 public:
  Stream(const Graph& g, const GraphIndex& index, int64_t d) : g_(g), index_(index), d_(d) {}

  // Explores from x; false (with why()) when the stream cannot be rotated.
  bool Explore(ValueId x) {
    Visit(x, Rank(g_, x) - 1);
    while (why_.empty() && !work_.empty()) {
      const ValueId v = work_.back();
      work_.pop_back();
      Producer(v);
      if (why_.empty()) Readers(v);
    }
    return why_.empty();
  }

  const std::string& why() const { return why_; }

  std::map<ValueId, int64_t> axis;               // stream values -> channel axis
  std::set<ValueId> normalized;                  // LayerNorm outputs and their moves
  std::set<int32_t> norms, writers;              // node indices
  std::map<int32_t, int32_t> readers;            // Linear node -> its LayerNorm node
  std::set<std::pair<int32_t, size_t>> constants;  // (Add or Concat node, input) of constants written in

 private:
  void Fail(std::string why) {
    if (why_.empty()) why_ = std::move(why);
  }
  std::string Name(ValueId v) const { return "'" + g_.value(v).name + "'"; }

  // n writes d channels that a rotation may mix: a dense Linear (DenseLinearIssue: not grouped,
  // W [K, d], axis 1) or an ungrouped Conv (W [d, ..], axis 0) with a float32 constant weight, and
  // its bias (input 2) absent or a float32 constant of d values. Grouped layers keep each output
  // within its group: mixing outputs across groups is not a weight change.
  bool Weights(const Node& n, int64_t axis) const {
    if (n.op == OpType::kLinear ? !DenseLinearIssue(g_, n).empty() : n.attrs.GetInt("group", 1) != 1) return false;
    const Tensor* w = g_.constant(n.input(1));
    if (!IsFloatConstant(g_, n.input(1)) || w->rank() <= axis || w->dim(axis) != d_) return false;
    return n.input(2) == ir::kNoValue || (IsFloatConstant(g_, n.input(2)) && g_.constant(n.input(2))->size() == d_);
  }

  void Visit(ValueId v, int64_t a) {
    const ir::Shape* s = ShapeOf(g_, v);
    if (s == nullptr || a < 0 || a >= static_cast<int64_t>(s->size()) || !(*s)[static_cast<size_t>(a)].known() ||
        (*s)[static_cast<size_t>(a)].value != d_)
      return Fail(fmt::format("{} has no known channel axis of {} channels", Name(v), d_));
    auto [it, fresh] = axis.emplace(v, a);
    if (!fresh) {
      if (it->second != a) Fail(fmt::format("{} is reached with two different channel axes", Name(v)));
      return;
    }
    if (index_.IsGraphOutput(v)) return Fail(fmt::format("{} is a graph output", Name(v)));
    work_.push_back(v);
  }

  // An Add operand: a constant to center and rotate, or another stream value.
  void AddOperand(int32_t add, size_t i, int64_t out_axis, int64_t out_rank) {
    const ValueId v = g_.nodes[static_cast<size_t>(add)].input(i);
    if (g_.constant(v) != nullptr) {
      const Tensor& c = *g_.constant(v);
      if (!IsFloatConstant(g_, v) || out_axis != out_rank - 1 || c.rank() < 1 || c.dim(c.rank() - 1) != d_)
        return Fail(fmt::format("constant {} added to the stream is not float32 [.., {}] along the last axis",
                                Name(v), d_));
      constants.emplace(add, i);
      return;
    }
    const int64_t rank = Rank(g_, v);
    if (rank < 0) return Fail(fmt::format("{} has an unknown rank", Name(v)));
    Visit(v, out_axis - (out_rank - rank));
  }

  // A Concat along another axis than the channels (a class token prepended to the patches): its
  // output and every activation input are stream values; a constant input is written into the
  // stream like an added constant (centered and rotated along its last axis).
  void Concat(int32_t c, int64_t a) {
    const Node& n = g_.nodes[static_cast<size_t>(c)];
    const int64_t rank = Rank(g_, n.outputs[0]);
    int64_t cat = n.attrs.GetInt("axis", 0);
    if (cat < 0) cat += rank;
    if (rank < 1 || cat == a) return Fail(fmt::format("{} concatenates along the stream's channel axis", n.Label()));
    Visit(n.outputs[0], a);
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const ValueId v = n.input(i);
      if (Rank(g_, v) != rank) return Fail(fmt::format("{}: input {} has another rank", n.Label(), Name(v)));
      if (g_.constant(v) != nullptr) {
        const Tensor& t = *g_.constant(v);
        if (!IsFloatConstant(g_, v) || a != rank - 1 || t.dim(t.rank() - 1) != d_)
          return Fail(fmt::format("constant {} concatenated into the stream is not float32 [.., {}]", Name(v), d_));
        constants.emplace(c, i);
      } else {
        Visit(v, a);
      }
    }
  }

  void Producer(ValueId v) {
    const int32_t p = index_.ProducerIndex(v);
    if (p < 0) return Fail(fmt::format("{} is a graph input", Name(v)));
    const Node& n = g_.nodes[static_cast<size_t>(p)];
    const int64_t a = axis[v];
    const int64_t last = Rank(g_, v) - 1;
    switch (n.op) {
      case OpType::kAdd:
        for (size_t i = 0; i < 2; ++i) AddOperand(p, i, a, last + 1);
        return;
      case OpType::kConcat: return Concat(p, a);
      case OpType::kLinear:
        if (a != last || !Weights(n, 1))
          return Fail(fmt::format("{} writes {} without a dense float32 constant W [K, {}] (and b [{}])", n.Label(),
                                  Name(v), d_, d_));
        writers.insert(p);
        return;
      case OpType::kConv:
        if (a != 1 || !Weights(n, 0))
          return Fail(fmt::format("{} writes {} without ungrouped float32 constant weights [{}, ..] (and bias [{}])",
                                  n.Label(), Name(v), d_, d_));
        writers.insert(p);
        return;
      case OpType::kGather:
        if (g_.constant(n.input(0)) != nullptr) {
          const Tensor* t = g_.constant(n.input(0));
          if (!IsFloatConstant(g_, n.input(0)) || t->rank() != 2 || t->dim(1) != d_ || n.attrs.GetInt("axis", 0) != 0 ||
              a != last)
            return Fail(fmt::format("{} looks up {} in a table that is not float32 [V, {}] on axis 0", n.Label(),
                                    Name(v), d_));
          writers.insert(p);
          return;
        }
        break;
      default: break;
    }
    if (IsMove(n.op) && n.outputs.size() == 1) {
      if (const std::optional<int64_t> in = MapAxis(g_, n, a, /*forward=*/false, /*pad_ok=*/true)) {
        Visit(n.input(0), *in);
        return;
      }
    }
    Fail(fmt::format("{} is produced by {}, which the rotation cannot pass", Name(v), n.Label()));
  }

  void Readers(ValueId v) {
    const int64_t a = axis[v];
    const int64_t rank = Rank(g_, v);
    for (int32_t r : index_.Readers(v)) {
      const Node& n = g_.nodes[static_cast<size_t>(r)];
      if (n.op == OpType::kAdd) {
        const int64_t out_rank = Rank(g_, n.outputs[0]);
        if (out_rank < 0) return Fail(fmt::format("{} has an unknown rank", Name(n.outputs[0])));
        Visit(n.outputs[0], a + (out_rank - rank));
        for (size_t i = 0; i < 2; ++i)
          if (n.input(i) != v) AddOperand(r, i, a + (out_rank - rank), out_rank);
        continue;
      }
      if (n.op == OpType::kLayerNormalization) {
        Norm(r, v, a, rank);
        continue;
      }
      if (n.op == OpType::kConcat) {
        Concat(r, a);
        continue;
      }
      if (IsMove(n.op) && n.outputs.size() == 1 && n.input(0) == v)
        if (const std::optional<int64_t> out = MapAxis(g_, n, a, /*forward=*/true, /*pad_ok=*/true)) {
          Visit(n.outputs[0], *out);
          continue;
        }
      return Fail(fmt::format("{} is read by {}, which would see the stream's mean removed", Name(v), n.Label()));
    }
  }

  void Norm(int32_t r, ValueId v, int64_t a, int64_t rank) {
    const Node& n = g_.nodes[static_cast<size_t>(r)];
    int64_t norm_axis = n.attrs.GetInt("axis", -1);
    if (norm_axis < 0) norm_axis += rank;
    if (n.input(0) != v || a != rank - 1 || norm_axis != rank - 1)
      return Fail(fmt::format("{} does not normalize the stream's channels (the last axis) alone", n.Label()));
    for (size_t i = 1; i < 3; ++i) {
      const Tensor* t = g_.constant(n.input(i));
      if (n.input(i) != ir::kNoValue && (!IsFloatConstant(g_, n.input(i)) || (t->size() != d_ && t->size() != 1)))
        return Fail(fmt::format("{}: scale and bias must be float32 constants of {} values", n.Label(), d_));
    }
    for (size_t o = 1; o < n.outputs.size(); ++o)
      if (n.outputs[o] != ir::kNoValue && index_.Uses(n.outputs[o]) > 0)
        return Fail(fmt::format("{}: its mean/inverse-std outputs are used", n.Label()));
    if (!norms.insert(r).second) return;
    Normalized(n.outputs[0], r);
  }

  // A LayerNorm output (or a move of it): read only by Linears with constant W [d, N]. Moves
  // of moves are followed with an explicit stack (a chain of them may be as long as the graph).
  void Normalized(ValueId out, int32_t norm) {
    std::vector<ValueId> todo{out};
    while (!todo.empty() && why_.empty()) {
      const ValueId v = todo.back();
      todo.pop_back();
      normalized.insert(v);
      if (index_.IsGraphOutput(v)) return Fail(fmt::format("{} (a LayerNorm output) is a graph output", Name(v)));
      const int64_t rank = Rank(g_, v);
      for (int32_t r : index_.Readers(v)) {
        const Node& n = g_.nodes[static_cast<size_t>(r)];
        if (n.op == OpType::kLinear && n.input(0) == v && n.input(1) != v) {
          const Tensor* w = g_.constant(n.input(1));
          if (!DenseLinearIssue(g_, n).empty() || w->dim(0) != d_ ||
              (n.input(2) != ir::kNoValue &&
               (!IsFloatConstant(g_, n.input(2)) ||
                (g_.constant(n.input(2))->size() != w->dim(1) && g_.constant(n.input(2))->size() != 1))))
            return Fail(
                fmt::format("{} reads {} without a dense float32 constant W [{}, N] (and b)", n.Label(), Name(v), d_));
          readers[r] = norm;
          continue;
        }
        if (IsMove(n.op) && n.outputs.size() == 1 && n.input(0) == v)
          if (const std::optional<int64_t> moved = MapAxis(g_, n, rank - 1, /*forward=*/true, /*pad_ok=*/false);
              moved && *moved == Rank(g_, n.outputs[0]) - 1) {
            todo.push_back(n.outputs[0]);
            continue;
          }
        return Fail(fmt::format("{} (normalized) is read by {}, which cannot take the LayerNorm's scale and bias",
                                Name(v), n.Label()));
      }
    }
  }

  const Graph& g_;
  const GraphIndex& index_;
  const int64_t d_;
  std::vector<ValueId> work_;
  std::string why_;
};

// γ or β of a LayerNorm as d floats (absent: `fill`; one value: broadcast).
std::vector<float> NormParam(const Graph& g, ValueId v, int64_t d, float fill) {
  if (v == ir::kNoValue) return std::vector<float>(static_cast<size_t>(d), fill);
  std::vector<float> p = g.constant(v)->ToFloatVector();
  if (p.size() == 1) p.assign(static_cast<size_t>(d), p[0]);
  return p;
}

void Rename(Graph& g, ir::ValueNames& names, ValueId v) {
  ir::Value& val = g.value(v);
  val.name = names.Make(val.name + "_rotated");
}

// Applies the rotation to one explored stream.
void Rewrite(Graph& g, ir::ValueNames& names, const Stream& s, int64_t d, const Matrix& q) {
  const std::string suffix = "_rotated";
  // Readers first (a Linear may read a LayerNorm output and write the stream: both apply).
  for (const auto& [r, norm_index] : s.readers) {
    const Node& norm = g.nodes[static_cast<size_t>(norm_index)];
    const std::vector<float> gamma = NormParam(g, norm.input(1), d, 1.0f), beta = NormParam(g, norm.input(2), d, 0.0f);
    Node& lin = g.nodes[static_cast<size_t>(r)];
    const Tensor& w = *g.constant(lin.input(1));
    const int64_t n = w.dim(1);
    std::vector<float> bias = lin.input(2) != ir::kNoValue ? g.constant(lin.input(2))->ToFloatVector()
                                                           : std::vector<float>(static_cast<size_t>(n), 0.0f);
    if (bias.size() == 1) bias.assign(static_cast<size_t>(n), bias[0]);
    Tensor scaled(ir::DType::kFloat32, w.dims());
    for (int64_t c = 0; c < d; ++c)
      for (int64_t j = 0; j < n; ++j) {
        const float wv = w.data<float>()[c * n + j];
        scaled.data<float>()[c * n + j] = gamma[static_cast<size_t>(c)] * wv;
        bias[static_cast<size_t>(j)] += beta[static_cast<size_t>(c)] * wv;
      }
    const std::string base = g.value(lin.input(1)).name;
    lin.inputs.resize(3, ir::kNoValue);
    lin.inputs[2] =
        AddConstant(g, names, (lin.input(2) != ir::kNoValue ? g.value(lin.input(2)).name : lin.name + "_bias") + suffix,
                    Tensor::FromVector<float>({n}, bias));
    lin.inputs[1] = AddConstant(g, names, base + suffix, RotateAxis(scaled, 0, q, /*center=*/false));
  }
  for (int32_t w : s.writers) {
    Node& n = g.nodes[static_cast<size_t>(w)];
    const bool table = n.op == OpType::kGather;
    const size_t wi = table ? 0 : 1;
    const Tensor& wt = *g.constant(n.input(wi));
    const int64_t axis = n.op == OpType::kConv ? 0 : 1;
    n.inputs[wi] = AddConstant(g, names, g.value(n.input(wi)).name + suffix, RotateAxis(wt, axis, q, /*center=*/true));
    if (!table && n.input(2) != ir::kNoValue) {
      const Tensor& b = *g.constant(n.input(2));
      n.inputs[2] = AddConstant(g, names, g.value(n.input(2)).name + suffix,
                                RotateAxis(b.Reshaped({b.size()}), 0, q, /*center=*/true).Reshaped(b.dims()));
    }
  }
  for (const auto& [node, i] : s.constants) {
    Node& n = g.nodes[static_cast<size_t>(node)];
    const Tensor& c = *g.constant(n.inputs[i]);
    n.inputs[i] =
        AddConstant(g, names, g.value(n.inputs[i]).name + suffix, RotateAxis(c, c.rank() - 1, q, /*center=*/true));
  }
  for (int32_t r : s.norms) {
    Node& n = g.nodes[static_cast<size_t>(r)];
    ir::Attributes attrs;
    attrs.set("epsilon", n.attrs.GetFloat("epsilon", 1e-5f));
    n.op = OpType::kRMSNorm;
    n.attrs = std::move(attrs);
    n.inputs.resize(1);
    n.outputs.resize(1);
  }
  for (const auto& [v, a] : s.axis) Rename(g, names, v);
  for (ValueId v : s.normalized) Rename(g, names, v);
}

}  // namespace

Result<RotateResidualReport> RotateResidual(Graph& g, const RotateResidualOptions& opts) {
  RotateResidualReport report;
  std::mt19937 rng(opts.seed);
  std::set<int32_t> seen;  // LayerNorms already in an explored stream
  std::optional<ir::ValueNames> names;
  std::optional<GraphIndex> fresh;  // rebuilt after each rewrite (it changes inputs), not per stream
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].op != OpType::kLayerNormalization || seen.count(static_cast<int32_t>(i))) continue;
    if (!fresh) fresh.emplace(g);
    const GraphIndex& index = *fresh;
    const Node& ln = g.nodes[i];
    const std::string label = ln.Label();
    const ir::Shape* shape = ShapeOf(g, ln.input(0));
    if (shape == nullptr || shape->empty() || !shape->back().known()) {
      report.rejected.push_back(fmt::format("{}: its input has no known channel count", label));
      seen.insert(static_cast<int32_t>(i));
      continue;
    }
    const int64_t d = shape->back().value;
    if (d < 2) {  // one channel: LayerNorm's output is 0 (or β), nothing to rotate
      report.rejected.push_back(fmt::format("{}: its input has {} channel(s)", label, d));
      seen.insert(static_cast<int32_t>(i));
      continue;
    }
    Stream s(g, index, d);
    const bool ok = s.Explore(ln.input(0));
    seen.insert(static_cast<int32_t>(i));
    seen.insert(s.norms.begin(), s.norms.end());
    if (!ok) {
      report.rejected.push_back(fmt::format("the stream read by {}: {}", label, s.why()));
      continue;
    }
    RotateResidualReport::Stream r;
    r.first = label;
    r.channels = d;
    const Matrix q = MakeRotation(d, rng, &r.rotation);
    r.norms = static_cast<int>(s.norms.size());
    r.writers = static_cast<int>(s.writers.size());
    r.constants = static_cast<int>(s.constants.size());
    r.readers = static_cast<int>(s.readers.size());
    if (!names) names.emplace(g);
    Rewrite(g, *names, s, d, q);
    fresh.reset();
    report.rotated.push_back(std::move(r));
  }
  return report;
}

}  // namespace squint::passes

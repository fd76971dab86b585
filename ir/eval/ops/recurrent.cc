// LSTM (ONNX opset 7/14), the form exporters write: layout 0, default activations.
//
// Inputs X [seq, batch, I], W [D, 4H, I], R [D, 4H, H], optional B [D, 8H], sequence_lens
// [batch] (int32; every entry must equal seq: sequences of different lengths are unsupported),
// initial_h and initial_c [D, batch, H] (zeros when absent); no peepholes (P). D = 2 for
// direction "bidirectional", else 1 ("forward", or "reverse": the steps in reverse order).
// Gate blocks in W, R and B are ordered i, o, f, c (ONNX). Per direction and step t:
//   g = x_t·Wᵀ + h·Rᵀ + Wb + Rb          i = σ(g_i), o = σ(g_o), f = σ(g_f), c̃ = tanh(g_c)
//   c = f ⊙ c + i ⊙ c̃                     h = o ⊙ tanh(c)
// Outputs Y [seq, D, batch, H] (h of every step), Y_h and Y_c [D, batch, H] (the last step's).
// Unsupported: layout 1, clip, input_forget, other activations (an error naming the node).
// passes/expand_lstm.cc rewrites the node into these primitive ops for quantization; this kernel
// is the float reference that rewrite is tested against.
#include <cmath>

#include "ir/eval/ops/math_util.h"

namespace squint::ir::eval {
namespace {

Status CheckLstmAttributes(const Node& n) {
  const std::string dir = n.attrs.GetString("direction", "forward");
  if (dir != "forward" && dir != "reverse" && dir != "bidirectional")
    return InvalidInput("{}: direction '{}', expected forward, reverse or bidirectional", n.Label(), dir);
  if (n.attrs.GetInt("hidden_size", 0) <= 0)
    return InvalidInput("{}: hidden_size is {}, expected a positive value", n.Label(), n.attrs.GetInt("hidden_size", 0));
  if (n.attrs.GetInt("layout", 0) != 0)
    return Unsupported("{}: layout {} (batch-major); squint supports layout 0 ([seq, batch, input])", n.Label(),
                       n.attrs.GetInt("layout", 0));
  if (n.attrs.has("clip")) return Unsupported("{}: a cell clip; squint supports LSTMs without clip", n.Label());
  if (n.attrs.GetInt("input_forget", 0) != 0)
    return Unsupported("{}: input_forget = 1 (coupled gates); squint supports input_forget = 0", n.Label());
  if (n.attrs.has("activations")) {
    const auto* acts = std::get_if<std::vector<std::string>>(&n.attrs.all().at("activations"));
    const size_t d = dir == "bidirectional" ? 2 : 1;
    bool ok = acts && acts->size() == 3 * d;
    for (size_t k = 0; ok && k < acts->size(); ++k) ok = (*acts)[k] == (k % 3 == 0 ? "Sigmoid" : "Tanh");
    if (!ok) return Unsupported("{}: activations other than (Sigmoid, Tanh, Tanh) per direction", n.Label());
  }
  return Status::Ok();
}

// Dim k of input i equals `want` when both are known.
Status CheckDim(const InferContext& ctx, size_t i, const char* what, size_t k, const Dim& want) {
  const Shape* s = ctx.in(i).shape;
  if (!s || k >= s->size() || !(*s)[k].known() || !want.known() || (*s)[k].value == want.value) return Status::Ok();
  return InvalidInput("{}: {} has shape {}, dim {} must be {}", ctx.node.Label(), what, ShapeToString(*s), k, want.value);
}

Result<std::vector<OutputType>> InferLstm(const InferContext& ctx) {
  const Node& n = ctx.node;
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 3, 8));
  SQ_RETURN_IF_ERROR(CheckLstmAttributes(n));
  if (ctx.in(7).present) return Unsupported("{}: peephole weights (input P); squint supports LSTMs without", n.Label());
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kFloatTypes));
  static const char* const kNames[] = {"X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c"};
  for (size_t i : {1, 2, 3, 5, 6}) SQ_RETURN_IF_ERROR(RequireSameDType(ctx, i, kNames[i]));
  if (ctx.in(4).present) SQ_RETURN_IF_ERROR(RequireDType(ctx, 4, "sequence_lens", kIntTypes));
  const int64_t h = n.attrs.GetInt("hidden_size", 0);
  const int64_t d = n.attrs.GetString("direction", "forward") == "bidirectional" ? 2 : 1;
  static const size_t kRank[] = {3, 3, 3, 2, 1, 3, 3};
  for (size_t i = 0; i < 7; ++i) {
    const Shape* s = ctx.in(i).shape;
    if (ctx.in(i).present && s && s->size() != kRank[i])
      return InvalidInput("{}: {} has shape {}, expected rank {}", n.Label(), kNames[i], ShapeToString(*s), kRank[i]);
  }
  const Shape* x = ctx.in(0).shape;
  const Dim seq = x ? (*x)[0] : Dim::Unknown(), batch = x ? (*x)[1] : Dim::Unknown();
  const Dim in = x ? (*x)[2] : Dim::Unknown();
  SQ_RETURN_IF_ERROR(CheckDim(ctx, 1, "W", 0, Dim::Known(d)));
  SQ_RETURN_IF_ERROR(CheckDim(ctx, 1, "W", 1, Dim::Known(4 * h)));
  SQ_RETURN_IF_ERROR(CheckDim(ctx, 1, "W", 2, in));
  SQ_RETURN_IF_ERROR(CheckDim(ctx, 2, "R", 0, Dim::Known(d)));
  SQ_RETURN_IF_ERROR(CheckDim(ctx, 2, "R", 1, Dim::Known(4 * h)));
  SQ_RETURN_IF_ERROR(CheckDim(ctx, 2, "R", 2, Dim::Known(h)));
  SQ_RETURN_IF_ERROR(CheckDim(ctx, 3, "B", 0, Dim::Known(d)));
  SQ_RETURN_IF_ERROR(CheckDim(ctx, 3, "B", 1, Dim::Known(8 * h)));
  SQ_RETURN_IF_ERROR(CheckDim(ctx, 4, "sequence_lens", 0, batch));
  for (size_t i : {5, 6}) {
    SQ_RETURN_IF_ERROR(CheckDim(ctx, i, kNames[i], 0, Dim::Known(d)));
    SQ_RETURN_IF_ERROR(CheckDim(ctx, i, kNames[i], 1, batch));
    SQ_RETURN_IF_ERROR(CheckDim(ctx, i, kNames[i], 2, Dim::Known(h)));
  }
  const DType t = ctx.in(0).dtype;
  std::vector<OutputType> out(3);
  out[0] = {t, x ? std::optional<Shape>(Shape{seq, Dim::Known(d), batch, Dim::Known(h)}) : std::nullopt};
  out[1] = out[2] = {t, x ? std::optional<Shape>(Shape{Dim::Known(d), batch, Dim::Known(h)}) : std::nullopt};
  return out;
}

template <typename T>
T Sigmoid(T v) {
  return T(1) / (T(1) + std::exp(-v));
}

template <typename T>
void LstmRun(const Node& node, std::span<const Tensor* const> in, std::span<Tensor> out) {
  const Tensor& x = *in[0];
  const int64_t seq = x.dim(0), batch = x.dim(1), isize = x.dim(2);
  const int64_t h = node.attrs.GetInt("hidden_size", 0);
  const std::string dir = node.attrs.GetString("direction", "forward");
  const int64_t dirs = dir == "bidirectional" ? 2 : 1;
  auto opt = [&](size_t i) { return i < in.size() && in[i] != nullptr ? in[i]->data<T>() : nullptr; };
  const T *w = in[1]->data<T>(), *r = in[2]->data<T>(), *b = opt(3), *h0 = opt(5), *c0 = opt(6);
  T* y = out[0].empty_type() ? nullptr : out[0].data<T>();
  T* yh = out.size() > 1 && !out[1].empty_type() ? out[1].data<T>() : nullptr;
  T* yc = out.size() > 2 && !out[2].empty_type() ? out[2].data<T>() : nullptr;
  std::vector<T> hs(static_cast<size_t>(batch * h)), cs(hs.size()), g(static_cast<size_t>(4 * h));
  for (int64_t d = 0; d < dirs; ++d) {
    const bool backward = dir == "reverse" || d == 1;
    const T* wd = w + d * 4 * h * isize;
    const T* rd = r + d * 4 * h * h;
    const T* bd = b ? b + d * 8 * h : nullptr;
    for (int64_t i = 0; i < batch * h; ++i) {
      hs[static_cast<size_t>(i)] = h0 ? h0[d * batch * h + i] : T(0);
      cs[static_cast<size_t>(i)] = c0 ? c0[d * batch * h + i] : T(0);
    }
    for (int64_t step = 0; step < seq; ++step) {
      const int64_t t = backward ? seq - 1 - step : step;
      for (int64_t bi = 0; bi < batch; ++bi) {
        const T* xt = x.data<T>() + (t * batch + bi) * isize;
        T* hb = hs.data() + bi * h;
        T* cb = cs.data() + bi * h;
        for (int64_t j = 0; j < 4 * h; ++j) {
          T acc = bd ? bd[j] + bd[4 * h + j] : T(0);
          for (int64_t k = 0; k < isize; ++k) acc += xt[k] * wd[j * isize + k];
          for (int64_t k = 0; k < h; ++k) acc += hb[k] * rd[j * h + k];
          g[static_cast<size_t>(j)] = acc;
        }
        for (int64_t k = 0; k < h; ++k) {
          const T ig = Sigmoid(g[k]), og = Sigmoid(g[h + k]), fg = Sigmoid(g[2 * h + k]);
          const T cand = std::tanh(g[3 * h + k]);
          cb[k] = fg * cb[k] + ig * cand;
          hb[k] = og * std::tanh(cb[k]);
        }
        if (y) std::copy(hb, hb + h, y + ((t * dirs + d) * batch + bi) * h);
      }
    }
    if (yh) std::copy(hs.begin(), hs.end(), yh + d * batch * h);
    if (yc) std::copy(cs.begin(), cs.end(), yc + d * batch * h);
  }
}

Status LstmKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  if (inputs.size() > 4 && inputs[4] != nullptr) {
    const Tensor& lens = *inputs[4];
    for (int64_t i = 0; i < lens.size(); ++i) {
      const int64_t len = lens.dtype() == DType::kInt64 ? lens.data<int64_t>()[i] : lens.data<int32_t>()[i];
      if (len != x.dim(0))
        return Unsupported("{}: sequence_lens[{}] is {}, the input has {} steps; squint supports equal lengths only",
                           node.Label(), i, len, x.dim(0));
    }
  }
  const bool ok = VisitType<kFloatTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    LstmRun<T>(node, inputs, outputs);
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

}  // namespace

extern const OpDef kDefLSTM{InferLstm, LstmKernel};

}  // namespace squint::ir::eval

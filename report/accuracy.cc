#include "report/accuracy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include <fmt/format.h>

#include "base/aligned.h"
#include "ir/eval/evaluator.h"
#include "runtime/interpreter.h"
#include "runtime/model.h"
#include "runtime/tensor_codes.h"

namespace squint::report {
namespace {

struct Accumulator {
  double ref2 = 0, err2 = 0, dot = 0, q2 = 0, max_abs = 0;
  bool used = false;
  void Add(const float* ref, const float* q, int64_t n) {
    used = true;
    for (int64_t i = 0; i < n; ++i) {
      const double r = ref[i], v = q[i], e = r - v;
      ref2 += r * r;
      err2 += e * e;
      dot += r * v;
      q2 += v * v;
      max_abs = std::max(max_abs, std::fabs(e));
    }
  }
  ErrorStats Stats() const {
    ErrorStats t;
    t.sqnr_db = err2 == 0 ? INFINITY : 10.0 * std::log10(std::max(ref2, 1e-30) / err2);
    t.cosine = (ref2 == 0 || q2 == 0) ? (ref2 == q2 ? 1.0 : 0.0) : dot / std::sqrt(ref2 * q2);
    t.max_abs = max_abs;
    t.rel_l2 = ref2 == 0 ? (err2 == 0 ? 0.0 : INFINITY) : std::sqrt(err2 / ref2);
    return t;
  }
};

// Cross-entropy in bits of `label` under softmax(row[0..width)).
double BitsOfLabel(const float* row, int64_t width, int64_t label) {
  double mx = row[0];
  for (int64_t k = 1; k < width; ++k) mx = std::max(mx, static_cast<double>(row[k]));
  double sum = 0;
  for (int64_t k = 0; k < width; ++k) sum += std::exp(static_cast<double>(row[k]) - mx);
  return (std::log(sum) + mx - static_cast<double>(row[label])) / std::log(2.0);
}

// Cosine between a float row and its integer counterpart (1 when both are zero).
double RowCosine(const float* ref, const float* q, int64_t width) {
  Accumulator a;
  a.Add(ref, q, width);
  return a.Stats().cosine;
}

// Arg-max over the last axis for every row.
std::vector<int64_t> ArgMaxRows(const float* v, int64_t n, int64_t width) {
  std::vector<int64_t> out;
  for (int64_t r = 0; r + width <= n; r += width) out.push_back(std::max_element(v + r, v + r + width) - (v + r));
  return out;
}

// The .sqnt model on the runtime: an aligned copy of the bytes, the model, its interpreter and
// arena, and per tensor the dequantized values the observer saw during the last invoke.
struct IntegerModel {
  AlignedBytes bytes, arena;
  rt::Model model;
  rt::Interpreter interp;
  std::vector<int32_t> producer;          // per tensor: producing op, -1 for inputs and constants
  std::vector<std::vector<float>> seen;   // per tensor: values observed during Invoke

  // `observe`: record every op's dequantized outputs in `seen` during Invoke (off for timing).
  Status Init(const std::string& sqnt, bool observe = true) {
    bytes = AlignedCopy(sqnt);
    if (!bytes) return Internal("out of memory for a {}-byte model", sqnt.size());
    if (rt::Status s = model.Load(bytes.get(), sqnt.size()); !s.ok())
      return InvalidInput("the integer runtime rejects the model: {}", s.message());
    if (rt::Status s = interp.Prepare(&model); !s.ok())
      return InvalidInput("the integer runtime cannot prepare the model: {}", s.message());
    arena = AlignedBlock(static_cast<size_t>(interp.arena_size()));
    if (!arena) return Internal("out of memory for a {}-byte arena", interp.arena_size());
    if (rt::Status s = interp.SetArena(arena.get(), static_cast<size_t>(interp.arena_size())); !s.ok())
      return Internal("arena: {}", s.message());
    producer.assign(static_cast<size_t>(model.num_tensors()), -1);
    for (int32_t i = 0; i < model.num_operators(); ++i)
      for (int32_t t : *model.op(i)->outputs()) producer[static_cast<size_t>(t)] = i;
    seen.assign(static_cast<size_t>(model.num_tensors()), {});
    if (observe) interp.SetObserver(&Observe, this);
    return Status::Ok();
  }

  static void Observe(void* user, int32_t, const rt::TensorView* outs, int32_t n) {
    auto* self = static_cast<IntegerModel*>(user);
    for (int32_t k = 0; k < n; ++k) Dequantize(outs[k].index, outs[k].data, &self->seen[static_cast<size_t>(outs[k].index)], self->model);
  }

  static void Dequantize(int32_t t, const void* data, std::vector<float>* out, const rt::Model& model) {
    const rt::TensorDesc& d = model.tensor(t);
    out->resize(static_cast<size_t>(d.num_elements));
    for (int64_t e = 0; e < d.num_elements; ++e) (*out)[static_cast<size_t>(e)] = rt::DequantizeCode(d, rt::LoadCode(data, d.type, e));
  }

  // Writes `value` (float: quantized to t's grid, affine or log grid; integer: as is) into activation
  // t. False if the value does not fit the tensor (element count, or float data for a tensor
  // without a grid).
  bool Write(int32_t t, const ir::Tensor& value) {
    const rt::TensorDesc& d = model.tensor(t);
    void* dst = interp.mutable_tensor_data(t);
    if (dst == nullptr || value.size() != d.num_elements) return false;
    if (value.dtype() == ir::DType::kFloat32) {
      if (d.quant == nullptr && d.log_grid == nullptr) return false;
      const float* v = value.data<float>();
      for (int64_t e = 0; e < d.num_elements; ++e) rt::StoreCode(dst, d.type, e, rt::QuantizeValue(d, v[e]));
      return true;
    }
    if (d.quant != nullptr || d.type != fb::ElementType::INT32) return false;
    const std::vector<int64_t> v = value.ToInt64Vector();
    for (int64_t e = 0; e < d.num_elements; ++e)
      rt::StoreCode(dst, d.type, e, static_cast<int32_t>(std::clamp<int64_t>(v[static_cast<size_t>(e)], INT32_MIN, INT32_MAX)));
    return true;
  }
};

// Adds one sample's float values of tensor t (an output of op) to its distribution, made on
// first use with the tensor's grid and the op's weights.
void AddDistribution(const rt::Model& model, int32_t op, int32_t t, std::span<const float> values,
                     std::optional<Distribution>* d) {
  if (!*d) {
    Distribution& n = d->emplace();
    n.grid = GridOf(model.tensor(t));
    if (n.grid.kind == "affine") {  // beyond half a step past the ends, rounding turns into clipping
      n.values.clip_lo = n.grid.lo - n.grid.scale / 2;
      n.values.clip_hi = n.grid.hi + n.grid.scale / 2;
    }
    if (model.op(op)->opcode() == fb::OpCode::SOFTMAX) n.probabilities.emplace();
    n.weights = WeightRangesOf(model, op);
  }
  (*d)->values.Add(values);
  if ((*d)->probabilities) (*d)->probabilities->Add(values);
}

}  // namespace

Result<double> InvokeLatencyUs(const std::string& sqnt, int runs) {
  IntegerModel im;
  SQ_RETURN_IF_ERROR(im.Init(sqnt, /*observe=*/false));
  double best = INFINITY;
  for (int k = 0; k < std::max(runs, 1); ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    if (rt::Status s = im.interp.Invoke(); !s.ok()) return Internal("invoke: {}", s.message());
    best = std::min(best, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

Result<AccuracyReport> CompareFloatAndInteger(const ir::Graph& g, const std::string& sqnt,
                                              const std::vector<ir::Tensor>& data, const ir::Tensor* labels,
                                              int64_t begin, int64_t count, const CompareOptions& options) {
  IntegerModel im;
  SQ_RETURN_IF_ERROR(im.Init(sqnt));
  const rt::Model& model = im.model;
  if (model.inputs().size() != data.size() || model.outputs().size() != g.outputs.size())
    return InvalidInput("the .sqnt model has {} inputs and {} outputs, the float model {} and {}",
                        model.inputs().size(), model.outputs().size(), data.size(), g.outputs.size());

  ir::eval::Evaluator evaluator(g);
  std::unordered_map<std::string, ir::Tensor> float_values;  // this sample's float values by name
  auto hook = [&](const ir::Node& node, std::span<const ir::Tensor> outs) {
    for (size_t i = 0; i < node.outputs.size(); ++i)
      if (node.outputs[i] != ir::kNoValue) float_values[g.value(node.outputs[i]).name] = outs[i];
  };
  // The float value a runtime tensor stands for: the value of the same name, or for a
  // REQUANTIZE output, its input's (a loop over a chain of REQUANTIZEs, not a recursion).
  auto float_ref = [&](int32_t t) -> const ir::Tensor* {
    for (;;) {
      if (auto it = float_values.find(model.tensor(t).name); it != float_values.end()) return &it->second;
      const int32_t p = im.producer[static_cast<size_t>(t)];
      if (p < 0 || model.op(p)->opcode() != fb::OpCode::REQUANTIZE) return nullptr;
      t = model.op(p)->inputs()->Get(0);
    }
  };
  auto comparable = [](const ir::Tensor* ref, size_t n) {
    return ref != nullptr && ref->dtype() == ir::DType::kFloat32 && static_cast<size_t>(ref->size()) == n;
  };

  std::vector<Accumulator> acc(static_cast<size_t>(model.num_tensors())), iso(acc.size());
  std::vector<Accumulator> out_acc(g.outputs.size());
  std::vector<std::optional<Distribution>> dist(options.distributions ? acc.size() : 0);
  int64_t agree = 0, rows_total = 0, correct_f = 0, correct_i = 0, bits_rows = 0;
  double bits_f = 0, bits_i = 0, cosine_sum = 0;
  const bool sequence = labels && labels->rank() == 2 && g.outputs.size() >= 1;
  const std::vector<int64_t> label_values = labels ? labels->ToInt64Vector() : std::vector<int64_t>{};
  std::vector<float> q;
  if (options.progress) options.progress(0, count);
  for (int64_t s = begin; s < begin + count; ++s) {
    float_values.clear();
    std::vector<ir::Tensor> inputs;
    for (size_t k = 0; k < data.size(); ++k) {
      const ir::Tensor& all = data[k];
      ir::Dims dims = all.dims();
      dims[0] = 1;
      ir::Tensor one(all.dtype(), dims);
      std::memcpy(one.raw(), static_cast<const char*>(all.raw()) + static_cast<size_t>(s) * one.bytes(), one.bytes());
      const int32_t t = model.inputs()[k];
      if (!im.Write(t, one))
        return InvalidInput("input '{}' ({} {}) does not fit the .sqnt input '{}' ({} elements, {})",
                            g.value(g.inputs[k]).name, ir::DTypeName(one.dtype()), ir::DimsToString(one.dims()),
                            model.tensor(t).name, model.tensor(t).num_elements, rt::ElementTypeName(model.tensor(t).type));
      float_values[g.value(g.inputs[k]).name] = one;
      inputs.push_back(std::move(one));
    }
    SQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> ref, evaluator.Run(inputs, hook));
    if (rt::Status st = im.interp.Invoke(); !st.ok()) return Internal("invoke: {}", st.message());

    for (size_t o = 0; o < g.outputs.size(); ++o) {
      const int32_t t = model.outputs()[o];
      IntegerModel::Dequantize(t, im.interp.tensor_data(t), &q, model);
      if (ref[o].dtype() != ir::DType::kFloat32 || static_cast<size_t>(ref[o].size()) != q.size())
        return InvalidInput("output '{}': the float model gives {} {}, the .sqnt model {} values",
                            g.value(g.outputs[o]).name, ir::DTypeName(ref[o].dtype()),
                            ir::DimsToString(ref[o].dims()), q.size());
      out_acc[o].Add(ref[o].data<float>(), q.data(), ref[o].size());
      if (o != 0 || ref[0].rank() < 1) continue;
      const int64_t width = ref[0].dims().back();
      auto rf = ArgMaxRows(ref[0].data<float>(), ref[0].size(), width);
      auto ri = ArgMaxRows(q.data(), ref[0].size(), width);
      for (size_t r = 0; r < rf.size(); ++r) {
        agree += rf[r] == ri[r];
        ++rows_total;
        cosine_sum += RowCosine(ref[0].data<float>() + r * static_cast<size_t>(width), q.data() + r * static_cast<size_t>(width),
                                width);
        if (!labels) continue;
        const int64_t per = static_cast<int64_t>(rf.size());
        const size_t li = static_cast<size_t>(s * per + static_cast<int64_t>(r));
        if (li >= label_values.size()) continue;
        const int64_t lab = label_values[li];
        correct_f += rf[r] == lab;
        correct_i += ri[r] == lab;
        if (sequence && ref[0].rank() == 3 && labels->dim(1) == per && lab >= 0 && lab < width) {
          const size_t at = r * static_cast<size_t>(width);
          bits_f += BitsOfLabel(ref[0].data<float>() + at, width, lab);
          bits_i += BitsOfLabel(q.data() + at, width, lab);
          ++bits_rows;
        }
      }
    }

    for (int32_t i = 0; i < model.num_operators(); ++i)
      for (int32_t t : *model.op(i)->outputs()) {
        const auto& v = im.seen[static_cast<size_t>(t)];
        const ir::Tensor* r = float_ref(t);
        if (!comparable(r, v.size())) continue;
        acc[static_cast<size_t>(t)].Add(r->data<float>(), v.data(), r->size());
        if (options.distributions) AddDistribution(model, i, t, r->span<float>(), &dist[static_cast<size_t>(t)]);
      }

    // Isolated: every op on its float inputs, quantized to its input grids. This overwrites the
    // arena, so it comes after everything read from the end-to-end run.
    for (int32_t i = 0; options.isolated && i < model.num_operators(); ++i) {
      const fb::Operator* op = model.op(i);
      bool fed = true;
      for (int32_t t : *op->inputs()) {
        if (t < 0 || model.tensor(t).is_constant) continue;
        const ir::Tensor* r = float_ref(t);
        fed = fed && r != nullptr && im.Write(t, *r);
      }
      if (!fed) continue;
      if (rt::Status st = im.interp.InvokeOp(i); !st.ok()) return Internal("invoke op {}: {}", i, st.message());
      for (int32_t t : *op->outputs()) {
        IntegerModel::Dequantize(t, im.interp.tensor_data(t), &q, model);
        const ir::Tensor* r = float_ref(t);
        if (comparable(r, q.size())) iso[static_cast<size_t>(t)].Add(r->data<float>(), q.data(), r->size());
      }
    }
    if (options.progress) options.progress(s - begin + 1, count);
  }

  AccuracyReport rep;
  rep.samples = count;
  rep.top1_agreement = rows_total ? 100.0 * static_cast<double>(agree) / static_cast<double>(rows_total) : 0;
  rep.row_cosine = rows_total ? cosine_sum / static_cast<double>(rows_total) : 1.0;
  if (labels && rows_total) {
    rep.float_accuracy = 100.0 * static_cast<double>(correct_f) / static_cast<double>(rows_total);
    rep.int_accuracy = 100.0 * static_cast<double>(correct_i) / static_cast<double>(rows_total);
  }
  if (bits_rows) {
    rep.float_bits_per_char = bits_f / static_cast<double>(bits_rows);
    rep.int_bits_per_char = bits_i / static_cast<double>(bits_rows);
  }
  for (size_t o = 0; o < g.outputs.size(); ++o) {
    TensorError t;
    t.name = g.value(g.outputs[o]).name;
    t.accumulated = out_acc[o].Stats();
    rep.outputs.push_back(t);
  }
  for (int32_t i = 0; i < model.num_operators(); ++i)
    for (int32_t t : *model.op(i)->outputs()) {
      const size_t k = static_cast<size_t>(t);
      if (!acc[k].used) continue;
      TensorError e;
      e.name = model.tensor(t).name;
      e.op = rt::OpCodeName(model.op(i)->opcode());
      e.node = model.op_name(i);
      e.index = i;
      e.accumulated = acc[k].Stats();
      if (iso[k].used) e.isolated = iso[k].Stats();
      if (k < dist.size()) e.distribution = std::move(dist[k]);
      rep.layers.push_back(std::move(e));
    }
  return rep;
}

namespace {

// Layers in the requested order; by loss: lowest SQNR first, layers without the metric last.
std::vector<TensorError> Ordered(const AccuracyReport& r, LayerOrder order) {
  std::vector<TensorError> rows = r.layers;
  if (order == LayerOrder::kGraph) return rows;
  auto key = [order](const TensorError& t) {
    if (order == LayerOrder::kAccumulated) return t.accumulated.sqnr_db;
    return t.isolated ? t.isolated->sqnr_db : INFINITY;
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const TensorError& a, const TensorError& b) {
    if (order == LayerOrder::kIsolated && a.isolated.has_value() != b.isolated.has_value()) return a.isolated.has_value();
    return key(a) < key(b);
  });
  return rows;
}

std::string Shorten(const std::string& s, size_t width) {
  return s.size() > width ? s.substr(0, width - 3) + "..." : s;
}

}  // namespace

std::string FormatSummary(const AccuracyReport& r, int worst) {
  std::string s = fmt::format("validation: {} samples, top-1 agreement with float {:.2f}%", r.samples, r.top1_agreement);
  if (r.int_accuracy)
    s += fmt::format(", accuracy {:.2f}% (float {:.2f}%, {:+.2f} pt)", *r.int_accuracy, *r.float_accuracy,
                     *r.int_accuracy - *r.float_accuracy);
  if (r.int_bits_per_char)
    s += fmt::format(", bits/char {:.4f} (float {:.4f}, {:+.2f}%)", *r.int_bits_per_char, *r.float_bits_per_char,
                     100.0 * (*r.int_bits_per_char / *r.float_bits_per_char - 1.0));
  s += fmt::format(", row cosine {:.5f}\n", r.row_cosine);
  for (const TensorError& t : r.outputs)
    s += fmt::format("output '{}': SQNR {:.1f} dB, cosine {:.5f}, max |error| {:.4g}\n", t.name, t.accumulated.sqnr_db,
                     t.accumulated.cosine, t.accumulated.max_abs);
  const bool isolated = std::any_of(r.layers.begin(), r.layers.end(), [](const TensorError& t) { return t.isolated; });
  const std::vector<TensorError> sorted = Ordered(r, isolated ? LayerOrder::kIsolated : LayerOrder::kAccumulated);
  if (sorted.empty() || worst <= 0) return s;
  const size_t n = std::min<size_t>(sorted.size(), static_cast<size_t>(worst));
  s += isolated ? fmt::format("the {} layers that lose most (each alone on quantized float inputs; end to end beside):\n", n)
                : fmt::format("the {} layers that lose most (accumulated error, lowest SQNR first):\n", n);
  for (size_t i = 0; i < n; ++i) {
    const TensorError& t = sorted[i];
    if (isolated && t.isolated)
      s += fmt::format("  {:>6.1f} dB alone  {:>6.1f} dB end to end  {} ({})\n", t.isolated->sqnr_db,
                       t.accumulated.sqnr_db, t.node, t.op);
    else
      s += fmt::format("  {:>6.1f} dB end to end  cos {:.4f}  {} ({})\n", t.accumulated.sqnr_db, t.accumulated.cosine,
                       t.node, t.op);
  }
  return s;
}

std::string FormatLayerTable(const AccuracyReport& r, LayerOrder order) {
  auto cells = [](const std::optional<ErrorStats>& e) {
    if (!e) return fmt::format("{:>8} {:>8} {:>9} {:>8}", "-", "-", "-", "-");
    return fmt::format("{:>8.2f} {:>8.5f} {:>9.3g} {:>8.4f}", e->sqnr_db, e->cosine, e->max_abs, e->rel_l2);
  };
  std::string s = fmt::format("{:>4}  {:<16} {:<34} | {:^35} | {:^35}\n", "", "", "", "end to end (accumulated)",
                              "layer alone (isolated)");
  s += fmt::format("{:>4}  {:<16} {:<34} | {:>8} {:>8} {:>9} {:>8} | {:>8} {:>8} {:>9} {:>8}\n", "#", "op", "layer",
                   "SQNR dB", "cosine", "max|err|", "rel L2", "SQNR dB", "cosine", "max|err|", "rel L2");
  for (const TensorError& t : Ordered(r, order))
    s += fmt::format("{:>4}  {:<16} {:<34} | {} | {}\n", t.index, Shorten(t.op, 16), Shorten(t.node, 34),
                     cells(t.accumulated), cells(t.isolated));
  return s;
}

nlohmann::json ToJson(const AccuracyReport& r, LayerOrder order) {
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(v > 0 ? "inf" : "-inf"); };
  auto stats = [&](const ErrorStats& e) {
    return nlohmann::json{{"sqnr_db", number(e.sqnr_db)}, {"cosine", e.cosine}, {"max_abs", e.max_abs},
                          {"rel_l2", number(e.rel_l2)}};
  };
  nlohmann::json j;
  j["samples"] = r.samples;
  j["top1_agreement"] = r.top1_agreement;
  j["row_cosine"] = r.row_cosine;
  if (r.int_accuracy) {
    j["accuracy"] = *r.int_accuracy;
    j["float_accuracy"] = *r.float_accuracy;
  }
  if (r.int_bits_per_char) {
    j["bits_per_char"] = *r.int_bits_per_char;
    j["float_bits_per_char"] = *r.float_bits_per_char;
  }
  j["outputs"] = nlohmann::json::array();
  for (const auto& t : r.outputs) j["outputs"].push_back({{"name", t.name}, {"accumulated", stats(t.accumulated)}});
  j["layers"] = nlohmann::json::array();
  for (const auto& t : Ordered(r, order))
    j["layers"].push_back({{"index", t.index},
                           {"op", t.op},
                           {"node", t.node},
                           {"tensor", t.name},
                           {"accumulated", stats(t.accumulated)},
                           {"isolated", t.isolated ? stats(*t.isolated) : nlohmann::json(nullptr)}});
  return j;
}

}  // namespace squint::report

#include "report/accuracy.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <unordered_map>

#include <fmt/format.h>

#include "ir/eval/evaluator.h"
#include "runtime/squint_rt.h"

namespace squint::report {
namespace {

struct Accumulator {
  double ref2 = 0, err2 = 0, dot = 0, q2 = 0, max_abs = 0;
  void Add(const float* ref, const float* q, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const double r = ref[i], v = q[i], e = r - v;
      ref2 += r * r;
      err2 += e * e;
      dot += r * v;
      q2 += v * v;
      max_abs = std::max(max_abs, std::fabs(e));
    }
  }
  void Fill(TensorError* t) const {
    t->sqnr_db = err2 == 0 ? INFINITY : 10.0 * std::log10(std::max(ref2, 1e-30) / err2);
    t->cosine = (ref2 == 0 || q2 == 0) ? (ref2 == q2 ? 1.0 : 0.0) : dot / std::sqrt(ref2 * q2);
    t->max_abs = max_abs;
    t->rel_l2 = ref2 == 0 ? (err2 == 0 ? 0.0 : INFINITY) : std::sqrt(err2 / ref2);
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

struct ModelDeleter {
  void operator()(squint_rt_model* m) const { squint_rt_destroy(m); }
};
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// What the runtime observer captures during one invoke: each op's first output, dequantized.
struct Capture {
  std::vector<std::vector<float>> outputs;  // per op
  std::vector<std::string> names;           // per op: output tensor name
  std::vector<std::string> ops;             // per op: op name
};

void Observe(void* user, const squint_rt_model* model, int32_t op_index, const char* op_name, int32_t num_outputs) {
  auto* cap = static_cast<Capture*>(user);
  if (num_outputs < 1) return;
  squint_rt_tensor_info info;
  const void* data = nullptr;
  if (squint_rt_observed_output(model, 0, &info, &data) != SQUINT_RT_OK) return;
  const size_t i = static_cast<size_t>(op_index);
  if (cap->outputs.size() <= i) {
    cap->outputs.resize(i + 1);
    cap->names.resize(i + 1);
    cap->ops.resize(i + 1);
  }
  cap->names[i] = info.name ? info.name : "";
  cap->ops[i] = op_name ? op_name : "";
  auto& out = cap->outputs[i];
  out.resize(static_cast<size_t>(info.num_elements));
  for (int64_t k = 0; k < info.num_elements; ++k) {
    int32_t q = 0;
    switch (info.type) {
      case SQUINT_RT_INT8: q = static_cast<const int8_t*>(data)[k]; break;
      case SQUINT_RT_UINT8: q = static_cast<const uint8_t*>(data)[k]; break;
      case SQUINT_RT_INT16: q = static_cast<const int16_t*>(data)[k]; break;
      case SQUINT_RT_INT32: q = static_cast<const int32_t*>(data)[k]; break;
    }
    out[static_cast<size_t>(k)] = info.has_quantization ? info.scale * static_cast<float>(q - info.zero_point)
                                                        : static_cast<float>(q);
  }
}

// Arg-max over the last axis for every row.
std::vector<int64_t> ArgMaxRows(const float* v, int64_t n, int64_t width) {
  std::vector<int64_t> out;
  for (int64_t r = 0; r + width <= n; r += width)
    out.push_back(std::max_element(v + r, v + r + width) - (v + r));
  return out;
}

}  // namespace

Result<AccuracyReport> CompareFloatAndInteger(const ir::Graph& g, const std::string& sqnt,
                                              const std::vector<ir::Tensor>& data, const ir::Tensor* labels,
                                              int64_t begin, int64_t count) {
  // The runtime wants its buffer aligned; keep an aligned copy alive for the model's life.
  const size_t alloc = (sqnt.size() + 63) / 64 * 64;
  std::unique_ptr<void, FreeDeleter> buffer(std::aligned_alloc(64, std::max<size_t>(alloc, 64)));
  std::memcpy(buffer.get(), sqnt.data(), sqnt.size());
  squint_rt_model* raw = nullptr;
  if (squint_rt_create_from_buffer(buffer.get(), sqnt.size(), SQUINT_RT_ALLOCATE_ARENA, &raw) != SQUINT_RT_OK)
    return Internal("the runtime rejects the model just written: {}", squint_rt_last_error());
  std::unique_ptr<squint_rt_model, ModelDeleter> model(raw);
  Capture cap;
  squint_rt_set_observer(model.get(), &Observe, &cap);

  ir::eval::Evaluator evaluator(g);
  std::unordered_map<std::string, ir::Tensor> float_values;
  auto hook = [&](const ir::Node& node, std::span<const ir::Tensor> outs) {
    for (size_t i = 0; i < node.outputs.size(); ++i)
      if (node.outputs[i] != ir::kNoValue) float_values[g.value(node.outputs[i]).name] = outs[i];
  };

  AccuracyReport rep;
  std::map<std::string, Accumulator> acc;  // by tensor name
  std::vector<Accumulator> out_acc(g.outputs.size());
  int64_t agree = 0, rows_total = 0, correct_f = 0, correct_i = 0, bits_rows = 0;
  double bits_f = 0, bits_i = 0;
  const bool sequence = labels && labels->rank() == 2 && g.outputs.size() >= 1;
  const std::vector<int64_t> label_values = labels ? labels->ToInt64Vector() : std::vector<int64_t>{};
  for (int64_t s = begin; s < begin + count; ++s) {
    std::vector<ir::Tensor> inputs;
    for (size_t k = 0; k < data.size(); ++k) {
      const ir::Tensor& all = data[k];
      ir::Dims dims = all.dims();
      dims[0] = 1;
      ir::Tensor one(all.dtype(), dims);
      std::memcpy(one.raw(), static_cast<const char*>(all.raw()) + static_cast<size_t>(s) * one.bytes(), one.bytes());
      inputs.push_back(one);
      if (one.dtype() == ir::DType::kFloat32) {
        if (squint_rt_set_input_float(model.get(), static_cast<int32_t>(k), one.data<float>(),
                                      static_cast<size_t>(one.size())) != SQUINT_RT_OK)
          return InvalidInput("input {}: {}", k, squint_rt_last_error());
      } else {
        std::vector<int64_t> v = one.ToInt64Vector();
        std::vector<int32_t> v32(v.begin(), v.end());
        if (squint_rt_set_input(model.get(), static_cast<int32_t>(k), v32.data(), v32.size() * 4) != SQUINT_RT_OK)
          return InvalidInput("input {}: {}", k, squint_rt_last_error());
      }
    }
    float_values.clear();
    SQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> ref, evaluator.Run(inputs, hook));
    if (squint_rt_invoke(model.get()) != SQUINT_RT_OK) return Internal("invoke: {}", squint_rt_last_error());
    for (size_t op = 0; op < cap.outputs.size(); ++op) {
      auto it = float_values.find(cap.names[op]);
      if (it == float_values.end() || it->second.dtype() != ir::DType::kFloat32) continue;
      if (it->second.size() != static_cast<int64_t>(cap.outputs[op].size())) continue;
      acc[cap.names[op]].Add(it->second.data<float>(), cap.outputs[op].data(), it->second.size());
    }
    for (size_t o = 0; o < g.outputs.size(); ++o) {
      std::vector<float> q(static_cast<size_t>(ref[o].size()));
      squint_rt_get_output_float(model.get(), static_cast<int32_t>(o), q.data(), q.size());
      out_acc[o].Add(ref[o].data<float>(), q.data(), ref[o].size());
      if (o == 0 && ref[0].rank() >= 1) {
        const int64_t width = ref[0].dims().back();
        auto rf = ArgMaxRows(ref[0].data<float>(), ref[0].size(), width);
        auto ri = ArgMaxRows(q.data(), ref[0].size(), width);
        for (size_t r = 0; r < rf.size(); ++r) {
          agree += rf[r] == ri[r];
          ++rows_total;
          if (labels) {
            const int64_t per = static_cast<int64_t>(rf.size());
            const size_t li = static_cast<size_t>(s * per + static_cast<int64_t>(r));
            if (li < label_values.size()) {
              correct_f += rf[r] == label_values[li];
              correct_i += ri[r] == label_values[li];
              const int64_t lab = label_values[li];
              if (sequence && ref[0].rank() == 3 && labels->dim(1) == per && lab >= 0 && lab < width) {
                const size_t at = r * static_cast<size_t>(width);
                bits_f += BitsOfLabel(ref[0].data<float>() + at, width, lab);
                bits_i += BitsOfLabel(q.data() + at, width, lab);
                ++bits_rows;
              }
            }
          }
        }
      }
    }
  }
  rep.samples = count;
  rep.top1_agreement = rows_total ? 100.0 * static_cast<double>(agree) / static_cast<double>(rows_total) : 0;
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
    out_acc[o].Fill(&t);
    rep.outputs.push_back(t);
  }
  for (size_t op = 0; op < cap.names.size(); ++op) {
    auto it = acc.find(cap.names[op]);
    if (it == acc.end()) continue;
    TensorError t;
    t.name = cap.names[op];
    t.node = cap.ops[op];
    t.index = static_cast<int32_t>(op);
    it->second.Fill(&t);
    rep.layers.push_back(t);
  }
  return rep;
}

std::string FormatSummary(const AccuracyReport& r, int worst) {
  std::string s = fmt::format("validation: {} samples, top-1 agreement with float {:.2f}%", r.samples, r.top1_agreement);
  if (r.int_accuracy)
    s += fmt::format(", accuracy {:.2f}% (float {:.2f}%, {:+.2f} pt)", *r.int_accuracy, *r.float_accuracy,
                     *r.int_accuracy - *r.float_accuracy);
  if (r.int_bits_per_char)
    s += fmt::format(", bits/char {:.4f} (float {:.4f}, {:+.2f}%)", *r.int_bits_per_char, *r.float_bits_per_char,
                     100.0 * (*r.int_bits_per_char / *r.float_bits_per_char - 1.0));
  s += "\n";
  for (const TensorError& t : r.outputs)
    s += fmt::format("output '{}': SQNR {:.1f} dB, cosine {:.5f}, max |error| {:.4g}\n", t.name, t.sqnr_db, t.cosine,
                     t.max_abs);
  std::vector<TensorError> sorted = r.layers;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const TensorError& a, const TensorError& b) { return a.sqnr_db < b.sqnr_db; });
  if (!sorted.empty() && worst > 0) {
    s += fmt::format("the {} layers that lose most (accumulated error, lowest SQNR first):\n",
                     std::min<size_t>(sorted.size(), static_cast<size_t>(worst)));
    for (size_t i = 0; i < sorted.size() && i < static_cast<size_t>(worst); ++i)
      s += fmt::format("  {:>6.1f} dB  cos {:.4f}  {} ({})\n", sorted[i].sqnr_db, sorted[i].cosine, sorted[i].node,
                       sorted[i].name);
  }
  return s;
}

std::string FormatLayerTable(const AccuracyReport& r, bool sort_by_loss) {
  std::vector<TensorError> rows = r.layers;
  if (sort_by_loss)
    std::stable_sort(rows.begin(), rows.end(),
                     [](const TensorError& a, const TensorError& b) { return a.sqnr_db < b.sqnr_db; });
  std::string s = fmt::format("{:>4}  {:<36} {:>9} {:>8} {:>10} {:>8}\n", "#", "layer (output)", "SQNR dB", "cosine",
                              "max|err|", "rel L2");
  for (const TensorError& t : rows)
    s += fmt::format("{:>4}  {:<36} {:>9.2f} {:>8.5f} {:>10.4g} {:>8.4f}\n", t.index,
                     t.node.size() > 36 ? t.node.substr(0, 35) + "…" : t.node, t.sqnr_db, t.cosine, t.max_abs,
                     t.rel_l2);
  return s;
}

nlohmann::json ToJson(const AccuracyReport& r) {
  auto err = [](const TensorError& t) {
    return nlohmann::json{{"name", t.name},       {"node", t.node},     {"index", t.index},
                          {"sqnr_db", std::isfinite(t.sqnr_db) ? nlohmann::json(t.sqnr_db) : nlohmann::json("inf")},
                          {"cosine", t.cosine}, {"max_abs", t.max_abs}, {"rel_l2", t.rel_l2}};
  };
  nlohmann::json j;
  j["samples"] = r.samples;
  j["top1_agreement"] = r.top1_agreement;
  if (r.int_accuracy) {
    j["accuracy"] = *r.int_accuracy;
    j["float_accuracy"] = *r.float_accuracy;
  }
  if (r.int_bits_per_char) {
    j["bits_per_char"] = *r.int_bits_per_char;
    j["float_bits_per_char"] = *r.float_bits_per_char;
  }
  j["outputs"] = nlohmann::json::array();
  for (const auto& t : r.outputs) j["outputs"].push_back(err(t));
  j["layers"] = nlohmann::json::array();
  for (const auto& t : r.layers) j["layers"].push_back(err(t));
  return j;
}

}  // namespace squint::report

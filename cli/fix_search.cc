#include "cli/fix_search.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "export/sqnt_writer.h"
#include "passes/clip_softmax.h"
#include "quant/fix_candidates.h"
#include "report/html_report.h"

namespace squint::cli {

std::vector<std::string> WorstNodes(const ir::Graph& g, const report::AccuracyReport& r, int n) {
  std::vector<std::string> out;
  auto all = report::ChosenLayers(r, {}, static_cast<int>(r.layers.size()));
  if (!all.ok()) return out;
  for (size_t i : *all) {
    const std::string& name = r.layers[i].node;
    if (static_cast<int>(out.size()) >= n) break;
    const bool in_graph = std::any_of(g.nodes.begin(), g.nodes.end(), [&](const ir::Node& x) { return x.name == name; });
    if (in_graph && std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

Result<Measured> QuantizeAndMeasure(const FixContext& c, const quant::PipelineOptions& o, bool isolated,
                                    const std::string& layer) {
  ir::Graph g = *c.graph;
  if (o.clip_softmax && !c.clip_softmax_applied) SQ_RETURN_IF_ERROR(passes::ClipSoftmax(g, *o.clip_softmax).status());
  quant::PipelineOptions po = o;
  po.batch = c.batch;
  SQ_ASSIGN_OR_RETURN(quant::QuantizedModel q, quant::QuantizeGraph(g, *c.calib, po, c.model, c.model_sha256));
  Measured m;
  m.bytes = exporter::SerializeSqnt(*q.lowered.model);
  report::CompareOptions co;
  co.isolated = isolated;
  SQ_ASSIGN_OR_RETURN(m.report, report::CompareFloatAndInteger(*c.graph, m.bytes, *c.val, c.labels, c.begin,
                                                                c.samples, co));
  const report::AccuracyReport& r = m.report;
  report::MeasuredFix& f = m.figures;
  f.flags = quant::QuantizeFlags(o);
  f.bytes = static_cast<int64_t>(m.bytes.size());
  SQ_ASSIGN_OR_RETURN(f.latency_us, report::InvokeLatencyUs(m.bytes));
  if (!r.outputs.empty()) {
    f.output_sqnr_db = r.outputs[0].accumulated.sqnr_db;
    f.output_cosine = r.outputs[0].accumulated.cosine;
  }
  f.top1_agreement = r.top1_agreement;
  f.accuracy = r.int_accuracy;
  f.float_accuracy = r.float_accuracy;
  f.bits_per_char = r.int_bits_per_char;
  f.float_bits_per_char = r.float_bits_per_char;
  for (const report::TensorError& t : r.layers)
    if (!layer.empty() && t.node == layer) {
      f.layer_sqnr_db = t.accumulated.sqnr_db;
      break;
    }
  return m;
}

Result<report::FixReport> MeasureFixes(const FixSearch& s) {
  SQ_ASSIGN_OR_RETURN(quant::PipelineOptions base, quant::PipelineOptionsFromProvenance(s.provenance_options));
  const std::vector<quant::FixCandidate> candidates = quant::CandidateFixes(*s.context.graph, base, s.layers);
  Progress progress("trying fixes", "models", static_cast<int64_t>(candidates.size()) + 1, s.progress);
  progress.Update(0);

  report::FixReport out;
  out.samples = s.context.samples;
  out.calib = s.calib_name;
  auto base_run = QuantizeAndMeasure(s.context, base, false);
  if (!base_run.ok()) return base_run.status().WithContext("quantizing again with the .sqnt's options");
  out.base = base_run->figures;
  out.base.what = "the .sqnt's options";
  out.base_reproduced = base_run->bytes == s.sqnt_bytes;
  progress.Update(1);
  for (size_t k = 0; k < candidates.size(); ++k) {
    const quant::FixCandidate& c = candidates[k];
    auto m = QuantizeAndMeasure(s.context, c.options, false, c.layer);
    if (!m.ok() && m.status().code() == StatusCode::kInternal) return m.status().WithContext(c.flag);
    report::MeasuredFix f = m.ok() ? m->figures : report::MeasuredFix{};
    if (!m.ok()) f.error = m.status().message();
    f.layer = c.layer;
    f.what = c.what;
    f.flag = c.flag;
    out.fixes.push_back(std::move(f));
    progress.Update(static_cast<int64_t>(k) + 2);
  }
  report::RankFixes(&out);
  return out;
}

const char* DropMetricName(DropMetric m) {
  switch (m) {
    case DropMetric::kAccuracy: return "accuracy points";
    case DropMetric::kBitsPerChar: return "% bits/char";
    case DropMetric::kCosine: return "1 - cosine";
  }
  return "";
}

Result<DropMetric> ChooseDropMetric(const std::string& requested, const report::AccuracyReport& r) {
  if (requested == "accuracy" || (requested == "auto" && r.int_accuracy && !r.int_bits_per_char)) {
    if (!r.int_accuracy) return InvalidInput("--drop-metric accuracy needs class labels for the validation data (--labels)");
    return DropMetric::kAccuracy;
  }
  if (requested == "bits-per-char" || (requested == "auto" && r.int_bits_per_char)) {
    if (!r.int_bits_per_char)
      return InvalidInput("--drop-metric bits-per-char needs next-char labels [N, T] for a [1, T, V] output (--labels)");
    return DropMetric::kBitsPerChar;
  }
  if (requested == "cosine" || requested == "auto") return DropMetric::kCosine;
  return InvalidInput("--drop-metric '{}': expected auto, accuracy, bits-per-char or cosine", requested);
}

double Drop(DropMetric m, const report::MeasuredFix& f) {
  switch (m) {
    case DropMetric::kAccuracy: return *f.float_accuracy - *f.accuracy;
    case DropMetric::kBitsPerChar: return 100.0 * (*f.bits_per_char / *f.float_bits_per_char - 1.0);
    case DropMetric::kCosine: return 1.0 - f.output_cosine;
  }
  return 0;
}

std::optional<size_t> ChooseFix(const std::vector<FixTrial>& trials, double drop, int64_t bytes, double max_drop) {
  constexpr double kEps = 1e-9;
  std::optional<size_t> best;
  for (size_t k = 0; k < trials.size(); ++k) {  // fixes that reach the target alone: the smallest file
    const FixTrial& t = trials[k];
    if (t.drop > max_drop + kEps) continue;
    if (!best || t.bytes < trials[*best].bytes ||
        (t.bytes == trials[*best].bytes && t.drop < trials[*best].drop - kEps))
      best = k;
  }
  if (best) return best;
  double top_gain = 0;
  for (const FixTrial& t : trials) top_gain = std::max(top_gain, drop - t.drop);
  if (top_gain <= kEps) return std::nullopt;
  const double floor = std::max(1.0, 0.01 * static_cast<double>(bytes));
  double best_ratio = 0;
  for (size_t k = 0; k < trials.size(); ++k) {
    const double gain = drop - trials[k].drop;
    if (gain < 0.5 * top_gain - kEps) continue;
    const double ratio = gain / std::max(floor, static_cast<double>(trials[k].bytes - bytes));
    if (!best || ratio > best_ratio * (1 + kEps)) {
      best = k;
      best_ratio = ratio;
    }
  }
  return best;
}

Result<MaxDropResult> SearchMaxDrop(const FixContext& c, const quant::PipelineOptions& start,
                                    const std::string& requested_metric, double max_drop, int fix_layers, int max_steps,
                                    ProgressStyle progress) {
  MaxDropResult out;
  out.options = start;
  SQ_ASSIGN_OR_RETURN(out.final, QuantizeAndMeasure(c, start, /*isolated=*/true));
  SQ_ASSIGN_OR_RETURN(out.metric, ChooseDropMetric(requested_metric, out.final.report));
  const DropMetric metric = out.metric;
  double drop = Drop(metric, out.final.figures);
  const char* unit = DropMetricName(metric);
  out.steps.push_back(fmt::format("start {}: drop {:.4g} {}, {} bytes", out.final.figures.flags.empty() ? "(defaults)" : out.final.figures.flags,
                                  drop, unit, out.final.figures.bytes));
  for (int step = 1;; ++step) {
    if (drop <= max_drop) {
      out.reached = true;
      out.steps.push_back(fmt::format("reached: drop {:.4g} {} <= {}", drop, unit, max_drop));
      break;
    }
    if (step > max_steps) {
      out.steps.push_back(fmt::format("stopped after {} fixes (--max-drop-steps): drop {:.4g} {} > {}", max_steps, drop,
                                      unit, max_drop));
      break;
    }
    const std::vector<quant::FixCandidate> candidates =
        quant::CandidateFixes(*c.graph, out.options, WorstNodes(*c.graph, out.final.report, fix_layers));
    Progress p(fmt::format("--max-drop step {}", step), "models", static_cast<int64_t>(candidates.size()), progress);
    p.Update(0);
    std::vector<FixTrial> trials;  // the fixes that apply to this model
    std::vector<size_t> index;     // their candidates
    for (size_t k = 0; k < candidates.size(); ++k) {
      auto m = QuantizeAndMeasure(c, candidates[k].options, false);
      p.Update(static_cast<int64_t>(k) + 1);
      if (!m.ok()) {
        if (m.status().code() == StatusCode::kInternal) return m.status().WithContext(candidates[k].flag);
        continue;  // a fix that does not apply to this model
      }
      trials.push_back({Drop(metric, m->figures), m->figures.bytes});
      index.push_back(k);
    }
    const std::optional<size_t> chosen = ChooseFix(trials, drop, out.final.figures.bytes, max_drop);
    const quant::FixCandidate* best = chosen ? &candidates[index[*chosen]] : nullptr;
    if (best == nullptr) {
      out.steps.push_back(fmt::format("stopped: none of {} fixes lowers the drop {:.4g} {} (> {})", candidates.size(),
                                      drop, unit, max_drop));
      break;
    }
    const int64_t before_bytes = out.final.figures.bytes;
    out.options = best->options;
    SQ_ASSIGN_OR_RETURN(out.final, QuantizeAndMeasure(c, out.options, /*isolated=*/true));
    const double now = Drop(metric, out.final.figures);
    out.steps.push_back(fmt::format("step {}: {} ({}): drop {:.4g} -> {:.4g} {}, {:+} bytes", step, best->flag,
                                    best->what, drop, now, unit, out.final.figures.bytes - before_bytes));
    drop = now;
  }
  return out;
}

}  // namespace squint::cli

#include "cli/report_fixes.h"

#include <algorithm>

#include "export/sqnt_writer.h"
#include "passes/clip_softmax.h"
#include "quant/fix_candidates.h"
#include "quant/pipeline.h"

namespace squint::cli {
namespace {

// Quantizes a copy of the float model with `o`, runs it against the float model end to end.
// `layer` (may be empty): the node whose end-to-end SQNR is reported too.
Result<report::MeasuredFix> Measure(const FixSearch& s, const quant::PipelineOptions& o, const std::string& layer,
                                    std::string* bytes) {
  ir::Graph g = *s.graph;
  if (o.clip_softmax) SQ_RETURN_IF_ERROR(passes::ClipSoftmax(g, *o.clip_softmax).status());
  SQ_ASSIGN_OR_RETURN(quant::QuantizedModel q, quant::QuantizeGraph(g, *s.calib, o, s.model, s.model_sha256));
  *bytes = exporter::SerializeSqnt(*q.lowered.model);
  report::CompareOptions co;
  co.isolated = false;
  SQ_ASSIGN_OR_RETURN(report::AccuracyReport r,
                      report::CompareFloatAndInteger(*s.graph, *bytes, *s.val, s.labels, 0, s.samples, co));
  report::MeasuredFix f;
  f.flags = quant::QuantizeFlags(o);
  f.bytes = static_cast<int64_t>(bytes->size());
  f.output_sqnr_db = r.outputs.empty() ? 0 : r.outputs[0].accumulated.sqnr_db;
  f.top1_agreement = r.top1_agreement;
  f.accuracy = r.int_accuracy;
  f.bits_per_char = r.int_bits_per_char;
  for (const report::TensorError& t : r.layers)
    if (!layer.empty() && t.node == layer) {
      f.layer_sqnr_db = t.accumulated.sqnr_db;
      break;
    }
  return f;
}

}  // namespace

Result<report::FixReport> MeasureFixes(const FixSearch& s) {
  SQ_ASSIGN_OR_RETURN(quant::PipelineOptions base, quant::PipelineOptionsFromProvenance(s.provenance_options));
  const std::vector<quant::FixCandidate> candidates = quant::CandidateFixes(*s.graph, base, s.layers);
  Progress progress("trying fixes", "models", static_cast<int64_t>(candidates.size()) + 1, s.progress);
  progress.Update(0);

  report::FixReport out;
  out.samples = s.samples;
  out.calib = s.calib_name;
  std::string bytes;
  auto base_fix = Measure(s, base, "", &bytes);
  if (!base_fix.ok()) return base_fix.status().WithContext("quantizing again with the .sqnt's options");
  out.base = *base_fix;
  out.base.what = "the .sqnt's options";
  out.base_reproduced = bytes == s.sqnt_bytes;
  progress.Update(1);
  for (size_t k = 0; k < candidates.size(); ++k) {
    const quant::FixCandidate& c = candidates[k];
    auto m = Measure(s, c.options, c.layer, &bytes);
    report::MeasuredFix f = m.ok() ? *m : report::MeasuredFix{};
    if (!m.ok()) f.error = m.status().message();
    if (!m.ok() && m.status().code() == StatusCode::kInternal) return m.status().WithContext(c.flag);
    f.layer = c.layer;
    f.what = c.what;
    f.flag = c.flag;
    out.fixes.push_back(std::move(f));
    progress.Update(static_cast<int64_t>(k) + 2);
  }
  report::RankFixes(&out);
  return out;
}

}  // namespace squint::cli

// Quantizing again with other options and measuring the result on the runtime: the suggested
// fixes of `squint report --fixes` and the greedy search of `squint quantize --max-drop`. Both
// compose the pipeline (quant), the writer (export) and CompareFloatAndInteger (report).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/progress.h"
#include "base/status.h"
#include "ir/graph.h"
#include "quant/calib_data.h"
#include "quant/pipeline.h"
#include "report/accuracy.h"
#include "report/fixes.h"

namespace squint::cli {

// What a model is quantized from and measured on.
struct FixContext {
  const ir::Graph* graph = nullptr;  // the float model (canonical); never changed
  bool clip_softmax_applied = false;  // graph already has options.clip_softmax applied (quantize) or not (report)
  std::string model, model_sha256;    // its path and SHA-256 (the provenance of each model made)
  const quant::CalibData* calib = nullptr;
  const std::vector<ir::Tensor>* val = nullptr;  // validation data ([N, ...] per input)
  const ir::Tensor* labels = nullptr;
  int64_t begin = 0, samples = 0;  // the validation samples used
  int32_t batch = 0;               // LoadedModel::batch: recorded in every model made (not a provenance option)
};

// The node names of the `n` layers of r that lose most and are nodes of g (a REQUANTIZE the
// quantizer inserted is not), worst first.
std::vector<std::string> WorstNodes(const ir::Graph& g, const report::AccuracyReport& r, int n);

// One model quantized with some options and measured.
struct Measured {
  std::string bytes;             // the .sqnt
  report::AccuracyReport report;
  report::MeasuredFix figures;   // what, flag and layer left empty
};
Result<Measured> QuantizeAndMeasure(const FixContext& c, const quant::PipelineOptions& o, bool isolated,
                                    const std::string& layer = "");

struct FixSearch {
  FixContext context;
  std::string sqnt_bytes;          // the .sqnt under report
  std::string provenance_options;  // its options line
  std::string calib_name;
  std::vector<std::string> layers;  // the nodes to find fixes for (worst first)
  ProgressStyle progress = ProgressStyle::kNone;
};

// The base (the .sqnt's options, quantized again) and every candidate fix alone, ranked.
Result<report::FixReport> MeasureFixes(const FixSearch& s);

// --max-drop: how the drop from float is counted.
enum class DropMetric { kAccuracy, kBitsPerChar, kCosine };
const char* DropMetricName(DropMetric m);  // "accuracy points", "% bits/char", "1 - cosine"
// The metric a measurement can give: accuracy with class labels, bits/char with next-char labels,
// else 1 - cosine of output 0. `requested` ("auto" or a metric) is checked against the data.
Result<DropMetric> ChooseDropMetric(const std::string& requested, const report::AccuracyReport& r);
double Drop(DropMetric m, const report::MeasuredFix& f);

struct MaxDropResult {
  DropMetric metric = DropMetric::kCosine;
  quant::PipelineOptions options;  // the final choice
  Measured final;
  std::vector<std::string> steps;  // one line per step taken, and the reason it stopped
  bool reached = false;
};

// One step's measured candidate: the drop it leaves and the file's size.
struct FixTrial {
  double drop = 0;
  int64_t bytes = 0;
};

// Which measured fix a --max-drop step applies (an index into `trials`), or nullopt when none lowers
// `drop`. Bytes are what a fix is paid in:
// - fixes that reach `max_drop` alone: the smallest file (ties: the lower drop);
// - else, among the fixes whose gain (drop − their drop) is at least half the largest gain, the one
//   with the most gain per byte added; an addition below 1 % of `bytes` (or a saving) counts as
//   1 % of `bytes`, so free fixes compare by gain and a sliver of gain never buys a step alone.
// Ties keep the earlier trial. Deterministic.
std::optional<size_t> ChooseFix(const std::vector<FixTrial>& trials, double drop, int64_t bytes, double max_drop);

// Starts from `start` (the metric: ChooseDropMetric(metric, the start's report)) and applies, one at a time, the measured fix (for the `fix_layers` worst
// layers of the current model) that ChooseFix picks, until the drop is at most `max_drop`, no fix
// lowers it, or `max_steps` fixes were applied. Deterministic.
Result<MaxDropResult> SearchMaxDrop(const FixContext& c, const quant::PipelineOptions& start,
                                    const std::string& metric, double max_drop, int fix_layers, int max_steps,
                                    ProgressStyle progress);

}  // namespace squint::cli

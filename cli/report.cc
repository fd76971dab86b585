// squint report MODEL.onnx MODEL.sqnt --data DATA [--labels FILE] [--json FILE] [--html FILE] [--sort ORDER] ...
#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "base/file.h"
#include "base/progress.h"
#include "base/sha256.h"
#include "cli/commands.h"
#include "cli/input_data.h"
#include "cli/load_model.h"
#include "cli/fix_search.h"
#include "quant/calib_data.h"
#include "report/accuracy.h"
#include "report/html_report.h"
#include "report/sqnt_summary.h"

namespace squint::cli {
namespace {

struct Options {
  std::string model, sqnt, data, labels, json, html, calib;
  bool fixes = false;
  int fix_layers = 3;
  std::vector<std::string> layers;  // --layer: shown in detail in the HTML
  ImageFlags images;
  std::vector<std::string> input_shapes;
  int64_t samples = 0;
  std::string order = "graph";
  bool accumulated_only = false;
  bool ignore_source = false;
  bool quiet = false;
  int worst = 5;
};

Status Run(const Options& o) {
  // Output paths and --layer names are checked before the long work.
  for (const std::string* path : {&o.json, &o.html})
    if (!path->empty()) SQ_RETURN_IF_ERROR(CheckWritable(*path));
  if (!o.layers.empty() && o.html.empty()) return InvalidInput("--layer chooses layers of the HTML report: give --html FILE");
  if (o.fixes && o.calib.empty())
    return InvalidInput("--fixes quantizes the model again for each fix: give the calibration data with --calib DATA");
  SQ_ASSIGN_OR_RETURN(std::string sqnt, ReadFile(o.sqnt));
  SQ_ASSIGN_OR_RETURN(report::SqntSummary summary, report::SummarizeSqnt(o.sqnt, sqnt));  // verifies the file
  // Layers are matched to the float model by name: a file written with --strip-names has none.
  if (!summary.ops.empty() && std::all_of(summary.ops.begin(), summary.ops.end(),
                                          [](const report::SqntOp& op) { return op.name.empty(); }))
    return InvalidInput("{}: its ops have no names (written with --strip-names?); the report matches layers to the "
                        "float model by name: use a file quantized without --strip-names",
                        o.sqnt);
  for (const std::string& name : o.layers) {
    auto named = [&](const report::SqntOp& op) {
      return op.name == name || std::find(op.outputs.begin(), op.outputs.end(), name) != op.outputs.end();
    };
    if (std::none_of(summary.ops.begin(), summary.ops.end(), named))
      return InvalidInput("--layer '{}': {} has no op or tensor of this name (squint inspect {} lists them)", name,
                          o.sqnt, o.sqnt);
  }
  SQ_ASSIGN_OR_RETURN(LoadedModel m,
                      LoadOnnxModel(o.model, o.input_shapes, /*batch_one=*/true,
                                    [&](const ir::Graph& g) { return SampleDimsFromData(o.data, g, o.images); }));
  SQ_ASSIGN_OR_RETURN(std::string sha, Sha256File(o.model));
  if (!summary.source_sha256.empty() && summary.source_sha256 != sha) {
    if (!o.ignore_source)
      return InvalidInput(
          "{} was quantized from another file than {} (source SHA-256 {}..., this file {}...): give the model it was "
          "quantized from, or --ignore-source to match layers by tensor name anyway",
          o.sqnt, o.model, summary.source_sha256.substr(0, 12), sha.substr(0, 12));
    fmt::print(stderr, "squint: warning: {} was quantized from another file than {}; layers are matched by tensor name\n",
               o.sqnt, o.model);
  }

  const ir::Graph& g = m.graph;
  SQ_ASSIGN_OR_RETURN(quant::CalibData data, LoadData("--data", o.data, g, o.images));
  SQ_ASSIGN_OR_RETURN(std::optional<ir::Tensor> labels, LoadLabels(o.labels, data, o.data));
  const int64_t count = o.samples > 0 ? std::min(o.samples, data.num_samples) : data.num_samples;

  const report::LayerOrder order = o.order == "accumulated" ? report::LayerOrder::kAccumulated
                                   : o.order == "isolated"  ? report::LayerOrder::kIsolated
                                                            : report::LayerOrder::kGraph;
  report::CompareOptions co;
  co.isolated = !o.accumulated_only;
  co.distributions = !o.html.empty();
  Progress progress(co.isolated ? "float vs integer, every layer end to end and alone" : "float vs integer", "samples",
                    count, ProgressStyleFor(o.quiet, stderr));
  co.progress = progress.Callback();
  SQ_ASSIGN_OR_RETURN(report::AccuracyReport rep,
                      report::CompareFloatAndInteger(g, sqnt, data.tensors, labels ? &*labels : nullptr, 0, count, co));
  if (rep.layers.empty())
    return InvalidInput("no layer of {} matches a tensor of {} by name: is it quantized from this model?", o.sqnt,
                        o.model);
  std::optional<report::FixReport> fixes;
  if (o.fixes) {
    SQ_ASSIGN_OR_RETURN(quant::CalibData calib, LoadData("--calib", o.calib, g, o.images));
    const FixContext context{.graph = &g, .model = o.model, .model_sha256 = sha, .calib = &calib,
                             .val = &data.tensors, .labels = labels ? &*labels : nullptr, .samples = count,
                             .batch = m.batch};
    const FixSearch search{.context = context, .sqnt_bytes = sqnt, .provenance_options = summary.options,
                           .calib_name = o.calib, .layers = WorstNodes(g, rep, o.fix_layers),
                           .progress = ProgressStyleFor(o.quiet, stderr)};
    SQ_ASSIGN_OR_RETURN(fixes, MeasureFixes(search));
  }
  if (!o.json.empty()) {
    nlohmann::json j = report::ToJson(rep, order);
    if (fixes) j["fixes"] = report::ToJson(*fixes);
    j["model"] = o.model;
    j["sqnt"] = o.sqnt;
    j["data"] = o.data;
    j["quantize_options"] = summary.options;
    SQ_RETURN_IF_ERROR(WriteFileAtomic(o.json, j.dump(2) + "\n"));
  }
  if (!o.html.empty()) {
    const report::HtmlReportInfo info{.model = o.model, .sqnt = o.sqnt, .data = o.data, .labels = o.labels,
                                      .sqnt_bytes = summary.file_bytes, .quantize_options = summary.options,
                                      .squint_version = summary.squint_version, .layers = o.layers,
                                      .worst = o.worst, .fixes = fixes ? &*fixes : nullptr};
    SQ_ASSIGN_OR_RETURN(std::string page, report::HtmlReport(rep, info));
    SQ_RETURN_IF_ERROR(WriteFileAtomic(o.html, page));
  }
  fmt::print("{}\n{}", report::FormatSummary(rep, o.worst), report::FormatLayerTable(rep, order));
  if (fixes) fmt::print("\n{}", report::FormatFixes(*fixes));
  if (!o.json.empty()) fmt::print("wrote {}\n", o.json);
  if (!o.html.empty()) fmt::print("wrote {}\n", o.html);
  return Status::Ok();
}

}  // namespace

void AddReport(Command& app, Action& action) {
  auto o = std::make_shared<Options>();
  Command cmd = app.Subcommand(
      "report",
      "Per-layer error of an integer .sqnt model against its float ONNX model on DATA, computed on the\n"
      "runtime's own kernels. For every layer: SQNR (dB), cosine similarity, max abs error and relative L2\n"
      "error of its output, both end to end (accumulated: the integer model run whole, so errors of earlier\n"
      "layers add up) and alone (isolated: the layer fed the float model's inputs quantized to its input\n"
      "grids, so its own loss shows). Layers are matched to float values by tensor name.");
  cmd.Add("model", o->model, "the float model (.onnx) the .sqnt was quantized from").Required();
  cmd.Add("sqnt", o->sqnt, "the integer model (.sqnt)").Required();
  cmd.Add("--data", o->data,
                  "data: .npz (one array per input, by name, samples first), .npy (single-input model),\n"
                  "a folder of such files, or a folder of PNG or JPEG images")
      .Required();
  cmd.Add("--labels", o->labels, ".npy of integer labels for the data: report accuracy");
  AddImageFlags(cmd, o->images);
  cmd.Add("--samples", o->samples, "use at most the first N samples (0: all)").ShowDefault();
  cmd.Add("--sort", o->order, "layer order: graph (execution order), accumulated or isolated (lowest SQNR first)")
      .OneOf({"graph", "accumulated", "isolated"})
      .ShowDefault();
  cmd.Flag("--accumulated-only", o->accumulated_only, "skip the isolated measurement (half the work)");
  cmd.Flag("--ignore-source", o->ignore_source,
               "compare even if the .sqnt records another source model (SHA-256) than MODEL.onnx");
  cmd.Add("--json", o->json, "also write the report as JSON to this file");
  cmd.Add("--html", o->html,
                  "also write a self-contained HTML page (inline SVG charts, no network): summary, SQNR of every\n"
                  "layer end to end and alone, for the chosen layers the float values' histogram with the integer\n"
                  "grid, clipping range and zero point, and per-channel weight ranges; every softmax's\n"
                  "probabilities with its grid; a sortable table of every layer");
  cmd.Add("--layer", o->layers,
                  "with --html: show this layer in detail (an op name or its output tensor's name; repeatable),\n"
                  "before the --worst ones");
  cmd.Flag("--fixes", o->fixes,
                "suggested fixes, measured: for the --fix-layers layers that lose most, quantize the model again\n"
                "with each applicable fix alone on top of the .sqnt's own options (its provenance): int16\n"
                "activations around the layer (--a16 NODE) or every node of its op type (--a16 OPTYPE), 8-bit\n"
                "weights on it when the model's are narrower (--w8 NODE), a log grid (log2, sulq) or bias\n"
                "correction for a softmax, weight scales per group of 32 for a layer with weights, and the\n"
                "smooth and hadamard transforms; run each on the integer runtime over DATA and list the output\n"
                "SQNR, agreement, accuracy or bits/char and bytes gained or lost, with the exact squint quantize flag (text,\n"
                "--json and --html; the text also gives each model's invoke latency on this machine, which the\n"
                "files leave out to stay byte-identical). Needs --calib");
  cmd.Add("--calib", o->calib, "with --fixes: the calibration data to quantize with (as squint quantize --calib)");
  cmd.Add("--fix-layers", o->fix_layers, "with --fixes: how many of the worst layers to find fixes for")
      .ShowDefault();
  cmd.Add("--worst", o->worst, "how many of the worst layers the summary lists (and --html details)")
      .ShowDefault();
  AddQuietFlag(cmd, o->quiet);
  cmd.Add("--input-shape", o->input_shapes,
                  "bind an input's dims, e.g. input=1x1x28x28 (default: symbolic batch dims become 1)");
  cmd.OnChosen([&action, o] { action = [o] { return Run(*o); }; });
}

}  // namespace squint::cli

// squint quantize MODEL.onnx -o MODEL.sqnt --calib DATA [--val DATA] [--labels FILE] ...
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include "base/file.h"
#include "base/sha256.h"
#include "cli/commands.h"
#include "cli/input_data.h"
#include "cli/load_model.h"
#include "cli/parse.h"
#include "export/sqnt_writer.h"
#include "ir/npy.h"
#include "passes/clip_softmax.h"
#include "passes/graph_edit.h"
#include "passes/online_hadamard.h"
#include "passes/rotate_residual.h"
#include "quant/calib_data.h"
#include "quant/calibrate.h"
#include "quant/lower.h"
#include "quant/softmax_bias.h"
#include "quant/activation_stats.h"
#include "quant/smooth.h"
#include "quant/softmax_grid.h"
#include "quant/wush.h"
#include "report/accuracy.h"
#include "runtime/model.h"

namespace squint::cli {
namespace {

struct Options {
  std::string model, output, calib, val, labels, observer = "minmax";
  ImageFlags images;
  std::vector<std::string> input_shapes, a16;
  int64_t calib_samples = 0;
  int64_t val_samples = 0;
  bool per_tensor = false;
  int weight_bits = 8, act_bits = 8;
  int group_size = 0;
  int worst = 5;
  bool accumulated_only = false;  // skip the per-layer isolated measurement of the check
  int softmax_bits = 8;
  std::string softmax_quant = "uniform";  // uniform | log2 | logsqrt2 | sulq
  std::optional<double> clip_softmax;  // ALPHA
  bool softmax_bias_correction = false;
  std::vector<std::string> transforms;  // none | smooth | rotate | hadamard | wush (applied in that order)
  bool transform_optional = false;
  uint32_t transform_seed = passes::RotateResidualOptions{}.seed;  // random signs of rotate and hadamard
  int64_t wush_block = 32;
};

bool Wants(const Options& o, const std::string& t) {
  return std::find(o.transforms.begin(), o.transforms.end(), t) != o.transforms.end();
}

// A transform that found nothing to do: an error (exit code 2), or with --transform-optional a
// warning (then the transform reports false: not applied).
Result<bool> NothingToTransform(const Options& o, const std::string& transform, const std::string& why) {
  if (!o.transform_optional)
    return InvalidInput("--transform {}: {} ({}); pass --transform-optional to quantize without it", transform, why,
                        o.model);
  fmt::print(stderr, "warning: --transform {}: {}; quantizing without it (--transform-optional)\n", transform, why);
  return false;
}

// Why a Linear transform found nothing to do, from its report's skipped Linears.
std::string NoEligibleLinear(const std::vector<passes::SkippedLinear>& skipped) {
  if (skipped.empty()) return "the model has no Linear (MatMul/Gemm with constant weights)";
  std::string why = "no Linear is eligible:";
  for (const auto& s : skipped) why += fmt::format(" {}: {};", s.linear, s.reason);
  return why;
}

// How strong the outliers are, one line per kind: the activations entering the Linear layers,
// and those entering the LayerNorms/RMSNorms (the residual stream of a transformer).
Status PrintInputStats(const ir::Graph& g, const quant::CalibData& calib, int64_t calib_count, const char* when) {
  using ir::OpType;
  static constexpr OpType kOps[] = {OpType::kLinear, OpType::kLayerNormalization, OpType::kRMSNorm};
  SQ_ASSIGN_OR_RETURN(std::vector<quant::InputStats> stats, quant::MeasureInputs(g, calib, calib_count, kOps));
  for (const bool norms : {false, true}) {
    std::vector<double> k;
    double max_abs = 0, max_ratio = 0;
    for (const quant::InputStats& s : stats) {
      if ((s.op != OpType::kLinear) != norms) continue;
      k.push_back(s.kurtosis);
      max_abs = std::max(max_abs, s.max_abs);
      if (s.rms > 0) max_ratio = std::max(max_ratio, s.max_abs / s.rms);
    }
    if (k.empty()) continue;
    std::sort(k.begin(), k.end());
    fmt::print(stderr, "{} inputs {}: {} inputs, kurtosis median {:.2f} max {:.2f}, max|x| {:.3g}, max|x|/rms {:.1f}\n",
               norms ? "norm (residual stream)" : "linear", when, k.size(), k[k.size() / 2], k.back(), max_abs,
               max_ratio);
  }
  return Status::Ok();
}

// --transform smooth: SmoothQuant scales searched per LayerNorm -> Linear site (quant/smooth.h).
// Returns whether the graph changed.
Result<bool> Smooth(const Options& o, ir::Graph& g, const quant::CalibData& calib, int64_t calib_count) {
  quant::SmoothOptions so;
  so.weight_bits = o.weight_bits;
  so.act_bits = o.act_bits;
  so.max_samples = calib_count;
  SQ_ASSIGN_OR_RETURN(quant::SmoothReport rep, quant::SmoothGraph(g, calib, so));
  for (const std::string& why : rep.skipped) fmt::print(stderr, "smooth: not eligible: {}\n", why);
  if (rep.sites.empty())
    return NothingToTransform(o, "smooth", "no LayerNormalization is read only by Linear layers with constant weights");
  int applied = 0;
  for (const quant::SmoothedSite& s : rep.sites) {
    if (!s.applied) {
      fmt::print(stderr, "smooth: {} ({} channels, {} linears): kept, no alpha lowers the error {:.4g}\n", s.norm,
                 s.channels, s.linears, s.error_before);
      continue;
    }
    ++applied;
    fmt::print(stderr,
               "smooth: {} ({} channels, {} linears): alpha {}, largest/median channel max {:.1f} -> {:.1f}, "
               "error {:.4g} -> {:.4g}\n",
               s.norm, s.channels, s.linears, s.alpha, s.max_ratio_before, s.max_ratio_after, s.error_before,
               s.error_after);
  }
  fmt::print(stderr, "smooth: {} of {} sites smoothed\n", applied, rep.sites.size());
  return applied > 0;
}

// --transform rotate: passes/rotate_residual.h, one stderr line per stream. Returns whether the
// graph changed.
Result<bool> Rotate(const Options& o, ir::Graph& g) {
  passes::RotateResidualOptions opts;
  opts.seed = o.transform_seed;
  SQ_ASSIGN_OR_RETURN(passes::RotateResidualReport r, passes::RotateResidual(g, opts));
  for (const std::string& why : r.rejected) fmt::print(stderr, "rotate: not rotated: {}\n", why);
  if (r.rotated.empty()) {
    std::string why = "the model has no LayerNormalization";
    if (!r.rejected.empty()) why = "no residual stream qualifies: " + fmt::format("{}", fmt::join(r.rejected, "; "));
    return NothingToTransform(o, "rotate", why);
  }
  for (const auto& s : r.rotated)
    fmt::print(stderr,
               "transform rotate: residual stream of {} channels ({} Q; from {}): {} LayerNorms -> RMSNorm, {} "
               "writers and {} added constants centered and rotated, {} Linear readers take gamma, beta and Q^T\n",
               s.channels, s.rotation, s.first, s.norms, s.writers, s.constants, s.readers);
  return true;
}

// --transform hadamard: passes/online_hadamard.h, one stderr line. Returns whether the graph changed.
Result<bool> Hadamard(const Options& o, ir::Graph& g) {
  // Random signs: without them H's all-ones row gathers the mean of a non-negative input
  // (after ReLU) into one channel, a new outlier (tests/passes/model_canonicalize_test.cc).
  passes::OnlineHadamardOptions opts;
  opts.random_signs = true;
  opts.seed = o.transform_seed;
  SQ_ASSIGN_OR_RETURN(passes::OnlineHadamardReport r, passes::OnlineHadamard(g, opts));
  if (r.transformed.empty()) return NothingToTransform(o, "hadamard", NoEligibleLinear(r.skipped));
  std::map<std::string, int> blocks;  // "block (k)" -> Hadamard ops
  for (const auto& site : r.transformed) ++blocks[fmt::format("{} (k {})", site.block, site.k)];
  std::string list;
  for (const auto& [b, n] : blocks) list += fmt::format("{}{}x block {}", list.empty() ? "" : ", ", n, b);
  fmt::print(stderr, "transform hadamard: {} Linear layers behind {} Hadamard ops ({}); {} Linear layers skipped\n",
             r.linears(), r.transformed.size(), list, r.skipped.size());
  return true;
}

// --transform wush: quant/wush.h, one stderr line. Returns whether the graph changed.
Result<bool> Wush(const Options& o, ir::Graph& g, const quant::CalibData& calib, int64_t calib_count) {
  quant::WushOptions opts;
  opts.block = o.wush_block;
  opts.max_samples = calib_count;
  SQ_ASSIGN_OR_RETURN(quant::WushReport r, quant::WushGraph(g, calib, opts));
  if (r.transformed.empty()) return NothingToTransform(o, "wush", NoEligibleLinear(r.skipped));
  fmt::print(stderr, "transform wush: {} Linear layers behind {} grouped transforms (blocks of {}); {} Linear layers "
             "skipped\n", r.linears(), r.transformed.size(), opts.block, r.skipped.size());
  return true;
}

// The per-sample dims of a --calib .npy (its dims after the first): they bind a single-input
// model's unknown dims when no --input-shape is given. nullopt for other data forms and for a
// file that does not read (loading the data reports that, with its usual context).
std::optional<ir::Dims> CalibSampleDims(const Options& o) {
  const std::string& c = o.calib;
  if (!o.input_shapes.empty() || c.size() < 4 || c.compare(c.size() - 4, 4, ".npy") != 0) return std::nullopt;
  Result<ir::Tensor> t = ir::ReadNpy(c);
  if (!t.ok() || t->rank() < 1) return std::nullopt;
  return ir::Dims(t->dims().begin() + 1, t->dims().end());
}

Status Run(const Options& o) {
  SQ_ASSIGN_OR_RETURN(LoadedModel m, LoadOnnxModel(o.model, o.input_shapes, /*batch_one=*/true, CalibSampleDims(o)));
  if (o.clip_softmax) {
    SQ_ASSIGN_OR_RETURN(int clipped, passes::ClipSoftmax(m.graph, *o.clip_softmax));
    fmt::print(stderr, "clipped softmax (alpha {}) applied to {} Softmax nodes\n", *o.clip_softmax, clipped);
  }
  const ir::Graph& g = m.graph;
  quant::LowerOptions lo;
  lo.per_channel = !o.per_tensor;
  lo.a16 = o.a16;
  lo.weight_bits = o.weight_bits;
  lo.act_bits = o.act_bits;
  lo.group_size = o.group_size;
  lo.softmax_bits = o.softmax_bits;
  SQ_RETURN_IF_ERROR(quant::CheckLowerOptions(g, lo));
  if (o.softmax_bias_correction && o.softmax_quant != "uniform")
    return InvalidInput("--softmax-bias-correction models the rounding of the uniform grid; it does not apply to "
                        "--softmax-quant {}",
                        o.softmax_quant);
  if (o.softmax_bias_correction &&
      std::none_of(g.nodes.begin(), g.nodes.end(), [](const ir::Node& n) { return n.op == ir::OpType::kSoftmax; }))
    return InvalidInput("--softmax-bias-correction: {} has no Softmax node", o.model);
  SQ_ASSIGN_OR_RETURN(quant::CalibData calib, LoadData("--calib", o.calib, g, o.images));

  // Without --val, the last fifth of the calibration data is held out for the check.
  int64_t calib_count = calib.num_samples;
  std::optional<quant::CalibData> val;
  if (!o.val.empty()) {
    SQ_ASSIGN_OR_RETURN(val, LoadData("--val", o.val, g, o.images));
  } else if (calib.num_samples >= 5) {
    calib_count = calib.num_samples - calib.num_samples / 5;
  }
  const quant::CalibData& check = val ? *val : calib;
  SQ_ASSIGN_OR_RETURN(std::optional<ir::Tensor> labels, LoadLabels(o.labels, check, val ? o.val : o.calib));
  if (o.calib_samples > 0) calib_count = std::min(calib_count, o.calib_samples);
  SQ_RETURN_IF_ERROR(CheckTransforms(o.transforms, o.wush_block));
  std::vector<std::string> applied;  // the transforms that changed the graph, in order
  if (!o.transforms.empty()) SQ_RETURN_IF_ERROR(PrintInputStats(m.graph, calib, calib_count, "before transforms"));
  if (Wants(o, "smooth")) {
    SQ_ASSIGN_OR_RETURN(bool changed, Smooth(o, m.graph, calib, calib_count));
    if (changed) applied.push_back("smooth");
  }
  if (Wants(o, "rotate")) {
    SQ_ASSIGN_OR_RETURN(bool changed, Rotate(o, m.graph));
    if (changed) applied.push_back("rotate");
  }
  if (Wants(o, "hadamard")) {
    SQ_ASSIGN_OR_RETURN(bool changed, Hadamard(o, m.graph));
    if (changed) applied.push_back("hadamard");
  }
  if (Wants(o, "wush")) {
    SQ_ASSIGN_OR_RETURN(bool changed, Wush(o, m.graph, calib, calib_count));
    if (changed) applied.push_back("wush");
  }
  if (!o.transforms.empty() && !Wants(o, "none"))
    SQ_RETURN_IF_ERROR(PrintInputStats(m.graph, calib, calib_count, "after transforms"));

  quant::CalibrationOptions co;
  co.observer = o.observer;
  co.max_samples = calib_count;
  const bool tty = isatty(fileno(stderr));
  fmt::print(stderr, "calibrating on {} samples with the '{}' observer\n", calib_count, o.observer);
  SQ_ASSIGN_OR_RETURN(quant::Calibration cal,
                      quant::Calibrate(g, calib, co, [&](int64_t done, int64_t total) {
                        if (tty && (done % 16 == 0 || done == total))
                          fmt::print(stderr, "\r  {}/{} samples", done, total);
                        if (tty && done == total) fmt::print(stderr, "\n");
                      }));
  if (o.softmax_bias_correction) {
    SQ_ASSIGN_OR_RETURN(std::vector<quant::SoftmaxBias> biases,
                        quant::EstimateSoftmaxBias(g, calib, calib_count, o.softmax_bits));
    if (biases.empty())
      return InvalidInput("--softmax-bias-correction: {} has no Softmax whose output is multiplied by an activation "
                          "(attention P·V)",
                          o.model);
    int corrected = 0;
    double largest = 0;
    for (const quant::SoftmaxBias& b : biases) {
      if (b.projection.empty()) {
        fmt::print(stderr, "softmax bias correction: {} not corrected: {}\n", b.softmax, b.why_not);
        continue;
      }
      lo.linear_input_offset[b.projection] = b.offset;
      for (float v : b.offset) largest = std::max(largest, std::fabs(static_cast<double>(v)));
      ++corrected;
    }
    fmt::print(stderr, "softmax bias correction: {} of {} attention blocks, largest |offset| {:.4g}\n", corrected,
               biases.size(), largest);
  }
  if (o.softmax_quant != "uniform") {
    SQ_ASSIGN_OR_RETURN(fb::SoftmaxGrid kind, SoftmaxGridOf(o.softmax_quant));
    SQ_ASSIGN_OR_RETURN(lo.softmax_grids, quant::CalibrateSoftmaxGrids(g, calib, calib_count, kind, o.softmax_bits));
    if (lo.softmax_grids.empty()) return InvalidInput("--softmax-quant {}: {} has no Softmax node", o.softmax_quant, o.model);
    for (const auto& [name, t] : lo.softmax_grids) {
      const int32_t n = static_cast<int32_t>(t.shifts.size());
      fmt::print(stderr, "softmax grid {} ({} {} bits): {} codes, values {:.4g} .. {:.4g}{}\n", name, o.softmax_quant,
                 t.bits, n, quant::GridValue(t, 0), quant::GridValue(t, n - 1),
                 t.kind == fb::SoftmaxGrid::SULQ ? fmt::format(", eta {}", t.eta) : "");
    }
  }
  SQ_ASSIGN_OR_RETURN(quant::LoweredModel lowered, quant::Lower(g, cal, lo));
  for (const std::string& w : lowered.warnings) fmt::print(stderr, "warning: {}\n", w);

  auto prov = std::make_unique<fb::ProvenanceT>();
  SQ_ASSIGN_OR_RETURN(prov->source_sha256, Sha256File(o.model));
  prov->squint_version = SQUINT_VERSION;
  prov->options = fmt::format("observer={} weights={} weight_bits={} act_bits={} softmax_bits={} softmax_quant={} "
                              "calib_samples={}{}",
                              o.observer, o.per_tensor ? "per-tensor" : "per-channel", o.weight_bits, o.act_bits,
                              o.softmax_bits, o.softmax_quant, calib_count,
                              o.a16.empty() ? "" : fmt::format(" a16={}", fmt::join(o.a16, ",")));
  if (o.clip_softmax) prov->options += fmt::format(" clip_softmax={}", *o.clip_softmax);
  if (o.softmax_bias_correction) prov->options += " softmax_bias_correction=1";
  if (o.group_size > 0) prov->options += fmt::format(" group_size={}", o.group_size);
  if (!applied.empty()) prov->options += fmt::format(" transform={}", fmt::join(applied, ","));
  if (!applied.empty() && o.transform_seed != Options{}.transform_seed)
    prov->options += fmt::format(" transform_seed={}", o.transform_seed);
  prov->calibration = fmt::format("{{\"samples\": {}, \"observer\": \"{}\"}}", cal.samples, cal.observer);
  lowered.model->provenance = std::move(prov);
  const std::string bytes = exporter::SerializeSqnt(*lowered.model);

  // Check before writing: nothing is written when the runtime cannot run the result.
  const int64_t begin = val ? 0 : calib_count;
  int64_t count = check.num_samples - begin;
  if (o.val_samples > 0) count = std::min(count, o.val_samples);
  std::optional<report::AccuracyReport> rep;
  if (count > 0) {
    report::CompareOptions co;
    co.isolated = !o.accumulated_only;
    SQ_ASSIGN_OR_RETURN(rep, report::CompareFloatAndInteger(g, bytes, check.tensors, labels ? &*labels : nullptr,
                                                            begin, count, co));
  }
  SQ_RETURN_IF_ERROR(WriteFileAtomic(o.output, bytes));
  fmt::print("wrote {} ({} bytes, arena {} bytes, lower bound {} bytes)\n", o.output, bytes.size(),
             lowered.model->plan->arena_size, lowered.model->plan->lower_bound);
  if (rep)
    fmt::print("{}", report::FormatSummary(*rep, o.worst));
  else
    fmt::print("no validation data left for the accuracy check (give --val)\n");
  return Status::Ok();
}

}  // namespace

void AddQuantize(CLI::App& app, Action& action) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "quantize",
      "Quantize a float ONNX model to an integer .sqnt model: calibrate activation ranges on DATA,\n"
      "lower every op to the integer runtime (int8 weights per channel, int8 activations, integer\n"
      "softmax, LayerNorm and lookup-table activations), then run float and integer side by side on\n"
      "validation data and print the accuracy check and the layers that lose most.");
  cmd->add_option("model", o->model, "the float model (.onnx)")->required();
  cmd->add_option("-o,--output", o->output, "the .sqnt file to write (written only if everything succeeds)")
      ->required();
  cmd->add_option("--calib", o->calib,
                  "calibration data: .npz (one array per input, by name, samples first), .npy (single-input\n"
                  "model), a folder of such files, or a folder of PNG or JPEG images (flat or one sub-folder per class)")
      ->required();
  cmd->add_option("--val", o->val, "validation data, same forms (default: the last fifth of --calib)");
  cmd->add_option("--labels", o->labels,
                  ".npy of integer labels for the validation data: report accuracy (default for an image folder\n"
                  "with one sub-folder per class: the class index, classes in sorted name order)");
  AddImageFlags(cmd, &o->images);
  cmd->add_option("--observer", o->observer, "activation range method: minmax, ema, percentile, entropy, mse")
      ->capture_default_str();
  cmd->add_option("--calib-samples", o->calib_samples, "use at most N calibration samples (0: all)");
  cmd->add_option("--val-samples", o->val_samples, "check at most N validation samples (0: all)");
  cmd->add_option("--a16", o->a16,
                  "int16 activations (symmetric) for the inputs and outputs of the nodes with this name or\n"
                  "op type (e.g. Softmax, LayerNormalization, Gelu); repeatable. REQUANTIZE ops convert\n"
                  "between int8 and int16 where needed; Softmax keeps its 8-bit output");
  cmd->add_flag("--per-tensor", o->per_tensor, "one weight scale per tensor instead of per output channel");
  cmd->add_option("--weight-bits", o->weight_bits,
                  "weight code width: 8, 6 or 4 (4-bit weights of fully connected and convolution layers\n"
                  "with int8 activations are packed two per byte; 6-bit codes are stored one per int8)")
      ->capture_default_str();
  cmd->add_option("--group-size", o->group_size,
                  "fully connected and convolution weights: one scale per output channel and group of N\n"
                  "consecutive depth elements (a conv's depth is C_in/groups x kH x kW in (c, ky, kx) order),\n"
                  "N = 32, 64 or 128 (0: one scale per output channel). Works with every --weight-bits; layers\n"
                  "whose depth N does not divide and int16-activation layers keep per-channel scales (a warning\n"
                  "names them)")
      ->capture_default_str();
  cmd->add_option("--act-bits", o->act_bits,
                  "calibrated activation code width: 8, 6 or 4 (a narrower range within int8 codes)")
      ->capture_default_str();
  cmd->add_option("--input-shape", o->input_shapes,
                  "bind an input's dims, e.g. input=1x1x28x28 (default: symbolic batch dims become 1; a "
                  "single input's other unknown dims come from a --calib .npy's sample dims)");
  cmd->add_option("--softmax-bits", o->softmax_bits,
                  "bits of every softmax output, 2 to 8: probabilities on the uniform grid of step 1/2^N")
      ->capture_default_str();
  cmd->add_option("--softmax-quant", o->softmax_quant,
                  "softmax output grid (the attention P·V of a log grid is computed by shifts; every such\n"
                  "softmax must feed only the left operand of a MatMul):\n"
                  "  uniform   step 1/2^N\n"
                  "  log2      FQ-ViT: 2^-k, k < min(2^N, 21), smaller probabilities 0\n"
                  "  logsqrt2  RepQ-ViT: delta·sqrt2^-k, k < min(2^N, 41), delta searched on the calibration data\n"
                  "  sulq      I&S-ViT shift-uniform-log2: 2^N levels (255 at 8 bits) of log2(p + eta) rounded to\n"
                  "            powers of two, minus eta; eta searched on the calibration data\n"
                  "Default uniform: at 8 bits it matches float on the bundled models and its P·V is the fastest;\n"
                  "at 4 bits and below the log grids keep the accuracy uniform loses (docs/benchmarks.md)")
      ->check(CLI::IsMember(SoftmaxQuantNames()))
      ->capture_default_str();
  cmd->add_flag("--softmax-bias-correction", o->softmax_bias_correction,
               "correct the bias that rounding the softmax output adds to attention: the mean error of\n"
               "each head's P·V output, per channel, measured on the calibration data, is folded into the\n"
               "bias of the output projection (no cost at inference); see quant/softmax_bias.h");
  cmd->add_option("--clip-softmax", o->clip_softmax,
                  "apply clipped softmax to a model trained without it: every Softmax becomes\n"
                  "clip((1 - gamma)·softmax + gamma, 0, 1) with gamma = -ALPHA/T (T: the softmax length), so\n"
                  "probabilities <= ALPHA/(T + ALPHA) become exact zeros; changes the float model too (the check\n"
                  "compares against the clipped float model)");
  cmd->add_option("--transform", o->transforms,
                  "float-equivalent transforms against activation outliers, applied before calibration\n"
                  "(comma-separated or repeated; applied in the order smooth, rotate, hadamard, wush):\n"
                  "  none      nothing (default)\n"
                  "  smooth    SmoothQuant: per-channel scales move from each LayerNorm's output into the\n"
                  "            Linear weights that read it; alpha searched per LayerNorm on the calibration\n"
                  "            data for --weight-bits/--act-bits (quant/smooth.h). Not with rotate\n"
                  "  rotate    residual-stream rotation (QuaRot): in a pre-LayerNorm transformer, the mean is\n"
                  "            baked into everything written to the residual stream, every LayerNorm becomes\n"
                  "            an RMSNorm (LAYER_NORM in rms mode) whose scale and bias move into the Linears\n"
                  "            reading it, and the stream is rotated by one orthogonal matrix (randomized\n"
                  "            Hadamard) fused into those weights: outlier channels of the stream spread over\n"
                  "            all channels at no runtime cost (passes/rotate_residual.h). Streams that read\n"
                  "            or write through other ops are left alone, with the reason\n"
                  "  hadamard  online Hadamard rotation: before every Linear with constant weights, the input x\n"
                  "            becomes H·x (orthonormal Hadamard blocks of k·2^m channels, random ±1 signs from a\n"
                  "            fixed seed) and the weights H·W, so the float model is unchanged while outlier\n"
                  "            channels of x spread over the block (QuaRot; passes/online_hadamard.h). One\n"
                  "            HADAMARD op per input, shared by its Linears, reading the input at int16;\n"
                  "            layers without a block of at least 8 channels are left as they are\n"
                  "  wush      WUSH data-aware block transform: per block of --wush-block input channels of\n"
                  "            every Linear with constant weights, T = H·S^1/2·V'·R^-T from the calibration second\n"
                  "            moment E[xx'] (Cholesky R) and the SVD of R·W, run online as one grouped\n"
                  "            FULLY_CONNECTED per input (int8 weights whatever --weight-bits) with the inverse\n"
                  "            folded into the weights (quant/wush.h); layers whose input width is not a\n"
                  "            multiple of the block are left as they are. Not with hadamard\n"
                  "A transform that finds no eligible layer is an error (exit 2) unless --transform-optional.\n"
                  "With any --transform (none included) the kurtosis and max|x| of the activations entering\n"
                  "the Linear layers, and of those entering the norms (a transformer's residual stream), are\n"
                  "printed before and after the transforms")
      ->delimiter(',')
      ->check(CLI::IsMember({"none", "smooth", "rotate", "hadamard", "wush"}));
  cmd->add_option("--wush-block", o->wush_block, "channels per block of --transform wush: 16, 32 or 64")
      ->capture_default_str();
  cmd->add_option("--transform-seed", o->transform_seed,
                  "seed of the random ±1 signs of the rotate and hadamard transforms (another seed, another\n"
                  "rotation: equally float-equivalent, with a different quantization error)")
      ->capture_default_str();
  cmd->add_flag("--transform-optional", o->transform_optional,
                "a --transform that finds no eligible layer prints a warning and the model is quantized\n"
                "without it (default: exit 2 with the reason)");
  cmd->add_option("--worst", o->worst, "how many of the worst layers to list")->capture_default_str();
  cmd->add_flag("--accumulated-only", o->accumulated_only,
                "the check measures each layer end to end only, not also alone (half the work; the\n"
                "worst layers are then ranked by their end-to-end SQNR)");
  cmd->callback([&action, o] { action = [o] { return Run(*o); }; });
}

}  // namespace squint::cli

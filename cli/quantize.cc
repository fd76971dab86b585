// squint quantize MODEL.onnx -o MODEL.sqnt --calib DATA [--val DATA] [--labels FILE] ...
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/file.h"
#include "base/progress.h"
#include "base/sha256.h"
#include "cli/commands.h"
#include "cli/fix_search.h"
#include "cli/input_data.h"
#include "cli/load_model.h"
#include "cli/parse.h"
#include "export/sqnt_writer.h"
#include "passes/clip_softmax.h"
#include "quant/calib_data.h"
#include "quant/pipeline.h"
#include "report/accuracy.h"
#include "runtime/model.h"

namespace squint::cli {
namespace {

struct Options {
  std::string model, output, calib, val, labels;
  ImageFlags images;
  std::vector<std::string> input_shapes;
  int64_t calib_samples = 0;
  int64_t val_samples = 0;
  int worst = 5;
  bool quiet = false;             // no progress on stderr
  std::optional<double> max_drop;  // --max-drop: greedy fixes until the validation drop is at most this
  std::string drop_metric = "auto";
  int max_drop_steps = 8, fix_layers = 3;
  bool accumulated_only = false;  // skip the per-layer isolated measurement of the check
  bool strip_names = false;       // write the file without the names of inner tensors and ops
  std::string sqnt_version = "1.1";  // the file layout (export/sqnt_compact.h)
  quant::PipelineOptions p;       // what shapes the model (quant/pipeline.h)
};

// The file to write: the model as checked, or (--strip-names) the same model without the names of
// its inner tensors and ops, which changes no code the runtime computes.
// The layout is --sqnt-version's (the check ran the bytes in the default layout: the same codes).
std::string OutputBytes(const std::string& bytes, const Options& o) {
  const exporter::SqntVersion version =
      o.sqnt_version == "1.0" ? exporter::SqntVersion::k1_0 : exporter::SqntVersion::k1_1;
  if (!o.strip_names && version == exporter::SqntVersion::k1_1) return bytes;
  std::unique_ptr<fb::ModelT> m(fb::GetModel(bytes.data())->UnPack());
  if (o.strip_names) exporter::StripNames(m.get());
  return exporter::SerializeSqnt(*m, version);
}

Status Run(const Options& o) {
  SQ_ASSIGN_OR_RETURN(LoadedModel m,
                      LoadOnnxModel(o.model, o.input_shapes, /*batch_one=*/true,
                                    [&](const ir::Graph& g) { return SampleDimsFromData(o.calib, g, o.images); }));
  if (o.p.clip_softmax) {
    SQ_ASSIGN_OR_RETURN(int clipped, passes::ClipSoftmax(m.graph, *o.p.clip_softmax));
    fmt::print(stderr, "clipped softmax (alpha {}) applied to {} Softmax nodes\n", *o.p.clip_softmax, clipped);
  }
  const ir::Graph& g = m.graph;
  quant::PipelineOptions po = o.p;
  SQ_RETURN_IF_ERROR(quant::CheckPipelineOptions(g, po, o.model));
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
  po.calib_samples = calib_count;
  po.batch = m.batch;

  const int64_t begin = val ? 0 : calib_count;
  int64_t count = check.num_samples - begin;
  if (o.val_samples > 0) count = std::min(count, o.val_samples);
  if (o.max_drop) {
    if (count <= 0) return InvalidInput("--max-drop measures on validation data: give --val (none is left of --calib)");
    SQ_ASSIGN_OR_RETURN(std::string sha, Sha256File(o.model));
    const FixContext context{.graph = &g, .clip_softmax_applied = true, .model = o.model, .model_sha256 = sha,
                             .calib = &calib, .val = &check.tensors, .labels = labels ? &*labels : nullptr,
                             .begin = begin, .samples = count, .batch = m.batch};
    SQ_ASSIGN_OR_RETURN(MaxDropResult r, SearchMaxDrop(context, po, o.drop_metric, *o.max_drop, o.fix_layers,
                                                       o.max_drop_steps, ProgressStyleFor(o.quiet, stderr)));
    SQ_RETURN_IF_ERROR(WriteFileAtomic(o.output, OutputBytes(r.final.bytes, o)));
    fmt::print("--max-drop {} ({} on {} validation samples):\n", *o.max_drop, DropMetricName(r.metric), count);
    for (const std::string& line : r.steps) fmt::print("  {}\n", line);
    fmt::print("wrote {} ({} bytes) with the flags: {}\n", o.output, r.final.bytes.size(),
               r.final.figures.flags.empty() ? "(defaults)" : r.final.figures.flags);
    fmt::print("{}", report::FormatSummary(r.final.report, o.worst));
    return Status::Ok();
  }

  quant::PipelineLog log;
  log.info = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
  const ProgressStyle style = ProgressStyleFor(o.quiet, stderr);
  Progress calibration("calibration", "samples", calib_count, style);
  log.calibration_progress = calibration.Callback();
  SQ_ASSIGN_OR_RETURN(std::string sha, Sha256File(o.model));
  SQ_ASSIGN_OR_RETURN(quant::QuantizedModel q, quant::QuantizeGraph(m.graph, calib, po, o.model, sha, log));
  quant::LoweredModel& lowered = q.lowered;
  for (const std::string& w : lowered.warnings) fmt::print(stderr, "warning: {}\n", w);
  const std::string bytes = exporter::SerializeSqnt(*lowered.model);

  // Check before writing: nothing is written when the runtime cannot run the result.
  std::optional<report::AccuracyReport> rep;
  if (count > 0) {
    report::CompareOptions co;
    co.isolated = !o.accumulated_only;
    Progress checking(co.isolated ? "accuracy check, every layer end to end and alone" : "accuracy check", "samples",
                      count, style);
    co.progress = checking.Callback();
    SQ_ASSIGN_OR_RETURN(rep, report::CompareFloatAndInteger(g, bytes, check.tensors, labels ? &*labels : nullptr,
                                                            begin, count, co));
  }
  const std::string written = OutputBytes(bytes, o);
  SQ_RETURN_IF_ERROR(WriteFileAtomic(o.output, written));
  fmt::print("wrote {} ({} bytes{}, arena {} bytes, lower bound {} bytes)\n", o.output, written.size(),
             o.strip_names ? fmt::format(", {} with names", bytes.size()) : "",
             lowered.model->plan->arena_size, lowered.model->plan->lower_bound);
  if (rep)
    fmt::print("{}", report::FormatSummary(*rep, o.worst));
  else
    fmt::print("no validation data left for the accuracy check (give --val)\n");
  return Status::Ok();
}

}  // namespace

void AddQuantize(Command& app, Action& action) {
  auto o = std::make_shared<Options>();
  Command cmd = app.Subcommand(
      "quantize",
      "Quantize a float ONNX model to an integer .sqnt model: calibrate activation ranges on DATA,\n"
      "lower every op to the integer runtime (int8 weights per channel, int8 activations, integer\n"
      "softmax, LayerNorm and lookup-table activations), then run float and integer side by side on\n"
      "validation data and print the accuracy check and the layers that lose most.");
  cmd.Add("model", o->model, "the float model (.onnx)").Required();
  cmd.Add("-o,--output", o->output, "the .sqnt file to write (written only if everything succeeds)")
      .Required();
  cmd.Add("--calib", o->calib,
                  "calibration data: .npz (one array per input, by name, samples first), .npy (single-input\n"
                  "model), a folder of such files, or a folder of PNG or JPEG images (flat or one sub-folder per class)")
      .Required();
  cmd.Add("--val", o->val, "validation data, same forms (default: the last fifth of --calib)");
  cmd.Add("--labels", o->labels,
                  ".npy of integer labels for the validation data: report accuracy (default for an image folder\n"
                  "with one sub-folder per class: the class index, classes in sorted name order)");
  AddImageFlags(cmd, o->images);
  cmd.Add("--observer", o->p.observer, "activation range method: minmax, ema, percentile, entropy, mse")
      .ShowDefault();
  cmd.Add("--calib-samples", o->calib_samples, "use at most N calibration samples (0: all)");
  cmd.Add("--val-samples", o->val_samples, "check at most N validation samples (0: all)");
  cmd.Add("--a16", o->p.a16,
                  "int16 activations (symmetric) for the inputs and outputs of the nodes with this name or\n"
                  "op type (e.g. Softmax, LayerNormalization, Gelu); repeatable. REQUANTIZE ops convert\n"
                  "between int8 and int16 where needed; Softmax keeps its 8-bit output");
  cmd.Flag("--per-tensor", o->p.per_tensor, "one weight scale per tensor instead of per output channel");
  cmd.Add("--weight-bits", o->p.weight_bits,
                  "weight code width: 8, 6, 4 or 3 (4-bit weights of fully connected layers and of convolutions\n"
                  "with int8 activations are packed two per byte; 6- and 3-bit codes are stored one per int8)")
      .ShowDefault();
  cmd.Add("--w8", o->p.w8,
                  "with --weight-bits 6, 4 or 3: keep 8-bit weights on the nodes with this name or op type\n"
                  "(e.g. a first convolution or a classifier that loses too much at the narrow width); repeatable");
  cmd.Add("--group-size", o->p.group_size,
                  "fully connected and convolution weights: one scale per output channel and group of N\n"
                  "consecutive depth elements (a conv's depth is C_in/groups x kH x kW in (c, ky, kx) order),\n"
                  "N = 32, 64 or 128 (0: one scale per output channel). Works with every --weight-bits; layers\n"
                  "whose depth N does not divide and convolutions with int16 activations keep per-channel scales\n"
                  "(a warning names them)")
      .ShowDefault();
  cmd.Add("--weight-rounding", o->p.weight_rounding,
                  "how fully connected and convolution weights get their codes on their scales (same scales\n"
                  "and file format):\n"
                  "  nearest   round each weight to its nearest code\n"
                  "  gptq      GPTQ: column by column, each rounding error compensated by the later columns,\n"
                  "            weighted by the layer's calibration inputs; helps most at 4 bits\n"
                  "  adaround  AdaRound: each weight rounded up or down as 1000 Adam steps on the layer's\n"
                  "            output error over its calibration inputs decide (slower: seconds per large layer)\n"
                  "both on each layer's calibration inputs (a convolution's: its im2col'd input patches, per\n"
                  "group for grouped and depthwise ones); grouped fully connected layers and ConvTranspose\n"
                  "always round to nearest")
      .OneOf({"nearest", "gptq", "adaround"})
      .ShowDefault();
  cmd.Add("--reconstruct", o->p.reconstruct,
                  "block reconstruction after calibration:\n"
                  "  none   the observer's ranges as they are\n"
                  "  block  cut the model into residual blocks (found on the graph) and, block by block in\n"
                  "         order, choose each activation grid's clipping (x1, 0.9 .. 0.4 of its calibrated range,\n"
                  "         coordinate search) that brings the block's output closest (MSE) to the float model's;\n"
                  "         each candidate block is lowered and run on the integer runtime, on the quantized\n"
                  "         output of the blocks before it, so the search sees the exact integer rounding.\n"
                  "         With --softmax-quant logsqrt2 or sulq each softmax's grid (delta, or eta and its\n"
                  "         range) is searched the same way among the candidates its calibration tried.\n"
                  "         Weights keep their --weight-rounding codes. Costs a second to tens of seconds per\n"
                  "         block; on the bundled transformers at 4 and 3 bits it brings the logits 1 to 5 dB\n"
                  "         closer to float, but not every model or metric gains (docs/benchmarks.md)")
      .OneOf({"none", "block"})
      .ShowDefault();
  cmd.Add("--reconstruct-samples", o->p.reconstruct_samples,
                  "--reconstruct block measures each block on this many calibration samples (the first ones)")
      .Positive()
      .ShowDefault();
  cmd.Add("--act-bits", o->p.act_bits,
                  "calibrated activation code width: 8, 6, 4 or 3 (a narrower range within int8 codes), for the\n"
                  "activations --act-bits-scope names")
      .ShowDefault();
  cmd.Add("--act-bits-scope", o->p.act_bits_scope,
                  "which activations --act-bits narrows:\n"
                  "  matmul  the inputs of matrix products (fully connected, convolution, attention's two\n"
                  "          MatMuls), as the papers' WxAy counts them; the residual stream, normalization\n"
                  "          inputs and model outputs keep 8 bits\n"
                  "  all     every calibrated int8 activation")
      .OneOf({"matmul", "all"})
      .ShowDefault();
  cmd.Add("--input-shape", o->input_shapes,
                  "bind an input's dims, e.g. input=1x1x28x28 (default: symbolic batch dims become 1)");
  cmd.Add("--softmax-bits", o->p.softmax_bits,
                  "bits of every softmax output, 2 to 8: probabilities on the uniform grid of step 1/2^N")
      .ShowDefault();
  cmd.Add("--softmax-quant", o->p.softmax_quant,
                  "softmax output grid (the attention P·V of a log grid is computed by shifts; every such\n"
                  "softmax must feed only the left operand of a MatMul):\n"
                  "  uniform   step 1/2^N\n"
                  "  log2      FQ-ViT: 2^-k, k < min(2^N, 21), smaller probabilities 0\n"
                  "  logsqrt2  RepQ-ViT: delta·sqrt2^-k, k < min(2^N, 41), delta searched on the calibration data\n"
                  "  sulq      I&S-ViT shift-uniform-log2: 2^N levels (255 at 8 bits) of log2(p + eta) rounded to\n"
                  "            powers of two, minus eta; eta searched on the calibration data\n"
                  "Default uniform: at 8 bits it matches float on the bundled models and its P·V is the fastest;\n"
                  "at 4 bits and below the log grids keep the accuracy uniform loses (docs/benchmarks.md)")
      .OneOf(SoftmaxQuantNames())
      .ShowDefault();
  cmd.Flag("--softmax-bias-correction", o->p.softmax_bias_correction,
               "correct the bias that rounding the softmax output adds to attention: the mean error of\n"
               "each head's P·V output, per channel, measured on the calibration data, is folded into the\n"
               "bias of the output projection (no cost at inference); see quant/softmax_bias.h");
  cmd.Add("--clip-softmax", o->p.clip_softmax,
                  "apply clipped softmax to a model trained without it: every Softmax becomes\n"
                  "clip((1 - gamma)·softmax + gamma, 0, 1) with gamma = -ALPHA/T (T: the softmax length), so\n"
                  "probabilities <= ALPHA/(T + ALPHA) become exact zeros; changes the float model too (the check\n"
                  "compares against the clipped float model)");
  cmd.Add("--transform", o->p.transforms,
                  "float-equivalent transforms against activation outliers, applied before calibration\n"
                  "(comma-separated or repeated; applied in the order repq, smooth, rotate, hadamard, wush):\n"
                  "  none      nothing (default)\n"
                  "  repq      RepQ-ViT: each LayerNorm output read only by Linears gets per-channel\n"
                  "            --act-bits grids from the calibration data, then the channel factors and\n"
                  "            offsets move into the LayerNorm's gamma/beta and the Linears' weights and\n"
                  "            biases, so one per-tensor grid quantizes it as per-channel grids would\n"
                  "            (quant/repq.h). Not with smooth or rotate\n"
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
      .Delimiter(',')
      .OneOf({"none", "repq", "smooth", "rotate", "hadamard", "wush"});
  cmd.Add("--wush-block", o->p.wush_block, "channels per block of --transform wush: 16, 32 or 64")
      .ShowDefault();
  cmd.Add("--transform-seed", o->p.transform_seed,
                  "seed of the random ±1 signs of the rotate and hadamard transforms (another seed, another\n"
                  "rotation: equally float-equivalent, with a different quantization error)")
      .ShowDefault();
  cmd.Flag("--transform-optional", o->p.transform_optional,
                "a --transform that finds no eligible layer prints a warning and the model is quantized\n"
                "without it (default: exit 2 with the reason)");
  cmd.Add("--worst", o->worst, "how many of the worst layers to list").ShowDefault();
  AddQuietFlag(cmd, o->quiet);
  cmd.Add("--max-drop", o->max_drop,
                  "meet an accuracy target by itself: start from the options given (default W8A8) and apply,\n"
                  "one at a time, a measured fix (the smallest file among those that reach X alone; else the\n"
                  "most gain per byte among those with at least half the largest gain), among int16 activations around\n"
                  "one of the --fix-layers worst layers (--a16 NODE) or around every node of its op type (--a16\n"
                  "OPTYPE), 8-bit weights on it when --weight-bits is 4 or 6 (--w8 NODE), a log grid or bias\n"
                  "correction for the softmax, weight scales per group of 32 and the smooth and hadamard\n"
                  "transforms (each measured on the integer runtime), until the drop is at most X or no fix\n"
                  "lowers it. The model stays fully integer (nothing falls back to float); each step is\n"
                  "printed, the final flags too, and the provenance records them. X is in the units of\n"
                  "--drop-metric")
      .NonNegative();
  cmd.Add("--drop-metric", o->drop_metric,
                  "the drop --max-drop bounds: accuracy (points, with class --labels), bits-per-char (% of the\n"
                  "float bits/char, with next-char --labels), cosine (1 - cosine of output 0 with float), or\n"
                  "auto: the first of these the validation data allows")
      .OneOf({"auto", "accuracy", "bits-per-char", "cosine"})
      .ShowDefault();
  cmd.Add("--max-drop-steps", o->max_drop_steps, "--max-drop applies at most this many fixes")
      .ShowDefault();
  cmd.Add("--fix-layers", o->fix_layers, "--max-drop looks for fixes for this many of the worst layers")
      .ShowDefault();
  cmd.Flag("--strip-names", o->strip_names,
                "write the .sqnt without the names of its inner tensors and ops (inputs and outputs keep\n"
                "theirs): a smaller file that tells less about the model; the same codes. `squint report`\n"
                "needs the names: keep an unstripped file for it");
  cmd.Add("--sqnt-version", o->sqnt_version,
                  "file layout: 1.1 (compact: requantization multipliers derived from the scales at load,\n"
                  "one-byte shifts, int8 lookup tables, 1-bit attention masks, biases as int16 where they fit,\n"
                  "identical constants stored once) or 1.0 (every multiplier stored, for runtimes older than\n"
                  "schema 1.1); both give the same codes")
      .OneOf({"1.0", "1.1"})
      .ShowDefault();
  cmd.Flag("--accumulated-only", o->accumulated_only,
                "the check measures each layer end to end only, not also alone (half the work; the\n"
                "worst layers are then ranked by their end-to-end SQNR)");
  cmd.OnChosen([&action, o] { action = [o] { return Run(*o); }; });
}

}  // namespace squint::cli

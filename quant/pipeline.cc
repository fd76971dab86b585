#include "quant/pipeline.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "passes/graph_edit.h"
#include "passes/online_hadamard.h"
#include "passes/rotate_residual.h"
#include "quant/activation_stats.h"
#include "quant/block_recon.h"
#include "quant/calibrate.h"
#include "quant/gptq.h"
#include "quant/repq.h"
#include "quant/smooth.h"
#include "quant/softmax_bias.h"
#include "quant/softmax_grid.h"
#include "quant/wush.h"
#include "runtime/model.h"

namespace squint::quant {
namespace {

class Pipeline {
 public:
  Pipeline(const PipelineOptions& o, const std::string& model, const PipelineLog& log)
      : o_(o), model_(model), log_(log) {}

  bool Wants(const std::string& t) const {
    return std::find(o_.transforms.begin(), o_.transforms.end(), t) != o_.transforms.end();
  }

  // A transform that found nothing to do: an error, or with transform_optional a warning (then
  // the transform reports false: not applied).
  Result<bool> NothingToTransform(const std::string& transform, const std::string& why) const {
    if (!o_.transform_optional)
      return InvalidInput("--transform {}: {} ({}); pass --transform-optional to quantize without it", transform, why,
                          model_);
    log_.info(fmt::format("warning: --transform {}: {}; quantizing without it (--transform-optional)", transform, why));
    return false;
  }

  // Why a Linear transform found nothing to do, from its report's skipped Linears.
  static std::string NoEligibleLinear(const std::vector<passes::SkippedLinear>& skipped) {
    if (skipped.empty()) return "the model has no Linear (MatMul/Gemm with constant weights)";
    std::string why = "no Linear is eligible:";
    for (const auto& s : skipped) why += fmt::format(" {}: {};", s.linear, s.reason);
    return why;
  }

  // How strong the outliers are, one line per kind: the activations entering the Linear layers,
  // and those entering the LayerNorms/RMSNorms (the residual stream of a transformer).
  Status PrintInputStats(const ir::Graph& g, const CalibData& calib, int64_t count, const char* when) const {
    using ir::OpType;
    static constexpr OpType kOps[] = {OpType::kLinear, OpType::kLayerNormalization, OpType::kRMSNorm};
    SQ_ASSIGN_OR_RETURN(std::vector<InputStats> stats, MeasureInputs(g, calib, count, kOps));
    for (const bool norms : {false, true}) {
      std::vector<double> k;
      double max_abs = 0, max_ratio = 0;
      for (const InputStats& s : stats) {
        if ((s.op != OpType::kLinear) != norms) continue;
        k.push_back(s.kurtosis);
        max_abs = std::max(max_abs, s.max_abs);
        if (s.rms > 0) max_ratio = std::max(max_ratio, s.max_abs / s.rms);
      }
      if (k.empty()) continue;
      std::sort(k.begin(), k.end());
      log_.info(fmt::format("{} inputs {}: {} inputs, kurtosis median {:.2f} max {:.2f}, max|x| {:.3g}, max|x|/rms {:.1f}",
                            norms ? "norm (residual stream)" : "linear", when, k.size(), k[k.size() / 2], k.back(),
                            max_abs, max_ratio));
    }
    return Status::Ok();
  }

  // SmoothQuant scales searched per LayerNorm -> Linear site (quant/smooth.h).
  Result<bool> Smooth(ir::Graph& g, const CalibData& calib, int64_t count) const {
    SmoothOptions so;
    so.weight_bits = o_.weight_bits;
    so.act_bits = o_.act_bits;
    so.max_samples = count;
    SQ_ASSIGN_OR_RETURN(SmoothReport rep, SmoothGraph(g, calib, so));
    for (const std::string& why : rep.skipped) log_.info(fmt::format("smooth: not eligible: {}", why));
    if (rep.sites.empty())
      return NothingToTransform("smooth", "no LayerNormalization is read only by Linear layers with constant weights");
    int applied = 0;
    for (const SmoothedSite& s : rep.sites) {
      if (!s.applied) {
        log_.info(fmt::format("smooth: {} ({} channels, {} linears): kept, no alpha lowers the error {:.4g}", s.norm,
                              s.channels, s.linears, s.error_before));
        continue;
      }
      ++applied;
      log_.info(fmt::format("smooth: {} ({} channels, {} linears): alpha {}, largest/median channel max {:.1f} -> "
                            "{:.1f}, error {:.4g} -> {:.4g}",
                            s.norm, s.channels, s.linears, s.alpha, s.max_ratio_before, s.max_ratio_after,
                            s.error_before, s.error_after));
    }
    log_.info(fmt::format("smooth: {} of {} sites smoothed", applied, rep.sites.size()));
    return applied > 0;
  }

  // Residual-stream rotation (passes/rotate_residual.h), one line per stream.
  Result<bool> Rotate(ir::Graph& g) const {
    passes::RotateResidualOptions opts;
    opts.seed = o_.transform_seed;
    SQ_ASSIGN_OR_RETURN(passes::RotateResidualReport r, passes::RotateResidual(g, opts));
    for (const std::string& why : r.rejected) log_.info(fmt::format("rotate: not rotated: {}", why));
    if (r.rotated.empty()) {
      std::string why = "the model has no LayerNormalization";
      if (!r.rejected.empty()) why = "no residual stream qualifies: " + fmt::format("{}", fmt::join(r.rejected, "; "));
      return NothingToTransform("rotate", why);
    }
    for (const auto& s : r.rotated)
      log_.info(fmt::format("transform rotate: residual stream of {} channels ({} Q; from {}): {} LayerNorms -> "
                            "RMSNorm, {} writers and {} added constants centered and rotated, {} Linear readers take "
                            "gamma, beta and Q^T",
                            s.channels, s.rotation, s.first, s.norms, s.writers, s.constants, s.readers));
    return true;
  }

  // Online Hadamard before every Linear (passes/online_hadamard.h).
  Result<bool> Hadamard(ir::Graph& g) const {
    // Random signs: without them H's all-ones row gathers the mean of a non-negative input
    // (after ReLU) into one channel, a new outlier (tests/passes/model_canonicalize_test.cc).
    passes::OnlineHadamardOptions opts;
    opts.random_signs = true;
    opts.seed = o_.transform_seed;
    SQ_ASSIGN_OR_RETURN(passes::OnlineHadamardReport r, passes::OnlineHadamard(g, opts));
    if (r.transformed.empty()) return NothingToTransform("hadamard", NoEligibleLinear(r.skipped));
    std::map<std::string, int> blocks;  // "block (k)" -> Hadamard ops
    for (const auto& site : r.transformed) ++blocks[fmt::format("{} (k {})", site.block, site.k)];
    std::string list;
    for (const auto& [b, n] : blocks) list += fmt::format("{}{}x block {}", list.empty() ? "" : ", ", n, b);
    log_.info(fmt::format("transform hadamard: {} Linear layers behind {} Hadamard ops ({}); {} Linear layers skipped",
                          r.linears(), r.transformed.size(), list, r.skipped.size()));
    return true;
  }

  // WUSH data-aware block transform (quant/wush.h).
  Result<bool> Wush(ir::Graph& g, const CalibData& calib, int64_t count) const {
    WushOptions opts;
    opts.block = o_.wush_block;
    opts.max_samples = count;
    SQ_ASSIGN_OR_RETURN(WushReport r, WushGraph(g, calib, opts));
    if (r.transformed.empty()) return NothingToTransform("wush", NoEligibleLinear(r.skipped));
    log_.info(fmt::format("transform wush: {} Linear layers behind {} grouped transforms (blocks of {}); {} Linear "
                          "layers skipped",
                          r.linears(), r.transformed.size(), opts.block, r.skipped.size()));
    return true;
  }

  // RepQ-ViT's reparameterization of the LayerNorm outputs read only by Linears (quant/repq.h),
  // for the grid of --act-bits.
  Result<bool> Repq(ir::Graph& g, const CalibData& calib, int64_t count) const {
    SQ_ASSIGN_OR_RETURN(RepqReport rep, RepqGraph(g, calib, count, o_.act_bits));
    for (const std::string& why : rep.skipped) log_.info(fmt::format("repq: not eligible: {}", why));
    if (rep.sites.empty())
      return NothingToTransform("repq", "no LayerNormalization is read only by Linear layers with constant weights");
    for (const RepqSite& s : rep.sites)
      log_.info(fmt::format("repq: {} ({} channels, {} linears): largest/median channel range {:.1f} -> {:.1f}",
                            s.norm, s.channels, s.linears, s.range_ratio_before, s.range_ratio_after));
    return true;
  }

  // The transforms in their fixed order; returns those that changed the graph.
  Result<std::vector<std::string>> Transforms(ir::Graph& g, const CalibData& calib, int64_t count) const {
    std::vector<std::string> applied;
    if (o_.transforms.empty()) return applied;
    SQ_RETURN_IF_ERROR(PrintInputStats(g, calib, count, "before transforms"));
    for (const char* t : {"repq", "smooth", "rotate", "hadamard", "wush"}) {
      if (!Wants(t)) continue;
      Result<bool> changed = std::string(t) == "repq"     ? Repq(g, calib, count)
                             : std::string(t) == "smooth" ? Smooth(g, calib, count)
                             : std::string(t) == "rotate" ? Rotate(g)
                             : std::string(t) == "hadamard" ? Hadamard(g)
                                                            : Wush(g, calib, count);
      if (!changed.ok()) return changed.status();
      if (*changed) applied.push_back(t);
    }
    if (!Wants("none")) SQ_RETURN_IF_ERROR(PrintInputStats(g, calib, count, "after transforms"));
    return applied;
  }

  // --softmax-bias-correction: the per-head mean P·V error folded into the projection biases.
  Status SoftmaxBiasCorrection(const ir::Graph& g, const CalibData& calib, int64_t count, LowerOptions* lo) const {
    SQ_ASSIGN_OR_RETURN(std::vector<SoftmaxBias> biases, EstimateSoftmaxBias(g, calib, count, o_.softmax_bits));
    if (biases.empty())
      return InvalidInput("--softmax-bias-correction: {} has no Softmax whose output is multiplied by an activation "
                          "(attention P·V)",
                          model_);
    int corrected = 0;
    double largest = 0;
    for (const SoftmaxBias& b : biases) {
      if (b.projection.empty()) {
        log_.info(fmt::format("softmax bias correction: {} not corrected: {}", b.softmax, b.why_not));
        continue;
      }
      lo->linear_input_offset[b.projection] = b.offset;
      for (float v : b.offset) largest = std::max(largest, std::fabs(static_cast<double>(v)));
      ++corrected;
    }
    log_.info(fmt::format("softmax bias correction: {} of {} attention blocks, largest |offset| {:.4g}", corrected,
                          biases.size(), largest));
    return Status::Ok();
  }

  // --softmax-quant other than uniform: each Softmax's log grid calibrated.
  // `candidates` gets every grid tried per Softmax (the fitted one first), for block reconstruction.
  Status SoftmaxGrids(const ir::Graph& g, const CalibData& calib, int64_t count, LowerOptions* lo,
                      std::map<std::string, std::vector<LogGridTables>>* candidates) const {
    SQ_ASSIGN_OR_RETURN(fb::SoftmaxGrid kind, SoftmaxGridOf(o_.softmax_quant));
    SQ_ASSIGN_OR_RETURN(*candidates, SoftmaxGridCandidates(g, calib, count, kind, o_.softmax_bits));
    if (candidates->empty())
      return InvalidInput("--softmax-quant {}: {} has no Softmax node", o_.softmax_quant, model_);
    lo->softmax_grids.clear();
    for (const auto& [name, c] : *candidates) lo->softmax_grids[name] = c.front();
    for (const auto& [name, t] : lo->softmax_grids) {
      const int32_t n = static_cast<int32_t>(t.shifts.size());
      log_.info(fmt::format("softmax grid {} ({} {} bits): {} codes, values {:.4g} .. {:.4g}{}", name, o_.softmax_quant,
                            t.bits, n, GridValue(t, 0), GridValue(t, n - 1),
                            t.kind == fb::SoftmaxGrid::SULQ ? fmt::format(", eta {}", t.eta) : ""));
    }
    return Status::Ok();
  }

  // The provenance: the options that shaped the file (a stable "key=value ..." line) and the
  // calibration summary as JSON.
  std::unique_ptr<fb::ProvenanceT> Provenance(const std::string& sha, const std::vector<std::string>& applied,
                                              int64_t count, const Calibration& cal) const {
    auto prov = std::make_unique<fb::ProvenanceT>();
    prov->source_sha256 = sha;
    prov->squint_version = SQUINT_VERSION;
    prov->options = fmt::format("observer={} weights={} weight_bits={} act_bits={} softmax_bits={} softmax_quant={} "
                                "calib_samples={}{}",
                                o_.observer, o_.per_tensor ? "per-tensor" : "per-channel", o_.weight_bits, o_.act_bits,
                                o_.softmax_bits, o_.softmax_quant, count,
                                o_.a16.empty() ? "" : fmt::format(" a16={}", fmt::join(o_.a16, ",")));
    if (!o_.w8.empty()) prov->options += fmt::format(" w8={}", fmt::join(o_.w8, ","));
    if (o_.act_bits != 8) prov->options += fmt::format(" act_bits_scope={}", o_.act_bits_scope);
    if (o_.clip_softmax) prov->options += fmt::format(" clip_softmax={}", *o_.clip_softmax);
    if (o_.softmax_bias_correction) prov->options += " softmax_bias_correction=1";
    if (o_.group_size > 0) prov->options += fmt::format(" group_size={}", o_.group_size);
    if (o_.weight_rounding != "nearest") prov->options += fmt::format(" weight_rounding={}", o_.weight_rounding);
    if (o_.reconstruct != "none") prov->options += fmt::format(" reconstruct={}", o_.reconstruct);
    if (o_.reconstruct != "none" && o_.reconstruct_samples != PipelineOptions{}.reconstruct_samples)
      prov->options += fmt::format(" reconstruct_samples={}", o_.reconstruct_samples);
    if (!applied.empty()) prov->options += fmt::format(" transform={}", fmt::join(applied, ","));
    if (!applied.empty() && o_.transform_seed != PipelineOptions{}.transform_seed)
      prov->options += fmt::format(" transform_seed={}", o_.transform_seed);
    prov->calibration = nlohmann::json{{"samples", cal.samples}, {"observer", cal.observer}}.dump();
    return prov;
  }

 private:
  const PipelineOptions& o_;
  const std::string& model_;
  const PipelineLog& log_;
};

}  // namespace

LowerOptions LowerOptionsOf(const PipelineOptions& o) {
  LowerOptions lo;
  lo.per_channel = !o.per_tensor;
  lo.a16 = o.a16;
  lo.w8 = o.w8;
  lo.weight_bits = o.weight_bits;
  lo.act_bits = o.act_bits;
  lo.act_bits_scope =
      o.act_bits_scope == "all" ? LowerOptions::ActBitsScope::kAll : LowerOptions::ActBitsScope::kMatMulInputs;
  lo.group_size = o.group_size;
  lo.softmax_bits = o.softmax_bits;
  return lo;
}

Status CheckPipelineOptions(const ir::Graph& g, const PipelineOptions& o, const std::string& model_name) {
  SQ_RETURN_IF_ERROR(CheckLowerOptions(g, LowerOptionsOf(o)));
  if (o.act_bits_scope != "matmul" && o.act_bits_scope != "all")
    return InvalidInput("--act-bits-scope '{}': expected matmul or all", o.act_bits_scope);
  if (o.weight_rounding != "nearest" && o.weight_rounding != "gptq" && o.weight_rounding != "adaround")
    return InvalidInput("--weight-rounding '{}': expected nearest, gptq or adaround", o.weight_rounding);
  if (o.reconstruct != "none" && o.reconstruct != "block")
    return InvalidInput("--reconstruct '{}': expected none or block", o.reconstruct);
  if (o.reconstruct_samples < 1)
    return InvalidInput("--reconstruct-samples {}: expected at least 1", o.reconstruct_samples);
  if (o.softmax_quant != "uniform") SQ_RETURN_IF_ERROR(SoftmaxGridOf(o.softmax_quant).status());
  if (o.softmax_bias_correction && o.softmax_quant != "uniform")
    return InvalidInput("--softmax-bias-correction models the rounding of the uniform grid; it does not apply to "
                        "--softmax-quant {}",
                        o.softmax_quant);
  if (o.softmax_bias_correction &&
      std::none_of(g.nodes.begin(), g.nodes.end(), [](const ir::Node& n) { return n.op == ir::OpType::kSoftmax; }))
    return InvalidInput("--softmax-bias-correction: {} has no Softmax node", model_name);
  return CheckTransforms(o.transforms, o.wush_block);
}

Result<QuantizedModel> QuantizeGraph(ir::Graph& g, const CalibData& calib, const PipelineOptions& o,
                                     const std::string& model_name, const std::string& source_sha256,
                                     const PipelineLog& log) {
  SQ_RETURN_IF_ERROR(CheckPipelineOptions(g, o, model_name));
  const Pipeline p(o, model_name, log);
  int64_t count = calib.num_samples;
  if (o.calib_samples > 0) count = std::min(count, o.calib_samples);
  QuantizedModel out;
  out.calib_samples = count;
  SQ_ASSIGN_OR_RETURN(out.transforms, p.Transforms(g, calib, count));
  CalibrationOptions co;
  co.observer = o.observer;
  co.max_samples = count;
  log.info(fmt::format("calibrating on {} samples with the '{}' observer", count, o.observer));
  SQ_ASSIGN_OR_RETURN(Calibration cal, Calibrate(g, calib, co, log.calibration_progress));
  LowerOptions lo = LowerOptionsOf(o);
  if (o.softmax_bias_correction) SQ_RETURN_IF_ERROR(p.SoftmaxBiasCorrection(g, calib, count, &lo));
  std::map<std::string, std::vector<LogGridTables>> grid_candidates;
  if (o.softmax_quant != "uniform") SQ_RETURN_IF_ERROR(p.SoftmaxGrids(g, calib, count, &lo, &grid_candidates));
  if (o.weight_rounding != "nearest") {
    GptqOptions go;
    go.max_samples = count;
    log.info(fmt::format("{}: input Hessians of the Linear and Conv layers on {} samples",
                         o.weight_rounding == "gptq" ? "GPTQ" : "AdaRound", count));
    SQ_ASSIGN_OR_RETURN(lo.input_hessians, ComputeGptqHessians(g, calib, go));
    if (lo.input_hessians.empty())
      return InvalidInput("--weight-rounding {}: {} has no dense Linear or 2-D Conv layer", o.weight_rounding, model_name);
    lo.rounding = o.weight_rounding == "adaround" ? LowerOptions::Rounding::kAdaRound : LowerOptions::Rounding::kGptq;
  }
  if (o.reconstruct == "block") {
    lo.weight_cache = std::make_shared<WeightCodeCache>();  // the blocks' GPTQ/AdaRound codes, for Lower below
    BlockReconOptions bo;
    bo.samples = std::min(count, o.reconstruct_samples);
    bo.softmax_grids = std::move(grid_candidates);
    const bool grids_searched = std::any_of(bo.softmax_grids.begin(), bo.softmax_grids.end(),
                                            [](const auto& c) { return c.second.size() > 1; });
    log.info(fmt::format("reconstruct: activation clipping{} searched block by block on the runtime, {} samples",
                         grids_searched ? " and softmax grids" : "", bo.samples));
    SQ_ASSIGN_OR_RETURN(BlockReconReport r, ReconstructBlocks(g, calib, lo, &cal, bo, log.info));
    size_t clipped = 0, regridded = 0;
    for (const BlockResult& b : r.blocks) clipped += b.clipped.size(), regridded += b.softmax_grids.size();
    lo.softmax_grids = std::move(r.softmax_grids);
    log.info(fmt::format("reconstruct: {} blocks, {} grids clipped, {}{:.1f} s", r.blocks.size(), clipped,
                         grids_searched ? fmt::format("{} softmax grids changed, ", regridded) : "",
                         r.seconds));
  }
  SQ_ASSIGN_OR_RETURN(out.lowered, Lower(g, cal, lo));
  out.lowered.model->provenance = p.Provenance(source_sha256, out.transforms, count, cal);
  out.lowered.model->batch = o.batch;
  return out;
}

Status CheckTransforms(const std::vector<std::string>& transforms, int64_t wush_block) {
  auto wants = [&](const char* t) { return std::find(transforms.begin(), transforms.end(), t) != transforms.end(); };
  if (wants("none") && transforms.size() > 1)
    return InvalidInput("--transform none cannot be combined with other transforms (got {})", fmt::join(transforms, ","));
  for (size_t i = 0; i < transforms.size(); ++i)
    if (std::count(transforms.begin(), transforms.end(), transforms[i]) > 1)
      return InvalidInput("--transform {} is given twice (each transform applies once)", transforms[i]);
  if (wants("repq") && (wants("smooth") || wants("rotate")))
    return InvalidInput("--transform repq cannot be combined with {}: both rescale the LayerNorm outputs' channels "
                        "(rotate folds every LayerNorm's scale into the Linear weights); use one of them",
                        wants("smooth") ? "smooth" : "rotate");
  if (wants("smooth") && wants("rotate"))
    return InvalidInput("--transform smooth,rotate: rotate folds every LayerNorm's scale into the Linear weights, "
                        "which undoes smoothing's scales; use one of them");
  if (wants("wush")) {
    quant::WushOptions wo;
    wo.block = wush_block;
    SQ_RETURN_IF_ERROR(quant::CheckWushOptions(wo));
  }
  if (wants("wush") && wants("hadamard"))
    return InvalidInput("--transform wush cannot be combined with hadamard: both rotate the inputs of the same "
                        "Linear layers, and WUSH already ends in a Hadamard rotation per block");
  return Status::Ok();
}

std::vector<std::string> SoftmaxQuantNames() {
  std::vector<std::string> names = {"uniform"};
  for (fb::SoftmaxGrid k : fb::EnumValuesSoftmaxGrid()) names.push_back(rt::SoftmaxGridName(k));
  return names;
}

Result<fb::SoftmaxGrid> SoftmaxGridOf(const std::string& name) {
  for (fb::SoftmaxGrid k : fb::EnumValuesSoftmaxGrid())
    if (name == rt::SoftmaxGridName(k)) return k;
  const std::vector<std::string> names = SoftmaxQuantNames();
  return InvalidInput("--softmax-quant {}: not a log grid (expected one of {})", name,
                      fmt::join(names.begin() + 1, names.end(), ", "));
}

}  // namespace squint::quant

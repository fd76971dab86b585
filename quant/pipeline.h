// The quantization pipeline behind `squint quantize` (and, later, a Python module): from a canonical
// float graph and calibration data to the lowered integer model with its provenance. In order:
// transforms (smooth, rotate, hadamard, wush — each reports what it did or why it could not),
// calibration, softmax bias correction, log-grid softmax calibration, the input Hessians of
// GPTQ/AdaRound, block reconstruction, lowering. The caller loads the
// model and the data, and runs the accuracy check and writes the file.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "passes/rotate_residual.h"
#include "quant/calib_data.h"
#include "quant/lower.h"

namespace squint::quant {

struct PipelineOptions {
  std::string observer = "minmax";  // minmax, ema, percentile, entropy, mse
  std::vector<std::string> a16;     // node names or op types with int16 activations
  std::vector<std::string> w8;      // node names or op types whose weights stay 8-bit (weight_bits < 8)
  bool per_tensor = false;
  int weight_bits = 8, act_bits = 8, group_size = 0, softmax_bits = 8;
  // "matmul": act_bits applies to the activations matrix products read, the rest keep 8 bits;
  // "all": to every calibrated int8 activation (LowerOptions::act_bits_scope).
  std::string act_bits_scope = "matmul";
  std::string softmax_quant = "uniform";  // uniform, log2, logsqrt2, sulq
  bool softmax_bias_correction = false;
  std::optional<double> clip_softmax;  // ALPHA, recorded in the provenance (the caller applies it)
  std::vector<std::string> transforms;  // none, smooth, rotate, hadamard, wush (applied in that order)
  bool transform_optional = false;      // a transform with nothing to do warns instead of failing
  uint32_t transform_seed = passes::RotateResidualOptions{}.seed;
  int64_t wush_block = 32;
  int64_t calib_samples = 0;  // calibration samples to use (the first ones); 0: all
  // How the codes of Linear and Conv weights are chosen on their scales: "nearest" (round to nearest),
  // "gptq" (quant/gptq.h: error-compensating, on the calibration inputs of each layer) or
  // "adaround" (quant/adaround.h: each weight up or down, learned on the same inputs).
  std::string weight_rounding = "nearest";
  // "block": block reconstruction (quant/block_recon.h) chooses the clipping of the activation
  // grids block by block on the runtime, on the first reconstruct_samples calibration samples.
  std::string reconstruct = "none";
  int64_t reconstruct_samples = 32;
  // Samples per run when the leading dim of every input and output is a batch (the loader knows:
  // cli LoadedModel::batch); stored as Model.batch so runtimes run any multiple. 0: fixed shapes.
  int32_t batch = 0;
};

// What the pipeline tells the user while it runs (the CLI prints both on stderr).
struct PipelineLog {
  std::function<void(const std::string&)> info = [](const std::string&) {};
  std::function<void(int64_t done, int64_t total)> calibration_progress = [](int64_t, int64_t) {};
};

struct QuantizedModel {
  LoweredModel lowered;                 // with the provenance set
  std::vector<std::string> transforms;  // the transforms that changed the graph, in order
  int64_t calib_samples = 0;            // samples calibration used
};

// Option errors that need the graph but no data (bits, --a16 names, a softmax option on a model
// without Softmax, transform combinations): fail fast, before any data is read.
Status CheckPipelineOptions(const ir::Graph& g, const PipelineOptions& o, const std::string& model_name);

// Runs the pipeline on g (transforms edit it in place) with the first calib_samples samples of
// `calib`. `source_sha256` goes into the provenance. Errors name the option and the model.
Result<QuantizedModel> QuantizeGraph(ir::Graph& g, const CalibData& calib, const PipelineOptions& o,
                                     const std::string& model_name, const std::string& source_sha256,
                                     const PipelineLog& log = {});

// The --transform list (already split at commas): none alone, each transform once, not smooth
// with rotate, not wush with hadamard, and with wush a valid wush_block.
Status CheckTransforms(const std::vector<std::string>& transforms, int64_t wush_block);

// --softmax-quant names: "uniform", then the runtime's log grids by name.
std::vector<std::string> SoftmaxQuantNames();
// The runtime grid a --softmax-quant name other than "uniform" selects.
Result<fb::SoftmaxGrid> SoftmaxGridOf(const std::string& name);

// The lowering options the pipeline derives from its options (before calibration).
LowerOptions LowerOptionsOf(const PipelineOptions& o);

}  // namespace squint::quant

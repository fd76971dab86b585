// Float model vs integer model, side by side on the same data: end-to-end metrics and the
// error of every layer, computed on the runtime's own kernels (the code that ships).
//
// Two errors per layer (every op output of the .sqnt model):
//   accumulated  the integer model run end to end: the layer's output carries the error of
//                every layer before it;
//   isolated     the layer alone: its inputs are the float model's values quantized to the
//                layer's input grids, so only the layer's own loss (its output grid, its
//                integer arithmetic, its weights) shows.
// A runtime tensor is matched to the float value of the same name; a REQUANTIZE output (a
// grid change the quantizer inserted) stands for its input's float value.
#pragma once

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "ir/graph.h"
#include "report/distributions.h"

namespace squint::report {

// Integer vs float over all samples of one tensor.
struct ErrorStats {
  double sqnr_db = INFINITY;  // 10·log10(Σ ref² / Σ (ref − q)²); +inf when exact
  double cosine = 1;
  double max_abs = 0;         // max |ref − q|
  double rel_l2 = 0;          // ‖ref − q‖ / ‖ref‖
};

struct TensorError {
  std::string name;    // tensor (value) name
  std::string op;      // the runtime op producing it, e.g. "SOFTMAX" (empty for model outputs)
  std::string node;    // the op's name (the ONNX node)
  int32_t index = 0;   // op index in execution order
  ErrorStats accumulated;
  std::optional<ErrorStats> isolated;  // unset: not measured, or an input has no float value
  std::optional<Distribution> distribution;  // float values, grid and weights (CompareOptions::distributions)
};

struct AccuracyReport {
  int64_t samples = 0;
  std::vector<TensorError> outputs;  // model outputs (accumulated error)
  std::vector<TensorError> layers;   // every op output with a float counterpart, in execution order
  double top1_agreement = 0;         // % of rows of output 0 (along its last axis) whose arg-max agrees
  // Mean over the same rows of the cosine between the float and the integer row: the measure for
  // outputs that are not scores (sentence embeddings), where an arg-max means nothing.
  double row_cosine = 1;
  std::optional<double> float_accuracy, int_accuracy;  // % with labels
  // Sequence models (output 0 [1, T, V] logits, labels [N, T]): mean cross-entropy of the
  // next-char labels under softmax(logits), in bits.
  std::optional<double> float_bits_per_char, int_bits_per_char;
};

struct CompareOptions {
  bool isolated = true;  // also measure every layer alone (about twice the runtime work)
  bool distributions = false;  // also histogram every layer's float values (report --html)
  std::function<void(int64_t done, int64_t total)> progress;  // after each sample
};

// Runs `count` samples from `begin` of `data` (per model input: [N, ...] tensors) through the
// float graph (batch 1 each) and the .sqnt model given as bytes. `labels` (optional, [N]
// integers) give accuracy for classification outputs: arg-max over the last axis of output 0
// (for sequence outputs [1, T, V] every position counts, labels then [N, T]).
Result<AccuracyReport> CompareFloatAndInteger(const ir::Graph& g, const std::string& sqnt,
                                              const std::vector<ir::Tensor>& data, const ir::Tensor* labels,
                                              int64_t begin, int64_t count, const CompareOptions& options = {});

// The best wall time of `runs` invokes of the .sqnt model (bytes) on a zeroed arena, one thread,
// the CPU's best instruction set (or SQUINT_ISA), in µs; the kernels' cost does not depend on the
// input values. Errors: a file the runtime refuses. (report --fixes' latency column.)
Result<double> InvokeLatencyUs(const std::string& sqnt, int runs = 20);

enum class LayerOrder { kGraph, kAccumulated, kIsolated };  // the last two: lowest SQNR first

// "top-1 agreement 99.2%, accuracy 88.1% (float 88.4%), logits SQNR 31.2 dB, cosine 0.9996"
// and the `worst` layers that lose most (by isolated SQNR when measured, else accumulated).
std::string FormatSummary(const AccuracyReport& r, int worst);
std::string FormatLayerTable(const AccuracyReport& r, LayerOrder order);
nlohmann::json ToJson(const AccuracyReport& r, LayerOrder order);

}  // namespace squint::report

// Float model vs integer model, side by side on the same data: end-to-end metrics and the
// error of every layer, computed on the runtime's own kernels (the code that ships).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "ir/graph.h"

namespace squint::report {

// Error of one tensor, integer vs float, accumulated over all samples.
struct TensorError {
  std::string name;    // tensor (value) name
  std::string op;      // the runtime op producing it, e.g. "SOFTMAX"
  std::string node;    // the op's name (the ONNX node)
  int32_t index = 0;   // op index in execution order
  double sqnr_db = 0;  // 10·log10(Σ ref² / Σ (ref − q)²); +inf when exact
  double cosine = 1;
  double max_abs = 0;
  double rel_l2 = 0;   // ‖ref − q‖ / ‖ref‖
};

struct AccuracyReport {
  int64_t samples = 0;
  std::vector<TensorError> outputs;  // model outputs
  std::vector<TensorError> layers;   // every op output, in execution order
  double top1_agreement = 0;         // % of samples whose arg-max of output 0 agrees
  std::optional<double> float_accuracy, int_accuracy;  // % with labels
  // Sequence models (output 0 [1, T, V] logits, labels [N, T]): mean cross-entropy of the
  // next-char labels under softmax(logits), in bits.
  std::optional<double> float_bits_per_char, int_bits_per_char;
};

// Runs `samples` of `data` (per model input: [N, ...] tensors) through the float graph (batch
// 1 each) and the .sqnt model given as bytes. `labels` (optional, [N] integers) give accuracy
// for classification outputs: arg-max over the last axis of output 0 (for sequence outputs
// [1, T, V] every position counts, labels then [N, T]).
Result<AccuracyReport> CompareFloatAndInteger(const ir::Graph& g, const std::string& sqnt,
                                              const std::vector<ir::Tensor>& data, const ir::Tensor* labels,
                                              int64_t begin, int64_t count);

// "top-1 agreement 99.2%, accuracy 88.1% (float 88.4%), logits SQNR 31.2 dB, cosine 0.9996"
// and the `worst` layers with the lowest SQNR.
std::string FormatSummary(const AccuracyReport& r, int worst);
std::string FormatLayerTable(const AccuracyReport& r, bool sort_by_loss);
nlohmann::json ToJson(const AccuracyReport& r);

}  // namespace squint::report

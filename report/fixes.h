// Suggested fixes, measured: for the layers that lose most, each applicable fix alone (int16
// activations around the layer, a log-grid softmax, softmax bias correction, group weight scales,
// a transform) quantized again on top of the .sqnt's own options and run on the integer runtime
// over the validation data. This file holds the figures and their text/JSON forms; the
// measuring composes quant, export and CompareFloatAndInteger in cli/fix_search.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace squint::report {

struct MeasuredFix {
  std::string layer;   // the layer it was chosen for (empty: a model-wide fix)
  std::string what;    // "int16 activations around /blocks.3/attn/Softmax"
  std::string flag;    // the flag this fix adds ("--a16 /blocks.3/attn/Softmax")
  std::string flags;   // every squint quantize flag of the measured model (the base's and this one)
  std::string error;   // not empty: the fix does not apply to this model (the pipeline's message)
  int64_t bytes = 0;   // .sqnt size
  double output_sqnr_db = 0, output_cosine = 1, top1_agreement = 0;  // output 0
  std::optional<double> accuracy, bits_per_char;
  std::optional<double> float_accuracy, float_bits_per_char;  // the float model's, same samples
  std::optional<double> layer_sqnr_db;  // `layer` end to end after the fix
  // Wall time of one invoke on this machine (the best of several, one thread, the CPU's best
  // instruction set), µs. Printed on the terminal only: the JSON and HTML files stay
  // byte-identical from run to run, which a time cannot be.
  std::optional<double> latency_us;
};

struct FixReport {
  MeasuredFix base;             // the .sqnt's options, quantized again the same way
  bool base_reproduced = false;  // ... and it gave the very bytes of the .sqnt
  std::vector<MeasuredFix> fixes;  // most output SQNR gained first; fixes that do not apply last
  int64_t samples = 0;
  std::string calib;
};

// Orders r.fixes: the largest output SQNR gain first (ties: as found), errors last.
void RankFixes(FixReport* r);

std::string FormatFixes(const FixReport& r);
nlohmann::json ToJson(const FixReport& r);

}  // namespace squint::report

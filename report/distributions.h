// What the HTML report draws besides the error figures: per layer output, the float values'
// histogram with the tensor's integer grid, and per-channel ranges of the layer's weights.
// Memory is bounded whatever the data: a fixed number of bins per tensor, never the values.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runtime/model.h"

namespace squint::report {

// A histogram of a stream of floats whose range is not known ahead. The first values set the
// range; a value outside it doubles the range towards that side (pairs of bins merge), until
// everything fits: kBins bins of equal width always cover [lo, hi), and at least half of them
// span the values seen. Non-finite values are counted apart.
struct Histogram {
  static constexpr int kBins = 1024;
  double lo = 0, hi = 0;         // bins cover [lo, hi); empty until the first finite value
  std::vector<int64_t> counts;   // kBins, or empty
  double min = INFINITY, max = -INFINITY;
  int64_t total = 0, non_finite = 0;
  // Values outside [clip_lo, clip_hi] (the grid's range; set before the first Add) and at 0.
  double clip_lo = -INFINITY, clip_hi = INFINITY;
  int64_t below_clip = 0, above_clip = 0;
  void Add(std::span<const float> values);
  double bin_width() const { return (hi - lo) / kBins; }
};

// Probabilities (softmax outputs) on a log2 axis: kBinsPerOctave bins per octave over
// [2^-kOctaves, 1]; exact zeros and positives below 2^-kOctaves are counted apart.
struct LogHistogram {
  static constexpr int kOctaves = 24, kBinsPerOctave = 4;
  std::vector<int64_t> counts = std::vector<int64_t>(kOctaves * kBinsPerOctave, 0);  // bin 0: [2^-24, 2^-23.75)
  int64_t zeros = 0, tiny = 0, total = 0;
  void Add(std::span<const float> values);
};

// A tensor's integer grid as real values.
struct Grid {
  std::string kind;            // "affine", "log" (log-grid softmax output) or "none" (plain integers)
  std::string type;            // "INT8", "INT16", ...
  double scale = 0;            // affine
  int32_t zero_point = 0;      // affine
  double lo = 0, hi = 0;       // the smallest and largest real value a code stands for
  std::vector<double> levels;  // every representable value, ascending (grids of at most 256 codes)
  double zero_below = 0;       // log grids: probabilities below this become 0 (the kernel's last threshold)
};
Grid GridOf(const rt::TensorDesc& d);

// Per output channel of a constant quantized weight (rank >= 2, channel axis quant_axis, or 0 per
// tensor): the dequantized min and max, and the grid's reach ±(code max)·scale of its scale.
struct WeightRanges {
  std::string tensor, type, shape;
  int32_t axis = 0;
  int32_t code_max = 127;              // the largest code (7 for INT4, 127 for INT8, 32767 for INT16)
  std::vector<float> min, max, reach;  // one per channel
  std::string note;                    // why ranges are not given (packed INT4, group scales), else empty
};
std::vector<WeightRanges> WeightRangesOf(const rt::Model& model, int32_t op);

// One layer output's float values and grid, filled by CompareFloatAndInteger when asked.
struct Distribution {
  Grid grid;
  Histogram values;
  std::optional<LogHistogram> probabilities;  // SOFTMAX outputs
  std::vector<WeightRanges> weights;          // the op's weights
};

}  // namespace squint::report

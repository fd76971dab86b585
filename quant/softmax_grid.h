// Power-of-two grids for softmax outputs (schema LogGridQuantization; docs/algorithms.md §1, §2):
// the tables the runtime's SOFTMAX and BATCH_MATMUL kernels read, built from each quantizer's
// definition, and the calibration that picks their free parameter from the float model.
//
// Every grid is a list of n codes ordered by decreasing value plus decision thresholds; each
// quantizer rounds to the nearest code in its own domain, so the thresholds are the midpoints
// of that domain mapped back to probabilities:
//   log2 (FQ-ViT):   value 2^−q, q < n = min(2^b, 21); threshold j = 2^−(j + ½) (round −log2 p).
//   log√2 (RepQ-ViT): value Δ·√2^−q (even q: Δ·2^−q/2; odd: Δ·√2·2^−(q+1)/2, the "two shift
//                    accumulators" of the reparameterization), q < n = min(2^b, 41); threshold
//                    Δ·√2^−(j + ½). Δ calibrated.
//   SULQ (I&S-ViT):  level l in [0, n), n = min(2^b, 255), of y = log2(p + η) on the uniform grid
//                    m + l·s, s = (M − m)/(n − 1) (one step size and n levels in calibration and
//                    inference alike, unlike the released code; algorithms.md §2); value
//                    2^e(l) − η with e(l) = ⌊l·s + m⌉. Code q = n − 1 − l; thresholds
//                    2^(m + (l + ½)·s) − η between levels; no code stands for 0 (last threshold 0).
//                    η, m, M calibrated.
// Probabilities beyond the smallest log2/log√2 code round to exactly 0 (the byte 0xFF), as do
// masked positions on every grid. Shifts are capped at 20 (rt::ref::kLogGridMaxShift).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/calib_data.h"
#include "runtime/kernels/reference/kernels.h"
#include "runtime/schema/squint_generated.h"

namespace squint::quant {

struct LogGridTables {
  fb::SoftmaxGrid kind = fb::SoftmaxGrid::LOG2;
  int bits = 4;
  float delta = 1.0f, eta = 0.0f;
  std::vector<uint32_t> thresholds;  // Q30, non-increasing
  std::vector<uint8_t> shifts;
  std::vector<uint8_t> sqrt2;        // empty: all 0
  // SULQ's log-domain range [m, M] (informative, for reports).
  float log_lo = 0.0f, log_hi = 0.0f;
};

LogGridTables BuildLog2Grid(int bits);
LogGridTables BuildLogSqrt2Grid(int bits, float delta);
// lo, hi: m and M, the log2(p + η) range (lo < hi).
LogGridTables BuildSulqGrid(int bits, float eta, float lo, float hi);

// The runtime kernels' view of t (pointers into t, which must outlive it), with max_shift and
// eta_q as the loader derives them.
rt::ref::LogGrid GridView(const LogGridTables& t);
// The value of code q (q < n), as the P·V kernel computes it; 0 for the zero code and beyond.
double GridValue(const LogGridTables& t, int32_t q);
// The code of probability p, as the SOFTMAX kernel codes p = e/S (on ⌊p·2^30⌉); the second form
// on a view built once (GridView), for loops over many probabilities.
int32_t GridCode(const LogGridTables& t, double p);
int32_t GridCode(const rt::ref::LogGrid& view, double p);

// Distribution of the non-zero probabilities of one softmax over the calibration samples, in
// 64 bins per octave of −log2 p (exact zeros, e.g. causal masks, are counted apart: every grid
// codes them exactly). Holds what the mean squared error of any grid needs.
class ProbabilityHistogram {
 public:
  void Add(const float* p, int64_t count);
  // Σ (p − value(code(p)))² / (number of probabilities), with each bin's probabilities taken
  // at their mean (bins are 1% wide).
  double MeanSquaredError(const LogGridTables& t) const;
  // The q-quantile of all probabilities, zeros included (RepQ-ViT's percentile of Δ).
  double Quantile(double q) const;
  double min() const { return min_; }
  double max() const { return max_; }
  int64_t nonzero() const { return nonzero_; }

 private:
  static constexpr int kBinsPerOctave = 64, kOctaves = 48;
  std::vector<int64_t> count_ = std::vector<int64_t>(kBinsPerOctave * kOctaves, 0);
  std::vector<double> sum_ = std::vector<double>(kBinsPerOctave * kOctaves, 0.0);
  std::vector<double> sum_sq_ = std::vector<double>(kBinsPerOctave * kOctaves, 0.0);
  int64_t zeros_ = 0, nonzero_ = 0;
  double min_ = 1.0, max_ = 0.0;
};

// The grids tried for a softmax whose probabilities `h` holds, the one with the smallest mean
// squared error on `h` first: log2 has no free parameter (one grid); log√2 tries Δ at the 0.999,
// 0.9999, 0.99999 quantiles (RepQ-ViT), the largest probability and 1; SULQ tries η in {0.001,
// 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.2, 0.5, 1} with m, M the log2(p + η) range of the
// non-zero probabilities (I&S-ViT). Block reconstruction tries them all on the block's output.
std::vector<LogGridTables> GridCandidates(fb::SoftmaxGrid kind, int bits, const ProbabilityHistogram& h);
// GridCandidates' first: the grid with the smallest mean squared error on `h`.
LogGridTables FitGrid(fb::SoftmaxGrid kind, int bits, const ProbabilityHistogram& h);

// For every Softmax of g: GridCandidates on up to `max_samples` samples of `data` (0: all; log2
// reads no data). Keyed by Softmax node name.
Result<std::map<std::string, std::vector<LogGridTables>>> SoftmaxGridCandidates(const ir::Graph& g,
                                                                                const CalibData& data,
                                                                                int64_t max_samples,
                                                                                fb::SoftmaxGrid kind, int bits);

}  // namespace squint::quant

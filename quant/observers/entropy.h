// "entropy": the KL-divergence threshold of TensorRT's int8 calibration (Migacz, "8-bit
// Inference with TensorRT", GTC 2017), on a streaming histogram of |x|.
//
// With L quantization levels on |x| (2^(bits−1) for a signed type, e.g. 128 for int8;
// 2^bits when no value is negative and the grid is unsigned or asymmetric, as after ReLU) and the histogram's n bins of width
// w over [0, max|x|], every i = L … n is a candidate threshold T_i = i·w:
//   P = bins[0, i) with the outliers (all counts in bins >= i) added to bin i−1, normalized
//   Q = bins[0, i) (without the outliers) merged into L groups of ~i/L consecutive bins, each
//       group's mass spread evenly over its bins where P is non-zero, normalized
//   KL(P‖Q) = Σ P_j log(P_j / Q_j)   (infinite when Q_j = 0 < P_j: never chosen)
// and the threshold of least divergence wins; clipping is penalized through the mass that P
// piles into its last bin and Q does not. The range is [−T, T] clamped to the observed
// [min, max].
//
// Exact zeros are left out of the histogram: every candidate grid holds 0 exactly (its zero
// point is an integer), so they say nothing about T. Kept, the spike they form after ReLU
// dominates KL(P‖Q): Q spreads each group's mass evenly over the group's bins, so every
// candidate whose first group merges bin 0 with its neighbours looks far worse than it
// quantizes, and the search degenerates to the smallest threshold (cnn_small: 76% instead of
// 91% top-1).
//
// Unlike ORT's Entropy calibrator with its defaults (128 bins, 128 levels: a single candidate,
// the full range), all n − L + 1 candidates are searched (n is 1024 … 2048 with the default
// num_bins; candidates are strided to at most ~2048 for larger histograms). When L >= n
// (12 bits and more with 2048 bins) there is nothing to choose: the full range is returned.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "quant/observers/histogram.h"
#include "quant/observers/observer.h"

namespace squint::quant {

class EntropyObserver final : public Observer {
 public:
  explicit EntropyObserver(const ObserverOptions& options)
      : Observer(options), hist_(options.num_bins, /*of_abs=*/true) {}
  std::string_view name() const override { return "entropy"; }
  const ValueHistogram& histogram() const { return hist_; }

 protected:
  void ObserveUsable(std::span<const float> values) override;
  Range ComputeUsableRange() const override;

 private:
  ValueHistogram hist_;  // of the non-zero values
  std::vector<float> nonzero_;
  bool saw_zero_ = false;
};

// KL(P‖Q) of the candidate that keeps bins[0, i) with `levels` levels, as described above;
// +infinity when Q misses mass of P. Requires levels <= i <= bins.size().
double EntropyCandidateDivergence(std::span<const int64_t> bins, int64_t i, int64_t levels);

}  // namespace squint::quant

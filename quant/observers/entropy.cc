#include "quant/observers/entropy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace squint::quant {

double EntropyCandidateDivergence(std::span<const int64_t> bins, int64_t i, int64_t levels) {
  double total = 0.0, kept = 0.0;
  for (size_t j = 0; j < bins.size(); ++j) {
    total += static_cast<double>(bins[j]);
    if (static_cast<int64_t>(j) < i) kept += static_cast<double>(bins[j]);
  }
  if (total <= 0.0) return 0.0;
  if (kept <= 0.0) return std::numeric_limits<double>::infinity();
  const double outliers = total - kept;

  double kl = 0.0;
  for (int64_t g = 0; g < levels; ++g) {
    const int64_t start = g * i / levels;
    const int64_t stop = (g + 1) * i / levels;
    double mass = 0.0;
    int64_t nonzero = 0;
    for (int64_t j = start; j < stop; ++j) {
      const double p = static_cast<double>(bins[j]) + (j == i - 1 ? outliers : 0.0);
      mass += static_cast<double>(bins[j]);
      nonzero += p > 0.0 ? 1 : 0;
    }
    if (nonzero == 0) continue;
    const double q = mass / static_cast<double>(nonzero) / kept;  // normalized Q_j on P's support
    for (int64_t j = start; j < stop; ++j) {
      const double p = (static_cast<double>(bins[j]) + (j == i - 1 ? outliers : 0.0)) / total;
      if (p <= 0.0) continue;
      if (q <= 0.0) return std::numeric_limits<double>::infinity();
      kl += p * std::log(p / q);
    }
  }
  return kl;
}

void EntropyObserver::ObserveUsable(std::span<const float> values) {
  nonzero_.clear();
  for (float v : values) {
    if (v != 0.0f)
      nonzero_.push_back(v);
    else
      saw_zero_ = true;
  }
  if (!nonzero_.empty()) hist_.Add(nonzero_);
}

Range EntropyObserver::ComputeUsableRange() const {
  const Histogram& h = hist_.hist();  // of |x|: bins start at 0
  const double amax = h.max();
  // A non-negative tensor (e.g. after ReLU) gets all 2^bits codes on [0, T] from an unsigned or
  // an asymmetric grid; only a symmetric signed grid spends half of them on negatives.
  const bool magnitudes_only = hist_.min() >= 0.0f && (!options_.type.is_signed || !options_.symmetric);
  const int64_t levels = int64_t{1} << (magnitudes_only ? options_.type.bits : options_.type.bits - 1);
  const int64_t n = h.num_bins();

  double threshold = amax;
  if (levels < n) {
    const int64_t stride = std::max<int64_t>(1, (n - levels) / 2048);
    double best = std::numeric_limits<double>::infinity();
    int64_t best_i = n;
    for (int64_t i = levels;; i = std::min(i + stride, n)) {
      const double kl = EntropyCandidateDivergence(h.counts(), i, levels);
      if (kl < best) {
        best = kl;
        best_i = i;
      }
      if (i == n) break;
    }
    threshold = std::min(static_cast<double>(best_i) * h.width(), amax);
  }
  float lo = static_cast<float>(std::max(-threshold, static_cast<double>(hist_.min())));
  float hi = static_cast<float>(std::min(threshold, static_cast<double>(hist_.max())));
  if (saw_zero_) lo = std::min(lo, 0.0f), hi = std::max(hi, 0.0f);
  return {lo, hi};
}

}  // namespace squint::quant

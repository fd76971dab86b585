// "percentile": clip at a percentile p of the data (ORT Percentile calibration, default
// p = 99.999), read from a streaming histogram with linear interpolation inside a bin.
//   symmetric grid:  T = quantile of |x| at p/100; range [−T, T]
//   asymmetric grid: range [quantile of x at (100−p)/200, quantile at 1 − (100−p)/200]
// The range is then clamped to the observed [min, max], as ORT does.
#pragma once

#include "quant/observers/histogram.h"
#include "quant/observers/observer.h"

namespace squint::quant {

class PercentileObserver final : public Observer {
 public:
  explicit PercentileObserver(const ObserverOptions& options)
      : Observer(options), hist_(options.num_bins, options.symmetric) {}
  std::string_view name() const override { return "percentile"; }
  const ValueHistogram& histogram() const { return hist_; }

 protected:
  void ObserveUsable(std::span<const float> values) override { hist_.Add(values); }
  Range ComputeUsableRange() const override;

 private:
  ValueHistogram hist_;
};

}  // namespace squint::quant

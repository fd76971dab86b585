// "ema": a moving average of per-batch extremes (ORT MinMax calibration with
// moving_average = True, CalibMovingAverageConstant c = 0.01):
//   first batch:  min = batch_min, max = batch_max
//   later:        min += c·(batch_min − min),  max += c·(batch_max − max)
// The result depends on how the data is split into batches, by design: it estimates the
// typical batch extreme, not the global one, so a rare outlier batch moves it by only c.
// Batches whose values are all skipped (non-finite or masked) do not count as batches.
#pragma once

#include "quant/observers/observer.h"

namespace squint::quant {

class EmaObserver final : public Observer {
 public:
  explicit EmaObserver(const ObserverOptions& options) : Observer(options) {}
  std::string_view name() const override { return "ema"; }

 protected:
  void ObserveUsable(std::span<const float> values) override;
  Range ComputeUsableRange() const override;

 private:
  bool seen_ = false;
  double min_ = 0.0, max_ = 0.0;
};

}  // namespace squint::quant

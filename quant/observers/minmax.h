// "minmax": the global minimum and maximum of every usable value (ORT MinMax calibration,
// moving_average = False).
#pragma once

#include "quant/observers/observer.h"

namespace squint::quant {

class MinMaxObserver final : public Observer {
 public:
  explicit MinMaxObserver(const ObserverOptions& options) : Observer(options) {}
  std::string_view name() const override { return "minmax"; }

 protected:
  void ObserveUsable(std::span<const float> values) override;
  Range ComputeUsableRange() const override { return range_; }

 private:
  bool seen_ = false;
  Range range_;
};

}  // namespace squint::quant

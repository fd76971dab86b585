#include "quant/observers/ema.h"

#include <algorithm>

namespace squint::quant {

void EmaObserver::ObserveUsable(std::span<const float> values) {
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  if (!seen_) {
    min_ = *lo;
    max_ = *hi;
    seen_ = true;
    return;
  }
  const double c = options_.ema_constant;
  min_ += c * (static_cast<double>(*lo) - min_);
  max_ += c * (static_cast<double>(*hi) - max_);
}

Range EmaObserver::ComputeUsableRange() const {
  return {static_cast<float>(min_), static_cast<float>(max_)};
}

}  // namespace squint::quant

#include "quant/observers/minmax.h"

#include <algorithm>

namespace squint::quant {

void MinMaxObserver::ObserveUsable(std::span<const float> values) {
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  range_.min = seen_ ? std::min(range_.min, *lo) : *lo;
  range_.max = seen_ ? std::max(range_.max, *hi) : *hi;
  seen_ = true;
}

}  // namespace squint::quant

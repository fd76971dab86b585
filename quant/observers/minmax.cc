#include "quant/observers/minmax.h"

#include <algorithm>

namespace squint::quant {

void MinMaxObserver::ObserveUsable(std::span<const float> values) {
  // Eight running extremes (vectorized: minps / maxps; the values are finite, so the order of
  // the comparisons cannot change the result) instead of minmax_element's branch per element.
  constexpr size_t kLanes = 8;
  float lo[kLanes], hi[kLanes];
  for (size_t j = 0; j < kLanes; ++j) lo[j] = hi[j] = values[0];
  const size_t n = values.size(), whole = n / kLanes * kLanes;
  for (size_t i = 0; i < whole; i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) {
      lo[j] = std::min(lo[j], values[i + j]);
      hi[j] = std::max(hi[j], values[i + j]);
    }
  for (size_t i = whole; i < n; ++i) {
    lo[0] = std::min(lo[0], values[i]);
    hi[0] = std::max(hi[0], values[i]);
  }
  const float vlo = *std::min_element(lo, lo + kLanes), vhi = *std::max_element(hi, hi + kLanes);
  range_.min = seen_ ? std::min(range_.min, vlo) : vlo;
  range_.max = seen_ ? std::max(range_.max, vhi) : vhi;
  seen_ = true;
}

}  // namespace squint::quant

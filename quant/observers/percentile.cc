#include "quant/observers/percentile.h"

#include <algorithm>

namespace squint::quant {

Range PercentileObserver::ComputeUsableRange() const {
  const Histogram& h = hist_.hist();
  const double p = options_.percentile / 100.0;
  double lo, hi;
  if (hist_.of_abs()) {
    const double t = h.Quantile(p);
    lo = -t;
    hi = t;
  } else {
    const double tail = (1.0 - p) / 2.0;
    lo = h.Quantile(tail);
    hi = h.Quantile(1.0 - tail);
  }
  return {static_cast<float>(std::max(lo, static_cast<double>(hist_.min()))),
          static_cast<float>(std::min(hi, static_cast<double>(hist_.max())))};
}

}  // namespace squint::quant

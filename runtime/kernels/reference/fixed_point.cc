#include "runtime/kernels/reference/fixed_point.h"

#include <cmath>

namespace squint::rt {

QuantizedMultiplier QuantizeMultiplier(double real_multiplier) {
  QuantizedMultiplier out;
  if (!(real_multiplier > 0.0) || !std::isfinite(real_multiplier)) return out;
  int shift = 0;
  const double q = std::frexp(real_multiplier, &shift);  // q in [0.5, 1)
  auto q_fixed = static_cast<int64_t>(std::round(q * static_cast<double>(int64_t{1} << 31)));
  if (q_fixed == (int64_t{1} << 31)) {
    q_fixed /= 2;
    ++shift;
  }
  if (shift < -31) return out;  // M below 2^-32: flushes to zero
  out.multiplier = static_cast<int32_t>(q_fixed);
  out.shift = shift;
  return out;
}

}  // namespace squint::rt

// FakeQuantActivations, FakeQuantWeights (fake_quant.h).
#include "quant/fake_quant.h"

#include <algorithm>
#include <cmath>

namespace squint::quant {

// Per-tensor asymmetric fake quantization of v on `bits` over its own range (zero included).
void FakeQuantActivations(std::vector<float>& v, int bits) {
  float lo = 0, hi = 0;
  for (float x : v) lo = std::min(lo, x), hi = std::max(hi, x);
  const double levels = std::ldexp(1.0, bits) - 1;
  const double scale = (static_cast<double>(hi) - lo) / levels;
  if (!(scale > 0)) return;
  const double z = std::nearbyint(-lo / scale);
  for (float& x : v) {
    const double q = std::clamp(std::nearbyint(x / scale) + z, 0.0, levels);
    x = static_cast<float>((q - z) * scale);
  }
}

// Per-output-column symmetric fake quantization of w [k, n] on `bits`.
void FakeQuantWeights(std::vector<float>& w, int64_t k, int64_t n, int bits) {
  const double qmax = std::ldexp(1.0, bits - 1) - 1;
  for (int64_t c = 0; c < n; ++c) {
    double m = 0;
    for (int64_t j = 0; j < k; ++j) m = std::max(m, std::fabs(static_cast<double>(w[j * n + c])));
    if (!(m > 0)) continue;
    const double scale = m / qmax;
    for (int64_t j = 0; j < k; ++j) w[j * n + c] = static_cast<float>(std::nearbyint(w[j * n + c] / scale) * scale);
  }
}

}  // namespace squint::quant

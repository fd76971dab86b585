#include "quant/observers/mse.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace squint::quant {
namespace {

// ∫ (v − round(v))² dv from −1/2 to u: whole cells contribute 1/12 each.
double SawtoothPrimitive(double u) {
  const double m = std::floor(u + 0.5);
  const double t = u + 0.5 - m - 0.5;  // in [−1/2, 1/2)
  return m / 12.0 + (t * t * t + 0.125) / 3.0;
}

double Cube(double v) { return v * v * v; }

// ∫_a^b (u − clamp(round(u), qmin, qmax))² du in code space, a <= b.
double CodeSpaceError(double a, double b, double qmin, double qmax) {
  const double low = qmin + 0.5, high = qmax - 0.5;
  double sum = 0.0;
  if (a < low) {
    const double e = std::min(b, low);
    sum += (Cube(e - qmin) - Cube(a - qmin)) / 3.0;
  }
  if (b > high) {
    const double s = std::max(a, high);
    sum += (Cube(b - qmax) - Cube(s - qmax)) / 3.0;
  }
  const double s = std::max(a, low), e = std::min(b, high);
  if (e > s) sum += SawtoothPrimitive(e) - SawtoothPrimitive(s);
  return sum;
}

double PointError(double u, double qmin, double qmax) {
  const double d = u - std::clamp(std::nearbyint(u), qmin, qmax);
  return d * d;
}

// Minimizes f over (0, limit] (limit > 0): 256 even steps, then twice 32 finer steps on each
// side of the best so far (resolution limit / 2^18).
double Search1D(double limit, const std::function<double(double)>& f) {
  constexpr int kCoarse = 256, kFine = 32;
  double best_x = limit, best = f(limit);
  double step = limit / kCoarse;
  for (int k = 1; k < kCoarse; ++k) {
    const double x = step * k, v = f(x);
    if (v < best) best = v, best_x = x;
  }
  for (int level = 0; level < 2; ++level) {
    const double center = best_x;
    for (int k = -kFine; k <= kFine; ++k) {
      const double x = center + step * k / kFine;
      if (k == 0 || x <= 0.0 || x > limit) continue;
      const double v = f(x);
      if (v < best) best = v, best_x = x;
    }
    step /= kFine;
  }
  return best_x;
}

}  // namespace

double HistogramQuantError(const Histogram& h, const AffineParams& p) {
  const double s = p.scale, z = p.zero_point, qmin = p.qmin, qmax = p.qmax;
  double total = 0.0;
  for (int64_t k = 0; k < h.num_bins(); ++k) {
    const int64_t count = h.counts()[static_cast<size_t>(k)];
    if (count == 0) continue;
    const Histogram::Interval in = h.BinInterval(k);
    const double ua = in.lo / s + z, ub = in.hi / s + z;
    const double mean = ub - ua > 1e-9 ? CodeSpaceError(ua, ub, qmin, qmax) / (ub - ua)
                                       : PointError(ua, qmin, qmax);
    total += static_cast<double>(count) * mean;
  }
  return total * s * s;
}

Range MseObserver::ComputeUsableRange() const {
  const Histogram& h = hist_.hist();
  const double dmin = hist_.min(), dmax = hist_.max();
  const IntType type = options_.type;
  const bool symmetric = options_.symmetric;
  auto error = [&](double lo, double hi) {
    auto params = ComputeAffineParams({static_cast<float>(lo), static_cast<float>(hi)}, type, symmetric);
    return params.ok() ? HistogramQuantError(h, *params) : std::numeric_limits<double>::infinity();
  };

  if (hist_.of_abs()) {
    const double amax = h.max();
    if (amax <= 0.0) return {hist_.min(), hist_.max()};
    const double t = Search1D(amax, [&](double t) { return error(-t, t); });
    return {static_cast<float>(std::max(-t, dmin)), static_cast<float>(std::min(t, dmax))};
  }

  double lo = std::min(dmin, 0.0), hi = std::max(dmax, 0.0);
  for (int round = 0; round < 8; ++round) {
    const double old_lo = lo, old_hi = hi;
    if (dmax > 0.0) hi = Search1D(dmax, [&](double x) { return error(lo, x); });
    if (dmin < 0.0) lo = -Search1D(-dmin, [&](double x) { return error(-x, hi); });
    if (lo == old_lo && hi == old_hi) break;
  }
  return {static_cast<float>(std::max(lo, dmin)), static_cast<float>(std::min(hi, dmax))};
}

}  // namespace squint::quant

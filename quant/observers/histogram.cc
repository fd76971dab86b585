#include "quant/observers/histogram.h"

#include <algorithm>
#include <cmath>

namespace squint::quant {
namespace {

// Finest bin width considered: 2^-160, below the smallest float subnormal (2^-149).
constexpr int kMinExponent = -160;

// floor(x / 2^e) as a double (exact: scaling by a power of two).
double ScaledFloor(double x, int e) { return std::floor(std::ldexp(x, -e)); }

}  // namespace

double Histogram::width() const { return std::ldexp(1.0, exponent_); }

int Histogram::FitExponent(double lo, double hi, int floor_exp) const {
  int e = floor_exp;
  if (hi > lo) {
    // span(e) > (hi − lo)·2^−e, so nothing below log2((hi − lo) / capacity) fits.
    const double bound = std::floor(std::log2((hi - lo) / capacity_)) - 1.0;
    e = std::max(e, static_cast<int>(bound));
  }
  while (ScaledFloor(hi, e) - ScaledFloor(lo, e) + 1.0 > capacity_) ++e;
  return e;
}

void Histogram::Add(std::span<const float> values) {
  if (values.empty()) return;
  const auto [bmin_it, bmax_it] = std::minmax_element(values.begin(), values.end());
  const float new_min = total_ ? std::min(min_, *bmin_it) : *bmin_it;
  const float new_max = total_ ? std::max(max_, *bmax_it) : *bmax_it;
  const double lo = std::min(0.0, static_cast<double>(new_min));
  const double hi = std::max(0.0, static_cast<double>(new_max));

  const int e = FitExponent(lo, hi, total_ ? exponent_ : kMinExponent);
  const auto new_first = static_cast<int64_t>(ScaledFloor(lo, e));
  const auto new_last = static_cast<int64_t>(ScaledFloor(hi, e));
  std::vector<int64_t> bins(static_cast<size_t>(new_last - new_first + 1), 0);
  if (total_) {
    // Old bin j lands in new bin floor(j / 2^d): an exact merge of 2^d neighbours.
    const int d = std::min(e - exponent_, 62);
    for (size_t k = 0; k < counts_.size(); ++k) {
      const int64_t j = (first_ + static_cast<int64_t>(k)) >> d;  // arithmetic shift = floor
      bins[static_cast<size_t>(j - new_first)] += counts_[k];
    }
  }
  counts_ = std::move(bins);
  exponent_ = e;
  first_ = new_first;
  const double inv_width = std::ldexp(1.0, -e);  // a power of two: x·inv_width is exact
  for (float x : values) {
    const auto j = static_cast<int64_t>(std::floor(static_cast<double>(x) * inv_width));
    ++counts_[static_cast<size_t>(j - first_)];
  }
  total_ += static_cast<int64_t>(values.size());
  min_ = new_min;
  max_ = new_max;
}

Histogram::Interval Histogram::BinInterval(int64_t k) const {
  const double w = width();
  const double edge_lo = static_cast<double>(first_ + k) * w;
  double lo = std::max(edge_lo, static_cast<double>(min_));
  double hi = std::min(edge_lo + w, static_cast<double>(max_));
  if (hi < lo) hi = lo = std::clamp(edge_lo, static_cast<double>(min_), static_cast<double>(max_));
  return {lo, hi};
}

double Histogram::Quantile(double q) const {
  if (total_ == 0) return 0.0;
  if (q <= 0.0) return min_;
  if (q >= 1.0) return max_;
  const double target = q * static_cast<double>(total_);
  double cum = 0.0;
  for (size_t k = 0; k < counts_.size(); ++k) {
    const double c = static_cast<double>(counts_[k]);
    if (c > 0.0 && cum + c >= target) {
      const Interval in = BinInterval(static_cast<int64_t>(k));
      return in.lo + (target - cum) / c * (in.hi - in.lo);
    }
    cum += c;
  }
  return max_;
}

void ValueHistogram::Add(std::span<const float> values) {
  if (values.empty()) return;
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  min_ = hist_.empty() ? *lo : std::min(min_, *lo);
  max_ = hist_.empty() ? *hi : std::max(max_, *hi);
  if (!of_abs_) {
    hist_.Add(values);
    return;
  }
  scratch_.resize(values.size());
  std::transform(values.begin(), values.end(), scratch_.begin(), [](float x) { return std::fabs(x); });
  hist_.Add(scratch_);
}

}  // namespace squint::quant

// A streaming histogram with bounded memory, shared by the histogram observers.
//
// Bins have width w = 2^e and are anchored at 0: bin j covers [j·w, (j+1)·w). The histogram
// always spans bin 0 (zero is in every quantization range) and every value added. When a
// batch would need more than `capacity` bins, w doubles until it fits; doubling merges pairs
// of bins exactly, so no count is ever split or approximated. Because w only ever becomes the
// smallest power of two for which [min(0, min x), max(0, max x)] fits in `capacity` bins, the
// final histogram does not depend on how the data was split into batches. It holds between
// about capacity/2 and capacity bins over the data range.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace squint::quant {

class Histogram {
 public:
  explicit Histogram(int capacity) : capacity_(capacity) {}

  // Adds finite values.
  void Add(std::span<const float> values);

  int64_t total() const { return total_; }
  bool empty() const { return total_ == 0; }
  double width() const;        // bin width w
  int64_t first_bin() const { return first_; }  // index j of counts()[0]; <= 0
  // Counts of bins first_bin() ... first_bin() + size − 1; includes bin 0.
  const std::vector<int64_t>& counts() const { return counts_; }
  int64_t num_bins() const { return static_cast<int64_t>(counts_.size()); }
  float min() const { return min_; }  // exact extremes of the values added
  float max() const { return max_; }

  // The part of bin counts()[k] that can hold data: its edges clipped to [min(), max()].
  // May be a single point (lo == hi), e.g. the bin of a lone outlier.
  struct Interval {
    double lo, hi;
  };
  Interval BinInterval(int64_t k) const;

  // The value below which a fraction q ∈ [0, 1] of the data lies, interpolating linearly
  // within a bin (data assumed uniform inside BinInterval).
  double Quantile(double q) const;

 private:
  // Smallest exponent >= floor_exp at which [lo, hi] spans at most capacity_ bins.
  int FitExponent(double lo, double hi, int floor_exp) const;

  int capacity_;
  int exponent_ = 0;  // w = 2^exponent_
  int64_t first_ = 0;
  std::vector<int64_t> counts_;
  int64_t total_ = 0;
  float min_ = 0.0f, max_ = 0.0f;
};

// A Histogram of x, or of |x| (of_abs), that also keeps the signed extremes of x: what the
// histogram observers share.
class ValueHistogram {
 public:
  ValueHistogram(int capacity, bool of_abs) : hist_(capacity), of_abs_(of_abs) {}
  void Add(std::span<const float> values);  // finite values

  const Histogram& hist() const { return hist_; }
  bool of_abs() const { return of_abs_; }
  float min() const { return min_; }  // signed extremes of x
  float max() const { return max_; }

 private:
  Histogram hist_;
  bool of_abs_;
  float min_ = 0.0f, max_ = 0.0f;
  std::vector<float> scratch_;
};

}  // namespace squint::quant

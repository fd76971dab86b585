// "mse": the range whose grid minimizes the expected squared quantization error, rounding and
// clipping together, E[(x − x̂)²], on a streaming histogram.
//
// The error of a candidate range is computed for the exact grid ComputeAffineParams makes of
// it for the configured type and symmetry (so it accounts for the bit width, the restricted
// symmetric code range and the rounded zero point), assuming the data uniform inside each
// histogram bin (bins clipped to the observed [min, max]). In code space u = x/s + z the
// error density is s²·(u − clamp(round(u), qmin, qmax))², integrated in closed form per bin.
//
//   symmetric grid:  histogram of |x|; search T over 256 evenly spaced values in (0, max|x|],
//                    then twice 32 finer steps each side of the best (resolution max|x|/2^18);
//                    range [−T, T] clamped to [min, max]
//   asymmetric grid: histogram of x; coordinate descent from the full range: best max for the
//                    current min, best min for the current max (same 1-D search), until stable
#pragma once

#include "quant/observers/histogram.h"
#include "quant/observers/observer.h"

namespace squint::quant {

class MseObserver final : public Observer {
 public:
  explicit MseObserver(const ObserverOptions& options)
      : Observer(options), hist_(options.num_bins, options.symmetric) {}
  std::string_view name() const override { return "mse"; }
  const ValueHistogram& histogram() const { return hist_; }

 protected:
  void ObserveUsable(std::span<const float> values) override { hist_.Add(values); }
  Range ComputeUsableRange() const override;

 private:
  ValueHistogram hist_;
};

// Σ over bins of count · E[(x − x̂)²] with x uniform in the bin: the total expected squared
// error of the histogram's data under grid p (divide by total() for the mean).
double HistogramQuantError(const Histogram& h, const AffineParams& p);

}  // namespace squint::quant

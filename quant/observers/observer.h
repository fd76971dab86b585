// Observers: stream a float tensor's values, one batch at a time, and propose the real range
// [min, max] its quantization grid should cover. One algorithm per file:
//
//   "minmax"      minmax.h      global min and max
//   "ema"         ema.h         moving average of per-batch min / max (ORT, c = 0.01)
//   "percentile"  percentile.h  a percentile of |x| (symmetric) or of x on both sides
//   "entropy"     entropy.h     KL-divergence threshold (TensorRT method) on a |x| histogram
//   "mse"         mse.h         the clip range minimizing expected squared quantization error
//
// Contract shared by all observers:
// - Observe() may be called any number of times; memory stays bounded (a fixed number of
//   histogram bins or a few scalars), samples are never stored.
// - Non-finite values (NaN, ±Inf) are skipped and counted; values <= ignore_below (when set)
//   are treated as masked (the large negative constants causal attention adds before Softmax)
//   and skipped and counted. Whether a non-finite count is an error is the caller's decision.
// - ComputeRange() is an error when no usable value was observed.
// Range → scale / zero point is quant/affine.h (ComputeAffineParams), common to all of them.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "quant/affine.h"

namespace squint::quant {

struct ObserverOptions {
  // The grid the range is for: the optimal clip depends on the bit width and on the symmetry.
  IntType type;
  bool symmetric = false;  // symmetric grid (z in the middle); else asymmetric

  // Values <= ignore_below are masked: skipped and counted (e.g. −1e4 for Softmax inputs;
  // −Inf is then masked too). −inf (the default) disables masking.
  float ignore_below = -std::numeric_limits<float>::infinity();

  double ema_constant = 0.01;  // "ema": new = old + c·(batch − old)
  double percentile = 99.999;  // "percentile": in (0, 100]
  int num_bins = 2048;         // histogram observers: at most this many bins (>= 256)
};

// What an observer saw.
struct ObserverStats {
  int64_t seen = 0;        // values passed to Observe
  int64_t used = 0;        // finite values not masked, i.e. those that shaped the range
  int64_t nan = 0;         // NaN values
  int64_t inf = 0;         // +Inf, and −Inf when not masked by ignore_below
  int64_t masked = 0;      // values <= ignore_below (−Inf included when ignore_below is set)
  int64_t non_finite() const { return nan + inf; }
};

class Observer {
 public:
  explicit Observer(const ObserverOptions& options) : options_(options) {}
  virtual ~Observer() = default;
  Observer(const Observer&) = delete;
  Observer& operator=(const Observer&) = delete;

  // The method name, as accepted by MakeObserver ("minmax", ...).
  virtual std::string_view name() const = 0;

  // Adds one batch of values. An empty batch is allowed and changes nothing.
  void Observe(std::span<const float> values);

  // The proposed range; min <= max, both finite, within the observed [min, max].
  // Error when no usable value was observed.
  Result<Range> ComputeRange() const;

  const ObserverStats& stats() const { return stats_; }
  const ObserverOptions& options() const { return options_; }

 protected:
  // One batch of finite, unmasked values (never empty).
  virtual void ObserveUsable(std::span<const float> values) = 0;
  // Called only after at least one usable value.
  virtual Range ComputeUsableRange() const = 0;

  ObserverOptions options_;

 private:
  ObserverStats stats_;
  std::vector<float> scratch_;  // a filtered copy of a batch that held skipped values
};

// The methods MakeObserver accepts, in a stable order.
const std::vector<std::string>& ObserverNames();

// Validates options (bits 2..16, percentile in (0, 100], ema constant in (0, 1],
// num_bins 256..2^20, ignore_below not NaN) and builds the named observer. Unknown name:
//   unknown calibration method 'foo'; valid methods: minmax, ema, percentile, entropy, mse
Result<std::unique_ptr<Observer>> MakeObserver(std::string_view name, const ObserverOptions& options);

}  // namespace squint::quant

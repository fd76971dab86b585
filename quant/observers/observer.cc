#include "quant/observers/observer.h"

#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "quant/observers/ema.h"
#include "quant/observers/entropy.h"
#include "quant/observers/minmax.h"
#include "quant/observers/mse.h"
#include "quant/observers/percentile.h"

namespace squint::quant {

void Observer::Observe(std::span<const float> values) {
  stats_.seen += static_cast<int64_t>(values.size());
  // Masking is on when ignore_below > −inf; it then also catches −inf.
  const bool masking = options_.ignore_below > -std::numeric_limits<float>::infinity();
  const float ignore_below = options_.ignore_below;
  auto masked = [=](float x) { return masking && x <= ignore_below; };
  auto usable = [=](float x) { return std::isfinite(x) && !masked(x); };
  // The values to skip, counted without a branch per element (the usual count is 0): NaN and
  // ±inf have every exponent bit set; masked values are <= ignore_below.
  size_t skipped = 0;
  for (float x : values) {
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof(bits));
    skipped += static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u) |
               static_cast<uint32_t>(masking & (x <= ignore_below));
  }
  if (skipped == 0) {
    if (!values.empty()) ObserveUsable(values);
    stats_.used += static_cast<int64_t>(values.size());
    return;
  }
  scratch_.clear();
  scratch_.reserve(values.size() - skipped);
  for (float x : values) {
    if (usable(x)) {
      scratch_.push_back(x);
    } else if (std::isnan(x)) {
      ++stats_.nan;
    } else if (masked(x)) {
      ++stats_.masked;
    } else {
      ++stats_.inf;
    }
  }
  stats_.used += static_cast<int64_t>(scratch_.size());
  if (!scratch_.empty()) ObserveUsable(scratch_);
}

Result<Range> Observer::ComputeRange() const {
  if (stats_.used == 0) {
    return InvalidInput(
        "{} observer: no usable values to compute a range from ({} seen: {} NaN, {} infinite, "
        "{} masked at <= {})",
        name(), stats_.seen, stats_.nan, stats_.inf, stats_.masked, options_.ignore_below);
  }
  return ComputeUsableRange();
}

const std::vector<std::string>& ObserverNames() {
  static const std::vector<std::string> kNames = {"minmax", "ema", "percentile", "entropy", "mse"};
  return kNames;
}

Result<std::unique_ptr<Observer>> MakeObserver(std::string_view name, const ObserverOptions& options) {
  SQ_RETURN_IF_ERROR(ValidateIntType(options.type).WithContext(fmt::format("{} observer", name)));
  if (std::isnan(options.ignore_below))
    return InvalidInput("{} observer: ignore_below is NaN", name);
  if (!(options.ema_constant > 0.0 && options.ema_constant <= 1.0))
    return InvalidInput("{} observer: moving average constant {} must be in (0, 1]", name,
                        options.ema_constant);
  if (!(options.percentile > 0.0 && options.percentile <= 100.0))
    return InvalidInput("{} observer: percentile {} must be in (0, 100]", name, options.percentile);
  if (options.num_bins < 256 || options.num_bins > (1 << 20))
    return InvalidInput("{} observer: {} histogram bins, expected 256 to {}", name, options.num_bins,
                        1 << 20);

  if (name == "minmax") return std::unique_ptr<Observer>(new MinMaxObserver(options));
  if (name == "ema") return std::unique_ptr<Observer>(new EmaObserver(options));
  if (name == "percentile") return std::unique_ptr<Observer>(new PercentileObserver(options));
  if (name == "entropy") return std::unique_ptr<Observer>(new EntropyObserver(options));
  if (name == "mse") return std::unique_ptr<Observer>(new MseObserver(options));
  return InvalidInput("unknown calibration method '{}'; valid methods: {}", name,
                      fmt::join(ObserverNames(), ", "));
}

}  // namespace squint::quant

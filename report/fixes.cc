#include "report/fixes.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace squint::report {

void RankFixes(FixReport* r) {
  std::stable_sort(r->fixes.begin(), r->fixes.end(), [](const MeasuredFix& a, const MeasuredFix& b) {
    if (a.error.empty() != b.error.empty()) return a.error.empty();
    return a.error.empty() && a.output_sqnr_db > b.output_sqnr_db;
  });
}

namespace {

std::string Quality(const MeasuredFix& f, const MeasuredFix& base) {
  std::string s = fmt::format("{:6.2f} dB ({:+.2f})  agree {:6.2f}%", f.output_sqnr_db,
                              f.output_sqnr_db - base.output_sqnr_db, f.top1_agreement);
  if (f.accuracy && base.accuracy) s += fmt::format("  acc {:6.2f}% ({:+.2f} pt)", *f.accuracy, *f.accuracy - *base.accuracy);
  if (f.bits_per_char && base.bits_per_char)
    s += fmt::format("  bits/char {:.4f} ({:+.2f}%)", *f.bits_per_char, 100.0 * (*f.bits_per_char / *base.bits_per_char - 1));
  return s;
}

}  // namespace

std::string FormatFixes(const FixReport& r) {
  std::string s = fmt::format(
      "suggested fixes, each alone on top of the .sqnt's options (calibration on {}, measured on {} samples, end to "
      "end; latency: best invoke of several on this machine, one thread):\n",
      r.calib, r.samples);
  auto latency = [&](const MeasuredFix& f) {
    if (!f.latency_us) return std::string();
    if (&f == &r.base || !r.base.latency_us) return fmt::format("  {:.0f} us", *f.latency_us);
    return fmt::format("  {:.0f} us ({:+.0f})", *f.latency_us, *f.latency_us - *r.base.latency_us);
  };
  s += fmt::format("  base          {}  {} bytes{}{}\n", Quality(r.base, r.base), r.base.bytes, latency(r.base),
                   r.base_reproduced ? "" : "  (quantized again, it differs from the .sqnt: other calibration data?)");
  for (const MeasuredFix& f : r.fixes) {
    if (!f.error.empty()) {
      s += fmt::format("  n/a           {}: {}\n", f.flag, f.error);
      continue;
    }
    s += fmt::format("  {:+6.2f} dB     {}  {:+} bytes{}  {}\n", f.output_sqnr_db - r.base.output_sqnr_db,
                     Quality(f, r.base), f.bytes - r.base.bytes, latency(f), f.flag);
  }
  return s;
}

nlohmann::json ToJson(const FixReport& r) {
  auto one = [](const MeasuredFix& f) {
    nlohmann::json j{{"what", f.what}, {"flag", f.flag}, {"flags", f.flags}};
    if (!f.layer.empty()) j["layer"] = f.layer;
    if (!f.error.empty()) {
      j["error"] = f.error;
      return j;
    }
    j["bytes"] = f.bytes;
    j["output_sqnr_db"] = std::isfinite(f.output_sqnr_db) ? nlohmann::json(f.output_sqnr_db) : nlohmann::json("inf");
    j["top1_agreement"] = f.top1_agreement;
    if (f.accuracy) j["accuracy"] = *f.accuracy;
    if (f.bits_per_char) j["bits_per_char"] = *f.bits_per_char;
    if (f.layer_sqnr_db) j["layer_sqnr_db"] = std::isfinite(*f.layer_sqnr_db) ? nlohmann::json(*f.layer_sqnr_db) : nlohmann::json("inf");
    return j;
  };
  nlohmann::json j{{"samples", r.samples}, {"calib", r.calib}, {"base", one(r.base)},
                   {"base_reproduced", r.base_reproduced}, {"fixes", nlohmann::json::array()}};
  for (const MeasuredFix& f : r.fixes) j["fixes"].push_back(one(f));
  return j;
}

}  // namespace squint::report

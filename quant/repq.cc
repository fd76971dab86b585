// RepqGraph (repq.h): per-channel ranges from TapValues, the reparameterization through passes/smooth.
#include "quant/repq.h"

#include <algorithm>
#include <cmath>

#include "passes/smooth.h"
#include "quant/activation_stats.h"
#include "quant/value_tap.h"

namespace squint::quant {
Result<RepqReport> RepqGraph(ir::Graph& g, const CalibData& calib, int64_t max_samples, int bits) {
  if (bits < 2 || bits > 16) return InvalidInput("repq: {} activation bits (expected 2 to 16)", bits);
  RepqReport report;
  const std::vector<passes::SmoothSite> sites = passes::FindSmoothSites(g, &report.skipped);
  if (sites.empty()) return report;
  std::vector<ir::ValueId> wanted;
  std::vector<std::vector<float>> lo(sites.size()), hi(sites.size());
  for (size_t i = 0; i < sites.size(); ++i) {
    wanted.push_back(sites[i].x);
    lo[i].assign(static_cast<size_t>(sites[i].channels), 0.0f);  // the grid holds 0
    hi[i].assign(static_cast<size_t>(sites[i].channels), 0.0f);
  }
  SQ_RETURN_IF_ERROR(TapValues(g, calib, max_samples, wanted, [&](const std::map<ir::ValueId, ir::Tensor>& values) {
    for (size_t i = 0; i < sites.size(); ++i) {
      const ir::Tensor& t = values.at(sites[i].x);
      const int64_t c = sites[i].channels;
      for (int64_t r = 0; r < t.size() / c; ++r)
        for (int64_t j = 0; j < c; ++j) {
          const float v = t.data<float>()[r * c + j];
          lo[i][static_cast<size_t>(j)] = std::min(lo[i][static_cast<size_t>(j)], v);
          hi[i][static_cast<size_t>(j)] = std::max(hi[i][static_cast<size_t>(j)], v);
        }
    }
    return Status::Ok();
  }));
  const double levels = std::ldexp(1.0, bits) - 1;
  ir::ValueNames names(g);
  for (size_t i = 0; i < sites.size(); ++i) {
    const passes::SmoothSite& site = sites[i];
    const size_t c = static_cast<size_t>(site.channels);
    std::vector<double> s(c), z(c), range(c);
    double s_sum = 0, z_sum = 0;
    size_t live = 0;
    for (size_t j = 0; j < c; ++j) {
      range[j] = double{hi[i][j]} - lo[i][j];
      s[j] = range[j] / levels;
      z[j] = s[j] > 0 ? std::round(-lo[i][j] / s[j]) : 0;
      if (s[j] > 0) {
        s_sum += s[j];
        z_sum += z[j];
        ++live;
      }
    }
    RepqSite out;
    out.norm = g.nodes[static_cast<size_t>(site.norm)].Label();
    out.channels = site.channels;
    out.linears = static_cast<int64_t>(site.linears.size());
    out.range_ratio_before = MaxOverMedian(range);
    if (live == 0) {  // nothing measured: leave the site as it is
      out.range_ratio_after = out.range_ratio_before;
      report.sites.push_back(std::move(out));
      continue;
    }
    const double s_layer = s_sum / static_cast<double>(live), z_layer = std::round(z_sum / static_cast<double>(live));
    std::vector<float> r1(c, 1.0f), shift(c, 0.0f);
    std::vector<double> after(c);
    for (size_t j = 0; j < c; ++j) {
      if (s[j] > 0) {
        r1[j] = static_cast<float>(s[j] / s_layer);
        shift[j] = static_cast<float>(s[j] * (z_layer - z[j]));  // x' = (x − δ)/r1 with δ = −s·r2
      }
      after[j] = range[j] / r1[j];
    }
    out.range_ratio_after = MaxOverMedian(after);
    SQ_RETURN_IF_ERROR(passes::ApplySmoothing(g, site, r1, &names, shift));
    report.sites.push_back(std::move(out));
  }
  return report;
}

}  // namespace squint::quant

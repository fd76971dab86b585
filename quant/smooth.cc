// SmoothGraph (smooth.h): statistics from TapValues, the α search, the rewrite from passes/smooth.
#include "quant/smooth.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ir/eval/ops/gemm.h"
#include "passes/smooth.h"
#include "quant/activation_stats.h"
#include "quant/fake_quant.h"
#include "quant/value_tap.h"

namespace squint::quant {
namespace {

// What one site needs from the calibration data.
struct SiteStats {
  std::vector<float> absmax;  // per channel, over every calibration row
  std::vector<float> rows;    // up to max_rows rows [r, channels], spread over the samples
};

class SiteSearch {
 public:
  SiteSearch(const ir::Graph& g, const passes::SmoothSite& site, const SiteStats& stats, const SmoothOptions& o)
      : stats_(stats), opts_(o), c_(site.channels),
        rows_(static_cast<int64_t>(stats.rows.size()) / std::max<int64_t>(site.channels, 1)) {
    wmax_.assign(static_cast<size_t>(c_), 0.0f);
    for (int32_t li : site.linears) {
      const ir::Tensor& w = *g.constant(g.nodes[static_cast<size_t>(li)].input(1));
      Linear l{w.data<float>(), w.dim(1), std::vector<float>(static_cast<size_t>(rows_ * w.dim(1)))};
      for (int64_t j = 0; j < c_; ++j)
        for (int64_t col = 0; col < l.n; ++col) wmax_[j] = std::max(wmax_[j], std::fabs(l.w[j * l.n + col]));
      // x·W on the kept rows: the target of every E(s), computed once.
      ir::eval::GemmRowMajor<float>(stats_.rows.data(), false, l.w, false, l.ref.data(), rows_, c_, l.n, 1.0f, false);
      linears_.push_back(std::move(l));
    }
  }

  std::vector<float> Scales(double alpha) const {
    std::vector<float> s(static_cast<size_t>(c_), 1.0f);
    for (int64_t j = 0; j < c_; ++j) {
      const double a = stats_.absmax[j], w = wmax_[j];
      if (a > 0 && w > 0) s[j] = static_cast<float>(std::pow(a, alpha) / std::pow(w, 1 - alpha));
      if (!(std::isfinite(s[j]) && s[j] > 0)) s[j] = 1.0f;
    }
    return s;
  }

  // E(s) per row.
  double Error(const std::vector<float>& s) const {
    std::vector<float> x(stats_.rows);
    for (int64_t r = 0; r < rows_; ++r)
      for (int64_t j = 0; j < c_; ++j) x[r * c_ + j] /= s[j];
    FakeQuantActivations(x, opts_.act_bits);
    double err = 0;
    for (const Linear& l : linears_) {
      std::vector<float> w(l.w, l.w + c_ * l.n);
      for (int64_t j = 0; j < c_; ++j)
        for (int64_t col = 0; col < l.n; ++col) w[j * l.n + col] *= s[j];
      FakeQuantWeights(w, c_, l.n, opts_.weight_bits);
      std::vector<float> y(l.ref.size());
      ir::eval::GemmRowMajor<float>(x.data(), false, w.data(), false, y.data(), rows_, c_, l.n, 1.0f, false);
      for (size_t i = 0; i < y.size(); ++i) {
        const double d = static_cast<double>(y[i]) - l.ref[i];
        err += d * d;
      }
    }
    return rows_ > 0 ? err / static_cast<double>(rows_) : 0;
  }

 private:
  struct Linear {
    const float* w;          // W [c_, n], the graph's constant
    int64_t n;
    std::vector<float> ref;  // x·W [rows_, n] in float
  };
  const SiteStats& stats_;
  const SmoothOptions& opts_;
  int64_t c_, rows_;
  std::vector<float> wmax_;
  std::vector<Linear> linears_;
};

}  // namespace

Result<SmoothReport> SmoothGraph(ir::Graph& g, const CalibData& calib, const SmoothOptions& opts) {
  SmoothReport report;
  const std::vector<passes::SmoothSite> sites = passes::FindSmoothSites(g, &report.skipped);
  if (sites.empty()) return report;
  const int64_t samples = opts.max_samples > 0 ? std::min(opts.max_samples, calib.num_samples) : calib.num_samples;
  std::vector<ir::ValueId> wanted;
  for (const passes::SmoothSite& s : sites) wanted.push_back(s.x);
  std::vector<SiteStats> stats(sites.size());
  for (size_t i = 0; i < sites.size(); ++i) stats[i].absmax.assign(static_cast<size_t>(sites[i].channels), 0.0f);
  SQ_RETURN_IF_ERROR(TapValues(g, calib, samples, wanted, [&](const std::map<ir::ValueId, ir::Tensor>& values) {
    for (size_t i = 0; i < sites.size(); ++i) {
      const ir::Tensor& t = values.at(sites[i].x);
      const int64_t c = sites[i].channels;
      const int64_t rows = t.size() / c;
      SiteStats& st = stats[i];
      // Keep every row of a sample while there is room, then every k-th row, k fixed by the
      // first sample (rows per sample are the same for every sample).
      const int64_t per_sample = std::max<int64_t>(1, opts.max_rows / std::max<int64_t>(samples, 1));
      const int64_t step = std::max<int64_t>(1, rows / per_sample);
      for (int64_t r = 0; r < rows; ++r) {
        const float* row = t.data<float>() + r * c;
        for (int64_t j = 0; j < c; ++j) st.absmax[j] = std::max(st.absmax[j], std::fabs(row[j]));
        if (r % step == 0 && static_cast<int64_t>(st.rows.size()) < opts.max_rows * c)
          st.rows.insert(st.rows.end(), row, row + c);
      }
    }
    return Status::Ok();
  }));
  ir::ValueNames names(g);
  for (size_t i = 0; i < sites.size(); ++i) {
    const passes::SmoothSite& site = sites[i];
    SmoothedSite out;
    out.norm = g.nodes[static_cast<size_t>(site.norm)].Label();
    out.channels = site.channels;
    out.linears = static_cast<int64_t>(site.linears.size());
    out.max_ratio_before = out.max_ratio_after =
        MaxOverMedian(std::vector<double>(stats[i].absmax.begin(), stats[i].absmax.end()));
    const SiteSearch search(g, site, stats[i], opts);
    const std::vector<float> ones(static_cast<size_t>(site.channels), 1.0f);
    out.error_before = out.error_after = search.Error(ones);
    std::vector<float> best;
    for (double alpha : opts.alphas) {
      std::vector<float> s = search.Scales(alpha);
      const double e = search.Error(s);
      if (e < out.error_after) {
        out.error_after = e;
        out.alpha = alpha;
        best = std::move(s);
      }
    }
    if (!best.empty()) {
      std::vector<float> after(stats[i].absmax);
      for (size_t j = 0; j < after.size(); ++j) after[j] /= best[j];
      out.max_ratio_after = MaxOverMedian(std::vector<double>(after.begin(), after.end()));
      SQ_RETURN_IF_ERROR(passes::ApplySmoothing(g, site, best, &names));
      out.applied = true;
    }
    report.sites.push_back(std::move(out));
  }
  return report;
}

}  // namespace squint::quant

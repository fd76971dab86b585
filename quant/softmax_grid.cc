#include "quant/softmax_grid.h"

#include <algorithm>
#include <cmath>

#include "quant/value_tap.h"

namespace squint::quant {
namespace {

namespace ref = rt::ref;

// A probability boundary b as the kernel's Q30 threshold: P < t ⟺ p < t/2^30.
uint32_t ToQ30(double b) {
  const double q = std::nearbyint(b * static_cast<double>(ref::kLogGridOne));
  return static_cast<uint32_t>(std::clamp(q, 0.0, static_cast<double>(ref::kLogGridOne) + 1.0));
}

}  // namespace

LogGridTables BuildLog2Grid(int bits) {
  LogGridTables t;
  t.kind = fb::SoftmaxGrid::LOG2;
  t.bits = bits;
  const int n = std::min(1 << bits, ref::kLogGridMaxShift + 1);
  for (int q = 0; q < n; ++q) {
    t.shifts.push_back(static_cast<uint8_t>(q));
    t.thresholds.push_back(ToQ30(std::exp2(-(q + 0.5))));
  }
  return t;
}

LogGridTables BuildLogSqrt2Grid(int bits, float delta) {
  LogGridTables t;
  t.kind = fb::SoftmaxGrid::LOG_SQRT2;
  t.bits = bits;
  t.delta = std::clamp(delta, 0x1p-20f, 1.0f);
  const int n = std::min(1 << bits, 2 * ref::kLogGridMaxShift + 1);
  for (int q = 0; q < n; ++q) {
    t.shifts.push_back(static_cast<uint8_t>((q + 1) / 2));  // Δ·√2^−q = Δ·2^−⌈q/2⌉·(odd q ? √2 : 1)
    t.sqrt2.push_back(static_cast<uint8_t>(q % 2));
    t.thresholds.push_back(ToQ30(t.delta * std::exp2(-(q + 0.5) / 2.0)));
  }
  return t;
}

LogGridTables BuildSulqGrid(int bits, float eta, float lo, float hi) {
  LogGridTables t;
  t.kind = fb::SoftmaxGrid::SULQ;
  t.bits = bits;
  t.eta = eta;
  t.log_lo = lo;
  t.log_hi = hi;
  const int n = std::min(1 << bits, ref::kLogGridMaxCodes);
  const double step = (static_cast<double>(hi) - lo) / (n - 1);
  std::vector<int> e(static_cast<size_t>(n));  // by level l
  for (int l = 0; l < n; ++l) e[static_cast<size_t>(l)] = static_cast<int>(std::nearbyint(l * step + lo));
  const int e_max = std::max(e.back(), -ref::kLogGridMaxShift);
  t.delta = std::ldexp(1.0f, e_max);
  for (int q = 0; q < n; ++q) {
    const int l = n - 1 - q;
    t.shifts.push_back(static_cast<uint8_t>(std::clamp(e_max - e[static_cast<size_t>(l)], 0, ref::kLogGridMaxShift)));
    // Between level l and l − 1; below level 0 nothing is 0 (every probability has a level).
    t.thresholds.push_back(l == 0 ? 0u : ToQ30(std::exp2(lo + (l - 0.5) * step) - eta));
  }
  return t;
}

ref::LogGrid GridView(const LogGridTables& t) {
  ref::LogGrid g;
  g.n = static_cast<int32_t>(t.shifts.size());
  g.thresholds = t.thresholds.data();
  g.shifts = t.shifts.data();
  g.sqrt2 = t.sqrt2.empty() ? nullptr : t.sqrt2.data();
  for (uint8_t s : t.shifts) g.max_shift = std::max<int32_t>(g.max_shift, s);
  g.eta_q = ref::LogGridEtaQ(t.delta, t.eta, g.max_shift);
  return g;
}

double GridValue(const LogGridTables& t, int32_t q) {
  if (q < 0 || q >= static_cast<int32_t>(t.shifts.size())) return 0.0;
  const size_t i = static_cast<size_t>(q);
  return ref::LogGridValue(t.delta, t.eta, t.shifts[i], !t.sqrt2.empty() && t.sqrt2[i] != 0);
}

int32_t GridCode(const ref::LogGrid& view, double p) {
  const double units = p > 0.0 ? std::round(std::min(p, 1.0) * static_cast<double>(ref::kLogGridOne)) : 0.0;
  return ref::LogGridCode(view, static_cast<uint32_t>(units));
}

int32_t GridCode(const LogGridTables& t, double p) { return GridCode(GridView(t), p); }

void ProbabilityHistogram::Add(const float* p, int64_t count) {
  const int bins = static_cast<int>(count_.size());
  for (int64_t i = 0; i < count; ++i) {
    const double v = p[i];
    if (!(v > 0.0)) {
      ++zeros_;
      continue;
    }
    const int b = std::clamp(static_cast<int>(-std::log2(v) * kBinsPerOctave), 0, bins - 1);
    ++count_[static_cast<size_t>(b)];
    sum_[static_cast<size_t>(b)] += v;
    sum_sq_[static_cast<size_t>(b)] += v * v;
    ++nonzero_;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
}

double ProbabilityHistogram::MeanSquaredError(const LogGridTables& t) const {
  double err = 0.0;
  const ref::LogGrid view = GridView(t);
  for (size_t b = 0; b < count_.size(); ++b) {
    if (count_[b] == 0) continue;
    const double n = static_cast<double>(count_[b]);
    const double v = GridValue(t, GridCode(view, sum_[b] / n));
    err += sum_sq_[b] - 2.0 * v * sum_[b] + n * v * v;  // Σ (p − v)² over the bin
  }
  const int64_t total = zeros_ + nonzero_;
  return total == 0 ? 0.0 : std::max(err, 0.0) / static_cast<double>(total);
}

double ProbabilityHistogram::Quantile(double q) const {
  const double rank = q * static_cast<double>(zeros_ + nonzero_);
  double seen = static_cast<double>(zeros_);
  if (rank <= seen) return 0.0;
  for (size_t b = count_.size(); b-- > 0;) {  // ascending probabilities
    if (count_[b] == 0) continue;
    seen += static_cast<double>(count_[b]);
    if (seen >= rank) return sum_[b] / static_cast<double>(count_[b]);
  }
  return max_;
}

std::vector<LogGridTables> GridCandidates(fb::SoftmaxGrid kind, int bits, const ProbabilityHistogram& h) {
  std::vector<LogGridTables> candidates;
  if (kind == fb::SoftmaxGrid::LOG2) {
    candidates.push_back(BuildLog2Grid(bits));
  } else if (kind == fb::SoftmaxGrid::LOG_SQRT2) {
    for (double q : {0.999, 0.9999, 0.99999})
      if (h.Quantile(q) > 0.0) candidates.push_back(BuildLogSqrt2Grid(bits, static_cast<float>(h.Quantile(q))));
    if (h.nonzero() > 0) candidates.push_back(BuildLogSqrt2Grid(bits, static_cast<float>(h.max())));
    candidates.push_back(BuildLogSqrt2Grid(bits, 1.0f));
  } else {
    const double p_min = h.nonzero() > 0 ? h.min() : 0.0, p_max = h.nonzero() > 0 ? h.max() : 1.0;
    for (double eta : {0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.2, 0.5, 1.0}) {
      const double lo = std::log2(p_min + eta), hi = std::max(std::log2(p_max + eta), lo + 1e-3);
      candidates.push_back(
          BuildSulqGrid(bits, static_cast<float>(eta), static_cast<float>(lo), static_cast<float>(hi)));
    }
  }
  // The smallest mean squared error first; the others keep their order (stable).
  size_t best = 0;
  double best_err = h.MeanSquaredError(candidates[0]);
  for (size_t i = 1; i < candidates.size(); ++i) {
    const double err = h.MeanSquaredError(candidates[i]);
    if (err < best_err) best = i, best_err = err;
  }
  std::rotate(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(best),
              candidates.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  return candidates;
}

LogGridTables FitGrid(fb::SoftmaxGrid kind, int bits, const ProbabilityHistogram& h) {
  return GridCandidates(kind, bits, h).front();
}

Result<std::map<std::string, std::vector<LogGridTables>>> SoftmaxGridCandidates(const ir::Graph& g, const CalibData& data,
                                                                   int64_t max_samples, fb::SoftmaxGrid kind,
                                                                   int bits) {
  std::vector<const ir::Node*> softmaxes;
  std::vector<ir::ValueId> wanted;
  for (const ir::Node& n : g.nodes)
    if (n.op == ir::OpType::kSoftmax) {
      softmaxes.push_back(&n);
      wanted.push_back(n.outputs.at(0));
    }
  std::vector<ProbabilityHistogram> hist(softmaxes.size());
  if (kind != fb::SoftmaxGrid::LOG2 && !softmaxes.empty()) {
    SQ_RETURN_IF_ERROR(TapValues(g, data, max_samples, wanted, [&](const std::map<ir::ValueId, ir::Tensor>& seen) {
      for (size_t i = 0; i < softmaxes.size(); ++i) {
        const ir::Tensor& y = seen.at(wanted[i]);
        hist[i].Add(y.data<float>(), y.size());
      }
      return Status::Ok();
    }));
  }
  std::map<std::string, std::vector<LogGridTables>> out;
  for (size_t i = 0; i < softmaxes.size(); ++i) out[softmaxes[i]->name] = GridCandidates(kind, bits, hist[i]);
  return out;
}

}  // namespace squint::quant

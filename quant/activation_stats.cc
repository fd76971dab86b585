// MeasureInputs (activation_stats.h): moments accumulated in double over TapValues.
#include "quant/activation_stats.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "quant/value_tap.h"

namespace squint::quant {

Result<std::vector<InputStats>> MeasureInputs(const ir::Graph& g, const CalibData& data, int64_t max_samples,
                                              std::span<const ir::OpType> ops) {
  std::vector<ir::ValueId> wanted;
  std::vector<InputStats> stats;
  for (const ir::Node& n : g.nodes) {
    if (std::find(ops.begin(), ops.end(), n.op) == ops.end() || n.input(0) == ir::kNoValue || g.constant(n.input(0)))
      continue;
    if (std::find(wanted.begin(), wanted.end(), n.input(0)) != wanted.end()) continue;
    wanted.push_back(n.input(0));
    stats.push_back({n.Label(), n.op});
  }
  if (wanted.empty()) return stats;
  // Raw moments Σx, Σx², Σx³, Σx⁴ per input; the central fourth moment follows from them.
  std::vector<std::array<double, 4>> sums(wanted.size(), {0, 0, 0, 0});
  SQ_RETURN_IF_ERROR(TapValues(g, data, max_samples, wanted, [&](const std::map<ir::ValueId, ir::Tensor>& values) {
    for (size_t i = 0; i < wanted.size(); ++i) {
      const ir::Tensor& t = values.at(wanted[i]);
      const float* p = t.data<float>();
      for (int64_t k = 0; k < t.size(); ++k) {
        const double x = p[k], x2 = x * x;
        sums[i][0] += x;
        sums[i][1] += x2;
        sums[i][2] += x2 * x;
        sums[i][3] += x2 * x2;
        stats[i].max_abs = std::max(stats[i].max_abs, std::fabs(x));
      }
      stats[i].elements += t.size();
    }
    return Status::Ok();
  }));
  for (size_t i = 0; i < wanted.size(); ++i) {
    const double n = static_cast<double>(stats[i].elements);
    if (n == 0) continue;
    const double m1 = sums[i][0] / n, m2 = sums[i][1] / n, m3 = sums[i][2] / n, m4 = sums[i][3] / n;
    const double var = m2 - m1 * m1;
    const double c4 = m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1 * m1 * m1 * m1;
    stats[i].kurtosis = var > 0 ? c4 / (var * var) : 0;
    stats[i].rms = std::sqrt(m2);
  }
  return stats;
}

double MaxOverMedian(std::vector<double> a) {
  if (a.empty()) return 0;
  const double mx = *std::max_element(a.begin(), a.end());
  std::nth_element(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(a.size() / 2), a.end());
  const double med = a[a.size() / 2];
  return med > 0 ? mx / med : 0;
}

}  // namespace squint::quant

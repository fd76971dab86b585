#include "quant/adaround.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Core>

#include "quant/affine.h"

namespace squint::quant {
namespace {

using Arr = Eigen::ArrayXXd;

constexpr double kZeta = 1.1, kGamma = -0.1;
constexpr double kAdamBeta1 = 0.9, kAdamBeta2 = 0.999, kAdamEps = 1e-8;

}  // namespace

Result<std::vector<int8_t>> AdaRound(const std::string& name, const std::vector<float>& w, int64_t units,
                                     int64_t depth, const std::vector<float>& scales, int bits,
                                     const InputHessian& hessian, const AdaRoundOptions& options) {
  SQ_ASSIGN_OR_RETURN(const int64_t group, CheckRoundingShapes("AdaRound", name, w, units, depth, scales, hessian));
  const bool per_tensor = scales.size() == 1;
  if (options.iterations < 0 || options.warmup < 0 || options.warmup > 1)
    return Internal("AdaRound '{}': {} iterations, warm-up {}", name, options.iterations, options.warmup);
  const double qmax = IntType{bits, true}.qmax(/*symmetric=*/true);
  std::vector<int8_t> codes(w.size(), 0);
  if (units == 0 || depth == 0) return codes;

  Arr wt(units, depth), s(units, depth);
  for (int64_t r = 0; r < units; ++r)
    for (int64_t j = 0; j < depth; ++j) {
      wt(r, j) = w[static_cast<size_t>(r * depth + j)];
      s(r, j) = per_tensor ? scales[0] : scales[static_cast<size_t>(r * (depth / group) + j / group)];
    }
  const Arr ws = wt / s;
  const Arr fl = ws.floor();
  // V where h(V) is the fractional part: σ(V) = (frac − γ) / (ζ − γ).
  const Arr sig0 = ((ws - fl) - kGamma) / (kZeta - kGamma);
  Arr v = (sig0 / (1.0 - sig0)).log();
  const Eigen::MatrixXd hm = hessian.h / static_cast<double>(std::max<int64_t>(hessian.rows, 1));
  Arr m = Arr::Zero(units, depth), vv = Arr::Zero(units, depth);

  const int warm = static_cast<int>(std::lround(options.warmup * options.iterations));
  for (int it = 0; it < options.iterations; ++it) {
    const Arr sig = 1.0 / (1.0 + (-v).exp());
    const Arr hraw = sig * (kZeta - kGamma) + kGamma;
    const Arr h = hraw.max(0.0).min(1.0);
    const Arr q = fl + h;
    const Arr qc = q.max(-qmax).min(qmax);
    const Eigen::MatrixXd e = (s * qc - wt).matrix();
    // d/dq of Σ_units e H eᵀ: 2·(e·H)·s where the code is inside the grid.
    Arr dh = 2.0 * (e * hm).array() * s * (q.abs() <= qmax).cast<double>();
    if (it >= warm) {
      const double rel = options.iterations > warm ? static_cast<double>(it - warm) / (options.iterations - warm) : 1;
      const double beta = options.beta_end + (options.beta_start - options.beta_end) * (1.0 - rel);
      const Arr c = 2.0 * h - 1.0;  // d/dh of 1 − |2h − 1|^β = −2β·|2h − 1|^(β−1)·sign(2h − 1)
      dh += options.lambda * (-2.0 * beta) * c.abs().pow(beta - 1.0) * c.sign();
    }
    const Arr dv = dh * (kZeta - kGamma) * sig * (1.0 - sig) * ((hraw > 0.0) && (hraw < 1.0)).cast<double>();
    m = kAdamBeta1 * m + (1 - kAdamBeta1) * dv;
    vv = kAdamBeta2 * vv + (1 - kAdamBeta2) * dv.square();
    const double c1 = 1 - std::pow(kAdamBeta1, it + 1), c2 = 1 - std::pow(kAdamBeta2, it + 1);
    v -= options.learning_rate * (m / c1) / ((vv / c2).sqrt() + kAdamEps);
  }
  const Arr sig = 1.0 / (1.0 + (-v).exp());
  const Arr up = ((sig * (kZeta - kGamma) + kGamma) >= 0.5).cast<double>();
  for (int64_t r = 0; r < units; ++r)
    for (int64_t j = 0; j < depth; ++j)
      codes[static_cast<size_t>(r * depth + j)] = static_cast<int8_t>(std::clamp(fl(r, j) + up(r, j), -qmax, qmax));
  return codes;
}

}  // namespace squint::quant

#include "quant/weights.h"

#include <algorithm>
#include <cmath>

#include "quant/affine.h"

namespace squint::quant {

std::vector<float> BiasScaleFloor(const std::vector<float>& bias, double s_x, int64_t depth,
                                  int32_t input_zero_point, bool int8_input) {
  constexpr double kInt32Max = 2147483647.0;
  if (!(s_x > 0) || depth < 0) return {};
  const double max_diff = std::max(127.0 - input_zero_point, 128.0 + input_zero_point);
  // Margin: 1 code for the rounding of the bias, and a relative 1e-6 for the float32 scale.
  const double headroom =
      ((int8_input ? kInt32Max - static_cast<double>(depth) * max_diff * 128.0 : kInt32Max) - 1.0) * (1.0 - 1e-6);
  if (headroom <= 0) return {};
  std::vector<float> floor(bias.size());
  for (size_t c = 0; c < bias.size(); ++c) floor[c] = static_cast<float>(std::fabs(bias[c]) / (s_x * headroom));
  return floor;
}

Result<QuantizedWeights> QuantizeWeightBlocks(const std::vector<float>& w, int64_t num_blocks, int bits,
                                              const std::vector<float>& min_scale) {
  if (bits < 2 || bits > 8) return InvalidInput("weight bits {} outside 2..8", bits);
  const int64_t total = static_cast<int64_t>(w.size());
  if (num_blocks < 0 || (num_blocks == 0 && total != 0) || (num_blocks > 0 && total % num_blocks != 0))
    return Internal("{} weight blocks do not divide {} elements", num_blocks, total);
  const auto units = static_cast<int64_t>(min_scale.size());
  if (units > 0 && num_blocks != 1 && num_blocks % units != 0)
    return Internal("{} weight scale floors do not divide {} weight blocks", units, num_blocks);
  const float tensor_floor = min_scale.empty() ? 0.f : *std::max_element(min_scale.begin(), min_scale.end());
  const int32_t qmax = IntType{bits, true}.qmax(/*symmetric=*/true);
  QuantizedWeights out;
  out.codes.resize(w.size());
  const int64_t per = num_blocks > 0 ? total / num_blocks : 0;
  for (int64_t b = 0; b < num_blocks; ++b) {
    float m = 0;
    for (int64_t i = b * per; i < (b + 1) * per; ++i) m = std::max(m, std::fabs(w[static_cast<size_t>(i)]));
    if (units > 0) {
      const float f = num_blocks == 1 ? tensor_floor : min_scale[static_cast<size_t>(b / (num_blocks / units))];
      // The grid ±floor·qmax has scale floor (up to float rounding, absorbed by BiasScaleFloor's margin).
      if (std::isfinite(f)) m = std::max(m, f * static_cast<float>(qmax));
    }
    SQ_ASSIGN_OR_RETURN(AffineParams p, ComputeAffineParams({-m, m}, IntType{bits, true}, /*symmetric=*/true));
    out.scales.push_back(p.scale);
    for (int64_t i = b * per; i < (b + 1) * per; ++i)
      out.codes[static_cast<size_t>(i)] = static_cast<int8_t>(p.Quantize(w[static_cast<size_t>(i)]));
  }
  if (num_blocks == 0) out.scales.push_back(1.0f);
  return out;
}

}  // namespace squint::quant

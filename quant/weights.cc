#include "quant/weights.h"

#include <algorithm>
#include <cmath>

#include "quant/affine.h"

namespace squint::quant {

Result<QuantizedWeights> QuantizeWeightBlocks(const std::vector<float>& w, int64_t num_blocks, int bits) {
  if (bits < 2 || bits > 8) return InvalidInput("weight bits {} outside 2..8", bits);
  const int64_t total = static_cast<int64_t>(w.size());
  if (num_blocks < 0 || (num_blocks == 0 && total != 0) || (num_blocks > 0 && total % num_blocks != 0))
    return Internal("{} weight blocks do not divide {} elements", num_blocks, total);
  QuantizedWeights out;
  out.codes.resize(w.size());
  const int64_t per = num_blocks > 0 ? total / num_blocks : 0;
  for (int64_t b = 0; b < num_blocks; ++b) {
    float m = 0;
    for (int64_t i = b * per; i < (b + 1) * per; ++i) m = std::max(m, std::fabs(w[static_cast<size_t>(i)]));
    SQ_ASSIGN_OR_RETURN(AffineParams p, ComputeAffineParams({-m, m}, IntType{bits, true}, /*symmetric=*/true));
    out.scales.push_back(p.scale);
    for (int64_t i = b * per; i < (b + 1) * per; ++i)
      out.codes[static_cast<size_t>(i)] = static_cast<int8_t>(p.Quantize(w[static_cast<size_t>(i)]));
  }
  if (num_blocks == 0) out.scales.push_back(1.0f);
  return out;
}

}  // namespace squint::quant

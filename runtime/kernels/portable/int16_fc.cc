// FULLY_CONNECTED with int16 activations (misc.h states the contract), at the baseline.
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "runtime/kernels/portable/misc.h"

#define SQUINT_INT16_FC_NAMESPACE portable
#define SQUINT_INT16_FC Qs16FullyConnected
#include "runtime/kernels/portable/int16_fc_impl.h"  // NOLINT(build/include)

namespace squint::rt::portable {

int32_t Int16FcBlock(int32_t max_abs_weight, int32_t depth) {
  // The largest block with block·2^15·max|w| <= 2^31 − 1 (|x| <= 2^15), at least 1 and at most
  // the depth; a multiple of 32 (one AVX-512 vector of int16) when it is not the whole depth.
  const int64_t m = std::max(1, max_abs_weight);
  int64_t block = ((int64_t{1} << 31) - 1) / (m << 15);
  if (block < depth && block >= 32) block = block / 32 * 32;
  return static_cast<int32_t>(std::max<int64_t>(1, std::min<int64_t>(block, std::max(depth, 1))));
}

size_t Int16FcScratchBytes(int32_t block) {
  using namespace int16_fc_detail;
  return static_cast<size_t>(kUnitChunk) * static_cast<size_t>(block) * sizeof(int16_t) +
         static_cast<size_t>(kRowChunk) * kUnitChunk * sizeof(int64_t);
}

void Int16FcFoldedBias(const int8_t* w, int32_t units, int32_t depth, const int32_t* bias, int32_t input_zero_point,
                       int64_t* folded_bias) {
  for (int32_t u = 0; u < units; ++u) {
    int64_t sum = 0;
    for (int32_t k = 0; k < depth; ++k) sum += w[int64_t{u} * depth + k];
    folded_bias[u] = (bias != nullptr ? bias[u] : 0) - int64_t{input_zero_point} * sum;
  }
}

}  // namespace squint::rt::portable

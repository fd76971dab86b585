// Weight quantization: symmetric codes on a `bits`-wide grid ([−7, 7] for 4 bits, [−127, 127]
// for 8), one scale per block of consecutive elements of the row-major weight. A block is a
// whole tensor (per tensor), one output channel's row (per channel) or `group_size` elements of
// a row (group scales, schema AffineQuantization.group_size).
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"

namespace squint::quant {

struct QuantizedWeights {
  std::vector<int8_t> codes;  // one per element
  std::vector<float> scales;  // one per block, in element order
};

// Splits w into num_blocks equal blocks (num_blocks must divide w.size(); 0 blocks, i.e. an
// empty weight, gives the single scale 1) and quantizes each on its own symmetric grid with
// s = max|w|/(2^(bits−1) − 1) (ComputeAffineParams, symmetric). bits in 2..8.
// `min_scale` (optional, one value per output channel / unit): a floor on the scale of every
// block of that unit (blocks per unit = num_blocks / min_scale.size(); a per-tensor weight,
// num_blocks 1, takes the largest floor): s = max(s, floor), the grid widened to ±floor·qmax.
// Internal error when min_scale.size() neither divides num_blocks nor num_blocks is 1.
Result<QuantizedWeights> QuantizeWeightBlocks(const std::vector<float>& w, int64_t num_blocks, int bits,
                                              const std::vector<float>& min_scale = {});

// The floor on the weight scale of each output channel c that keeps a layer's int32
// accumulator within range with its bias on the grid s_x·s_w[c] (kernels.h Int8DotFitsInt32):
//   round(|b[c]| / (s_x·s_w[c])) + depth·max|x − z_x|·128 <= 2^31 − 1,
//   i.e. s_w[c] >= |b[c]| / (s_x·H),  H = 2^31 − 1 − depth·max|x − z_x|·128 (less a rounding margin),
// with max|x − z_x| over int8 codes (input_zero_point in [−128, 127]). For int16 inputs (int64
// accumulator) only the bias code must fit int32: H = 2^31 − 1 (less the margin). A tiny weight
// scale (a channel of near-zero weights with a nonzero bias) would otherwise saturate the bias.
// Returns an empty vector when no floor can help (H <= 0: the reduction alone may overflow) or
// s_x <= 0; entries are 0 for channels without bias.
std::vector<float> BiasScaleFloor(const std::vector<float>& bias, double s_x, int64_t depth,
                                  int32_t input_zero_point, bool int8_input);

}  // namespace squint::quant

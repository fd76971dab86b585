// Reference FULLY_CONNECTED with packed int4 or group-scaled weights and CONV_2D with packed
// int4 weights (kernels.h states the contract and derives the group rescaling).
#include <cstdint>

#include "runtime/kernels/reference/kernel_util.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::ref {

using detail::Requant;
using detail::RoundDiv;

void UnpackInt4(const uint8_t* packed, int64_t count, int8_t* codes) {
  for (int64_t i = 0; i < count; ++i) codes[i] = static_cast<int8_t>(Int4At(packed, i));
}

bool GroupedDotFitsInt64(int64_t depth, int32_t input_zero_point, int64_t max_abs_bias,
                         int32_t max_abs_weight) {
  if (depth < 0 || max_abs_bias < 0 || max_abs_bias > (int64_t{1} << 32) || max_abs_weight < 0 ||
      max_abs_weight > 128 || depth > (int64_t{1} << 31))
    return false;
  const int64_t a = 127 - int64_t{input_zero_point}, b = int64_t{input_zero_point} + 128;
  const int64_t max_abs_x = a > b ? a : b;  // <= 2^17 for any int32 zero point in int8's range
  // depth·max_abs_x·max_abs_weight <= 2^31·2^8·2^7 = 2^46: no overflow before the comparison.
  const int64_t t = depth * max_abs_x * max_abs_weight;  // |t|/2^B
  return t < (int64_t{1} << (62 - kGroupScaleBits)) && (t << kGroupScaleBits) + max_abs_bias < (int64_t{1} << 62);
}

void FullyConnectedLowBit(const FullyConnectedLowBitParams& p, const int8_t* x, const uint8_t* w,
                          const int32_t* bias, int8_t* y) {
  const int8_t* w8 = reinterpret_cast<const int8_t*>(w);
  for (int32_t r = 0; r < p.rows; ++r) {
    const int8_t* x_r = x + int64_t{r} * p.depth;
    for (int32_t u = 0; u < p.units; ++u) {
      const int64_t row = int64_t{u} * p.depth;
      int32_t out;
      if (p.group_size == 0) {
        int32_t acc = bias != nullptr ? bias[u] : 0;
        for (int32_t k = 0; k < p.depth; ++k) {
          const int32_t wv = p.weight_int4 ? Int4At(w, row + k) : w8[row + k];
          acc += (int32_t{x_r[k]} - p.input_zero_point) * wv;
        }
        out = Requant(p.requant, u, acc);
      } else {
        const int32_t groups = p.depth / p.group_size;
        const uint16_t* m_u = p.group_multiplier + int64_t{u} * groups;
        int64_t t = 0;
        for (int32_t g = 0; g < groups; ++g) {
          int32_t a = 0;
          for (int32_t k = g * p.group_size; k < (g + 1) * p.group_size; ++k) {
            const int32_t wv = p.weight_int4 ? Int4At(w, row + k) : w8[row + k];
            a += (int32_t{x_r[k]} - p.input_zero_point) * wv;
          }
          t += int64_t{m_u[g]} * a;
        }
        const int64_t acc = int64_t{bias != nullptr ? bias[u] : 0} + RoundDiv(t, int64_t{1} << kGroupScaleBits);
        out = Requant(p.requant, u, acc);
      }
      y[int64_t{r} * p.units + u] = static_cast<int8_t>(out);
    }
  }
}

void Conv2DInt4(const Conv2DParams& p, const int8_t* x, const uint8_t* w, const int32_t* bias, int8_t* y) {
  detail::Conv2DLoop(p, x, [w](int64_t i) { return Int4At(w, i); }, bias, y);
}

}  // namespace squint::rt::ref

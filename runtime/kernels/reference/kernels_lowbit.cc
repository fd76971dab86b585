// Reference FULLY_CONNECTED and CONV_2D with packed int4 or group-scaled weights (kernels.h
// states the contract and derives the group rescaling).
#include <cstdint>

#include "runtime/kernels/reference/kernel_util.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::ref {

using detail::GroupScaledOutput;
using detail::Requant;

void UnpackInt4(const uint8_t* packed, int64_t count, int8_t* codes) {
  for (int64_t i = 0; i < count; ++i) codes[i] = static_cast<int8_t>(Int4At(packed, i));
}

bool GroupedDotFitsInt64(int64_t depth, int32_t input_zero_point, int64_t max_abs_bias, int32_t max_abs_weight,
                         bool int16_input) {
  if (depth < 0 || max_abs_bias < 0 || max_abs_bias > (int64_t{1} << 32) || max_abs_weight < 0 ||
      max_abs_weight > 128 || depth > (int64_t{1} << 31))
    return false;
  const int64_t hi = int16_input ? 32767 : 127, lo = int16_input ? -32768 : -128;
  const int64_t a = hi - int64_t{input_zero_point}, b = int64_t{input_zero_point} - lo;
  const int64_t max_abs_x = a > b ? a : b;  // <= 2^32 for any int32 zero point
  if (max_abs_x > (int64_t{1} << 20)) return false;
  // depth·max_abs_x·max_abs_weight <= 2^31·2^20·2^7 = 2^58: no overflow before the comparison.
  const int64_t t = depth * max_abs_x * max_abs_weight;  // |t|/2^B
  return t < (int64_t{1} << (62 - kGroupScaleBits)) && (t << kGroupScaleBits) + max_abs_bias < (int64_t{1} << 62);
}

template <typename T>
void FullyConnectedLowBit(const FullyConnectedLowBitParams& p, const T* x, const uint8_t* w, const int32_t* bias,
                          T* y) {
  using Acc = typename detail::Accumulator<T>::type;  // int32 for int8 x, int64 for int16 x
  const int8_t* w8 = reinterpret_cast<const int8_t*>(w);
  for (int32_t r = 0; r < p.rows; ++r) {
    const T* x_r = x + int64_t{r} * p.depth;
    for (int32_t u = 0; u < p.units; ++u) {
      const int64_t row = int64_t{u} * p.depth;
      int32_t out;
      if (p.group_size == 0) {
        Acc acc = bias != nullptr ? bias[u] : 0;
        for (int32_t k = 0; k < p.depth; ++k) {
          const int32_t wv = p.weight_int4 ? Int4At(w, row + k) : w8[row + k];
          acc += (static_cast<Acc>(x_r[k]) - p.input_zero_point) * wv;
        }
        out = Requant(p.requant, u, acc);
      } else {
        const int32_t groups = p.depth / p.group_size;
        const uint16_t* m_u = p.group_multiplier + int64_t{u} * groups;
        int64_t t = 0;
        for (int32_t g = 0; g < groups; ++g) {
          Acc a = 0;
          for (int32_t k = g * p.group_size; k < (g + 1) * p.group_size; ++k) {
            const int32_t wv = p.weight_int4 ? Int4At(w, row + k) : w8[row + k];
            a += (static_cast<Acc>(x_r[k]) - p.input_zero_point) * wv;
          }
          t += int64_t{m_u[g]} * a;
        }
        out = GroupScaledOutput(p.requant, bias, u, t);
      }
      y[int64_t{r} * p.units + u] = static_cast<T>(out);
    }
  }
}

template void FullyConnectedLowBit<int8_t>(const FullyConnectedLowBitParams&, const int8_t*, const uint8_t*,
                                           const int32_t*, int8_t*);
template void FullyConnectedLowBit<int16_t>(const FullyConnectedLowBitParams&, const int16_t*, const uint8_t*,
                                            const int32_t*, int16_t*);

void Conv2DInt4(const Conv2DParams& p, const int8_t* x, const uint8_t* w, const int32_t* bias, int8_t* y) {
  detail::Conv2DLoop(p, x, [w](int64_t i) { return Int4At(w, i); }, bias, y);
}

void Conv2DGroupScaled(const Conv2DGroupScaledParams& gp, const int8_t* x, const uint8_t* w, const int32_t* bias,
                       int8_t* y) {
  const Conv2DParams& p = gp.conv;
  const int8_t* w8 = reinterpret_cast<const int8_t*>(w);
  const int32_t cin_g = p.in_channels / p.groups;
  const int32_t cout_g = p.out_channels / p.groups;
  const int64_t depth = int64_t{cin_g} * p.kernel_h * p.kernel_w;
  const int64_t groups = depth / gp.group_size;
  const int64_t in_plane = int64_t{p.in_h} * p.in_w;
  for (int32_t n = 0; n < p.batch; ++n) {
    for (int32_t oc = 0; oc < p.out_channels; ++oc) {
      const int32_t g_conv = oc / cout_g;
      const int64_t w_oc = int64_t{oc} * depth;
      const uint16_t* m_oc = gp.group_multiplier + int64_t{oc} * groups;
      for (int32_t oh = 0; oh < p.out_h; ++oh) {
        for (int32_t ow = 0; ow < p.out_w; ++ow) {
          int64_t t = 0;
          int32_t a = 0;  // the current group's sum
          int64_t k = 0;  // flat depth index (ic, kh, kw) of the next tap
          for (int32_t ic = 0; ic < cin_g; ++ic) {
            const int8_t* x_c = x + (int64_t{n} * p.in_channels + int64_t{g_conv} * cin_g + ic) * in_plane;
            for (int32_t kh = 0; kh < p.kernel_h; ++kh) {
              const int64_t ih = int64_t{oh} * p.stride_h - p.pad_top + int64_t{kh} * p.dilation_h;
              for (int32_t kw = 0; kw < p.kernel_w; ++kw, ++k) {
                const int64_t iw = int64_t{ow} * p.stride_w - p.pad_left + int64_t{kw} * p.dilation_w;
                if (ih >= 0 && ih < p.in_h && iw >= 0 && iw < p.in_w) {  // else padding: x − zp == 0
                  const int32_t wv = gp.weight_int4 ? Int4At(w, w_oc + k) : w8[w_oc + k];
                  a += (int32_t{x_c[ih * p.in_w + iw]} - p.input_zero_point) * wv;
                }
                if ((k + 1) % gp.group_size == 0) {  // last tap of group k / group_size
                  t += int64_t{m_oc[k / gp.group_size]} * a;
                  a = 0;
                }
              }
            }
          }
          const int64_t out_index = ((int64_t{n} * p.out_channels + oc) * p.out_h + oh) * p.out_w + ow;
          y[out_index] = static_cast<int8_t>(GroupScaledOutput(p.requant, bias, oc, t));
        }
      }
    }
  }
}

}  // namespace squint::rt::ref

// Helpers shared by the reference kernels (internal to runtime/kernels/reference).
#pragma once

#include <cstdint>
#include <limits>

#include "runtime/kernels/reference/fixed_point.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::ref::detail {

// Accumulator of a dot product of T activations with int8 weights (or of two T activations):
// int32 for 8-bit codes (overflow bounds checked by prepare), int64 for 16-bit codes.
template <typename T>
struct Accumulator {
  using type = int32_t;
};
template <>
struct Accumulator<int16_t> {
  using type = int64_t;
};

inline int32_t Scale(int32_t acc, int32_t multiplier, int32_t shift) {
  return MultiplyByQuantizedMultiplier(acc, QuantizedMultiplier{multiplier, shift});
}
inline int32_t Scale(int64_t acc, int32_t multiplier, int32_t shift) {
  return MultiplyByQuantizedMultiplier64(acc, QuantizedMultiplier{multiplier, shift});
}

inline int32_t Clamp(int64_t v, int32_t lo, int32_t hi) {
  return static_cast<int32_t>(v < lo ? lo : (v > hi ? hi : v));
}

// Output code of accumulator `acc` for channel `c` (per-tensor params when count == 1).
template <typename Acc>
inline int32_t Requant(const RequantParams& r, int32_t c, Acc acc) {
  const int32_t i = r.count == 1 ? 0 : c;
  const int64_t v = static_cast<int64_t>(Scale(acc, r.multiplier[i], r.shift[i])) + r.zero_point;
  return Clamp(v, r.act_min, r.act_max);
}

inline int32_t Rescale(const RescaleParams& r, int32_t code) {
  const int64_t v =
      static_cast<int64_t>(Scale(code - r.input_zero_point, r.multiplier, r.shift)) +
      r.output_zero_point;
  return Clamp(v, r.act_min, r.act_max);
}

template <typename T>
inline T Saturate(int64_t v) {
  return static_cast<T>(
      Clamp(v, std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max()));
}

// ⌊num / den⌋ for den > 0 (no reliance on the sign behaviour of / or >>).
inline int64_t FloorDiv(int64_t num, int64_t den) {
  const int64_t q = num / den;
  return (num % den != 0 && num < 0) ? q - 1 : q;
}

// num / den rounded to nearest, ties away from zero, for den > 0.
inline int64_t RoundDiv(int64_t num, int64_t den) {
  return num >= 0 ? (num + den / 2) / den : -((-num + den / 2) / den);
}

// Output code of unit u from its group-rescaled sum t = Σ_g m[u·G + g]·a[g] (kernels.h):
// acc = bias[u] + t / 2^B rounded half away from zero, requantized by M[u].
inline int32_t GroupScaledOutput(const RequantParams& r, const int32_t* bias, int32_t u, int64_t t) {
  const int64_t acc = int64_t{bias != nullptr ? bias[u] : 0} + RoundDiv(t, int64_t{1} << kGroupScaleBits);
  return Requant(r, u, acc);
}

// The CONV_2D loop of kernels.h over any weight storage: weight_at(i) is the code of flat weight
// element i ([C_out, C_in/groups, kH, kW] row-major). Conv2D (int8) and Conv2DInt4 use it.
template <typename T, typename WeightAt>
void Conv2DLoop(const Conv2DParams& p, const T* x, WeightAt weight_at, const int32_t* bias, T* y) {
  using Acc = typename detail::Accumulator<T>::type;
  const int32_t cin_g = p.in_channels / p.groups;
  const int32_t cout_g = p.out_channels / p.groups;
  const int64_t in_plane = int64_t{p.in_h} * p.in_w;
  for (int32_t n = 0; n < p.batch; ++n) {
    for (int32_t oc = 0; oc < p.out_channels; ++oc) {
      const int32_t g = oc / cout_g;
      const int64_t w_oc = int64_t{oc} * cin_g * p.kernel_h * p.kernel_w;
      for (int32_t oh = 0; oh < p.out_h; ++oh) {
        for (int32_t ow = 0; ow < p.out_w; ++ow) {
          Acc acc = bias != nullptr ? bias[oc] : 0;
          for (int32_t ic = 0; ic < cin_g; ++ic) {
            const T* x_c = x + (int64_t{n} * p.in_channels + int64_t{g} * cin_g + ic) * in_plane;
            const int64_t w_c = w_oc + int64_t{ic} * p.kernel_h * p.kernel_w;
            for (int32_t kh = 0; kh < p.kernel_h; ++kh) {
              const int64_t ih = int64_t{oh} * p.stride_h - p.pad_top + int64_t{kh} * p.dilation_h;
              if (ih < 0 || ih >= p.in_h) continue;  // padding: x − zp == 0
              for (int32_t kw = 0; kw < p.kernel_w; ++kw) {
                const int64_t iw =
                    int64_t{ow} * p.stride_w - p.pad_left + int64_t{kw} * p.dilation_w;
                if (iw < 0 || iw >= p.in_w) continue;
                const Acc xv = static_cast<Acc>(x_c[ih * p.in_w + iw]) - p.input_zero_point;
                acc += xv * weight_at(w_c + kh * p.kernel_w + kw);
              }
            }
          }
          const int64_t out_index =
              ((int64_t{n} * p.out_channels + oc) * p.out_h + oh) * p.out_w + ow;
          y[out_index] = static_cast<T>(detail::Requant(p.requant, oc, acc));
        }
      }
    }
  }
}

}  // namespace squint::rt::ref::detail

// Group-scaled FULLY_CONNECTED and CONV_2D on int8 activations (misc.h states the contract).
#include <cstdint>

#include "runtime/kernels/portable/misc.h"
#include "runtime/kernels/reference/kernel_util.h"

namespace squint::rt::portable {
namespace {

// Σ_{i < n} a[i]·b[i] for |a| <= 255, |b| <= 128, n <= 4096: below 2^28, exact in int32.
int32_t Dot(const int16_t* a, const int8_t* b, int32_t n) {
  int32_t sum = 0;
  for (int32_t i = 0; i < n; ++i) sum += int32_t{a[i]} * b[i];
  return sum;
}

// Every unit's output code for one row of x − z_x (`xz`, p.depth values): y[u·stride].
void Units(const int16_t* xz, int32_t units, int32_t depth, int32_t group_size, const uint16_t* multipliers,
           const ref::RequantParams& requant, const int8_t* w, const int32_t* bias, int8_t* y, int64_t stride) {
  const int32_t groups = depth / group_size;
  for (int32_t u = 0; u < units; ++u) {
    const int8_t* w_u = w + int64_t{u} * depth;
    const uint16_t* m_u = multipliers + int64_t{u} * groups;
    int64_t t = 0;
    for (int32_t g = 0; g < groups; ++g) {
      const int64_t at = int64_t{g} * group_size;
      t += int64_t{m_u[g]} * Dot(xz + at, w_u + at, group_size);
    }
    y[u * stride] = static_cast<int8_t>(ref::detail::GroupScaledOutput(requant, bias, u, t));
  }
}

}  // namespace

int32_t GroupScaledOutputCode(const ref::RequantParams& requant, const int32_t* bias, int32_t u, int64_t t) {
  return ref::detail::GroupScaledOutput(requant, bias, u, t);
}

void Qs8GroupScaledFc(const ref::FullyConnectedLowBitParams& p, const int8_t* x, const int8_t* w, const int32_t* bias,
                      int16_t* scratch, int8_t* y) {
  for (int32_t r = 0; r < p.rows; ++r) {
    const int8_t* x_r = x + int64_t{r} * p.depth;
    for (int32_t k = 0; k < p.depth; ++k) scratch[k] = static_cast<int16_t>(x_r[k] - p.input_zero_point);
    Units(scratch, p.units, p.depth, p.group_size, p.group_multiplier, p.requant, w, bias, y + int64_t{r} * p.units, 1);
  }
}

void Qs8GroupScaledConv2D(const ref::Conv2DGroupScaledParams& gp, const int8_t* x, const int8_t* w,
                          const int32_t* bias, int16_t* scratch, int8_t* y) {
  const ref::Conv2DParams& p = gp.conv;
  const int32_t depth = p.in_channels * p.kernel_h * p.kernel_w;  // groups = 1
  const int64_t in_plane = int64_t{p.in_h} * p.in_w, positions = int64_t{p.out_h} * p.out_w;
  for (int32_t n = 0; n < p.batch; ++n) {
    const int8_t* x_n = x + int64_t{n} * p.in_channels * in_plane;
    int8_t* y_n = y + int64_t{n} * p.out_channels * positions;
    for (int32_t oh = 0; oh < p.out_h; ++oh) {
      for (int32_t ow = 0; ow < p.out_w; ++ow) {
        // The patch in the weight's depth order (ic, kh, kw); padding contributes x − z_x = 0.
        int16_t* patch = scratch;
        for (int32_t ic = 0; ic < p.in_channels; ++ic) {
          const int8_t* x_c = x_n + ic * in_plane;
          for (int32_t kh = 0; kh < p.kernel_h; ++kh) {
            const int64_t ih = int64_t{oh} * p.stride_h - p.pad_top + int64_t{kh} * p.dilation_h;
            for (int32_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t iw = int64_t{ow} * p.stride_w - p.pad_left + int64_t{kw} * p.dilation_w;
              const bool inside = ih >= 0 && ih < p.in_h && iw >= 0 && iw < p.in_w;
              *patch++ = static_cast<int16_t>(inside ? x_c[ih * p.in_w + iw] - p.input_zero_point : 0);
            }
          }
        }
        Units(scratch, p.out_channels, depth, gp.group_size, gp.group_multiplier, p.requant, w, bias,
              y_n + int64_t{oh} * p.out_w + ow, positions);
      }
    }
  }
}

}  // namespace squint::rt::portable

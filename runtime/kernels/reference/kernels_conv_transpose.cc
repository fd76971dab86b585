// Reference CONV_TRANSPOSE_2D (kernels.h states the contract): the gather form of ONNX's
// ConvTranspose, one accumulator per output position, so the output is requantized like
// CONV_2D's and invoke needs no scratch.
#include <cstdint>

#include "runtime/kernels/reference/kernel_util.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::ref {
namespace {

// The input index i with o + pad − k·dilation = i·stride and 0 <= i < n, or −1 when none.
inline int64_t SourceIndex(int64_t o, int32_t pad, int32_t k, int32_t dilation, int32_t stride, int32_t n) {
  const int64_t t = o + pad - int64_t{k} * dilation;
  if (t < 0 || t % stride != 0) return -1;
  const int64_t i = t / stride;
  return i < n ? i : -1;
}

}  // namespace

template <typename T>
void ConvTranspose2D(const Conv2DParams& p, const T* x, const int8_t* w, const int32_t* bias, T* y) {
  using Acc = typename detail::Accumulator<T>::type;
  const int32_t cin_g = p.in_channels / p.groups;
  const int32_t cout_g = p.out_channels / p.groups;
  const int64_t in_plane = int64_t{p.in_h} * p.in_w;
  const int64_t k_plane = int64_t{p.kernel_h} * p.kernel_w;
  for (int32_t n = 0; n < p.batch; ++n) {
    for (int32_t oc = 0; oc < p.out_channels; ++oc) {
      const int32_t g = oc / cout_g;
      const T* x_g = x + (int64_t{n} * p.in_channels + int64_t{g} * cin_g) * in_plane;
      const int8_t* w_oc = w + int64_t{oc} * cin_g * k_plane;
      for (int32_t oh = 0; oh < p.out_h; ++oh) {
        for (int32_t ow = 0; ow < p.out_w; ++ow) {
          Acc acc = bias != nullptr ? bias[oc] : 0;
          for (int32_t kh = 0; kh < p.kernel_h; ++kh) {
            const int64_t ih = SourceIndex(oh, p.pad_top, kh, p.dilation_h, p.stride_h, p.in_h);
            if (ih < 0) continue;
            for (int32_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t iw = SourceIndex(ow, p.pad_left, kw, p.dilation_w, p.stride_w, p.in_w);
              if (iw < 0) continue;
              const T* x_pos = x_g + ih * p.in_w + iw;
              const int8_t* w_pos = w_oc + int64_t{kh} * p.kernel_w + kw;
              for (int32_t ic = 0; ic < cin_g; ++ic) {
                const Acc xv = static_cast<Acc>(x_pos[ic * in_plane]) - p.input_zero_point;
                acc += xv * w_pos[ic * k_plane];
              }
            }
          }
          const int64_t out_index = ((int64_t{n} * p.out_channels + oc) * p.out_h + oh) * p.out_w + ow;
          y[out_index] = static_cast<T>(detail::Requant(p.requant, oc, acc));
        }
      }
    }
  }
}

template void ConvTranspose2D<int8_t>(const Conv2DParams&, const int8_t*, const int8_t*, const int32_t*, int8_t*);
template void ConvTranspose2D<int16_t>(const Conv2DParams&, const int16_t*, const int8_t*, const int32_t*,
                                       int16_t*);

}  // namespace squint::rt::ref

// Reference MAX_POOL_2D, AVERAGE_POOL_2D and RESIZE (kernels.h states the contract).
#include <cstdint>

#include "runtime/kernels/reference/kernel_util.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::ref {

using detail::Clamp;
using detail::FloorDiv;
using detail::Requant;
using detail::RoundDiv;

namespace {

// Calls f(ih, iw, inside_image, inside_padded_image) for each window position of (oh, ow).
template <typename F>
void ForEachWindowPosition(const Pool2DParams& p, int32_t oh, int32_t ow, F f) {
  for (int32_t kh = 0; kh < p.kernel_h; ++kh) {
    const int64_t ih = int64_t{oh} * p.stride_h - p.pad_top + int64_t{kh} * p.dilation_h;
    const bool h_in = ih >= 0 && ih < p.in_h;
    const bool h_pad = ih >= -int64_t{p.pad_top} && ih < int64_t{p.in_h} + p.pad_bottom;
    for (int32_t kw = 0; kw < p.kernel_w; ++kw) {
      const int64_t iw = int64_t{ow} * p.stride_w - p.pad_left + int64_t{kw} * p.dilation_w;
      const bool w_in = iw >= 0 && iw < p.in_w;
      const bool w_pad = iw >= -int64_t{p.pad_left} && iw < int64_t{p.in_w} + p.pad_right;
      f(ih, iw, h_in && w_in, h_pad && w_pad);
    }
  }
}

}  // namespace

template <typename T>
void MaxPool2D(const Pool2DParams& p, const T* x, T* y) {
  const int64_t planes = int64_t{p.batch} * p.channels;
  for (int64_t plane = 0; plane < planes; ++plane) {
    const T* xp = x + plane * p.in_h * p.in_w;
    T* yp = y + plane * p.out_h * p.out_w;
    for (int32_t oh = 0; oh < p.out_h; ++oh) {
      for (int32_t ow = 0; ow < p.out_w; ++ow) {
        int32_t best = p.requant.act_min;  // an empty window yields act_min
        ForEachWindowPosition(p, oh, ow, [&](int64_t ih, int64_t iw, bool inside, bool) {
          if (inside && xp[ih * p.in_w + iw] > best) best = xp[ih * p.in_w + iw];
        });
        yp[int64_t{oh} * p.out_w + ow] = static_cast<T>(Clamp(best, p.requant.act_min,
                                                              p.requant.act_max));
      }
    }
  }
}

template <typename T>
void AveragePool2D(const Pool2DParams& p, const T* x, T* y) {
  const int64_t planes = int64_t{p.batch} * p.channels;
  for (int64_t plane = 0; plane < planes; ++plane) {
    const T* xp = x + plane * p.in_h * p.in_w;
    T* yp = y + plane * p.out_h * p.out_w;
    for (int32_t oh = 0; oh < p.out_h; ++oh) {
      for (int32_t ow = 0; ow < p.out_w; ++ow) {
        int64_t acc = 0, count = 0;
        ForEachWindowPosition(p, oh, ow, [&](int64_t ih, int64_t iw, bool inside, bool in_pad) {
          if (inside) acc += xp[ih * p.in_w + iw] - p.input_zero_point;
          if (p.count_include_pad ? in_pad : inside) ++count;
        });
        // avg with kAvgPoolFractionBits fraction bits: |avg| <= 65535·2^8 fits int32.
        const int64_t avg = count == 0 ? 0 : RoundDiv(acc * (int64_t{1} << kAvgPoolFractionBits), count);
        yp[int64_t{oh} * p.out_w + ow] =
            static_cast<T>(Requant(p.requant, 0, static_cast<int32_t>(avg)));
      }
    }
  }
}

namespace {

// Source coordinate of output index o on one axis as the exact rational num/den (den > 0).
void SourceCoordinate(int32_t coordinate_mode, int32_t in, int32_t out, int32_t o, int64_t* num,
                      int64_t* den) {
  switch (coordinate_mode) {
    case 1:  // asymmetric
      *num = int64_t{o} * in;
      *den = out;
      return;
    case 2:  // align_corners
      if (out <= 1) {
        *num = 0;
        *den = 1;
      } else {
        *num = int64_t{o} * (in - 1);
        *den = out - 1;
      }
      return;
    case 3:  // pytorch_half_pixel
      if (out <= 1) {
        *num = 0;
        *den = 1;
        return;
      }
      break;
    default:  // half_pixel
      break;
  }
  *num = (2 * int64_t{o} + 1) * in - out;  // ((o + ½)·in/out − ½) = ((2o + 1)·in − out)/(2·out)
  *den = 2 * int64_t{out};
}

int32_t NearestIndex(int32_t nearest_mode, int64_t num, int64_t den, int32_t in) {
  const int64_t f = FloorDiv(num, den);
  const int64_t rem2 = 2 * (num - f * den);  // 2·frac·den, in [0, 2·den)
  int64_t i = f;
  switch (nearest_mode) {
    case 2:  // floor
      break;
    case 3:  // ceil
      i = rem2 != 0 ? f + 1 : f;
      break;
    case 1:  // round_prefer_ceil
      i = rem2 >= den ? f + 1 : f;
      break;
    default:  // round_prefer_floor
      i = rem2 > den ? f + 1 : f;
      break;
  }
  return Clamp(i, 0, in - 1);
}

// Linear interpolation taps on one axis: index i0, i1 = min(i0 + 1, in − 1), weight of i1 in
// Q kResizeWeightBits (the weight of i0 is 2^kResizeWeightBits − w1).
void LinearTaps(int64_t num, int64_t den, int32_t in, int32_t* i0, int32_t* i1, int64_t* w1) {
  if (num < 0) num = 0;  // clamp the coordinate to [0, in − 1]
  if (num > (int64_t{in} - 1) * den) num = (int64_t{in} - 1) * den;
  const int64_t f = FloorDiv(num, den);
  *i0 = static_cast<int32_t>(f);
  *i1 = f + 1 < in ? static_cast<int32_t>(f + 1) : static_cast<int32_t>(f);
  *w1 = RoundDiv((num - f * den) * (int64_t{1} << kResizeWeightBits), den);
}

}  // namespace

void ResizeNearestIndices(const ResizeParams& p, bool rows, int32_t* indices) {
  const int32_t in = rows ? p.in_h : p.in_w, out = rows ? p.out_h : p.out_w;
  for (int32_t o = 0; o < out; ++o) {
    int64_t num = 0, den = 1;
    SourceCoordinate(p.coordinate_mode, in, out, o, &num, &den);
    indices[o] = NearestIndex(p.nearest_mode, num, den, in);
  }
}

template <typename T>
void Resize(const ResizeParams& p, const T* x, T* y) {
  const int64_t planes = int64_t{p.batch} * p.channels;
  const int64_t one = int64_t{1} << kResizeWeightBits;
  for (int64_t plane = 0; plane < planes; ++plane) {
    const T* xp = x + plane * p.in_h * p.in_w;
    T* yp = y + plane * p.out_h * p.out_w;
    for (int32_t oh = 0; oh < p.out_h; ++oh) {
      int64_t hn = 0, hd = 1;
      SourceCoordinate(p.coordinate_mode, p.in_h, p.out_h, oh, &hn, &hd);
      for (int32_t ow = 0; ow < p.out_w; ++ow) {
        int64_t wn = 0, wd = 1;
        SourceCoordinate(p.coordinate_mode, p.in_w, p.out_w, ow, &wn, &wd);
        int32_t code = 0;
        if (p.mode == 0) {
          const int32_t ih = NearestIndex(p.nearest_mode, hn, hd, p.in_h);
          const int32_t iw = NearestIndex(p.nearest_mode, wn, wd, p.in_w);
          const int32_t v = xp[int64_t{ih} * p.in_w + iw] - p.input_zero_point;
          code = Requant(p.requant, 0, v);
        } else {
          int32_t h0, h1, w0, w1;
          int64_t wh, ww;
          LinearTaps(hn, hd, p.in_h, &h0, &h1, &wh);
          LinearTaps(wn, wd, p.in_w, &w0, &w1, &ww);
          auto at = [&](int32_t h, int32_t w) -> int64_t {
            return int64_t{xp[int64_t{h} * p.in_w + w]} - p.input_zero_point;
          };
          // |acc| <= 2^(2W)·65535 < 2^57
          const int64_t acc = (one - wh) * ((one - ww) * at(h0, w0) + ww * at(h0, w1)) +
                              wh * ((one - ww) * at(h1, w0) + ww * at(h1, w1));
          const int64_t v = RoundDiv(acc, int64_t{1} << (2 * kResizeWeightBits - kResizeFractionBits));
          code = Requant(p.requant, 0, static_cast<int32_t>(v));  // |v| < 2^24
        }
        yp[int64_t{oh} * p.out_w + ow] = static_cast<T>(code);
      }
    }
  }
}

template void MaxPool2D<int8_t>(const Pool2DParams&, const int8_t*, int8_t*);
template void MaxPool2D<int16_t>(const Pool2DParams&, const int16_t*, int16_t*);
template void AveragePool2D<int8_t>(const Pool2DParams&, const int8_t*, int8_t*);
template void AveragePool2D<int16_t>(const Pool2DParams&, const int16_t*, int16_t*);
template void Resize<int8_t>(const ResizeParams&, const int8_t*, int8_t*);
template void Resize<uint8_t>(const ResizeParams&, const uint8_t*, uint8_t*);
template void Resize<int16_t>(const ResizeParams&, const int16_t*, int16_t*);

}  // namespace squint::rt::ref

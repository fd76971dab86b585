// Sliding-window geometry shared by Conv, ConvTranspose and the pooling ops: reading and
// validating kernel_shape / strides / dilations / pads / auto_pad, output sizes, and the
// padding auto_pad implies. Kernels work on a 3-D view ([D, H, W]); 1-D and 2-D windows are
// padded with leading unit dims (kernel 1, stride 1, no padding).
#pragma once

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "ir/eval/ops/math_util.h"

namespace squint::ir::eval {

enum class AutoPad { kNotSet, kValid, kSameUpper, kSameLower };

struct Window {
  size_t rank = 0;  // spatial rank
  AutoPad auto_pad = AutoPad::kNotSet;
  std::vector<int64_t> kernel, strides, dilations;
  std::vector<int64_t> pads;  // begin[rank] then end[rank]; for auto_pad filled by OutputSize
  bool ceil_mode = false;

  int64_t span(size_t i) const { return (kernel[i] - 1) * dilations[i] + 1; }
};

// Reads the window attributes of `node` for `rank` spatial dims. `kernel` gives the kernel
// dims when known from a weight (Conv); an explicit kernel_shape must then agree. Pooling
// ops pass nullptr and kernel_shape is required.
Result<Window> ReadWindow(const Node& node, size_t rank, const std::vector<int64_t>* kernel);

// Output size of spatial dim i for input size `in` (Conv and pooling); for auto_pad SAME_*
// and VALID also sets w.pads[i] / w.pads[rank + i]. Error when the window does not fit.
Result<int64_t> WindowOutputSize(const Node& node, Window& w, size_t i, int64_t in);

// The same for a possibly unknown input dim (shape inference): unknown in, unknown out.
Result<Dim> WindowOutputDim(const Node& node, Window& w, size_t i, const Dim& in);

// A window (or any per-spatial-dim triple) on the 3-D view.
struct Geometry3 {
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1}, dilation{1, 1, 1},
      pad{0, 0, 0}, pad_end{0, 0, 0};
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1] * kernel[2]; }
};

// 3-D view of a window with spatial input dims `in` and output dims `out` (rank <= 3).
Geometry3 ToGeometry3(const Window& w, const std::vector<int64_t>& in, const std::vector<int64_t>& out);

// The 3-D view of a Conv's window for input dims x [N, C, spatial...] and weight dims
// [M, C/group, kernel...] (auto_pad resolved). Errors as ReadWindow and WindowOutputSize.
Result<Geometry3> ConvGeometry(const Node& node, const Dims& x, const Dims& w);

// The indices i in [0, count) whose position i·stride + offset lies in [0, size), as [*lo, *hi)
// (stride >= 1): the output columns a kernel tap reads inside the input row (Im2Col), or the
// input columns a tap writes inside the output row (Col2Im).
inline void InsideRange(int64_t offset, int64_t stride, int64_t size, int64_t count, int64_t* lo, int64_t* hi) {
  int64_t l = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t h = size - offset <= 0 ? 0 : (size - offset + stride - 1) / stride;
  l = std::min(l, count);
  *lo = l;
  *hi = std::max(l, std::min(h, count));
}

// col[(c·K + k), o] = x[c, o·stride - pad + k·dilation] (0 outside), over the 3-D view.
template <typename T>
inline void Im2Col(const T* x, int64_t channels, const Geometry3& g, T* col) {
  const int64_t lin = g.in_size(), lout = g.out_size();
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const T* xc = x + c * lin;
          // Output columns whose input w index is inside [0, in_w).
          const int64_t off_w = kw * g.dilation[2] - g.pad[2];
          int64_t ow_lo = 0, ow_hi = 0;
          InsideRange(off_w, g.stride[2], g.in[2], g.out[2], &ow_lo, &ow_hi);
          for (int64_t od = 0; od < g.out[0]; ++od) {
            const int64_t id = od * g.stride[0] - g.pad[0] + kd * g.dilation[0];
            for (int64_t oh = 0; oh < g.out[1]; ++oh, col += g.out[2]) {
              const int64_t ih = oh * g.stride[1] - g.pad[1] + kh * g.dilation[1];
              if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
                std::fill(col, col + g.out[2], T(0));
                continue;
              }
              const T* row = xc + (id * g.in[1] + ih) * g.in[2];
              std::fill(col, col + ow_lo, T(0));
              if (g.stride[2] == 1) {
                std::memcpy(col + ow_lo, row + ow_lo + off_w, static_cast<size_t>(ow_hi - ow_lo) * sizeof(T));
              } else {
                for (int64_t ow = ow_lo; ow < ow_hi; ++ow) col[ow] = row[ow * g.stride[2] + off_w];
              }
              std::fill(col + ow_hi, col + g.out[2], T(0));
            }
          }
        }
  (void)lout;
}

}  // namespace squint::ir::eval

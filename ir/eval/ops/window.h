// Sliding-window geometry shared by Conv, ConvTranspose and the pooling ops: reading and
// validating kernel_shape / strides / dilations / pads / auto_pad, output sizes, and the
// padding auto_pad implies. Kernels work on a 3-D view ([D, H, W]); 1-D and 2-D windows are
// padded with leading unit dims (kernel 1, stride 1, no padding).
#pragma once

#include <array>
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

}  // namespace squint::ir::eval

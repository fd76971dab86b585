#include "quant/lower_conv_transpose.h"

#include <limits>

namespace squint::quant {
namespace {

bool FitsInt32(int64_t v) {
  return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
}

}  // namespace

Result<ConvTransposeLayout> ConvTransposeForRuntime(const ir::Node& n, const ir::Tensor& w, const ir::Dims& in,
                                                    const ir::Dims& out) {
  if (in.size() != 4 || out.size() != 4 || w.rank() != 4)
    return Unsupported("ConvTranspose over input rank {}, weight rank {} (2-D on NCHW is supported)", in.size(),
                       w.rank());
  const int64_t groups = n.attrs.GetInt("group", 1);
  const int64_t cin = in[1], cin_g = groups > 0 ? cin / groups : 0, cout_g = w.dim(1), cout = cout_g * groups;
  if (groups < 1 || cin % groups != 0 || w.dim(0) != cin || out[1] != cout)
    return InvalidInput("ConvTranspose weight {} does not match {} input channels, {} output channels and group {}",
                        ir::DimsToString(w.dims()), cin, out[1], groups);
  const int64_t kh = w.dim(2), kw = w.dim(3);
  const std::vector<int64_t> s = n.attrs.GetInts("strides", {1, 1});
  const std::vector<int64_t> d = n.attrs.GetInts("dilations", {1, 1});
  std::vector<int64_t> pads = n.attrs.GetInts("pads", {0, 0, 0, 0});
  if (s.size() != 2 || d.size() != 2 || pads.size() != 4)
    return InvalidInput("ConvTranspose strides {}, dilations {}, pads {}: expected 2, 2 and 4 values", s.size(),
                        d.size(), pads.size());
  const std::string auto_pad = n.attrs.GetString("auto_pad", "NOTSET");
  const bool given_out = n.attrs.has("output_shape");
  ConvTransposeLayout r;
  r.groups = static_cast<int32_t>(groups);
  r.pads.resize(4);
  for (size_t a = 0; a < 2; ++a) {
    const int64_t full = s[a] * (in[2 + a] - 1) + (a == 0 ? kh - 1 : kw - 1) * d[a] + 1;
    int64_t begin = pads[a];
    if (auto_pad == "VALID") {
      begin = 0;
    } else if (given_out || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      // As ir/eval (ONNX): total = full − target, floor-halved; SAME_UPPER puts the smaller half first.
      const int64_t total = full - out[2 + a];
      const int64_t small = total >= 0 ? total / 2 : -((-total + 1) / 2);
      begin = auto_pad == "SAME_UPPER" ? small : total - small;
    }
    if (begin < 0)
      return Unsupported("ConvTranspose begin pad {} on spatial dim {} is negative (the runtime op needs >= 0)",
                         begin, a);
    const int64_t end = full - begin - out[2 + a];
    if (!FitsInt32(begin) || !FitsInt32(end) || !FitsInt32(s[a]) || !FitsInt32(d[a]))
      return Unsupported("ConvTranspose geometry of spatial dim {} exceeds int32", a);
    r.pads[a] = static_cast<int32_t>(begin);
    r.pads[a + 2] = static_cast<int32_t>(end);
    r.stride.push_back(static_cast<int32_t>(s[a]));
    r.dilation.push_back(static_cast<int32_t>(d[a]));
  }
  r.weight_dims = {cout, cin_g, kh, kw};
  const std::vector<float> src = w.ToFloatVector();
  r.weight.resize(src.size());
  const int64_t plane = kh * kw;
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t j = 0; j < cout_g; ++j)
      for (int64_t ic = 0; ic < cin_g; ++ic)
        for (int64_t k = 0; k < plane; ++k)
          r.weight[static_cast<size_t>((((g * cout_g + j) * cin_g) + ic) * plane + k)] =
              src[static_cast<size_t>(((g * cin_g + ic) * cout_g + j) * plane + k)];
  return r;
}

}  // namespace squint::quant

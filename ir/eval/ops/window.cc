#include "ir/eval/ops/window.h"

#include <fmt/format.h>

namespace squint::ir::eval {
namespace {

// Bound on window attribute values: keeps every product of two of them, or of one with a
// dim (<= 2^34), inside int64.
constexpr int64_t kMaxWindowValue = int64_t{1} << 24;

Result<std::vector<int64_t>> ReadInts(const Node& node, const char* name, size_t size, int64_t def,
                                      int64_t min) {
  if (!node.attrs.has(name)) return std::vector<int64_t>(size, def);
  std::vector<int64_t> v = node.attrs.GetInts(name);
  if (v.size() != size)
    return InvalidInput("{}: attribute {} has {} values ({}), expected {}", node.Label(), name, v.size(),
                        fmt::join(v, ","), size);
  for (int64_t x : v)
    if (x < min || x > kMaxWindowValue)
      return InvalidInput("{}: attribute {} has value {}, expected {} to {}", node.Label(), name, x, min,
                          kMaxWindowValue);
  return v;
}

}  // namespace

Result<Window> ReadWindow(const Node& node, size_t rank, const std::vector<int64_t>* kernel) {
  Window w;
  w.rank = rank;
  const std::string ap = node.attrs.GetString("auto_pad", "NOTSET");
  if (ap == "NOTSET" || ap.empty())
    w.auto_pad = AutoPad::kNotSet;
  else if (ap == "VALID")
    w.auto_pad = AutoPad::kValid;
  else if (ap == "SAME_UPPER")
    w.auto_pad = AutoPad::kSameUpper;
  else if (ap == "SAME_LOWER")
    w.auto_pad = AutoPad::kSameLower;
  else
    return InvalidInput("{}: attribute auto_pad is '{}', expected NOTSET, VALID, SAME_UPPER or SAME_LOWER",
                        node.Label(), ap);
  if (node.attrs.has("kernel_shape")) {
    SQ_ASSIGN_OR_RETURN(w.kernel, ReadInts(node, "kernel_shape", rank, 1, 1));
    if (kernel && *kernel != w.kernel)
      return InvalidInput("{}: attribute kernel_shape is {}, but the weight's kernel is {}", node.Label(),
                          fmt::join(w.kernel, "x"), fmt::join(*kernel, "x"));
  } else if (kernel) {
    w.kernel = *kernel;
    for (int64_t k : w.kernel)
      if (k > kMaxWindowValue) return InvalidInput("{}: kernel dim {} is too large", node.Label(), k);
  } else {
    return InvalidInput("{}: attribute kernel_shape is missing", node.Label());
  }
  SQ_ASSIGN_OR_RETURN(w.strides, ReadInts(node, "strides", rank, 1, 1));
  SQ_ASSIGN_OR_RETURN(w.dilations, ReadInts(node, "dilations", rank, 1, 1));
  SQ_ASSIGN_OR_RETURN(w.pads, ReadInts(node, "pads", 2 * rank, 0, 0));
  if (w.auto_pad != AutoPad::kNotSet) w.pads.assign(2 * rank, 0);
  w.ceil_mode = node.attrs.GetInt("ceil_mode", 0) != 0;
  return w;
}

Result<int64_t> WindowOutputSize(const Node& node, Window& w, size_t i, int64_t in) {
  const int64_t span = w.span(i), s = w.strides[i];
  int64_t& pb = w.pads[i];
  int64_t& pe = w.pads[w.rank + i];
  switch (w.auto_pad) {
    case AutoPad::kNotSet: {
      const int64_t total = in + pb + pe - span;
      if (total < 0)
        return InvalidInput("{}: spatial dim {} has size {} ({} padded), smaller than the kernel window {}",
                            node.Label(), i, in, in + pb + pe, span);
      int64_t out = (w.ceil_mode ? (total + s - 1) / s : total / s) + 1;
      // With ceil_mode, the last window must start inside the input or the begin padding.
      if (w.ceil_mode && (out - 1) * s >= in + pb) --out;
      return out;
    }
    case AutoPad::kValid:
      if (in < span)
        return InvalidInput("{}: spatial dim {} has size {}, smaller than the kernel window {} (auto_pad VALID)",
                            node.Label(), i, in, span);
      return (in - span) / s + 1;
    case AutoPad::kSameUpper:
    case AutoPad::kSameLower: {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + span - in);
      const int64_t small = total / 2;
      pb = w.auto_pad == AutoPad::kSameUpper ? small : total - small;
      pe = total - pb;
      return out;
    }
  }
  return Internal("{}: bad auto_pad", node.Label());
}

Result<Dim> WindowOutputDim(const Node& node, Window& w, size_t i, const Dim& in) {
  if (!in.known()) return Dim::Unknown();
  SQ_ASSIGN_OR_RETURN(int64_t out, WindowOutputSize(node, w, i, in.value));
  return Dim::Known(out);
}

Geometry3 ToGeometry3(const Window& w, const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
  Geometry3 g;
  const size_t off = 3 - w.rank;
  for (size_t i = 0; i < w.rank; ++i) {
    g.in[off + i] = in[i];
    g.out[off + i] = out[i];
    g.kernel[off + i] = w.kernel[i];
    g.stride[off + i] = w.strides[i];
    g.dilation[off + i] = w.dilations[i];
    g.pad[off + i] = w.pads[i];
    g.pad_end[off + i] = w.pads[w.rank + i];
  }
  return g;
}

Result<Geometry3> ConvGeometry(const Node& node, const Dims& x, const Dims& w) {
  if (x.size() < 3 || w.size() != x.size())
    return InvalidInput("{}: input of rank {} and weight of rank {}", node.Label(), x.size(), w.size());
  const std::vector<int64_t> kernel(w.begin() + 2, w.end());
  SQ_ASSIGN_OR_RETURN(Window win, ReadWindow(node, kernel.size(), &kernel));
  const std::vector<int64_t> in(x.begin() + 2, x.end());
  std::vector<int64_t> out;
  for (size_t i = 0; i < in.size(); ++i) {
    SQ_ASSIGN_OR_RETURN(int64_t o, WindowOutputSize(node, win, i, in[i]));
    out.push_back(o);
  }
  return ToGeometry3(win, in, out);
}

}  // namespace squint::ir::eval

// Resize, modes nearest and linear (cubic and antialias are Unsupported).
//
// Per resized dim of input length n, output length m and scale s (the scales input, or
// m / n when sizes are given), an output index x maps to a source coordinate x_ori:
//   half_pixel:           (x + 0.5) / s - 0.5
//   half_pixel_symmetric: n/2 * (1 - m / (s n)) + (x + 0.5) / s - 0.5
//   pytorch_half_pixel:   s n == 1 ? -0.5 : (x + 0.5) / s - 0.5
//   align_corners:        s n == 1 ? 0 : x (n - 1) / (s n - 1)
//   asymmetric:           x / s
//   tf_half_pixel_for_nn: (x + 0.5) / s                                    (opset 11)
//   tf_crop_and_resize:   roi_lo (n - 1) + x (roi_hi - roi_lo)(n - 1) / (s n - 1)
//                         (centre of the roi when s n == 1); outside [0, n-1] the output
//                         is extrapolation_value.
// nearest picks floor or ceil of x_ori by nearest_mode; linear weighs floor and floor + 1
// by the fraction. Source indices clamp to [0, n-1] (edge values), as ONNX's reference.
// Linear is separable, so it runs one axis at a time, in double like the reference.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ir/eval/ops/data_util.h"

namespace squint::ir::eval {
namespace {

enum class Mode { kNearest, kLinear };
enum class Coord { kHalfPixel, kHalfPixelSymmetric, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn,
                   kTfCropAndResize };
enum class Rounding { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
enum class Keep { kStretch, kNotLarger, kNotSmaller };

struct ResizeAttrs {
  Mode mode = Mode::kNearest;
  Coord coord = Coord::kHalfPixel;
  Rounding rounding = Rounding::kRoundPreferFloor;
  Keep keep = Keep::kStretch;
  double extrapolation = 0.0;
  std::vector<int64_t> axes;  // empty: all
};

Result<ResizeAttrs> ParseAttrs(const Node& node) {
  const Attributes& a = node.attrs;
  ResizeAttrs r;
  const std::string mode = a.GetString("mode", "nearest");
  if (mode == "nearest") {
    r.mode = Mode::kNearest;
  } else if (mode == "linear") {
    r.mode = Mode::kLinear;
  } else if (mode == "cubic") {
    return Unsupported("{}: mode 'cubic' is not supported (nearest and linear are)", node.Label());
  } else {
    return InvalidInput("{}: mode '{}' is not one of nearest, linear, cubic", node.Label(), mode);
  }
  if (a.GetInt("antialias", 0) != 0) return Unsupported("{}: antialias=1 is not supported", node.Label());
  const std::string coord = a.GetString("coordinate_transformation_mode", "half_pixel");
  static const std::pair<const char*, Coord> kCoords[] = {
      {"half_pixel", Coord::kHalfPixel},
      {"half_pixel_symmetric", Coord::kHalfPixelSymmetric},
      {"pytorch_half_pixel", Coord::kPytorchHalfPixel},
      {"align_corners", Coord::kAlignCorners},
      {"asymmetric", Coord::kAsymmetric},
      {"tf_half_pixel_for_nn", Coord::kTfHalfPixelForNn},
      {"tf_crop_and_resize", Coord::kTfCropAndResize}};
  bool found = false;
  for (const auto& [name, c] : kCoords)
    if (coord == name) r.coord = c, found = true;
  if (!found) return InvalidInput("{}: coordinate_transformation_mode '{}' is unknown", node.Label(), coord);
  const std::string nearest = a.GetString("nearest_mode", "round_prefer_floor");
  if (nearest == "round_prefer_floor") {
    r.rounding = Rounding::kRoundPreferFloor;
  } else if (nearest == "round_prefer_ceil") {
    r.rounding = Rounding::kRoundPreferCeil;
  } else if (nearest == "floor") {
    r.rounding = Rounding::kFloor;
  } else if (nearest == "ceil") {
    r.rounding = Rounding::kCeil;
  } else {
    return InvalidInput("{}: nearest_mode '{}' is unknown", node.Label(), nearest);
  }
  const std::string keep = a.GetString("keep_aspect_ratio_policy", "stretch");
  if (keep == "stretch") {
    r.keep = Keep::kStretch;
  } else if (keep == "not_larger") {
    r.keep = Keep::kNotLarger;
  } else if (keep == "not_smaller") {
    r.keep = Keep::kNotSmaller;
  } else {
    return InvalidInput("{}: keep_aspect_ratio_policy '{}' is unknown", node.Label(), keep);
  }
  r.extrapolation = a.GetFloat("extrapolation_value", 0.0f);
  r.axes = a.GetInts("axes");
  return r;
}

// Output dims (unknown where not computable), scales and roi per dim of the input.
struct ResizePlan {
  Shape out;
  std::vector<double> scale, roi_lo, roi_hi;
};

// scales / sizes: their values, nullptr when absent (an empty tensor counts as absent).
Result<ResizePlan> MakePlan(const Node& node, const ResizeAttrs& attrs, const Shape& in, const Tensor* roi,
                            const Tensor* scales, const Tensor* sizes) {
  const size_t rank = in.size();
  if (scales && scales->size() == 0) scales = nullptr;
  if (sizes && sizes->size() == 0) sizes = nullptr;
  if (scales && sizes) return InvalidInput("{}: give scales or sizes, not both", node.Label());
  if (!scales && !sizes) return InvalidInput("{}: needs scales or sizes", node.Label());
  std::vector<int64_t> axes;
  if (attrs.axes.empty()) {
    for (size_t i = 0; i < rank; ++i) axes.push_back(static_cast<int64_t>(i));
  } else {
    std::vector<bool> seen(rank, false);
    for (int64_t a : attrs.axes) {
      SQ_ASSIGN_OR_RETURN(int64_t k, NormalizeAxis(node, a, static_cast<int64_t>(rank), "axes entry"));
      if (seen[static_cast<size_t>(k)])
        return InvalidInput("{}: axes {} repeat axis {}", node.Label(), IntsToString(attrs.axes), k);
      seen[static_cast<size_t>(k)] = true;
      axes.push_back(k);
    }
  }
  const size_t na = axes.size();
  ResizePlan p;
  p.out = in;
  p.scale.assign(rank, 1.0);
  p.roi_lo.assign(rank, 0.0);
  p.roi_hi.assign(rank, 1.0);
  if (roi && roi->size() > 0 && attrs.coord == Coord::kTfCropAndResize) {
    if (static_cast<size_t>(roi->size()) != 2 * na)
      return InvalidInput("{}: roi has {} values, expected 2 x {}", node.Label(), roi->size(), na);
    std::vector<float> r = roi->ToFloatVector();
    if (roi->dtype() == DType::kFloat64)
      for (size_t i = 0; i < r.size(); ++i) r[i] = static_cast<float>(roi->data<double>()[i]);
    for (size_t i = 0; i < na; ++i) {
      p.roi_lo[static_cast<size_t>(axes[i])] = r[i];
      p.roi_hi[static_cast<size_t>(axes[i])] = r[na + i];
    }
  }
  const Tensor* given = scales ? scales : sizes;
  if (static_cast<size_t>(given->size()) != na)
    return InvalidInput("{}: {} has {} values for {} axes", node.Label(), scales ? "scales" : "sizes", given->size(),
                        na);
  if (scales) {
    if (scales->dtype() != DType::kFloat32 && scales->dtype() != DType::kFloat64)
      return InvalidInput("{}: scales must be float, got {}", node.Label(), DTypeName(scales->dtype()));
    for (size_t i = 0; i < na; ++i) {
      const double s = scales->dtype() == DType::kFloat32 ? scales->data<float>()[i] : scales->data<double>()[i];
      const size_t k = static_cast<size_t>(axes[i]);
      if (!(s > 0) || !std::isfinite(s))
        return InvalidInput("{}: scale {} for axis {} is not positive", node.Label(), s, k);
      p.scale[k] = s;
      const Dim& d = in[k];
      if (!d.known()) {
        p.out[k] = s == 1.0 ? d : Dim::Unknown();
        continue;
      }
      const double m = std::floor(s * static_cast<double>(d.value));
      if (m > static_cast<double>(kMaxElements))
        return InvalidInput("{}: scale {} makes axis {} of size {} too large", node.Label(), s, k, d.value);
      p.out[k] = Dim::Known(static_cast<int64_t>(m));
    }
  } else {
    if (sizes->dtype() != DType::kInt64)
      return InvalidInput("{}: sizes must be int64, got {}", node.Label(), DTypeName(sizes->dtype()));
    const std::vector<int64_t> v = sizes->ToInt64Vector();
    bool all_known = true;
    for (size_t i = 0; i < na; ++i) {
      const size_t k = static_cast<size_t>(axes[i]);
      if (v[i] < 0 || v[i] > kMaxElements)
        return InvalidInput("{}: sizes {} has an invalid size {}", node.Label(), IntsToString(v), v[i]);
      const Dim& d = in[k];
      if (!d.known()) {
        all_known = false;
        p.out[k] = Dim::Known(v[i]);
        continue;
      }
      if (d.value == 0 && v[i] != 0)
        return InvalidInput("{}: cannot resize empty axis {} to size {}", node.Label(), k, v[i]);
      p.scale[k] = d.value == 0 ? 1.0 : static_cast<double>(v[i]) / static_cast<double>(d.value);
      p.out[k] = Dim::Known(v[i]);
    }
    if (attrs.keep != Keep::kStretch) {
      if (!all_known) {
        for (int64_t a : axes) p.out[static_cast<size_t>(a)] = Dim::Unknown();
        return p;
      }
      double s = attrs.keep == Keep::kNotLarger ? INFINITY : 0.0;
      for (int64_t a : axes)
        s = attrs.keep == Keep::kNotLarger ? std::min(s, p.scale[static_cast<size_t>(a)])
                                           : std::max(s, p.scale[static_cast<size_t>(a)]);
      for (int64_t a : axes) {
        const size_t k = static_cast<size_t>(a);
        p.scale[k] = s;
        p.out[k] = Dim::Known(static_cast<int64_t>(s * static_cast<double>(in[k].value) + 0.5));
      }
    }
  }
  return p;
}

Result<std::vector<OutputType>> ResizeInfer(const InferContext& ctx) {
  const Node& node = ctx.node;
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "X"));
  const DType dtype = ctx.in(0).dtype;
  SQ_ASSIGN_OR_RETURN(ResizeAttrs attrs, ParseAttrs(node));
  if (attrs.mode == Mode::kLinear && dtype != DType::kFloat32 && dtype != DType::kFloat64)
    return Unsupported("{}: linear mode on {} is not supported (float32, float64 are)", node.Label(),
                       DTypeName(dtype));
  const Shape* in = ctx.in(0).shape;
  if (!in) return One(dtype, std::nullopt);
  // A present input whose value is not known yet (static inference): only the rank is known.
  for (size_t i : {size_t{2}, size_t{3}})
    if (ctx.in(i).present && !ctx.in(i).value && KnownLength(ctx, i) != 0)
      return One(dtype, Shape(in->size(), Dim::Unknown()));
  if (attrs.coord == Coord::kTfCropAndResize && ctx.in(1).present && !ctx.in(1).value)
    return One(dtype, Shape(in->size(), Dim::Unknown()));
  SQ_ASSIGN_OR_RETURN(ResizePlan p, MakePlan(node, attrs, *in, ctx.in(1).value, ctx.in(2).value, ctx.in(3).value));
  SQ_RETURN_IF_ERROR(KnownProduct(node, p.out).status());
  return One(dtype, std::move(p.out));
}

// Source coordinate of output index x along one dim.
double SourceCoord(const ResizeAttrs& a, double x, int64_t n, int64_t m, double s, double lo, double hi) {
  const double width = s * static_cast<double>(n);  // the output length as the reference computes it
  switch (a.coord) {
    case Coord::kHalfPixel: return (x + 0.5) / s - 0.5;
    case Coord::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(m) / width;
      const double offset = static_cast<double>(n) / 2 * (1 - adjustment);
      return offset + (x + 0.5) / s - 0.5;
    }
    case Coord::kPytorchHalfPixel: return width == 1 ? -0.5 : (x + 0.5) / s - 0.5;
    case Coord::kAlignCorners: return width == 1 ? 0.0 : x * static_cast<double>(n - 1) / (width - 1);
    case Coord::kAsymmetric: return x / s;
    case Coord::kTfHalfPixelForNn: return (x + 0.5) / s;
    case Coord::kTfCropAndResize: {
      const double len = static_cast<double>(n - 1);
      const double c = width == 1 ? (hi - lo) * len / 2 : x * (hi - lo) * len / (width - 1);
      return c + lo * len;
    }
  }
  return x;
}

bool Outside(const ResizeAttrs& a, double x, int64_t n) {
  return a.coord == Coord::kTfCropAndResize && (x < 0 || x > static_cast<double>(n - 1));
}

int64_t NearestIndex(Rounding r, double x, int64_t n) {
  const double f = std::floor(x);
  int64_t i = static_cast<int64_t>(f);
  if (x != f) {
    const double frac = x - f;
    bool up = false;
    switch (r) {
      case Rounding::kRoundPreferFloor: up = frac > 0.5; break;
      case Rounding::kRoundPreferCeil: up = frac >= 0.5; break;
      case Rounding::kFloor: up = false; break;
      case Rounding::kCeil: up = true; break;
    }
    if (up) ++i;
  }
  return std::clamp<int64_t>(i, 0, n - 1);
}

template <typename T>
void FillValue(unsigned char* fill, double v) {
  const T t = static_cast<T>(v);
  std::memcpy(fill, &t, sizeof(T));
}

Status NearestKernel(const ResizeAttrs& a, const ResizePlan& p, const Tensor& in, Tensor& out) {
  const std::vector<int64_t> strides = Strides(in.dims());
  std::vector<std::vector<int64_t>> maps(in.dims().size());
  for (size_t k = 0; k < maps.size(); ++k) {
    const int64_t n = in.dims()[k], m = out.dims()[k];
    maps[k].resize(static_cast<size_t>(m));
    for (int64_t x = 0; x < m; ++x) {
      const double c = SourceCoord(a, static_cast<double>(x), n, m, p.scale[k], p.roi_lo[k], p.roi_hi[k]);
      maps[k][static_cast<size_t>(x)] = Outside(a, c, n) ? -1 : NearestIndex(a.rounding, c, n) * strides[k];
    }
  }
  unsigned char fill[16] = {};
  switch (in.dtype()) {
    case DType::kFloat32: FillValue<float>(fill, a.extrapolation); break;
    case DType::kFloat64: FillValue<double>(fill, a.extrapolation); break;
    case DType::kBool: FillValue<bool>(fill, a.extrapolation); break;
    default: FillValue<int64_t>(fill, a.extrapolation); break;  // little-endian: low bytes are the value
  }
  IndexMapCopy(out.raw(), in.raw(), DTypeSize(in.dtype()), out.dims(), maps, fill);
  return Status::Ok();
}

// One linear pass along `axis`: src [outer, n, inner] -> dst [outer, m, inner].
void LinearAxis(const ResizeAttrs& a, const ResizePlan& p, size_t axis, const Dims& src_dims,
                const std::vector<double>& src, std::vector<double>& dst, int64_t m) {
  const int64_t n = src_dims[axis];
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < axis; ++i) outer *= src_dims[i];
  for (size_t i = axis + 1; i < src_dims.size(); ++i) inner *= src_dims[i];
  dst.assign(static_cast<size_t>(outer * m * inner), 0.0);
  for (int64_t x = 0; x < m; ++x) {
    const double c = SourceCoord(a, static_cast<double>(x), n, m, p.scale[axis], p.roi_lo[axis], p.roi_hi[axis]);
    const bool outside = Outside(a, c, n);
    const double f = std::floor(c);
    const double w = c - f;
    const int64_t i0 = std::clamp<int64_t>(static_cast<int64_t>(f), 0, n - 1);
    const int64_t i1 = std::clamp<int64_t>(static_cast<int64_t>(f) + 1, 0, n - 1);
    for (int64_t o = 0; o < outer; ++o) {
      double* d = dst.data() + (o * m + x) * inner;
      if (outside) {
        std::fill_n(d, inner, a.extrapolation);
        continue;
      }
      const double* s0 = src.data() + (o * n + i0) * inner;
      const double* s1 = src.data() + (o * n + i1) * inner;
      if (w == 0) {
        std::copy_n(s0, inner, d);
      } else {
        for (int64_t i = 0; i < inner; ++i) d[i] = (1 - w) * s0[i] + w * s1[i];
      }
    }
  }
}

template <typename T>
void LinearKernel(const ResizeAttrs& a, const ResizePlan& p, const Tensor& in, Tensor& out) {
  std::vector<double> cur(in.data<T>(), in.data<T>() + in.size()), next;
  Dims dims = in.dims();
  for (size_t k = 0; k < dims.size(); ++k) {
    const int64_t m = out.dims()[k];
    bool identity = m == dims[k] && a.coord != Coord::kTfCropAndResize;
    for (int64_t x = 0; identity && x < m; ++x)
      identity = SourceCoord(a, static_cast<double>(x), dims[k], m, p.scale[k], 0, 1) == static_cast<double>(x);
    if (identity) continue;
    LinearAxis(a, p, k, dims, cur, next, m);
    dims[k] = m;
    cur.swap(next);
  }
  T* o = out.data<T>();
  for (int64_t i = 0; i < out.size(); ++i) o[i] = static_cast<T>(cur[static_cast<size_t>(i)]);
}

Status ResizeKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& in = *inputs[0];
  Tensor& out = outputs[0];
  SQ_ASSIGN_OR_RETURN(ResizeAttrs attrs, ParseAttrs(node));
  auto at = [&](size_t i) { return i < inputs.size() ? inputs[i] : nullptr; };
  SQ_ASSIGN_OR_RETURN(ResizePlan p, MakePlan(node, attrs, ShapeFromDims(in.dims()), at(1), at(2), at(3)));
  if (out.size() == 0) return Status::Ok();
  if (attrs.mode == Mode::kNearest) return NearestKernel(attrs, p, in, out);
  if (in.dtype() == DType::kFloat32) {
    LinearKernel<float>(attrs, p, in, out);
  } else if (in.dtype() == DType::kFloat64) {
    LinearKernel<double>(attrs, p, in, out);
  } else {
    return Unsupported("{}: linear mode on {} is not supported", node.Label(), DTypeName(in.dtype()));
  }
  return Status::Ok();
}

}  // namespace

extern const OpDef kDefResize{ResizeInfer, ResizeKernel};

}  // namespace squint::ir::eval

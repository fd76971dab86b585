#include "quant/affine.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include <fmt/format.h>

namespace squint::quant {

int32_t IntType::qmin(bool symmetric) const {
  if (!is_signed) return 0;
  const int32_t lowest = -(int32_t{1} << (bits - 1));
  return symmetric ? lowest + 1 : lowest;
}

int32_t IntType::qmax(bool symmetric) const {
  if (!is_signed) {
    const int32_t highest = (int32_t{1} << bits) - 1;
    return symmetric ? highest - 1 : highest;
  }
  return (int32_t{1} << (bits - 1)) - 1;
}

std::string IntType::ToString() const {
  return fmt::format("{}int{}", is_signed ? "" : "u", bits);
}

Status ValidateIntType(const IntType& type) {
  if (type.bits < 2 || type.bits > 16)
    return InvalidInput("integer type has {} bits, expected 2 to 16", type.bits);
  return Status::Ok();
}

float AffineParams::Dequantize(int32_t q) const {
  return scale * static_cast<float>(q - zero_point);
}

int32_t AffineParams::Quantize(float x) const {
  // std::nearbyint rounds half to even in the default rounding mode, as numpy and ONNX do.
  const double code = std::nearbyint(static_cast<double>(x / scale)) + zero_point;
  return static_cast<int32_t>(std::clamp(code, static_cast<double>(qmin), static_cast<double>(qmax)));
}

Result<AffineParams> ComputeAffineParams(Range range, const IntType& type, bool symmetric,
                                         float min_real_range) {
  SQ_RETURN_IF_ERROR(ValidateIntType(type));
  if (!std::isfinite(range.min) || !std::isfinite(range.max) || range.min > range.max)
    return InvalidInput("range [{}, {}] is not a finite interval", range.min, range.max);
  if (!(min_real_range >= 0.0f) || !std::isfinite(min_real_range))
    return InvalidInput("minimum real range {} must be finite and >= 0", min_real_range);

  AffineParams p;
  p.qmin = type.qmin(symmetric);
  p.qmax = type.qmax(symmetric);

  float rmin = std::min(range.min, 0.0f);
  float rmax = std::max(range.max, 0.0f);
  if (min_real_range > 0.0f) rmax = std::max(rmax, rmin + min_real_range);
  if (symmetric) {
    const float absmax = std::max(std::fabs(rmin), std::fabs(rmax));
    rmin = -absmax;
    rmax = absmax;
  }
  const double dr = static_cast<double>(rmax - rmin);  // difference in float32, as ORT
  const double dq = static_cast<double>(p.qmax) - static_cast<double>(p.qmin);
  const double scale = dr / dq;
  if (!std::isfinite(scale))
    return InvalidInput("range [{}, {}] is too wide for float32 arithmetic", range.min, range.max);
  if (scale < static_cast<double>(FLT_MIN)) {
    p.scale = 1.0f;
    p.zero_point = 0;
    return p;
  }
  if (symmetric) {
    p.zero_point = static_cast<int32_t>(std::nearbyint((p.qmin + p.qmax) / 2.0));
  } else {
    const double z = std::nearbyint(static_cast<double>(p.qmin) - static_cast<double>(rmin) / scale);
    p.zero_point = static_cast<int32_t>(std::clamp(z, static_cast<double>(p.qmin), static_cast<double>(p.qmax)));
  }
  p.scale = static_cast<float>(scale);
  return p;
}

}  // namespace squint::quant

// Affine (uniform) quantization grids: the integer type a tensor is quantized to, and the
// scale / zero point that map a real range onto it (algorithms.md §8.1-8.2).
//
//   x_q = clamp(round(x / s) + z, qmin, qmax),     x̂ = s·(x_q − z)
//
// The range → (s, z) rule is ONNX Runtime's compute_scale_zp, so calibrated ranges give the
// same grids as ORT's quantizer.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace squint::quant {

// An integer type of 2..16 bits. Signed types use two's complement ranges.
struct IntType {
  int bits = 8;
  bool is_signed = true;

  // [qmin, qmax] of the type. A symmetric grid drops the most negative code of a signed type
  // ([−127, 127] for int8) and the top code of an unsigned one ([0, 254] for uint8), so that
  // the zero point sits exactly in the middle (ORT's ONNX_INT_TYPE_SYMMETRIC_RANGE,
  // generalized to every bit width).
  int32_t qmin(bool symmetric) const;
  int32_t qmax(bool symmetric) const;

  std::string ToString() const;  // "int8", "uint4"
  bool operator==(const IntType&) const = default;
};

// Error unless bits is in 2..16.
Status ValidateIntType(const IntType& type);

// A real interval [min, max]; min <= max.
struct Range {
  float min = 0.0f;
  float max = 0.0f;
  bool operator==(const Range&) const = default;
};

// One affine grid: scale, zero point and the code range actually used.
struct AffineParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
  int32_t qmin = 0;
  int32_t qmax = 0;

  // Real value of code q: s·(q − z).
  float Dequantize(int32_t q) const;
  // Nearest code of x (round half to even, saturating), as ONNX QuantizeLinear.
  int32_t Quantize(float x) const;
  // Dequantize(Quantize(x)).
  float FakeQuantize(float x) const { return Dequantize(Quantize(x)); }
};

// ORT compute_scale_zp (algorithms.md §8.2), step by step:
//   rmin = min(rmin, 0); rmax = max(rmax, 0)                  zero is always representable
//   if min_real_range > 0: rmax = max(rmax, rmin + min_real_range)
//   if symmetric: rmin, rmax = −max(|rmin|, |rmax|), +max(|rmin|, |rmax|)
//   s = (rmax − rmin) / (qmax − qmin)      rmax − rmin in float32, the division in float64
//   s < FLT_MIN (e.g. an all-zero tensor): s = 1, z = 0
//   symmetric: z = round((qmin + qmax) / 2);  else z = round(qmin − rmin / s)  (half to even,
//   with s still in float64), then s is cast to float32.
// Error when the type is invalid or the range is not finite or has min > max.
Result<AffineParams> ComputeAffineParams(Range range, const IntType& type, bool symmetric,
                                         float min_real_range = 0.0f);

}  // namespace squint::quant

// Shared helpers for the reference kernel tests: random quantization parameters, float
// reference quantization, and owners for the pointer-based param structs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "runtime/kernels/reference/kernels.h"
#include "runtime/quant_math/quant_math.h"

namespace squint::rt::ref::testing {

// SOFTMAX params over [rows, depth] reading `table` (exp_bits fraction bits; kept alive by the
// caller), plain (unclipped, unmasked) uniform 8-bit output.
inline SoftmaxParams SoftmaxOver(int32_t rows, int32_t depth, const std::vector<int32_t>& table, int32_t exp_bits) {
  SoftmaxParams p;
  p.rows = rows;
  p.depth = depth;
  p.exp_table = table.data();
  p.exp_table_size = static_cast<int32_t>(table.size());
  p.exp_bits = exp_bits;
  return p;
}

// Sets p's mask: bytes with element strides `strides` along x's dims `dims` (0: broadcast).
inline void SetSoftmaxMask(SoftmaxParams* p, const uint8_t* mask, const std::vector<int32_t>& dims,
                           const std::vector<int32_t>& strides) {
  p->mask = mask;
  p->rank = static_cast<int32_t>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    p->dims[i] = dims[i];
    p->mask_strides[i] = strides[i];
  }
}

template <typename T>
int32_t QMin() {
  return std::numeric_limits<T>::lowest();
}
template <typename T>
int32_t QMax() {
  return std::numeric_limits<T>::max();
}

// Real → code: round half away from zero (as the requantization does), saturate to T.
template <typename T>
int32_t Quantize(double v, double s, int32_t z) {
  const double q = std::round(v / s) + z;
  return static_cast<int32_t>(std::min<double>(QMax<T>(), std::max<double>(QMin<T>(), q)));
}

template <typename T>
std::vector<T> RandomCodes(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<int32_t> d(QMin<T>(), QMax<T>());
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(d(rng));
  return v;
}

// A random Conv2D geometry: plain, depthwise or grouped; strides and pads may exceed the kernel
// (all-padding windows give bias only); dilation 1 or 2. The input channels per group are
// in_channels / groups. nullopt when the draw has no output pixel.
inline std::optional<Conv2DParams> RandomConvGeometry(std::mt19937& rng) {
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Conv2DParams p;
  const int mode = uni(0, 2);  // 0 plain, 1 depthwise, 2 grouped
  p.groups = mode == 0 ? 1 : (mode == 1 ? uni(1, 4) : uni(2, 3));
  const int cin_g = mode == 1 ? 1 : uni(1, 4);
  const int cout_g = mode == 1 ? uni(1, 2) : uni(1, 4);
  p.batch = uni(1, 2);
  p.in_channels = cin_g * p.groups;
  p.out_channels = cout_g * p.groups;
  p.in_h = uni(1, 7);
  p.in_w = uni(1, 7);
  p.kernel_h = uni(1, 3);
  p.kernel_w = uni(1, 3);
  p.stride_h = uni(1, 3);
  p.stride_w = uni(1, 3);
  p.dilation_h = uni(1, 2);
  p.dilation_w = uni(1, 2);
  p.pad_top = uni(0, 4);
  p.pad_left = uni(0, 4);
  const int pad_bottom = uni(0, 4), pad_right = uni(0, 4);
  p.out_h = (p.in_h + p.pad_top + pad_bottom - p.dilation_h * (p.kernel_h - 1) - 1) / p.stride_h + 1;
  p.out_w = (p.in_w + p.pad_left + pad_right - p.dilation_w * (p.kernel_w - 1) - 1) / p.stride_w + 1;
  if (p.out_h <= 0 || p.out_w <= 0) return std::nullopt;
  return p;
}

inline double RandomScale(std::mt19937& rng, double lo, double hi) {  // log-uniform
  std::uniform_real_distribution<double> d(std::log(lo), std::log(hi));
  return std::exp(d(rng));
}

template <typename T>
int32_t RandomZeroPoint(std::mt19937& rng) {
  // int16 activations are typically symmetric; int8 ones use the whole range.
  if (sizeof(T) == 2) return std::uniform_int_distribution<int32_t>(-64, 64)(rng);
  return std::uniform_int_distribution<int32_t>(QMin<T>(), QMax<T>())(rng);
}

// Owns the arrays a RequantParams points to.
struct RequantOwner {
  std::vector<int32_t> multiplier, shift;
  RequantParams params;
  RequantOwner() = default;
  RequantOwner(const std::vector<QuantizedMultiplier>& m, int32_t zp, int32_t act_min,
               int32_t act_max) {
    for (const auto& q : m) {
      multiplier.push_back(q.multiplier);
      shift.push_back(q.shift);
    }
    params.multiplier = multiplier.data();
    params.shift = shift.data();
    params.count = static_cast<int32_t>(m.size());
    params.zero_point = zp;
    params.act_min = act_min;
    params.act_max = act_max;
  }
  RequantOwner(const RequantOwner&) = delete;
  RequantOwner& operator=(const RequantOwner&) = delete;
};

// Largest |got − want| over two code vectors (sizes must match).
template <typename A, typename B>
int32_t MaxAbsDiff(const std::vector<A>& got, const std::vector<B>& want) {
  int32_t worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<int32_t>(got[i]) - static_cast<int32_t>(want[i])));
  }
  return worst;
}

}  // namespace squint::rt::ref::testing

namespace squint::rt::ref::testing {

// Calibration of an output tensor from its float values (as the quantizer does): asymmetric
// min/max (range incl. 0) for 8-bit, symmetric for 16-bit.
template <typename T>
void CalibrateOutput(const std::vector<double>& y, double* s, int32_t* z) {
  double lo = 0, hi = 0;
  for (double v : y) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (sizeof(T) == 2) {
    const double m = std::max(std::fabs(lo), std::fabs(hi));
    *s = m > 0 ? m / 32767.0 : 1.0;
    *z = 0;
    return;
  }
  *s = hi > lo ? (hi - lo) / (QMax<T>() - QMin<T>()) : 1.0;
  *z = static_cast<int32_t>(std::round(QMin<T>() - lo / *s));
  *z = std::min(QMax<T>(), std::max(QMin<T>(), *z));
}

}  // namespace squint::rt::ref::testing

// Reading, writing, quantizing and dequantizing the codes of one tensor element by element:
// the runtime's float I/O (squint_rt.h) and hosts that inspect intermediate tensors share these.
#pragma once

#include <cmath>
#include <cstdint>

#include "runtime/kernels/reference/kernels.h"
#include "runtime/model.h"

namespace squint::rt {

inline int32_t CodeMin(fb::ElementType t) {
  switch (t) {
    case fb::ElementType::INT8: return -128;
    case fb::ElementType::UINT8: return 0;
    case fb::ElementType::INT16: return -32768;
    default: return INT32_MIN;
  }
}

inline int32_t CodeMax(fb::ElementType t) {
  switch (t) {
    case fb::ElementType::INT8: return 127;
    case fb::ElementType::UINT8: return 255;
    case fb::ElementType::INT16: return 32767;
    default: return INT32_MAX;
  }
}

inline int32_t LoadCode(const void* data, fb::ElementType t, int64_t i) {
  switch (t) {
    case fb::ElementType::INT8: return static_cast<const int8_t*>(data)[i];
    case fb::ElementType::UINT8: return static_cast<const uint8_t*>(data)[i];
    case fb::ElementType::INT16: return static_cast<const int16_t*>(data)[i];
    default: return static_cast<const int32_t*>(data)[i];
  }
}

inline void StoreCode(void* data, fb::ElementType t, int64_t i, int32_t v) {
  switch (t) {
    case fb::ElementType::INT8: static_cast<int8_t*>(data)[i] = static_cast<int8_t>(v); break;
    case fb::ElementType::UINT8: static_cast<uint8_t*>(data)[i] = static_cast<uint8_t>(v); break;
    case fb::ElementType::INT16: static_cast<int16_t*>(data)[i] = static_cast<int16_t>(v); break;
    default: static_cast<int32_t*>(data)[i] = v; break;
  }
}

// The code of real value v on the tensor's per-tensor grid: round half to even, clamped to the
// type's range; NaN becomes the zero point. Log-grid tensors: the SOFTMAX kernel's coding of the
// probability v (ref::LogGridCode on ⌊v·2^30⌉, v clamped to [0, 1]; NaN → the zero code).
inline int32_t QuantizeValue(const TensorDesc& d, float v) {
  if (d.log_grid != nullptr) {
    if (!(v > 0.0f)) return ref::LogGridCode(d.grid, 0);
    const double units = std::round(std::fmin(static_cast<double>(v), 1.0) * ref::kLogGridOne);
    return ref::LogGridCode(d.grid, static_cast<uint32_t>(units));
  }
  if (std::isnan(v)) return d.zero_point;
  const double q = std::nearbyint(static_cast<double>(v) / static_cast<double>(d.scale)) + d.zero_point;
  const double lo = CodeMin(d.type), hi = CodeMax(d.type);
  return static_cast<int32_t>(q < lo ? lo : (q > hi ? hi : q));
}

// The real value of code q (per-tensor grid; a tensor without quantization holds plain integers).
// Log-grid tensors: the code's low byte as the P·V kernel reads it (codes >= n, including the
// zero code 0xFF, are 0).
inline float DequantizeCode(const TensorDesc& d, int32_t q) {
  if (d.log_grid != nullptr) {
    const int32_t k = q & 0xFF;
    if (k >= d.grid.n) return 0.0f;
    return static_cast<float>(ref::LogGridValue(d.log_grid->delta(), d.log_grid->eta(), d.grid.shifts[k],
                                                d.grid.sqrt2 != nullptr && d.grid.sqrt2[k] != 0));
  }
  return d.quant == nullptr ? static_cast<float>(q) : d.scale * static_cast<float>(q - d.zero_point);
}

}  // namespace squint::rt

// Reference HADAMARD (kernels.h states the contract).
#include <cstdint>

#include "runtime/kernels/reference/kernel_util.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::ref {

template <typename TIn>
void Hadamard(const HadamardParams& p, const TIn* x, int8_t* y) {
  const int32_t seg = p.k > 0 ? p.block / p.k : p.block;  // 2^m
  int32_t* v = p.scratch;  // no allocation in invoke: 2·block entries from the caller
  int32_t* w = p.scratch + p.block;
  for (int32_t r = 0; r < p.rows; ++r) {
    for (int32_t b0 = 0; b0 < p.channels; b0 += p.block) {
      const int64_t base = int64_t{r} * p.channels + b0;
      for (int32_t i = 0; i < p.block; ++i) {
        const int32_t d = int32_t{x[base + i]} - p.input_zero_point;
        v[i] = p.signs != nullptr && p.signs[b0 + i] < 0 ? -d : d;
      }
      // Sylvester H_{2^m} on each segment: butterflies of span h = 1, 2, 4, ...
      for (int32_t s0 = 0; s0 < p.block; s0 += seg)
        for (int32_t h = 1; h < seg; h *= 2)
          for (int32_t i = s0; i < s0 + seg; i += 2 * h)
            for (int32_t j = i; j < i + h; ++j) {
              const int32_t a = v[j], c = v[j + h];
              v[j] = a + c;
              v[j + h] = a - c;
            }
      const int32_t* u = v;
      if (p.k > 1) {  // h_k across the k segments
        for (int32_t a = 0; a < p.k; ++a)
          for (int32_t j = 0; j < seg; ++j) {
            int32_t acc = 0;
            for (int32_t c = 0; c < p.k; ++c) acc += p.h_k[a * p.k + c] * v[c * seg + j];
            w[a * seg + j] = acc;
          }
        u = w;
      }
      for (int32_t i = 0; i < p.block; ++i)
        y[base + i] = static_cast<int8_t>(detail::Requant(p.requant, 0, u[i]));
    }
  }
}

template void Hadamard<int8_t>(const HadamardParams&, const int8_t*, int8_t*);
template void Hadamard<int16_t>(const HadamardParams&, const int16_t*, int8_t*);

}  // namespace squint::rt::ref

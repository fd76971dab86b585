// Reference HADAMARD (kernels.h states the contract).
#include <cstdint>

#include "runtime/kernels/reference/kernel_util.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::ref {
namespace {

// Eight lanes at a time through local copies: fixed-width loops the compiler turns into one
// vector operation each, whatever the span h between the pointers. Same integer results as
// one lane at a time (int32 additions, no reordering within a lane).
constexpr int32_t kLanes = 8;

// (x, y) ← (x + y, x − y), lane by lane.
inline void Butterfly8(int32_t* x, int32_t* y) {
  int32_t a[kLanes], b[kLanes];
  for (int32_t t = 0; t < kLanes; ++t) a[t] = x[t], b[t] = y[t];
  for (int32_t t = 0; t < kLanes; ++t) x[t] = a[t] + b[t], y[t] = a[t] - b[t];
}

// acc ← acc + v (sign > 0) or acc − v.
inline void Accumulate8(int32_t* acc, const int32_t* v, int8_t sign) {
  int32_t a[kLanes], b[kLanes];
  for (int32_t t = 0; t < kLanes; ++t) a[t] = acc[t], b[t] = sign > 0 ? v[t] : -v[t];
  for (int32_t t = 0; t < kLanes; ++t) acc[t] = a[t] + b[t];
}

}  // namespace

template <typename TIn>
void Hadamard(const HadamardParams& p, const TIn* x, int8_t* y) {
  const int32_t seg = p.k > 0 ? p.block / p.k : p.block;  // 2^m
  int32_t* v = p.scratch;  // no allocation in invoke: 2·block entries from the caller
  int32_t* w = p.scratch + p.block;
  for (int32_t r = 0; r < p.rows; ++r) {
    for (int32_t b0 = 0; b0 < p.channels; b0 += p.block) {
      const int64_t base = int64_t{r} * p.channels + b0;
      // Signs are ±1: a multiplication, not a branch (random signs defeat prediction).
      if (p.signs != nullptr)
        for (int32_t i = 0; i < p.block; ++i) v[i] = (int32_t{x[base + i]} - p.input_zero_point) * p.signs[b0 + i];
      else
        for (int32_t i = 0; i < p.block; ++i) v[i] = int32_t{x[base + i]} - p.input_zero_point;
      // Sylvester H_{2^m} on each segment: butterflies of span h = 1, 2, 4, ...
      for (int32_t s0 = 0; s0 < p.block; s0 += seg)
        for (int32_t h = 1; h < seg; h *= 2)
          for (int32_t i = s0; i < s0 + seg; i += 2 * h) {
            if (h % kLanes == 0) {
              for (int32_t j = i; j < i + h; j += kLanes) Butterfly8(v + j, v + j + h);
              continue;
            }
            for (int32_t j = i; j < i + h; ++j) {
              const int32_t a = v[j], c = v[j + h];
              v[j] = a + c;
              v[j + h] = a - c;
            }
          }
      const int32_t* u = v;
      if (p.k > 1) {  // h_k across the k segments: w_a = Σ_c h_k[a, c]·v_c, whole segments at a time
        for (int32_t a = 0; a < p.k; ++a) {
          int32_t* wa = w + a * seg;
          const int8_t* row = p.h_k + a * p.k;
          for (int32_t j = 0; j < seg; ++j) wa[j] = row[0] > 0 ? v[j] : -v[j];
          for (int32_t c = 1; c < p.k; ++c) {
            const int32_t* vc = v + c * seg;
            if (seg % kLanes == 0) {
              for (int32_t j = 0; j < seg; j += kLanes) Accumulate8(wa + j, vc + j, row[c]);
              continue;
            }
            if (row[c] > 0)
              for (int32_t j = 0; j < seg; ++j) wa[j] += vc[j];
            else
              for (int32_t j = 0; j < seg; ++j) wa[j] -= vc[j];
          }
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

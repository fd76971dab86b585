// Reference MEAN (kernels.h states the contract and the formula).
#include <cstdint>

#include "runtime/kernels/reference/kernel_util.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::ref {

using detail::Requant;
using detail::RoundDiv;

template <typename T>
void Mean(const MeanParams& p, const T* x, T* y) {
  for (int32_t o = 0; o < p.outer; ++o) {
    for (int32_t i = 0; i < p.inner; ++i) {
      int64_t acc = 0, n = 0;
      for (int32_t k = 0; k < p.r; ++k) {
        if (p.keep != nullptr && p.keep[o * p.keep_outer + k * p.keep_r + i * p.keep_inner] == 0) continue;
        acc += x[(int64_t{o} * p.r + k) * p.inner + i] - p.input_zero_point;
        ++n;
      }
      const int64_t avg = n == 0 ? 0 : RoundDiv(acc * (int64_t{1} << kAvgPoolFractionBits), n);
      y[int64_t{o} * p.inner + i] = static_cast<T>(Requant(p.requant, 0, static_cast<int32_t>(avg)));
    }
  }
}

template void Mean<int8_t>(const MeanParams&, const int8_t*, int8_t*);
template void Mean<int16_t>(const MeanParams&, const int16_t*, int16_t*);

}  // namespace squint::rt::ref

// Reference SOFTMAX and LAYER_NORM, and the exact integer square root (kernels.h states the
// contract and the formulas).
#include <cmath>
#include <cstdint>

#include "runtime/kernels/reference/kernel_util.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::ref {

using detail::Clamp;
using detail::FloorDiv;
using detail::RoundDiv;

void SoftmaxClipParams(float zeta, float gamma, int32_t* clip_scale_q16, int32_t* clip_offset_q16) {
  *clip_scale_q16 = static_cast<int32_t>(std::lround((static_cast<double>(zeta) - gamma) * 65536.0));
  *clip_offset_q16 = static_cast<int32_t>(std::lround(static_cast<double>(gamma) * 16777216.0));
}

int32_t LogGridCode(const LogGrid& g, uint32_t p_q30) {
  int32_t q = 0;
  while (q < g.n && p_q30 < g.thresholds[q]) ++q;
  return q == g.n ? kLogGridZeroCode : q;
}

int64_t LogGridEtaQ(float delta, float eta, int32_t max_shift) {
  return std::llround(std::ldexp(static_cast<double>(eta) / static_cast<double>(delta), max_shift + 15));
}

template <typename TIn, typename TOut>
void Softmax(const SoftmaxParams& p, const TIn* x, TOut* y) {
  const int32_t zero_code = p.output_zero_point;  // probability exactly 0
  for (int32_t r = 0; r < p.rows; ++r) {
    const TIn* xr = x + int64_t{r} * p.depth;
    TOut* yr = y + int64_t{r} * p.depth;
    // The mask row: split r into the coordinates of x's leading axes.
    const uint8_t* mr = nullptr;
    const int32_t* mr32 = nullptr;
    int64_t m_step = 0, m32_step = 0;
    if (p.mask != nullptr || p.mask32 != nullptr) {
      int64_t offset = 0, offset32 = 0, rest = r;
      for (int32_t i = p.rank - 2; i >= 0; --i) {
        offset += (rest % p.dims[i]) * p.mask_strides[i];
        offset32 += (rest % p.dims[i]) * p.mask32_strides[i];
        rest /= p.dims[i];
      }
      if (p.mask != nullptr) mr = p.mask + offset;
      if (p.mask32 != nullptr) mr32 = p.mask32 + offset32;
      m_step = p.mask_strides[p.rank - 1];
      m32_step = p.mask32_strides[p.rank - 1];
    }
    auto kept = [&](int32_t i) {
      return (mr == nullptr || mr[i * m_step] != 0) && (mr32 == nullptr || mr32[i * m32_step] != 0);
    };

    bool any = false;
    int32_t max_code = 0;
    for (int32_t i = 0; i < p.depth; ++i) {
      if (!kept(i)) continue;
      if (!any || xr[i] > max_code) max_code = xr[i];
      any = true;
    }
    auto exp_of = [&](int32_t i) -> int64_t {
      const int32_t d = max_code - xr[i];
      return d < p.exp_table_size ? p.exp_table[d] : 0;
    };
    int64_t sum = 0;
    for (int32_t i = 0; i < p.depth; ++i) {
      if (kept(i)) sum += exp_of(i);
    }
    if (p.grid != nullptr) {
      for (int32_t i = 0; i < p.depth; ++i) {
        int32_t code = kLogGridZeroCode;
        if (any && kept(i)) {
          // P ≈ ((ζ − γ)·p + γ)·2^30 clipped to [0, 2^30]; clip_scale_q16 <= 2^17 and e <= 2^30
          // keep the product below 2^61.
          const int64_t t = RoundDiv(int64_t{p.clip_scale_q16} * exp_of(i) * (int64_t{1} << 14), sum) +
                            int64_t{p.clip_offset_q16} * 64;
          code = LogGridCode(*p.grid, static_cast<uint32_t>(t < 0 ? 0 : (t > kLogGridOne ? kLogGridOne : t)));
        }
        yr[i] = static_cast<TOut>(static_cast<uint8_t>(code));
      }
      continue;
    }
    for (int32_t i = 0; i < p.depth; ++i) {
      int32_t u = 0;
      if (any && kept(i)) {
        // t ≈ (ζ − γ)·p·2^24,  u = ⌊(t + γ·2^24) / 2^(24−b)⌉ ≈ 2^b·((ζ − γ)p + γ), clipped to [0, 1).
        const int64_t t = RoundDiv(int64_t{p.clip_scale_q16} * exp_of(i) * 256, sum);
        const int32_t drop = 24 - p.output_bits;
        const int64_t v = FloorDiv(t + p.clip_offset_q16 + (int64_t{1} << (drop - 1)), int64_t{1} << drop);
        u = Clamp(v, 0, (1 << p.output_bits) - 1);
      }
      yr[i] = static_cast<TOut>(u + zero_code);
    }
  }
}

uint64_t IntegerSqrt(uint64_t n) {
  // Digit-by-digit (base 4): invariant after each step: root² <= the consumed prefix of n and
  // n now holds prefix − root²; each bit of the root is decided once, so the result is exact.
  uint64_t root = 0;
  uint64_t bit = uint64_t{1} << 62;
  while (bit > n) bit >>= 2;
  while (bit != 0) {
    if (n >= root + bit) {
      n -= root + bit;
      root = (root >> 1) + bit;
    } else {
      root >>= 1;
    }
    bit >>= 2;
  }
  return root;
}

template <typename T>
void LayerNorm(const LayerNormParams& p, const T* x, T* y) {
  const int64_t c_count = p.channels;
  for (int32_t r = 0; r < p.rows; ++r) {
    const T* xr = x + int64_t{r} * p.channels;
    T* yr = y + int64_t{r} * p.channels;
    // LayerNorm: codes as they are (the mean cancels the zero point); RMS: x − z, no mean.
    const int32_t z = p.rms ? p.input_zero_point : 0;
    int64_t sum = 0, sum_sq = 0;
    for (int32_t c = 0; c < p.channels; ++c) {
      const int64_t v = int64_t{xr[c]} - z;
      sum += v;
      sum_sq += v * v;
    }
    if (p.rms) sum = 0;
    // D = C²·(var + eps)·2^F in code² units; var = (C·Σx² − (Σx)²)/C² exactly. F = 16 keeps
    // eps's fraction bits; only a huge N (int16 input), where they are negligible, drops them.
    const int64_t n_var = c_count * sum_sq - sum * sum;
    const bool small = n_var < (int64_t{1} << 45);
    const int32_t eps_bits = small ? kLayerNormEpsilonBits : 0;
    const int64_t d = small ? n_var * (int64_t{1} << kLayerNormEpsilonBits) + p.epsilon_q
                            : n_var + p.epsilon_q / (int64_t{1} << kLayerNormEpsilonBits);
    // Scale D by 4^k into [2^60, 2^62) so its square root keeps 30+ significant bits.
    uint64_t scaled = static_cast<uint64_t>(d);
    int32_t k = 0;
    while (scaled != 0 && scaled < (uint64_t{1} << 60)) {
      scaled *= 4;
      ++k;
    }
    const int64_t root = static_cast<int64_t>(IntegerSqrt(scaled));  // ≈ C·std·2^(k + F/2)
    const int64_t up = int64_t{1} << (p.norm_bits + k + eps_bits / 2);
    for (int32_t c = 0; c < p.channels; ++c) {
      // n ≈ (x − μ)/std · 2^norm_bits = (C·x − Σx)·2^(norm_bits + k + F/2) / root
      const int64_t n = root == 0 ? 0 : RoundDiv((c_count * (xr[c] - z) - sum) * up, root);
      const int64_t acc = n * p.gamma_q[c] + p.beta_q[c];
      yr[c] = static_cast<T>(detail::Requant(p.requant, c, acc));
    }
  }
}

#define SQUINT_SOFTMAX(TIn, TOut) \
  template void Softmax<TIn, TOut>(const SoftmaxParams&, const TIn*, TOut*);
SQUINT_SOFTMAX(int8_t, int8_t)
SQUINT_SOFTMAX(int8_t, uint8_t)
SQUINT_SOFTMAX(int16_t, int8_t)
SQUINT_SOFTMAX(int16_t, uint8_t)
#undef SQUINT_SOFTMAX

template void LayerNorm<int8_t>(const LayerNormParams&, const int8_t*, int8_t*);
template void LayerNorm<int16_t>(const LayerNormParams&, const int16_t*, int16_t*);

}  // namespace squint::rt::ref

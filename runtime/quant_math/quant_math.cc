#include "runtime/quant_math/quant_math.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace squint::quant_math {

namespace {
constexpr double kInt32Max = 2147483647.0;

int32_t ClampToInt32(double v) {
  if (v >= kInt32Max) return std::numeric_limits<int32_t>::max();
  if (v <= -kInt32Max - 1.0) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(v);
}
}  // namespace

CodeRange CodeRangeOf(int bits, bool is_signed) {
  CodeRange r;
  if (is_signed) {
    r.min = -(int32_t{1} << (bits - 1));
    r.max = (int32_t{1} << (bits - 1)) - 1;
  } else {
    r.min = 0;
    r.max = (int32_t{1} << bits) - 1;
  }
  return r;
}

std::vector<QuantizedMultiplier> BuildChannelRequant(double s_x, const std::vector<float>& s_w,
                                                     double s_y) {
  std::vector<QuantizedMultiplier> out;
  out.reserve(s_w.size());
  for (float sw : s_w) out.push_back(rt::ProductRequant(s_x, sw, s_y));
  return out;
}

std::vector<int32_t> QuantizeBias(const std::vector<float>& bias, double s_x,
                                  const std::vector<float>& s_w) {
  std::vector<int32_t> out(bias.size());
  for (size_t c = 0; c < bias.size(); ++c) {
    const double sb = s_x * (s_w.size() == 1 ? s_w[0] : s_w[c]);
    out[c] = sb > 0 ? ClampToInt32(std::round(bias[c] / sb)) : 0;
  }
  return out;
}

CodeRange BuildActivationRange(CodeRange type, double s, int32_t z, double lo, double hi) {
  CodeRange r = type;
  if (std::isfinite(lo)) r.min = std::max<double>(type.min, z + std::ceil(lo / s - 1e-9));
  if (std::isfinite(hi)) r.max = std::min<double>(type.max, z + std::floor(hi / s + 1e-9));
  if (r.min > r.max) r.max = r.min;
  return r;
}

AddParams BuildAddParams(double s_a, double s_b, double s_out, int input_bits) {
  return rt::AddRequant(s_a, s_b, s_out, input_bits > 8 ? 15 : 20);
}

QuantizedMultiplier BuildMulRequant(double s_a, double s_b, double s_out) {
  return rt::ProductRequant(s_a, s_b, s_out);
}

std::vector<int32_t> BuildSoftmaxExpTable(float input_scale, int exp_bits, int input_bits) {
  const double one = std::ldexp(1.0, exp_bits);
  std::vector<int32_t> table;
  const int32_t max_len = input_bits > 8 ? 65536 : 256;
  for (int32_t d = 0; d < max_len; ++d) {
    const auto v = static_cast<int32_t>(std::lround(std::exp(-double{input_scale} * d) * one));
    if (input_bits > 8 && v == 0) break;
    table.push_back(v);
  }
  return table;
}

Lut BuildLut(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp,
             const std::function<float(float)>& f, int in_bits, int out_bits) {
  const CodeRange in = CodeRangeOf(in_bits, true);
  const CodeRange out = CodeRangeOf(out_bits, true);
  Lut lut;
  lut.min_code = in.min;
  lut.table.reserve(static_cast<size_t>(in.max - in.min + 1));
  for (int32_t q = in.min; q <= in.max; ++q) {
    const double x = double{in_scale} * (q - in_zp);
    const double y = std::round(double{f(static_cast<float>(x))} / out_scale) + out_zp;
    const double c = std::isnan(y) ? out_zp : std::min<double>(out.max, std::max<double>(out.min, y));
    lut.table.push_back(static_cast<int16_t>(c));
  }
  return lut;
}

LayerNormParamsQ BuildLayerNormParams(float s_in, float s_out, const std::vector<float>& gamma,
                                      const std::vector<float>& beta, float epsilon,
                                      int norm_bits) {
  LayerNormParamsQ p;
  p.norm_bits = norm_bits;
  const double c = static_cast<double>(gamma.size());
  p.epsilon_q = static_cast<int64_t>(
      std::min(std::round(std::ldexp(c * c * epsilon, rt::ref::kLayerNormEpsilonBits) /
                          (double{s_in} * s_in)),
               std::ldexp(1.0, 60)));
  double max_gamma = 0, max_beta = 0;
  for (float g : gamma) max_gamma = std::max(max_gamma, std::fabs(double{g}));
  for (float b : beta) max_beta = std::max(max_beta, std::fabs(double{b}));
  int g_bits = max_gamma > 0 ? 22 - static_cast<int>(std::ceil(std::log2(max_gamma))) : 22;
  if (g_bits > 22) g_bits = 22;
  for (;; --g_bits) {
    const double beta_max_q = max_beta * std::ldexp(1.0, norm_bits + g_bits);
    const double m = std::ldexp(1.0, -(norm_bits + g_bits)) / s_out;
    if (beta_max_q <= kInt32Max && m >= std::ldexp(1.0, -31)) break;
    if (g_bits < -60) break;  // degenerate inputs: give up precision rather than loop
  }
  p.gamma_q.resize(gamma.size());
  p.beta_q.resize(beta.size());
  for (size_t i = 0; i < gamma.size(); ++i)
    p.gamma_q[i] = ClampToInt32(std::round(std::ldexp(double{gamma[i]}, g_bits)));
  for (size_t i = 0; i < beta.size(); ++i)
    p.beta_q[i] = ClampToInt32(std::round(std::ldexp(double{beta[i]}, norm_bits + g_bits)));
  p.requant = RequantFromReal(std::ldexp(1.0, -(norm_bits + g_bits)) / s_out);
  return p;
}

QuantizedMultiplier BuildAvgPoolRequant(double s_in, double s_out) {
  return rt::RatioRequant(s_in, s_out, rt::ref::kAvgPoolFractionBits);
}

QuantizedMultiplier BuildResizeRequant(double s_in, double s_out, bool linear) {
  return rt::RatioRequant(s_in, s_out, linear ? rt::ref::kResizeFractionBits : 0);
}

rt::ref::RescaleParams BuildRescale(double s_in, int32_t z_in, double s_out, int32_t z_out,
                                    CodeRange out_type) {
  rt::ref::RescaleParams r;
  const QuantizedMultiplier m = rt::RatioRequant(s_in, s_out, 0);
  r.input_zero_point = z_in;
  r.multiplier = m.multiplier;
  r.shift = m.shift;
  r.output_zero_point = z_out;
  r.act_min = out_type.min;
  r.act_max = out_type.max;
  return r;
}

void BuildSoftmaxClip(float zeta, float gamma, int32_t* clip_scale_q16, int32_t* clip_offset_q16) {
  rt::ref::SoftmaxClipParams(zeta, gamma, clip_scale_q16, clip_offset_q16);
}

std::vector<uint8_t> PackInt4(const std::vector<int8_t>& codes) {
  std::vector<uint8_t> packed((codes.size() + 1) / 2, 0);
  for (size_t i = 0; i < codes.size(); ++i) {
    const int32_t code = std::clamp<int32_t>(codes[i], -8, 7);
    const uint8_t nibble = static_cast<uint8_t>(code & 0x0F);
    packed[i / 2] |= (i % 2 == 0) ? nibble : static_cast<uint8_t>(nibble << 4);
  }
  return packed;
}

GroupScaleParams BuildGroupScaleParams(double s_x, const std::vector<float>& s_w, int64_t units, double s_y) {
  GroupScaleParams out;
  if (units <= 0) return out;
  const size_t groups = s_w.size() / static_cast<size_t>(units);
  const double one = static_cast<double>(int64_t{1} << rt::ref::kGroupScaleBits);
  for (size_t u = 0; u < static_cast<size_t>(units); ++u) {
    const float common = rt::GroupCommonScale(s_w.data() + u * groups, static_cast<int64_t>(groups));
    out.common_scale.push_back(common);
    for (size_t g = 0; g < groups; ++g) {
      const double ratio = static_cast<double>(s_w[u * groups + g]) / common;  // in [0, 1]
      out.group_multiplier.push_back(static_cast<uint16_t>(std::min(one, std::round(ratio * one))));
    }
    out.requant.push_back(rt::ProductRequant(s_x, common, s_y));
  }
  return out;
}

}  // namespace squint::quant_math

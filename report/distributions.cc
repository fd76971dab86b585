#include "report/distributions.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "runtime/tensor_codes.h"

namespace squint::report {

void Histogram::Add(std::span<const float> values) {
  double bmin = INFINITY, bmax = -INFINITY;
  for (float v : values) {
    if (!std::isfinite(v)) {
      ++non_finite;
      continue;
    }
    bmin = std::min(bmin, static_cast<double>(v));
    bmax = std::max(bmax, static_cast<double>(v));
  }
  if (bmin > bmax) return;
  min = std::min(min, bmin);
  max = std::max(max, bmax);
  if (counts.empty()) {
    const double w = bmax - bmin;
    const double pad = w > 0 ? w / kBins : std::max(std::fabs(bmin) * 1e-3, 1e-6);
    lo = w > 0 ? bmin : bmin - pad;
    hi = bmax + pad;  // the largest value falls inside the last bin, not on its open end
    counts.assign(kBins, 0);
  }
  // Double the range towards a value outside it; pairs of bins merge into one.
  while (bmin < lo) {
    for (int i = kBins - 1; i >= kBins / 2; --i) counts[i] = counts[2 * i - kBins] + counts[2 * i - kBins + 1];
    std::fill(counts.begin(), counts.begin() + kBins / 2, 0);
    lo = hi - 2 * (hi - lo);
  }
  while (bmax >= hi) {
    for (int i = 0; i < kBins / 2; ++i) counts[i] = counts[2 * i] + counts[2 * i + 1];
    std::fill(counts.begin() + kBins / 2, counts.end(), 0);
    hi = lo + 2 * (hi - lo);
  }
  const double per_unit = kBins / (hi - lo);
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    ++total;
    const int b = std::clamp(static_cast<int>(std::floor((v - lo) * per_unit)), 0, kBins - 1);
    ++counts[static_cast<size_t>(b)];
    below_clip += v < clip_lo;
    above_clip += v > clip_hi;
  }
}

void LogHistogram::Add(std::span<const float> values) {
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    ++total;
    if (v <= 0) {
      ++zeros;
      continue;
    }
    const double octaves = std::log2(static_cast<double>(v)) + kOctaves;
    if (octaves < 0) {
      ++tiny;
      continue;
    }
    const int b = std::min(static_cast<int>(octaves * kBinsPerOctave), kOctaves * kBinsPerOctave - 1);
    ++counts[static_cast<size_t>(b)];
  }
}

Grid GridOf(const rt::TensorDesc& d) {
  Grid g;
  g.type = rt::ElementTypeName(d.type);
  const bool byte_codes = d.type == fb::ElementType::INT8 || d.type == fb::ElementType::UINT8;
  if (d.log_grid != nullptr) {
    g.kind = "log";
    g.levels.push_back(0.0);  // the zero code
    for (int32_t k = 0; k < d.grid.n; ++k) g.levels.push_back(rt::DequantizeCode(d, k));
    if (d.grid.n > 0) g.zero_below = d.grid.thresholds[d.grid.n - 1] / static_cast<double>(rt::ref::kLogGridOne);
  } else if (d.quant != nullptr) {
    g.kind = "affine";
    g.scale = d.scale;
    g.zero_point = d.zero_point;
    g.lo = static_cast<double>(d.scale) * (rt::CodeMin(d.type) - d.zero_point);
    g.hi = static_cast<double>(d.scale) * (rt::CodeMax(d.type) - d.zero_point);
    if (byte_codes)
      for (int32_t q = rt::CodeMin(d.type); q <= rt::CodeMax(d.type); ++q) g.levels.push_back(rt::DequantizeCode(d, q));
    return g;
  } else {
    g.kind = "none";
    return g;
  }
  std::sort(g.levels.begin(), g.levels.end());
  g.levels.erase(std::unique(g.levels.begin(), g.levels.end()), g.levels.end());
  g.lo = g.levels.front();
  g.hi = g.levels.back();
  return g;
}

namespace {

// Code of element e of a constant weight (INT4: two's-complement nibbles, element 2i low).
int32_t WeightCode(const rt::TensorDesc& d, int64_t e) {
  if (d.type != fb::ElementType::INT4) return rt::LoadCode(d.data, d.type, e);
  const uint8_t byte = d.data[e / 2];
  const int32_t nibble = (e % 2 == 0) ? (byte & 0x0F) : (byte >> 4);
  return nibble >= 8 ? nibble - 16 : nibble;
}

int32_t WeightCodeMax(fb::ElementType t) { return t == fb::ElementType::INT4 ? 7 : rt::CodeMax(t); }

}  // namespace

std::vector<WeightRanges> WeightRangesOf(const rt::Model& model, int32_t op) {
  std::vector<WeightRanges> out;
  for (int32_t t : *model.op(op)->inputs()) {
    if (t < 0) continue;
    const rt::TensorDesc& d = model.tensor(t);
    if (!d.is_constant || d.quant == nullptr || d.rank < 2 || d.data == nullptr) continue;
    if (d.type != fb::ElementType::INT8 && d.type != fb::ElementType::INT16 && d.type != fb::ElementType::INT4) continue;
    WeightRanges w;
    w.tensor = d.name;
    w.type = rt::ElementTypeName(d.type);
    for (int32_t k = 0; k < d.rank; ++k) w.shape += (k ? "x" : "") + std::to_string(d.dims[k]);
    w.axis = d.per_channel ? d.quant_axis : 0;
    w.code_max = WeightCodeMax(d.type);
    const int64_t channels = d.dims[w.axis];
    int64_t inner = 1;
    for (int32_t k = w.axis + 1; k < d.rank; ++k) inner *= d.dims[k];
    if (channels <= 0 || inner <= 0) continue;
    const auto* scales = d.quant->scale();
    const auto* zps = d.quant->zero_point();
    const int64_t row = d.num_elements / channels;  // group scales: axis 0, one row per channel
    const int64_t groups = d.group_size > 0 ? row / d.group_size : 1;
    w.min.assign(static_cast<size_t>(channels), INFINITY);
    w.max.assign(static_cast<size_t>(channels), -INFINITY);
    w.reach.assign(static_cast<size_t>(channels), 0.0f);
    for (int64_t e = 0; e < d.num_elements; ++e) {
      const int64_t c = e / inner % channels;
      int64_t s = 0;
      if (d.group_size > 0)
        s = c * groups + (e % row) / d.group_size;
      else if (d.per_channel)
        s = c;
      const float scale = scales->Get(static_cast<flatbuffers::uoffset_t>(s));
      const int32_t zp = zps != nullptr && zps->size() > 0 ? zps->Get(static_cast<flatbuffers::uoffset_t>(s)) : 0;
      const float v = scale * static_cast<float>(WeightCode(d, e) - zp);
      const size_t k = static_cast<size_t>(c);
      w.min[k] = std::min(w.min[k], v);
      w.max[k] = std::max(w.max[k], v);
      w.reach[k] = std::max(w.reach[k], scale * static_cast<float>(WeightCodeMax(d.type)));
    }
    if (d.group_size > 0)
      w.note = fmt::format("group scales: {} per channel (groups of {} inputs); the reach drawn is the largest", groups,
                           d.group_size);
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace squint::report

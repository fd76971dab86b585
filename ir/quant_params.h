// Quantization parameters of an IR value: after lowering, every value of the integer graph
// carries its affine grid. A code q stands for scale·(q − zero_point); per channel along
// `axis` when the vectors hold one entry per channel.
#pragma once

#include <cstdint>
#include <vector>

namespace squint::ir {

struct QuantParams {
  std::vector<float> scale;
  std::vector<int32_t> zero_point;
  int32_t axis = -1;  // -1: per tensor (one scale, one zero point)

  bool per_tensor() const { return axis < 0; }
  bool operator==(const QuantParams&) const = default;
};

}  // namespace squint::ir

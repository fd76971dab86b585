// Float simulations of the lowering's grids, for searches and tests that compare transforms by
// the error of a quantized product (quant/smooth.h's E): proxies, not predictions of the integer
// kernels (the runtime is the one integer implementation).
#pragma once

#include <cstdint>
#include <vector>

namespace squint::quant {

// Per-tensor asymmetric fake quantization of v on `bits` over its own range (zero included).
void FakeQuantActivations(std::vector<float>& v, int bits);

// Per-output-column symmetric fake quantization of w [k, n] (row-major) on `bits`.
void FakeQuantWeights(std::vector<float>& w, int64_t k, int64_t n, int bits);

}  // namespace squint::quant

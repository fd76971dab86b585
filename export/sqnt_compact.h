// The two layouts of a .sqnt (runtime/schema/squint.fbs): 1.1, compact (what squint writes), and
// 1.0 (what squint wrote before; `quantize --sqnt-version 1.0` for runtimes built before 1.1).
// Both hold the same model: a runtime computes the same codes from either.
//
// 1.1 leaves out every requantization pair runtime/requant_derive.h's rule reproduces exactly
// (checked here, pair by pair, against the stored one: a pair the rule misses stays stored),
// stores the remaining shifts in one byte, int8-output LUT tables one byte per entry and constant
// 0/1 softmax masks one bit per element (ElementType BIT), int32 constants that fit int16 (biases,
// indices) two bytes per value (Tensor.int16_storage), int8-input softmax exp tables without their
// trailing zeros, shares
// one buffer among constants with identical bytes, aligns buffers under 64 bytes to 16 only, and
// stores equal tensor names, shapes and quantizations once.
#pragma once

#include <string>

#include "runtime/model.h"
#include "runtime/schema/squint_generated.h"

namespace squint::exporter {

enum class SqntVersion { k1_0, k1_1 };

// `model` rewritten in place to `version`'s layout; `loaded` is the runtime's verified view of the
// same model (any layout), whose scales the derivation reads.
void CompactModel(const rt::Model& loaded, fb::ModelT* model);
void ExpandModel(const rt::Model& loaded, fb::ModelT* model);

// FlatBuffers bytes of `model` as it is; constant buffers 64-byte aligned, those under 64 bytes
// `small_alignment`-aligned (16 in 1.1, 64 in 1.0). A model of schema minor >= 1 stores the
// tensors' equal names, shapes and affine quantizations once (shared offsets).
std::string PackModel(const fb::ModelT& model, size_t small_alignment);

}  // namespace squint::exporter

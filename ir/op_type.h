// OpType enum and names, generated from ir/ops.inc.
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace squint::ir {

enum class OpType : uint16_t {
#define SQ_OP(name, domain) k##name,
#include "ir/ops.inc"
#undef SQ_OP
};

inline constexpr OpType kAllOpTypes[] = {
#define SQ_OP(name, domain) OpType::k##name,
#include "ir/ops.inc"
#undef SQ_OP
};

constexpr std::string_view OpName(OpType op) {
  switch (op) {
#define SQ_OP(name, domain) \
  case OpType::k##name: return #name;
#include "ir/ops.inc"
#undef SQ_OP
  }
  return "?";
}

constexpr std::string_view OpDomain(OpType op) {
  switch (op) {
#define SQ_OP(name, domain) \
  case OpType::k##name: return domain;
#include "ir/ops.inc"
#undef SQ_OP
  }
  return "";
}

// Looks up an op by ONNX domain ("" or "ai.onnx" for the default domain) and type name.
std::optional<OpType> OpFromName(std::string_view domain, std::string_view name);

}  // namespace squint::ir

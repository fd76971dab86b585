// Element types of IR tensors. The list drives the enum, names and sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace squint::ir {

// X(enum name, C++ type, printable name, ONNX TensorProto.DataType number)
#define SQUINT_DTYPES(X)            \
  X(kFloat32, float, "float32", 1)  \
  X(kUInt8, uint8_t, "uint8", 2)    \
  X(kInt8, int8_t, "int8", 3)       \
  X(kInt16, int16_t, "int16", 5)    \
  X(kInt32, int32_t, "int32", 6)    \
  X(kInt64, int64_t, "int64", 7)    \
  X(kBool, bool, "bool", 9)         \
  X(kFloat64, double, "float64", 11)

enum class DType : uint8_t {
  kUndefined = 0,
#define SQ_X(e, t, n, o) e,
  SQUINT_DTYPES(SQ_X)
#undef SQ_X
};

constexpr std::string_view DTypeName(DType d) {
  switch (d) {
#define SQ_X(e, t, n, o) \
  case DType::e: return n;
    SQUINT_DTYPES(SQ_X)
#undef SQ_X
    case DType::kUndefined: break;
  }
  return "undefined";
}

constexpr size_t DTypeSize(DType d) {
  switch (d) {
#define SQ_X(e, t, n, o) \
  case DType::e: return sizeof(t);
    SQUINT_DTYPES(SQ_X)
#undef SQ_X
    case DType::kUndefined: break;
  }
  return 0;
}

// ONNX TensorProto.DataType number -> DType; kUndefined when squint has no such type.
constexpr DType DTypeFromOnnx(int onnx_type) {
  switch (onnx_type) {
#define SQ_X(e, t, n, o) \
  case o: return DType::e;
    SQUINT_DTYPES(SQ_X)
#undef SQ_X
    default: break;
  }
  return DType::kUndefined;
}

constexpr int DTypeToOnnx(DType d) {
  switch (d) {
#define SQ_X(e, t, n, o) \
  case DType::e: return o;
    SQUINT_DTYPES(SQ_X)
#undef SQ_X
    case DType::kUndefined: break;
  }
  return 0;
}

template <typename T>
constexpr DType DTypeOf();
#define SQ_X(e, t, n, o) \
  template <>            \
  constexpr DType DTypeOf<t>() { return DType::e; }
SQUINT_DTYPES(SQ_X)
#undef SQ_X

}  // namespace squint::ir

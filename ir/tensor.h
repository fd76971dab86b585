// A dense, row-major tensor with concrete dims, and the possibly symbolic Shape of IR values.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/dtype.h"

namespace squint::ir {

using Dims = std::vector<int64_t>;

// Largest element count squint accepts for one tensor (2^34 elements): guards against
// absurd dims in untrusted files before anything is allocated.
inline constexpr int64_t kMaxElements = int64_t{1} << 34;

// Element count of dims; error on negative dims or on a count above kMaxElements.
Result<int64_t> CheckedElementCount(const Dims& dims);
// Element count of dims already known valid.
int64_t ElementCount(const Dims& dims);
std::string DimsToString(const Dims& dims);  // "1x3x224x224", "scalar" for rank 0

// One dimension of a value's shape: a known size, a named symbol ("batch"), or unknown.
struct Dim {
  int64_t value = -1;  // >= 0 when known
  std::string symbol;  // non-empty for a named symbolic dim

  static Dim Known(int64_t v) { return Dim{v, {}}; }
  static Dim Symbol(std::string s) { return Dim{-1, std::move(s)}; }
  static Dim Unknown() { return Dim{}; }
  bool known() const { return value >= 0; }
  bool operator==(const Dim& o) const { return value == o.value && symbol == o.symbol; }
};

using Shape = std::vector<Dim>;

Shape ShapeFromDims(const Dims& dims);
// Concrete dims when every dim is known.
std::optional<Dims> DimsFromShape(const Shape& shape);
std::string ShapeToString(const Shape& shape);  // "batchx1x28x28", "?" for unknown dims

class Tensor {
 public:
  Tensor() = default;
  // Zero-filled tensor. dims must be valid (see CheckedElementCount).
  Tensor(DType dtype, Dims dims);
  static Result<Tensor> Create(DType dtype, Dims dims);  // validates dims first

  template <typename T>
  static Tensor FromVector(Dims dims, const std::vector<T>& values) {
    Tensor t(DTypeOf<T>(), std::move(dims));
    if constexpr (std::is_same_v<T, bool>) {
      for (size_t i = 0; i < values.size() && i < static_cast<size_t>(t.size()); ++i)
        t.data<bool>()[i] = values[i];
    } else {
      if (!values.empty()) std::memcpy(t.raw(), values.data(), std::min(values.size() * sizeof(T), t.bytes()));
    }
    return t;
  }
  template <typename T>
  static Tensor Scalar(T v) { return FromVector<T>({}, std::vector<T>{v}); }

  DType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int64_t rank() const { return static_cast<int64_t>(dims_.size()); }
  int64_t dim(int64_t i) const { return dims_[static_cast<size_t>(i)]; }
  int64_t size() const { return size_; }
  size_t bytes() const { return static_cast<size_t>(size_) * DTypeSize(dtype_); }
  bool empty_type() const { return dtype_ == DType::kUndefined; }

  void* raw() { return storage_.get(); }
  const void* raw() const { return storage_.get(); }
  template <typename T>
  T* data() { return static_cast<T*>(raw()); }
  template <typename T>
  const T* data() const { return static_cast<const T*>(raw()); }
  template <typename T>
  std::span<T> span() { return {data<T>(), static_cast<size_t>(size_)}; }
  template <typename T>
  std::span<const T> span() const { return {data<T>(), static_cast<size_t>(size_)}; }

  // Same data, new dims with the same element count.
  Tensor Reshaped(Dims dims) const;
  // Values as int64 (integer and bool tensors), e.g. for shape inputs.
  std::vector<int64_t> ToInt64Vector() const;
  // Values as float (any numeric type).
  std::vector<float> ToFloatVector() const;
  Tensor Clone() const;

 private:
  struct FreeDeleter {
    void operator()(void* p) const;
  };
  DType dtype_ = DType::kUndefined;
  Dims dims_;
  int64_t size_ = 0;
  // Shared between a tensor and its reshaped views; data is 64-byte aligned.
  std::shared_ptr<void> storage_;
};

}  // namespace squint::ir

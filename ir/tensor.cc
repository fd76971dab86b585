#include "ir/tensor.h"

#include <cstdlib>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace squint::ir {

Result<int64_t> CheckedElementCount(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return InvalidInput("dims {} have a negative dim {}", DimsToString(dims), d);
    if (d != 0 && n > kMaxElements / d)
      return InvalidInput("dims {} have more than 2^34 elements", DimsToString(dims));
    n *= d;
  }
  return n;
}

int64_t ElementCount(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::string DimsToString(const Dims& dims) {
  if (dims.empty()) return "scalar";
  return fmt::format("{}", fmt::join(dims, "x"));
}

Shape ShapeFromDims(const Dims& dims) {
  Shape s;
  s.reserve(dims.size());
  for (int64_t d : dims) s.push_back(Dim::Known(d));
  return s;
}

std::optional<Dims> DimsFromShape(const Shape& shape) {
  Dims d;
  d.reserve(shape.size());
  for (const Dim& x : shape) {
    if (!x.known()) return std::nullopt;
    d.push_back(x.value);
  }
  return d;
}

std::string ShapeToString(const Shape& shape) {
  if (shape.empty()) return "scalar";
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += 'x';
    if (shape[i].known())
      out += std::to_string(shape[i].value);
    else if (!shape[i].symbol.empty())
      out += shape[i].symbol;
    else
      out += '?';
  }
  return out;
}

void Tensor::FreeDeleter::operator()(void* p) const { std::free(p); }

Tensor::Tensor(DType dtype, Dims dims) : dtype_(dtype), dims_(std::move(dims)) {
  size_ = ElementCount(dims_);
  size_t n = bytes();
  size_t alloc = (n + 63) / 64 * 64;
  if (alloc == 0) alloc = 64;
  void* p = std::aligned_alloc(64, alloc);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, alloc);
  storage_ = std::shared_ptr<void>(p, FreeDeleter{});
}

Result<Tensor> Tensor::Create(DType dtype, Dims dims) {
  if (DTypeSize(dtype) == 0) return InvalidInput("tensor has undefined element type");
  SQ_ASSIGN_OR_RETURN(int64_t n, CheckedElementCount(dims));
  (void)n;
  return Tensor(dtype, std::move(dims));
}

Tensor Tensor::Reshaped(Dims dims) const {
  Tensor t = *this;
  t.dims_ = std::move(dims);
  return t;
}

Tensor Tensor::Clone() const {
  Tensor t(dtype_, dims_);
  if (bytes()) std::memcpy(t.raw(), raw(), bytes());
  return t;
}

namespace {
template <typename Out>
std::vector<Out> Convert(const Tensor& t) {
  std::vector<Out> out(static_cast<size_t>(t.size()));
  switch (t.dtype()) {
#define SQ_X(e, ty, n, o)                                                            \
  case DType::e:                                                                     \
    for (int64_t i = 0; i < t.size(); ++i) out[i] = static_cast<Out>(t.data<ty>()[i]); \
    break;
    SQUINT_DTYPES(SQ_X)
#undef SQ_X
    case DType::kUndefined: break;
  }
  return out;
}
}  // namespace

std::vector<int64_t> Tensor::ToInt64Vector() const { return Convert<int64_t>(*this); }
std::vector<float> Tensor::ToFloatVector() const { return Convert<float>(*this); }

}  // namespace squint::ir

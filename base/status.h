// Errors as values at module boundaries: Status and Result<T>.
// A message names the object, the bad value and the rule, e.g.
//   Conv 'conv_3': weight has 3 dims, expected 4
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace squint {

enum class StatusCode {
  kOk = 0,
  kInvalidInput,  // bad file, bad model, bad data, bad option: the user can fix it (exit 2)
  kUnsupported,   // valid input that squint does not handle (exit 2)
  kInternal,      // a bug in squint (exit 1)
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prepends context ("while reading 'model.onnx': ...") to an error; no-op on success.
  Status WithContext(std::string_view context) const {
    if (ok()) return *this;
    return Status(code_, fmt::format("{}: {}", context, message_));
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename... Args>
Status InvalidInput(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kInvalidInput, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status Unsupported(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kUnsupported, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status Internal(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kInternal, fmt::format(f, std::forward<Args>(args)...));
}

// Process exit code for a status: 0 ok, 2 bad input or unsupported, 1 internal error.
inline int ExitCode(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return 0;
    case StatusCode::kInvalidInput:
    case StatusCode::kUnsupported: return 2;
    case StatusCode::kInternal: return 1;
  }
  return 1;
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

#define SQ_CONCAT_INNER(a, b) a##b
#define SQ_CONCAT(a, b) SQ_CONCAT_INNER(a, b)

#define SQ_RETURN_IF_ERROR(expr)               \
  do {                                         \
    ::squint::Status sq_status_ = (expr);      \
    if (!sq_status_.ok()) return sq_status_;   \
  } while (0)

#define SQ_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

#define SQ_ASSIGN_OR_RETURN(lhs, expr) \
  SQ_ASSIGN_OR_RETURN_IMPL(SQ_CONCAT(sq_result_, __LINE__), lhs, expr)

}  // namespace squint

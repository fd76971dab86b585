// Errors in the runtime are values: a code and a message that names the object, the bad value
// and the rule ("op 3 'conv_1' (CONV_2D): weight has 3 dims, expected 4"). No exceptions, no
// allocation: the message lives in a fixed buffer inside the Status.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdio>

namespace squint::rt {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,     // a caller error (null pointer, wrong size, misaligned arena)
  kInvalidModel = 2,        // the model file breaks a rule of the format
  kUnsupportedVersion = 3,  // schema version this runtime cannot read
  kUnsupported = 4,         // valid format, but an op/type/option this runtime does not run
  kOutOfMemory = 5,
  kFailedPrecondition = 6,  // e.g. invoke before an arena was set
  kIoError = 7,
};

const char* StatusCodeName(StatusCode code);

class Status {
 public:
  static constexpr size_t kMaxMessage = 320;

  Status() { message_[0] = '\0'; }
  static Status Ok() { return Status(); }
  static Status Error(StatusCode code, const char* format, ...)
#if defined(__GNUC__)
      __attribute__((format(printf, 2, 3)))
#endif
      ;

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const char* message() const { return message_; }

  // Prepends "prefix: " to the message (used to add the op or tensor being checked).
  Status& Prefix(const char* format, ...)
#if defined(__GNUC__)
      __attribute__((format(printf, 2, 3)))
#endif
      ;

 private:
  StatusCode code_ = StatusCode::kOk;
  char message_[kMaxMessage];
};

}  // namespace squint::rt

#define SQUINT_RT_RETURN_IF_ERROR(expr)          \
  do {                                           \
    ::squint::rt::Status squint_rt_status_ = (expr); \
    if (!squint_rt_status_.ok()) return squint_rt_status_; \
  } while (0)

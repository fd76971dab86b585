#include "runtime/status.h"

#include <cstring>

namespace squint::rt {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kInvalidModel: return "invalid model";
    case StatusCode::kUnsupportedVersion: return "unsupported version";
    case StatusCode::kUnsupported: return "unsupported";
    case StatusCode::kOutOfMemory: return "out of memory";
    case StatusCode::kFailedPrecondition: return "failed precondition";
    case StatusCode::kIoError: return "I/O error";
  }
  return "unknown";
}

Status Status::Error(StatusCode code, const char* format, ...) {
  Status s;
  s.code_ = code;
  va_list args;
  va_start(args, format);
  std::vsnprintf(s.message_, kMaxMessage, format, args);
  va_end(args);
  return s;
}

Status& Status::Prefix(const char* format, ...) {
  char prefix[kMaxMessage];
  va_list args;
  va_start(args, format);
  std::vsnprintf(prefix, kMaxMessage, format, args);
  va_end(args);
  char joined[kMaxMessage];
  size_t n = 0;
  const char* parts[] = {prefix, ": ", message_};
  for (const char* part : parts)
    for (const char* c = part; *c != '\0' && n + 1 < kMaxMessage; ++c) joined[n++] = *c;
  joined[n] = '\0';
  std::memcpy(message_, joined, n + 1);
  return *this;
}

}  // namespace squint::rt

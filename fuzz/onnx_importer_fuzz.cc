// libFuzzer target: arbitrary bytes -> ImportOnnxBytes (parse, checks, libonnx checker, conversion,
// shape inference). Every input must end in a value or an error Status: no crash, no hang, no
// huge allocation, no exception. A kInternal status is a squint bug, so it aborts.
// External data is refused (no model folder), so nothing is read from disk.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "importers/onnx/onnx_importer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto g = squint::importers::ImportOnnxBytes(bytes);
  if (!g.ok() && g.status().code() == squint::StatusCode::kInternal) {
    std::fprintf(stderr, "internal error: %s\n", g.status().message().c_str());
    std::abort();
  }
  return 0;
}

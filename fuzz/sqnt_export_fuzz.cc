// libFuzzer target: arbitrary bytes as a .sqnt through `squint export --format qdq`: the verified
// reader (export/sqnt_reader.h: the runtime's loader and prepare, then unpack) and, on the files it
// accepts, the QDQ writer. Invariants: neither says "internal error" (a file the runtime accepts either
// exports or is refused as unsupported, naming the op); an export parses as an ONNX ModelProto with a
// graph and is the same bytes when written again.
// Seeds: fuzz/corpus/sqnt_loader (scripts/fuzz.sh copies them for this target).
#include <cstdint>
#include <string>

#include <onnx/onnx_pb.h>

#include "export/qdq_writer.h"
#include "export/sqnt_reader.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace squint;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto model = exporter::ParseSqnt(bytes, "fuzz.sqnt");
  if (!model.ok()) {
    fuzz::CheckNotInternal(model.status());
    return 0;
  }
  auto onnx_bytes = exporter::SerializeQdq(**model);
  if (!onnx_bytes.ok()) {
    fuzz::CheckNotInternal(onnx_bytes.status());
    return 0;
  }
  onnx::ModelProto proto;
  fuzz::Check(proto.ParseFromString(*onnx_bytes) && proto.has_graph(), "the export parses as an ONNX model");
  auto again = exporter::SerializeQdq(**model);
  fuzz::Check(again.ok() && *again == *onnx_bytes, "exporting again gives the same bytes");
  return 0;
}

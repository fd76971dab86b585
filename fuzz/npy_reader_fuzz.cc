// libFuzzer target: arbitrary bytes as a .npy file (ParseNpy) and as a .npz archive (ParseNpz),
// the readers behind `--input`, `--calib`, `--val` and `--labels`. Errors are the expected
// outcome; a crash, sanitizer report, leak or broken invariant is a finding. Invariants of a
// successful parse: the data fits in the input (no byte is invented), and the tensor survives
// SerializeNpy -> ParseNpy unchanged (what `squint run` writes, it can read back).
// Seeds: fuzz/corpus/npy_reader (fuzz/make_corpus_seeds.py).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "ir/npy.h"

namespace {

using squint::fuzz::Check;
using squint::fuzz::CheckNotInternal;

void CheckRoundTrip(const squint::ir::Tensor& t) {
  const std::string bytes = squint::ir::SerializeNpy(t);
  auto back = squint::ir::ParseNpy(bytes, "round trip");
  if (!back.ok()) std::fprintf(stderr, "round trip: %s\n", back.status().message().c_str());
  Check(back.ok(), "SerializeNpy output parses");
  Check(back->dtype() == t.dtype(), "round trip keeps the dtype");
  Check(back->dims() == t.dims(), "round trip keeps the dims");
  Check(back->bytes() == t.bytes() && (t.bytes() == 0 || std::memcmp(back->raw(), t.raw(), t.bytes()) == 0),
        "round trip keeps the data");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto npy = squint::ir::ParseNpy(bytes, "fuzz.npy");
  if (npy.ok()) {
    // A .npy holds its data verbatim after the header.
    Check(static_cast<uint64_t>(npy->bytes()) <= size, ".npy data fits in the file");
    CheckRoundTrip(*npy);
  } else {
    CheckNotInternal(npy.status());
  }
  auto npz = squint::ir::ParseNpz(bytes, "fuzz.npz");
  if (npz.ok()) {
    Check(!npz->empty(), "a parsed .npz holds at least one array");
    for (const auto& [name, t] : *npz) CheckRoundTrip(t);
  } else {
    CheckNotInternal(npz.status());
  }
  return 0;
}

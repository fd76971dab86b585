// The squint command line (cli/commands.h Main): the squint executable's main, and what the
// Python module's squint.quantize calls in-process.
#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"

namespace squint::cli {

int Main(int argc, const char* const* argv) {
  CommandLine line(
      "squint: softmax-aware quantization of ONNX models to an integer format, and its integer runtime.\n"
      "Exit codes: 0 success, 2 bad input or usage, 1 internal error.",
      "squint");
  line.RequireSubcommand();
  line.SetVersion(std::string("squint ") + SQUINT_VERSION);
  Action action;
  Command app = line.Root();
  AddQuantize(app, action);
  AddInspect(app, action);
  AddRun(app, action);
  AddReport(app, action);
  AddExport(app, action);
  if (std::optional<int> code = line.Parse(argc, argv)) return *code;
  try {
    squint::Status s = action();
    if (!s.ok()) {
      fmt::print(stderr, "squint: error: {}\n", s.message());
      return squint::ExitCode(s);
    }
    return 0;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "squint: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "squint: internal error: {}\n", e.what());
    return 1;
  }
}

}  // namespace squint::cli

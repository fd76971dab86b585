// The squint command line (cli/commands.h Main): the squint executable's main, and what the
// Python module's squint.quantize calls in-process.
#include <cstdio>
#include <exception>

#include <fmt/format.h>

#include "cli/commands.h"

namespace squint::cli {

int Main(int argc, const char* const* argv) {
  CLI::App app{
      "squint: softmax-aware quantization of ONNX models to an integer format, and its integer runtime.\n"
      "Exit codes: 0 success, 2 bad input or usage, 1 internal error.",
      "squint"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("squint ") + SQUINT_VERSION);
  squint::cli::Action action;
  squint::cli::AddQuantize(app, action);
  squint::cli::AddInspect(app, action);
  squint::cli::AddRun(app, action);
  squint::cli::AddReport(app, action);
  squint::cli::AddExport(app, action);
  try {
    app.parse(argc, const_cast<char**>(argv));
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
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

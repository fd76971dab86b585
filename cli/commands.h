// Each subcommand registers its options on the command line (cli/options.h) and the action to run
// when it is chosen. Actions return a Status; main turns it into the message and exit code.
#pragma once

#include <functional>

#include "base/status.h"
#include "cli/options.h"

namespace squint::cli {

using Action = std::function<Status()>;

// --quiet, in the same words for every subcommand with long work (base/progress.h).
inline void AddQuietFlag(Command& cmd, bool& quiet) {
  cmd.Flag("--quiet", quiet,
           "no progress on stderr (default: a bar on a terminal, else a line at each tenth of the work\n"
           "or every 2 s); warnings, errors and the results are still printed");
}

void AddInspect(Command& app, Action& action);
void AddRun(Command& app, Action& action);
void AddQuantize(Command& app, Action& action);
void AddReport(Command& app, Action& action);
void AddExport(Command& app, Action& action);

// The whole command line: parses argv (argv[0] is the program name), runs the chosen subcommand
// and returns the exit code (0 success, 2 bad input or usage, 1 internal error) after printing
// any error on stderr; no exception escapes. cli/main_lib.cc.
int Main(int argc, const char* const* argv);

}  // namespace squint::cli

// The toolkit library's interface (squint_toolkit.h): the command line, in this process.
#include "toolkit/squint_toolkit.h"

#include "cli/commands.h"

namespace squint::toolkit {

int Run(const std::vector<std::string>& args) {
  std::vector<const char*> argv = {"squint"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  return cli::Main(static_cast<int>(argv.size()), argv.data());
}

int Quantize(const std::string& model, const std::string& output, const std::vector<std::string>& options) {
  std::vector<std::string> args = {"quantize", model, "-o", output};
  args.insert(args.end(), options.begin(), options.end());
  return Run(args);
}

int Export(const std::string& sqnt, const std::string& output, const std::string& format,
           const std::vector<std::string>& options) {
  std::vector<std::string> args = {"export", sqnt, "--format", format, "-o", output};
  args.insert(args.end(), options.begin(), options.end());
  return Run(args);
}

const char* Version() { return SQUINT_VERSION; }

}  // namespace squint::toolkit

/* squint toolkit: the quantizer and its companions (ONNX import, calibration, reports, export) as a
   C++ library, installed with the runtime (<squint/squint_toolkit.h>, CMake target squint::toolkit,
   libsquint_toolkit.so).

   Each call runs one squint command in this process, exactly as the command line does with the same
   arguments (`squint --help` and `squint COMMAND --help` list them): the same files, byte for byte,
   the same messages (results on stdout, progress, warnings and errors on stderr).

     #include <squint/squint_toolkit.h>
     int code = squint::toolkit::Quantize("model.onnx", "model.sqnt", {"--calib", "calib.npy", "--weight-bits", "4"});
     // then load model.sqnt with the runtime (<squint/squint_rt.hpp>, squint::runtime_shared)

   Return value: the command's exit code, 0 success, 2 bad input or usage (the message names the file,
   node or tensor), 1 internal error. No exception escapes. A failed command leaves no partial output
   file. Calls may come from several threads only for different output files; progress and messages of
   concurrent calls interleave on stderr.

   ABI: the library exports only the functions below (symbol version SQUINT_TOOLKIT_0), which take and
   return standard C++ types: build your program with the same C++ standard library (libstdc++) as the
   package. The .sqnt files it writes follow the format version of the runtime it is installed with. */
#pragma once

#include <string>
#include <vector>

namespace squint::toolkit {

// `squint ARGS...`: args[0] is the command (quantize, inspect, run, report, export).
int Run(const std::vector<std::string>& args);

// `squint quantize MODEL -o OUTPUT OPTIONS...` (options as on the command line: {"--calib", "x.npy"}).
int Quantize(const std::string& model, const std::string& output, const std::vector<std::string>& options = {});

// `squint export SQNT --format FORMAT -o OUTPUT OPTIONS...`.
int Export(const std::string& sqnt, const std::string& output, const std::string& format = "qdq",
           const std::vector<std::string>& options = {});

// The toolkit's version, "MAJOR.MINOR.PATCH" (the runtime's: squint_rt_version()).
const char* Version();

}  // namespace squint::toolkit

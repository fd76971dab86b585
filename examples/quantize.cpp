// quantize: quantizes an ONNX model through the installed toolkit library (squint/squint_toolkit.h),
// the way a C++ program embeds squint's quantizer; classify / classify_cpp then run the result.
// Built against the installed package (examples/CMakeLists.txt).
//
//   quantize MODEL.onnx OUT.sqnt [squint quantize options...]     e.g. --calib calib.npy --weight-bits 4
#include <squint/squint_toolkit.h>

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: quantize MODEL.onnx OUT.sqnt [squint quantize options...] (toolkit %s)\n",
                 squint::toolkit::Version());
    return 2;
  }
  const std::vector<std::string> options(argv + 3, argv + argc);
  const int code = squint::toolkit::Quantize(argv[1], argv[2], options);
  if (code != 0) std::fprintf(stderr, "quantize: squint quantize failed with exit code %d\n", code);
  return code;
}

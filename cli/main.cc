// squint: compress ONNX models to integer .sqnt files and run them on the integer runtime.
#include "cli/commands.h"

int main(int argc, char** argv) { return squint::cli::Main(argc, argv); }

// Reading model inputs given on the command line as NAME=FILE.npy, FILE.npz or FILE.npy.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/calib_data.h"

namespace squint::cli {

// An input a model expects: its name, "dtype shape" for messages, and the dtype the file
// must hold (unset: any dtype; the caller converts).
struct ExpectedInput {
  std::string name;
  std::string description;
  std::optional<ir::DType> dtype;
};

// Returns one tensor per expected input, in that order. Same spec forms as below.
Result<std::vector<ir::Tensor>> ReadInputs(const std::vector<ExpectedInput>& expected,
                                           const std::vector<std::string>& specs);

// Returns one tensor per graph input, in g.inputs order. Specs: "NAME=FILE.npy" for one
// input; "FILE.npz" supplies every input named in the archive; a bare "FILE.npy" is
// accepted for a single-input model. Errors name the spec, the input and what is missing.
Result<std::vector<ir::Tensor>> ReadInputs(const ir::Graph& g, const std::vector<std::string>& specs);

// --mean, --std and --size HxW (empty: the model's size) of commands that read image folders.
Result<quant::ImageOptions> ParseImageOptions(const std::vector<float>& mean, const std::vector<float>& std,
                                              const std::string& size);

// A file name for a tensor name: characters outside [A-Za-z0-9._-] become '_'.
std::string SafeFileName(const std::string& tensor_name);

}  // namespace squint::cli

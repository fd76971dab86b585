// Reading model inputs given on the command line as NAME=FILE.npy, FILE.npz or FILE.npy.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "cli/options.h"
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

// --mean, --std and --size of commands that read data (DATA may be an image folder).
struct ImageFlags {
  std::vector<float> mean = {0.0f}, std = {1.0f};
  std::string size;
  std::vector<Option> given;  // to tell whether the user set any of them
};
void AddImageFlags(Command& cmd, ImageFlags& flags);

// Reads DATA (`flag` names the option in errors) in any form quant::LoadCalibData takes, for
// g's inputs (one sample each: the first dim is the sample axis). Image flags given for data
// that holds no images are an error, not silently ignored.
Result<quant::CalibData> LoadData(const std::string& flag, const std::string& path, const ir::Graph& g,
                                  const ImageFlags& images);

// One sample's dims of each of g's inputs as DATA holds them (without the sample axis), read
// with the input's unknown dims as wildcards: what --input-shape would say for a batch of one.
Result<std::map<std::string, ir::Dims>> SampleDimsFromData(const std::string& path, const ir::Graph& g,
                                                           const ImageFlags& images);

// Labels of `data`: the .npy `labels_path` if given (one row per sample), else the class
// sub-folder indices of an image folder, else none.
Result<std::optional<ir::Tensor>> LoadLabels(const std::string& labels_path, const quant::CalibData& data,
                                             const std::string& data_path);

// A file name for a tensor name: characters outside [A-Za-z0-9._-] become '_'.
std::string SafeFileName(const std::string& tensor_name);

}  // namespace squint::cli

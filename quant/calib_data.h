// Calibration data: the samples the calibrator runs through the float model (`--calib PATH`).
//
// PATH is one of
//   - a .npz archive with one array per model input, named after the input, the first axis
//     counting samples: x.shape == (N, *input_shape_without_batch). Arrays that name no input
//     are ignored (e.g. labels saved alongside). For a single-input model an archive holding
//     only "arr_0" (np.savez(path, x)) is accepted too.
//   - a .npy file, for a single-input model: (N, *input_shape_without_batch);
//   - a folder of such .npy / .npz files (other files are ignored), read in name order and
//     concatenated along the sample axis;
//   - a folder of images, flat or one sub-folder per class (quant/image_folder.h), with the
//     pixel normalization and size of ImageOptions.
// Every array must have the input's dtype (no silent conversion) and shape; float data must be
// finite. Errors name the file, the input, and expected vs found.
// Everything is loaded into memory (calibration sets are small: hundreds of samples).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/dtype.h"
#include "ir/tensor.h"

namespace squint::quant {

// One model input as calibration data must provide it.
struct InputSpec {
  std::string name;
  ir::DType dtype = ir::DType::kFloat32;
  ir::Dims dims;  // one sample's dims, without the sample axis; −1 matches any size
};

// How image files become float samples (quant/image_folder.h): x = (pixel/255 − mean)/std.
struct ImageOptions {
  std::vector<float> mean = {0.0f};  // one value, or one per channel
  std::vector<float> std = {1.0f};
  int64_t height = 0, width = 0;     // resize target; 0: the model input's
};

struct CalibData {
  std::vector<InputSpec> inputs;    // as given to LoadCalibData
  std::vector<ir::Tensor> tensors;  // per input: [num_samples, dims...], wildcards resolved
  std::vector<std::string> files;   // the files read, in order
  std::optional<ir::Tensor> labels; // int64 [num_samples]: class sub-folder indices (image folders)
  std::vector<std::string> classes; // the class sub-folder names, sorted
  int64_t num_samples = 0;

  // Number of batches of batch_size (> 0) samples; the last one may be shorter.
  int64_t NumBatches(int64_t batch_size) const;
  // Samples [begin, begin + count) of every input (count clipped at the end), each tensor
  // [count, dims...]. Error when the range is empty or out of bounds.
  Result<std::vector<ir::Tensor>> Samples(int64_t begin, int64_t count) const;
  // Batch `index` of batch_size samples: Samples(index · batch_size, batch_size).
  Result<std::vector<ir::Tensor>> Batch(int64_t index, int64_t batch_size) const;
};

// Reads PATH (see above) for the given model inputs (at least one). Errors:
//   a missing path or an unknown extension; a folder without .npy/.npz files;
//   a .npy for a model with several inputs; an input without an array in a file;
//   a dtype or shape mismatch; input arrays of one file with different sample counts;
//   wildcard dims that differ between files; NaN or Inf in float data (first bad index);
//   no samples at all.
Result<CalibData> LoadCalibData(const std::string& path, const std::vector<InputSpec>& inputs,
                                const ImageOptions& images = {});

}  // namespace squint::quant

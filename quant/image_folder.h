// Image folders as calibration / validation data (`--calib DIR --mean M --std S --size HxW`).
//
// DIR holds PNG (8-bit gray, RGB or palette; 16-bit ones are reduced to 8 bits) or JPEG
// (.jpg/.jpeg, gray or color; libjpeg's warnings about corrupt data are errors) images, either
// directly or in one sub-folder per class (then the labels are the class indices, classes in
// sorted name order). Files are read in sorted path order. Each image becomes one sample of
// the model's single float input [C, H, W] (NCHW without the batch axis), C = 1 or 3:
//   x[c, y, x] = (pixel[c] / 255 − mean[c]) / std[c]          (float32, as numpy does it)
// with mean/std given once or once per channel. A gray image feeds an RGB model on all three
// channels; a color image for a gray model, or an image with alpha, is an error. Images of
// another size are resized bilinearly (half-pixel centres) to the model's H×W (or --size when
// the model's H, W are not fixed). Errors name the file and the rule.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "base/status.h"
#include "quant/calib_data.h"

namespace squint::quant {

// True for the extensions this loader reads (.png, .jpg, .jpeg, case-insensitive).
bool IsImageFile(const std::filesystem::path& p);

// True when `dir` holds image files, directly or one sub-folder deep.
bool IsImageFolder(const std::string& dir);

Result<CalibData> LoadImageFolder(const std::string& dir, const std::vector<InputSpec>& inputs,
                                  const ImageOptions& options);

}  // namespace squint::quant

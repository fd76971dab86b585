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

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "quant/calib_data.h"

namespace squint::quant {

// True for the extensions this loader reads (.png, .jpg, .jpeg, case-insensitive).
bool IsImageFile(const std::filesystem::path& p);

// True when `dir` holds image files, directly or one sub-folder deep.
bool IsImageFolder(const std::string& dir);

// Largest image (height × width) DecodeImage accepts by default: 8192 × 8192.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

// Most float32 sample bytes one image folder may load (all images are held in memory at once).
inline constexpr int64_t kMaxImageFolderBytes = int64_t{8} << 30;

enum class ImageFormat { kPng, kJpeg };

// One decoded 8-bit image, channel-interleaved: pixels.size() == height · width · channels,
// channels 1 (gray) or 3 (RGB).
struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

// Decodes the bytes of one PNG or JPEG file (`file` names it in errors). Images of more than
// max_pixels pixels, with alpha, CMYK or corrupt data are errors.
Result<Image> DecodeImage(std::string_view bytes, ImageFormat format, const std::string& file,
                          int64_t max_pixels = kMaxImagePixels);

// --mean and --std for a model input of `channels` channels: one value each or one per
// channel; every std finite and non-zero.
Status CheckNormalization(const ImageOptions& options, int64_t channels);

// One image as a float sample [channels, height, width] at `out` (channels · height · width
// floats): resized bilinearly to height × width, a gray image broadcast to 3 channels,
// normalized with options.mean / options.std (CheckNormalization must have accepted them).
// An RGB image for a 1-channel input is an error naming `file` and `input` (the model input).
Status ImageToSample(const Image& image, const std::string& file, const std::string& input, int64_t channels,
                     int64_t height, int64_t width, const ImageOptions& options, float* out);

Result<CalibData> LoadImageFolder(const std::string& dir, const std::vector<InputSpec>& inputs,
                                  const ImageOptions& options);

}  // namespace squint::quant

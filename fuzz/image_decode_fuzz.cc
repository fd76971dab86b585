// libFuzzer target: arbitrary bytes as one file of an image folder (`--calib DIR`): DecodeImage
// (libpng for bytes with the PNG signature, libjpeg for everything else) then ImageToSample
// (resize, channel handling, normalization), the per-file path of LoadImageFolder.
// Invariants: a decoded image has the declared size (pixels == height x width x channels,
// 1 or 3 channels, within the pixel limit); an RGB image for a 1-channel sample is refused and
// every other one accepted; a sample at the image's own size is pixel/255 exactly; a resized
// one stays within each channel's [min, max] (bilinear interpolation never overshoots).
// The sample's channels and size come from the input's last byte.
// Seeds: fuzz/corpus/image_decode (fuzz/make_corpus_seeds.py).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "quant/image_folder.h"

namespace {

using squint::fuzz::Check;
using squint::fuzz::CheckNotInternal;
using squint::quant::Image;

// Smaller than the loader's limit, to keep every run fast; the checks are the same.
constexpr int64_t kMaxPixels = int64_t{1} << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const bool png = size >= 8 && std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0;
  auto decoded = squint::quant::DecodeImage(bytes, png ? squint::quant::ImageFormat::kPng
                                                       : squint::quant::ImageFormat::kJpeg,
                                            "fuzz", kMaxPixels);
  if (!decoded.ok()) {
    CheckNotInternal(decoded.status());
    return 0;
  }
  const Image& im = *decoded;
  Check(im.channels == 1 || im.channels == 3, "1 or 3 channels");
  Check(im.height > 0 && im.width > 0 && im.height * im.width <= kMaxPixels, "size within the limit");
  Check(im.pixels.size() == static_cast<size_t>(im.height * im.width * im.channels), "pixels match the declared size");

  // Sample geometry from the last byte: channels, and the image's own size or a small one.
  const uint8_t k = data[size - 1];
  const int64_t channels = (k & 1) ? 3 : 1;
  const bool own_size = (k & 2) && im.height * im.width <= (int64_t{1} << 16);
  const int64_t height = own_size ? im.height : 1 + (k >> 2) % 7;
  const int64_t width = own_size ? im.width : 1 + (k >> 5) % 8;
  squint::quant::ImageOptions o;  // mean 0, std 1: samples are pixel / 255
  Check(squint::quant::CheckNormalization(o, channels).ok(), "default normalization is valid");
  std::vector<float> sample(static_cast<size_t>(channels * height * width));
  const squint::Status s = squint::quant::ImageToSample(im, "fuzz", "x", channels, height, width, o, sample.data());
  Check(s.ok() == (im.channels <= channels), "only an RGB image for a gray input is refused");
  if (!s.ok()) return 0;
  const float* out = sample.data();
  for (int64_t c = 0; c < channels; ++c) {
    const int64_t src = im.channels == 1 ? 0 : c;
    uint8_t lo = 255, hi = 0;
    for (size_t i = static_cast<size_t>(src); i < im.pixels.size(); i += static_cast<size_t>(im.channels)) {
      lo = std::min(lo, im.pixels[i]);
      hi = std::max(hi, im.pixels[i]);
    }
    for (int64_t i = 0; i < height * width; ++i, ++out) {
      if (height == im.height && width == im.width) {
        Check(*out == static_cast<float>(im.pixels[static_cast<size_t>(i * im.channels + src)]) / 255.0f,
              "a sample at the image's size is pixel / 255");
      } else {
        Check(*out >= static_cast<float>(lo) / 255.0f && *out <= static_cast<float>(hi) / 255.0f,
              "resized values stay within the channel's range");
      }
    }
  }
  return 0;
}

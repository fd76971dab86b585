#include "quant/image_folder.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>
#include <png.h>
// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

#include "base/file.h"

namespace squint::quant {
namespace fs = std::filesystem;
namespace {

Status TooLarge(const std::string& file, const char* kind, int64_t height, int64_t width, int64_t max_pixels) {
  return InvalidInput("image '{}': {} of {}x{} pixels, more than the {} pixels an image may have", file, kind, height,
                      width, max_pixels);
}

Result<Image> DecodePng(std::string_view bytes, const std::string& file, int64_t max_pixels) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&img, bytes.data(), bytes.size()))
    return InvalidInput("image '{}': not a readable PNG ({})", file, img.message);
  if (img.format & PNG_FORMAT_FLAG_ALPHA) {
    png_image_free(&img);
    return InvalidInput("image '{}': has an alpha channel; expected gray or RGB", file);
  }
  Image out;
  out.channels = (img.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
  out.height = img.height;
  out.width = img.width;
  if (out.height * out.width > max_pixels) {
    png_image_free(&img);
    return TooLarge(file, "PNG", out.height, out.width, max_pixels);
  }
  img.format = out.channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  out.pixels.resize(static_cast<size_t>(out.height * out.width * out.channels));
  if (!png_image_finish_read(&img, nullptr, out.pixels.data(), 0, nullptr))
    return InvalidInput("image '{}': corrupt or truncated PNG ({})", file, img.message);
  return out;
}

// libjpeg reports errors through a callback that must not return: it jumps back to the
// setjmp in DecodeJpeg. Warnings (corrupt or truncated data, which libjpeg would otherwise
// fill with gray) are errors too.
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};
[[noreturn]] void OnJpegError(j_common_ptr c) {
  auto* e = reinterpret_cast<JpegError*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}
void OnJpegMessage(j_common_ptr c, int level) {
  if (level < 0) OnJpegError(c);
}

// Decodes into *out (resized here: no object with a destructor lives in this frame, so the
// longjmp skips none). Returns false with `message` set on error.
bool DecodeJpeg(std::string_view bytes, int64_t max_pixels, Image* out, JpegError* err) {
  jpeg_decompress_struct info;
  info.err = jpeg_std_error(&err->mgr);
  err->mgr.error_exit = OnJpegError;
  err->mgr.emit_message = OnJpegMessage;
  if (setjmp(err->jump)) {
    jpeg_destroy_decompress(&info);
    return false;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  if (info.num_components != 1 && info.num_components != 3) {
    std::snprintf(err->message, sizeof err->message, "%d color components (CMYK?); expected gray or RGB",
                  info.num_components);
    jpeg_destroy_decompress(&info);
    return false;
  }
  if (static_cast<int64_t>(info.image_height) * info.image_width > max_pixels) {
    std::snprintf(err->message, sizeof err->message, "%ux%u pixels, more than the %lld pixels an image may have",
                  info.image_height, info.image_width, static_cast<long long>(max_pixels));
    jpeg_destroy_decompress(&info);
    return false;
  }
  info.out_color_space = info.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&info);
  out->height = info.output_height;
  out->width = info.output_width;
  out->channels = info.output_components;
  out->pixels.resize(static_cast<size_t>(out->height * out->width * out->channels));
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = out->pixels.data() + static_cast<size_t>(info.output_scanline) * info.output_width * out->channels;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return true;
}

std::string LowerExtension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return ext;
}

// Bilinear sample of channel c at real coordinates (half-pixel centres, edges clamped).
float Bilinear(const Image& im, int64_t c, double y, double x) {
  y = std::clamp(y, 0.0, static_cast<double>(im.height - 1));
  x = std::clamp(x, 0.0, static_cast<double>(im.width - 1));
  const auto y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(x);
  const int64_t y1 = std::min(y0 + 1, im.height - 1), x1 = std::min(x0 + 1, im.width - 1);
  const double fy = y - static_cast<double>(y0), fx = x - static_cast<double>(x0);
  auto at = [&](int64_t yy, int64_t xx) {
    return static_cast<double>(im.pixels[static_cast<size_t>((yy * im.width + xx) * im.channels + c)]);
  };
  return static_cast<float>((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) +
                            fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1)));
}

std::vector<fs::path> SortedImages(const fs::path& dir, std::error_code& ec) {
  std::vector<fs::path> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && IsImageFile(e.path())) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

Result<Image> DecodeImage(std::string_view bytes, ImageFormat format, const std::string& file, int64_t max_pixels) {
  if (format == ImageFormat::kPng) return DecodePng(bytes, file, max_pixels);
  Image out;
  JpegError err;
  if (!DecodeJpeg(bytes, max_pixels, &out, &err))
    return InvalidInput("image '{}': corrupt, truncated or unsupported JPEG ({})", file, err.message);
  return out;
}

Status CheckNormalization(const ImageOptions& o, int64_t channels) {
  for (const auto* v : {&o.mean, &o.std})
    if (v->size() != 1 && static_cast<int64_t>(v->size()) != channels)
      return InvalidInput("--{} has {} values; give one, or one per channel ({})", v == &o.mean ? "mean" : "std",
                          v->size(), channels);
  for (float s : o.std)
    if (!(std::isfinite(s) && s != 0.0f)) return InvalidInput("--std {}: must be finite and non-zero", s);
  return Status::Ok();
}

Status ImageToSample(const Image& im, const std::string& file, const std::string& input, int64_t channels,
                     int64_t height, int64_t width, const ImageOptions& o, float* out) {
  if (im.channels > channels)
    return InvalidInput("image '{}': RGB, but the model input '{}' takes {} channel(s)", file, input, channels);
  const bool same_size = im.height == height && im.width == width;
  const double sy = static_cast<double>(im.height) / static_cast<double>(height);
  const double sx = static_cast<double>(im.width) / static_cast<double>(width);
  for (int64_t c = 0; c < channels; ++c) {
    const int64_t src_c = im.channels == 1 ? 0 : c;
    const float mean = o.mean[o.mean.size() == 1 ? 0 : static_cast<size_t>(c)];
    const float std = o.std[o.std.size() == 1 ? 0 : static_cast<size_t>(c)];
    for (int64_t y = 0; y < height; ++y) {
      for (int64_t xx = 0; xx < width; ++xx) {
        const float p = same_size ? static_cast<float>(im.pixels[static_cast<size_t>((y * width + xx) * im.channels + src_c)])
                                  : Bilinear(im, src_c, (static_cast<double>(y) + 0.5) * sy - 0.5,
                                             (static_cast<double>(xx) + 0.5) * sx - 0.5);
        *out++ = (p / 255.0f - mean) / std;
      }
    }
  }
  return Status::Ok();
}

bool IsImageFile(const fs::path& p) {
  const std::string ext = LowerExtension(p);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

bool IsImageFolder(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && IsImageFile(e.path())) return true;
    if (e.is_directory())
      for (const fs::directory_entry& f : fs::directory_iterator(e.path(), ec))
        if (f.is_regular_file() && IsImageFile(f.path())) return true;
  }
  return false;
}

Result<CalibData> LoadImageFolder(const std::string& dir, const std::vector<InputSpec>& inputs,
                                  const ImageOptions& o) {
  if (inputs.size() != 1 || inputs[0].dtype != ir::DType::kFloat32 || inputs[0].dims.size() != 3 ||
      (inputs[0].dims[0] != 1 && inputs[0].dims[0] != 3))
    return InvalidInput("image folder '{}': the model must have one float input [N, C, H, W] with C = 1 or 3", dir);
  const InputSpec& spec = inputs[0];
  const int64_t channels = spec.dims[0];
  int64_t height = spec.dims[1], width = spec.dims[2];
  if (o.height > 0 || o.width > 0) {
    if ((height > 0 && height != o.height) || (width > 0 && width != o.width))
      return InvalidInput("--size {}x{}: the model input '{}' takes {}x{} images", o.height, o.width, spec.name,
                          height, width);
    height = o.height;
    width = o.width;
  }
  if (height <= 0 || width <= 0)
    return InvalidInput("image folder '{}': the model input '{}' has no fixed height and width; give --size HxW", dir,
                        spec.name);
  if (height > kMaxImagePixels / width)
    return InvalidInput("image folder '{}': samples of {}x{} pixels for input '{}' exceed the limit of {} pixels", dir,
                        height, width, spec.name, kMaxImagePixels);
  SQ_RETURN_IF_ERROR(CheckNormalization(o, channels));

  // Files: directly in dir, or one sub-folder per class (sorted names, label = index).
  std::error_code ec;
  CalibData data;
  std::vector<std::pair<fs::path, int64_t>> files;  // path, label (−1: none)
  std::vector<fs::path> top = SortedImages(dir, ec);
  if (!top.empty()) {
    for (const fs::path& p : top) files.emplace_back(p, -1);
  } else {
    std::vector<fs::path> subdirs;
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec))
      if (e.is_directory()) subdirs.push_back(e.path());
    std::sort(subdirs.begin(), subdirs.end());
    for (const fs::path& sub : subdirs) {
      std::vector<fs::path> imgs = SortedImages(sub, ec);
      if (imgs.empty()) continue;
      const auto label = static_cast<int64_t>(data.classes.size());
      data.classes.push_back(sub.filename().string());
      for (const fs::path& p : imgs) files.emplace_back(p, label);
    }
  }
  if (ec) return InvalidInput("image folder '{}': cannot list it: {}", dir, ec.message());
  if (files.empty()) return InvalidInput("image folder '{}' holds no .png or .jpg images", dir);

  const auto n = static_cast<int64_t>(files.size());
  const int64_t sample_bytes = channels * height * width * static_cast<int64_t>(sizeof(float));
  if (n > kMaxImageFolderBytes / sample_bytes)
    return InvalidInput("image folder '{}': {} images of {}x{}x{} need {:.1f} GiB as float32 samples, more than the "
                        "loader's limit of {} GiB; use a folder with fewer images",
                        dir, n, channels, height, width,
                        static_cast<double>(n) * static_cast<double>(sample_bytes) / static_cast<double>(1 << 30),
                        kMaxImageFolderBytes >> 30);
  ir::Tensor x(ir::DType::kFloat32, {n, channels, height, width});
  float* out = x.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const std::string file = files[static_cast<size_t>(i)].first.string();
    SQ_ASSIGN_OR_RETURN(std::string bytes, ReadFile(file));
    const ImageFormat format = LowerExtension(file) == ".png" ? ImageFormat::kPng : ImageFormat::kJpeg;
    SQ_ASSIGN_OR_RETURN(Image im, DecodeImage(bytes, format, file));
    SQ_RETURN_IF_ERROR(ImageToSample(im, file, spec.name, channels, height, width, o, out));
    out += channels * height * width;
    data.files.push_back(file);
  }
  if (!data.classes.empty()) {
    std::vector<int64_t> labels;
    for (const auto& f : files) labels.push_back(f.second);
    data.labels = ir::Tensor::FromVector<int64_t>({n}, labels);
  }
  data.inputs = inputs;
  data.num_samples = n;
  data.tensors.push_back(std::move(x));
  return data;
}

}  // namespace squint::quant

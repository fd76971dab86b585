// quant/image_folder.h per file: DecodeImage on bytes, CheckNormalization, ImageToSample.
// (Whole folders through the CLI: tests/python/test_squint_cli.py.)
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include "base/file.h"
#include "quant/image_folder.h"

namespace squint::quant {
namespace {

#define EXPECT_HAS(status, text) EXPECT_NE((status).message().find(text), std::string::npos) << (status).message()

std::string Seed(const std::string& name) {
  auto bytes = ReadFile(std::string(SQUINT_SOURCE_DIR) + "/fuzz/corpus/image_decode/" + name);
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  return bytes.ok() ? *bytes : std::string();
}

void PutBig32(std::string& b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b += static_cast<char>((v >> shift) & 0xFF);
}

void PutChunk(std::string& b, const std::string& type_and_data) {
  PutBig32(b, static_cast<uint32_t>(type_and_data.size() - 4));
  b += type_and_data;
  PutBig32(b, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(type_and_data.data()),
                                          static_cast<uInt>(type_and_data.size()))));
}

// A PNG declaring an 8-bit gray `height` x `width` image, without pixel data (an empty IDAT).
std::string PngHeader(uint32_t height, uint32_t width) {
  std::string ihdr = "IHDR";
  PutBig32(ihdr, width);
  PutBig32(ihdr, height);
  ihdr += std::string("\x08\x00\x00\x00\x00", 5);
  std::string b = "\x89PNG\r\n\x1a\n";
  PutChunk(b, ihdr);
  PutChunk(b, "IDAT");
  PutChunk(b, "IEND");
  return b;
}

// SOI, a baseline frame header (1 component, `height` x `width`) and a scan header: enough for
// libjpeg to read the header.
std::string JpegHeader(uint16_t height, uint16_t width) {
  std::string b("\xFF\xD8\xFF\xC0\x00\x0B\x08", 7);
  b += static_cast<char>(height >> 8), b += static_cast<char>(height & 0xFF);
  b += static_cast<char>(width >> 8), b += static_cast<char>(width & 0xFF);
  b += std::string("\x01\x01\x11\x00", 4);
  b += std::string("\xFF\xDA\x00\x08\x01\x01\x00\x00\x3F\x00", 10);
  return b;
}

TEST(DecodeImage, PngAndJpegSeeds) {
  auto gray = DecodeImage(Seed("gray_7x5.png"), ImageFormat::kPng, "gray.png");
  ASSERT_TRUE(gray.ok()) << gray.status().message();
  EXPECT_EQ(gray->height, 7);
  EXPECT_EQ(gray->width, 5);
  EXPECT_EQ(gray->channels, 1);
  EXPECT_EQ(gray->pixels.size(), 35u);
  for (const char* name : {"rgb_3x4.png", "palette.png", "rgb_444.jpg"}) {
    const ImageFormat format = std::string(name).ends_with(".jpg") ? ImageFormat::kJpeg : ImageFormat::kPng;
    auto rgb = DecodeImage(Seed(name), format, name);
    ASSERT_TRUE(rgb.ok()) << rgb.status().message();
    EXPECT_EQ(rgb->channels, 3) << name;
    EXPECT_EQ(rgb->pixels.size(), static_cast<size_t>(rgb->height * rgb->width * 3)) << name;
  }
  auto jpg = DecodeImage(Seed("gray_8x8.jpg"), ImageFormat::kJpeg, "g.jpg");
  ASSERT_TRUE(jpg.ok()) << jpg.status().message();
  EXPECT_EQ(jpg->channels, 1);
  EXPECT_EQ(jpg->height * jpg->width, 64);
}

TEST(DecodeImage, BadFilesNameTheFileAndTheRule) {
  EXPECT_HAS(DecodeImage(Seed("rgba.png"), ImageFormat::kPng, "a.png").status(), "image 'a.png': has an alpha channel");
  EXPECT_HAS(DecodeImage(Seed("cmyk.jpg"), ImageFormat::kJpeg, "c.jpg").status(), "image 'c.jpg': corrupt, truncated or unsupported JPEG (4 color components");
  EXPECT_HAS(DecodeImage(Seed("truncated.png"), ImageFormat::kPng, "t.png").status(), "image 't.png': corrupt or truncated PNG");
  EXPECT_HAS(DecodeImage(Seed("truncated.jpg"), ImageFormat::kJpeg, "t.jpg").status(), "image 't.jpg': corrupt, truncated");
  EXPECT_HAS(DecodeImage("", ImageFormat::kPng, "e.png").status(), "image 'e.png': not a readable PNG");
  EXPECT_HAS(DecodeImage("", ImageFormat::kJpeg, "e.jpg").status(), "image 'e.jpg': corrupt, truncated");
}

// A few header bytes may declare a huge image: refused before the pixels are allocated.
TEST(DecodeImage, DeclaredSizeAboveThePixelLimitIsRefusedBeforeAllocating) {
  auto png = DecodeImage(PngHeader(100000, 100000), ImageFormat::kPng, "huge.png");
  EXPECT_EQ(png.status().code(), StatusCode::kInvalidInput);
  EXPECT_HAS(png.status(), "image 'huge.png': PNG of 100000x100000 pixels, more than the 67108864 pixels");
  auto jpg = DecodeImage(JpegHeader(60000, 60000), ImageFormat::kJpeg, "huge.jpg");
  EXPECT_EQ(jpg.status().code(), StatusCode::kInvalidInput);
  EXPECT_HAS(jpg.status(), "image 'huge.jpg': corrupt, truncated or unsupported JPEG (60000x60000 pixels, more than");
  // The limit is a parameter: the same small header passes a larger one and fails a smaller.
  EXPECT_HAS(DecodeImage(PngHeader(4, 4), ImageFormat::kPng, "s.png", 15).status(), "more than the 15 pixels");
  EXPECT_HAS(DecodeImage(PngHeader(4, 4), ImageFormat::kPng, "s.png", 16).status(), "corrupt or truncated PNG");
}

TEST(CheckNormalization, OneValueOrOnePerChannelAndFiniteNonZeroStd) {
  ImageOptions o;
  EXPECT_TRUE(CheckNormalization(o, 3).ok());
  o.mean = {0.1f, 0.2f};
  EXPECT_HAS(CheckNormalization(o, 3), "--mean has 2 values; give one, or one per channel (3)");
  o.mean = {0.1f, 0.2f, 0.3f};
  EXPECT_TRUE(CheckNormalization(o, 3).ok());
  EXPECT_HAS(CheckNormalization(o, 1), "--mean has 3 values");
  o.mean = {0.0f};
  for (float bad : {0.0f, NAN, INFINITY}) {
    o.std = {1.0f, bad, 1.0f};
    EXPECT_HAS(CheckNormalization(o, 3), "must be finite and non-zero");
  }
}

TEST(ImageToSample, ResizeBroadcastNormalizeAndChannelRule) {
  Image gray{1, 2, 1, {0, 255}};
  ImageOptions o;
  o.mean = {0.5f};
  o.std = {0.5f};
  // Own size, broadcast to 3 channels: (p/255 - 0.5) / 0.5.
  std::vector<float> out(6);
  ASSERT_TRUE(ImageToSample(gray, "g.png", "x", 3, 1, 2, o, out.data()).ok());
  EXPECT_EQ(out, (std::vector<float>{-1, 1, -1, 1, -1, 1}));
  // 1x2 -> 1x4, half-pixel centres: source x = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
  o = ImageOptions{};
  out.assign(4, 0);
  ASSERT_TRUE(ImageToSample(gray, "g.png", "x", 1, 1, 4, o, out.data()).ok());
  EXPECT_FLOAT_EQ(out[0], 0.0f);
  EXPECT_FLOAT_EQ(out[1], 0.25f);
  EXPECT_FLOAT_EQ(out[2], 0.75f);
  EXPECT_FLOAT_EQ(out[3], 1.0f);
  Image rgb{1, 1, 3, {1, 2, 3}};
  EXPECT_HAS(ImageToSample(rgb, "c.png", "input", 1, 1, 1, o, out.data()),
             "image 'c.png': RGB, but the model input 'input' takes 1 channel(s)");
}

// The folder loader holds every sample in memory: a resize target above the decoder's pixel limit, or
// more sample bytes than kMaxImageFolderBytes, is bad input found before anything is allocated.
TEST(LoadImageFolder, SampleSizeAndTotalBytesAreBoundedBeforeAllocating) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("squint_image_limits_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string png = Seed("gray_7x5.png");
  for (int i = 0; i < 129; ++i) ASSERT_TRUE(WriteFileAtomic((dir / (std::to_string(i) + ".png")).string(), png).ok());
  const std::vector<InputSpec> inputs = {{"input", ir::DType::kFloat32, {1, -1, -1}}};
  ImageOptions o;
  o.height = 65536;
  o.width = 8192;
  auto r = LoadImageFolder(dir.string(), inputs, o);
  EXPECT_HAS(r.status(), "samples of 65536x8192 pixels for input 'input' exceed the limit of 67108864 pixels");
  o.height = 8192;  // 129 samples of 256 MiB: 32.2 GiB
  r = LoadImageFolder(dir.string(), inputs, o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
  EXPECT_HAS(r.status(), "129 images of 1x8192x8192 need 32.2 GiB as float32 samples, more than the loader's limit of 8 GiB");
  o.height = 5;  // the images' own size loads
  o.width = 7;
  r = LoadImageFolder(dir.string(), inputs, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->num_samples, 129);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace squint::quant

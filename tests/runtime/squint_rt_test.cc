// C API: create from buffer and file, I/O info, raw and float I/O, caller arena, observer, errors.
#include "runtime/squint_rt.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "tests/runtime/sqnt_builder.h"

namespace squint::rt {
namespace {

using testing::AlignedBytes;
using testing::BuildFcModel;

TEST(SquintRtC, CreateInfoInvokeRawAndFloat) {
  AlignedBytes bytes = BuildFcModel();
  squint_rt_model* m = nullptr;
  ASSERT_EQ(squint_rt_create_from_buffer(bytes.data(), bytes.size(), SQUINT_RT_ALLOCATE_ARENA, &m), SQUINT_RT_OK)
      << squint_rt_last_error();
  EXPECT_EQ(squint_rt_num_inputs(m), 1);
  EXPECT_EQ(squint_rt_num_outputs(m), 1);
  squint_rt_tensor_info info;
  ASSERT_EQ(squint_rt_input_info(m, 0, &info), SQUINT_RT_OK);
  EXPECT_STREQ(info.name, "x");
  EXPECT_EQ(info.type, SQUINT_RT_INT8);
  EXPECT_EQ(info.rank, 2);
  EXPECT_EQ(info.dims[1], 4);
  EXPECT_FLOAT_EQ(info.scale, 0.5f);
  EXPECT_EQ(info.zero_point, 1);
  EXPECT_EQ(squint_rt_input_info(m, 1, &info), SQUINT_RT_INVALID_ARGUMENT);
  EXPECT_EQ(squint_rt_arena_size(m), 128u);

  // Float input: x / 0.5 rounded half to even, + 1, clamped.
  const float xf[4] = {0.25f, 0.75f, -1000.0f, 1000.0f};  // 0.5 -> 0, 1.5 -> 2, clamp, clamp
  ASSERT_EQ(squint_rt_set_input_float(m, 0, xf, 4), SQUINT_RT_OK);
  ASSERT_EQ(squint_rt_invoke(m), SQUINT_RT_OK);
  int8_t y_codes[3];
  ASSERT_EQ(squint_rt_get_output(m, 0, y_codes, 3), SQUINT_RT_OK);
  float yf[3];
  ASSERT_EQ(squint_rt_get_output_float(m, 0, yf, 3), SQUINT_RT_OK);
  for (int n = 0; n < 3; ++n) EXPECT_FLOAT_EQ(yf[n], 1.0f * (y_codes[n] + 2));

  // The same through raw codes 1, 3, -128, 127 gives the same output.
  const int8_t x_codes[4] = {1, 3, -128, 127};
  ASSERT_EQ(squint_rt_set_input(m, 0, x_codes, 4), SQUINT_RT_OK);
  ASSERT_EQ(squint_rt_invoke(m), SQUINT_RT_OK);
  int8_t y2[3];
  ASSERT_EQ(squint_rt_get_output(m, 0, y2, 3), SQUINT_RT_OK);
  for (int n = 0; n < 3; ++n) EXPECT_EQ(y2[n], y_codes[n]);

  EXPECT_EQ(squint_rt_set_input(m, 0, x_codes, 3), SQUINT_RT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(squint_rt_last_error()).find("input 'x' takes 4 bytes, got 3"), std::string::npos);
  squint_rt_destroy(m);
}

TEST(SquintRtC, CallerArenaAndObserver) {
  AlignedBytes bytes = BuildFcModel();
  squint_rt_model* m = nullptr;
  ASSERT_EQ(squint_rt_create_from_buffer(bytes.data(), bytes.size(), 0, &m), SQUINT_RT_OK);
  const int8_t x[4] = {0, 0, 0, 0};
  EXPECT_EQ(squint_rt_set_input(m, 0, x, 4), SQUINT_RT_FAILED_PRECONDITION);
  EXPECT_EQ(squint_rt_invoke(m), SQUINT_RT_FAILED_PRECONDITION);
  void* arena = std::aligned_alloc(64, 128);
  ASSERT_EQ(squint_rt_set_arena(m, arena, 128), SQUINT_RT_OK);
  struct Seen {
    int calls = 0;
    std::string name;
    int32_t n = 0;
  } seen;
  squint_rt_set_observer(
      m,
      [](void* user, const squint_rt_model* model, int32_t op, const char* name, int32_t n) {
        auto* s = static_cast<Seen*>(user);
        ++s->calls;
        s->name = name;
        squint_rt_tensor_info info;
        const void* data = nullptr;
        if (squint_rt_observed_output(model, 0, &info, &data) == SQUINT_RT_OK && data != nullptr) s->n = info.rank;
      },
      &seen);
  ASSERT_EQ(squint_rt_set_input(m, 0, x, 4), SQUINT_RT_OK);
  ASSERT_EQ(squint_rt_invoke(m), SQUINT_RT_OK);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.name, "fc");
  EXPECT_EQ(seen.n, 2);
  squint_rt_tensor_info info;
  const void* data;
  EXPECT_EQ(squint_rt_observed_output(m, 0, &info, &data), SQUINT_RT_FAILED_PRECONDITION);
  squint_rt_destroy(m);
  std::free(arena);
}

// A batch of n samples runs the graph n times: the codes equal n single runs, through a caller's
// arena (which must grow) and an owned one (which the resize reallocates).
TEST(SquintRtC, ResizeBatchRunsEverySample) {
  testing::FcModelOptions o;
  o.batch = 1;
  AlignedBytes bytes = BuildFcModel(o);
  const int8_t x[5][4] = {{1, 3, -128, 127}, {0, 0, 0, 0}, {-5, 7, 9, -11}, {127, 127, 127, 127}, {2, -2, 4, -4}};
  int8_t want[5][3];
  squint_rt_model* single = nullptr;
  ASSERT_EQ(squint_rt_create_from_buffer(bytes.data(), bytes.size(), SQUINT_RT_ALLOCATE_ARENA, &single), SQUINT_RT_OK)
      << squint_rt_last_error();
  EXPECT_EQ(squint_rt_batch_size(single), 1);
  for (int s = 0; s < 5; ++s) {
    ASSERT_EQ(squint_rt_set_input(single, 0, x[s], 4), SQUINT_RT_OK);
    ASSERT_EQ(squint_rt_invoke(single), SQUINT_RT_OK);
    ASSERT_EQ(squint_rt_get_output(single, 0, want[s], 3), SQUINT_RT_OK);
  }
  squint_rt_destroy(single);

  for (uint32_t flags : {0u, static_cast<uint32_t>(SQUINT_RT_ALLOCATE_ARENA)}) {
    squint_rt_model* m = nullptr;
    ASSERT_EQ(squint_rt_create_from_buffer(bytes.data(), bytes.size(), flags, &m), SQUINT_RT_OK);
    ASSERT_EQ(squint_rt_resize_batch(m, 5), SQUINT_RT_OK) << squint_rt_last_error();
    squint_rt_tensor_info info;
    ASSERT_EQ(squint_rt_input_info(m, 0, &info), SQUINT_RT_OK);
    EXPECT_EQ(info.dims[0], 5);
    EXPECT_EQ(info.dims[1], 4);
    EXPECT_EQ(info.bytes, 20u);
    ASSERT_EQ(squint_rt_output_info(m, 0, &info), SQUINT_RT_OK);
    EXPECT_EQ(info.num_elements, 15);
    // The model's 128 bytes of activations, then x (20 → 64) and y (15 → 64).
    EXPECT_EQ(squint_rt_arena_size(m), 256u);
    void* arena = nullptr;
    if (flags == 0) {
      EXPECT_EQ(squint_rt_set_input(m, 0, x, 20), SQUINT_RT_FAILED_PRECONDITION);
      arena = std::aligned_alloc(64, 256);
      EXPECT_EQ(squint_rt_set_arena(m, arena, 128), SQUINT_RT_INVALID_ARGUMENT);
      EXPECT_NE(std::string(squint_rt_last_error()).find("smaller than the 256"), std::string::npos);
      ASSERT_EQ(squint_rt_set_arena(m, arena, 256), SQUINT_RT_OK);
    }
    EXPECT_EQ(squint_rt_set_input(m, 0, x, 4), SQUINT_RT_INVALID_ARGUMENT);
    EXPECT_NE(std::string(squint_rt_last_error()).find("takes 20 bytes, got 4"), std::string::npos);
    ASSERT_EQ(squint_rt_set_input(m, 0, x, 20), SQUINT_RT_OK);
    int calls = 0;
    squint_rt_set_observer(
        m, [](void* user, const squint_rt_model*, int32_t, const char*, int32_t) { ++*static_cast<int*>(user); },
        &calls);
    ASSERT_EQ(squint_rt_invoke(m), SQUINT_RT_OK);
    EXPECT_EQ(calls, 5);
    int8_t got[5][3];
    ASSERT_EQ(squint_rt_get_output(m, 0, got, 15), SQUINT_RT_OK);
    for (int s = 0; s < 5; ++s)
      for (int n = 0; n < 3; ++n) EXPECT_EQ(got[s][n], want[s][n]) << "sample " << s << " unit " << n;
    float yf[15];
    ASSERT_EQ(squint_rt_get_output_float(m, 0, yf, 15), SQUINT_RT_OK);
    EXPECT_FLOAT_EQ(yf[14], 1.0f * (want[4][2] + 2));

    // Back to one sample: the stored shapes, and (caller arena) a new arena call.
    ASSERT_EQ(squint_rt_resize_batch(m, 1), SQUINT_RT_OK);
    EXPECT_EQ(squint_rt_arena_size(m), 128u);
    if (flags == 0) {
      EXPECT_EQ(squint_rt_invoke(m), SQUINT_RT_FAILED_PRECONDITION);
      ASSERT_EQ(squint_rt_set_arena(m, arena, 128), SQUINT_RT_OK);
    }
    ASSERT_EQ(squint_rt_input_info(m, 0, &info), SQUINT_RT_OK);
    EXPECT_EQ(info.dims[0], 1);
    ASSERT_EQ(squint_rt_set_input(m, 0, x[2], 4), SQUINT_RT_OK);
    ASSERT_EQ(squint_rt_invoke(m), SQUINT_RT_OK);
    ASSERT_EQ(squint_rt_get_output(m, 0, got[0], 3), SQUINT_RT_OK);
    for (int n = 0; n < 3; ++n) EXPECT_EQ(got[0][n], want[2][n]);

    EXPECT_EQ(squint_rt_resize_batch(m, 0), SQUINT_RT_INVALID_ARGUMENT);
    EXPECT_NE(std::string(squint_rt_last_error()).find("positive multiple of the model's batch 1"), std::string::npos);
    EXPECT_EQ(squint_rt_resize_batch(m, int64_t{1} << 62), SQUINT_RT_INVALID_ARGUMENT);
    squint_rt_destroy(m);
    std::free(arena);
  }
}

TEST(SquintRtC, VersionOfTheLinkedLibraryMatchesTheHeader) {
  EXPECT_EQ(squint_rt_version(), SQUINT_RT_VERSION_MAJOR * 10000 + SQUINT_RT_VERSION_MINOR * 100 + SQUINT_RT_VERSION_PATCH);
  EXPECT_EQ(squint_rt_version(), 200);  // 0.2.0, the project's version (cmake/SquintInstall.cmake checks)
}

TEST(SquintRtC, TypeNames) {
  EXPECT_STREQ(squint_rt_type_name(SQUINT_RT_INT8), "int8");
  EXPECT_STREQ(squint_rt_type_name(SQUINT_RT_UINT8), "uint8");
  EXPECT_STREQ(squint_rt_type_name(SQUINT_RT_INT16), "int16");
  EXPECT_STREQ(squint_rt_type_name(SQUINT_RT_INT32), "int32");
  EXPECT_STREQ(squint_rt_type_name(static_cast<squint_rt_type>(7)), "unknown");
}

TEST(SquintRtC, FixedShapesRefuseAResize) {
  AlignedBytes bytes = BuildFcModel();
  squint_rt_model* m = nullptr;
  ASSERT_EQ(squint_rt_create_from_buffer(bytes.data(), bytes.size(), SQUINT_RT_ALLOCATE_ARENA, &m), SQUINT_RT_OK);
  EXPECT_EQ(squint_rt_batch_size(m), 0);
  EXPECT_EQ(squint_rt_resize_batch(m, 2), SQUINT_RT_FAILED_PRECONDITION);
  EXPECT_NE(std::string(squint_rt_last_error()).find("shapes are fixed"), std::string::npos);
  squint_rt_destroy(m);
}

TEST(SquintRtC, FromFileAndErrors) {
  AlignedBytes bytes = BuildFcModel();
  const std::string path = ::testing::TempDir() + "/squint_rt_test_fc.sqnt";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  squint_rt_model* m = nullptr;
  ASSERT_EQ(squint_rt_create_from_file(path.c_str(), SQUINT_RT_ALLOCATE_ARENA, &m), SQUINT_RT_OK)
      << squint_rt_last_error();
  ASSERT_EQ(squint_rt_invoke(m), SQUINT_RT_OK);
  squint_rt_destroy(m);

  EXPECT_EQ(squint_rt_create_from_file("/nonexistent/x.sqnt", 0, &m), SQUINT_RT_IO_ERROR);
  EXPECT_EQ(m, nullptr);
  testing::FcModelOptions o;
  o.minor = 9;
  AlignedBytes newer = BuildFcModel(o);
  EXPECT_EQ(squint_rt_create_from_buffer(newer.data(), newer.size(), 0, &m), SQUINT_RT_UNSUPPORTED_VERSION);
  EXPECT_STREQ(squint_rt_last_error(), "model schema version 1.9 is newer than this runtime's 1.1");
  EXPECT_EQ(squint_rt_create_from_buffer(bytes.data(), 10, 0, &m), SQUINT_RT_INVALID_MODEL);
  EXPECT_EQ(squint_rt_create_from_buffer(bytes.data(), bytes.size(), 0, nullptr), SQUINT_RT_INVALID_ARGUMENT);
}

// Options: every instruction set this CPU has gives the same codes; a bad struct_size or isa and
// a set the CPU lacks fail at create with a message.
TEST(SquintRtC, OptionsPickTheInstructionSet) {
  AlignedBytes bytes = BuildFcModel();
  const int8_t x[4] = {10, -20, 30, 127};
  int8_t want[3] = {};
  bool have_want = false;
  for (squint_rt_isa isa : {SQUINT_RT_ISA_REFERENCE, SQUINT_RT_ISA_AVX2, SQUINT_RT_ISA_AVX512VNNI}) {
    squint_rt_options o;
    squint_rt_options_init(&o);
    o.flags = SQUINT_RT_ALLOCATE_ARENA;
    o.isa = isa;
    squint_rt_model* m = nullptr;
    const squint_rt_status s = squint_rt_create_from_buffer_with_options(bytes.data(), bytes.size(), &o, &m);
    const char* name = isa == SQUINT_RT_ISA_REFERENCE ? "reference" : isa == SQUINT_RT_ISA_AVX2 ? "avx2" : "avx512vnni";
    if (s != SQUINT_RT_OK) {  // only a set this CPU lacks may fail, and says so
      EXPECT_EQ(s, SQUINT_RT_UNSUPPORTED) << squint_rt_last_error();
      EXPECT_EQ(std::string(squint_rt_last_error()).rfind(std::string("instruction set '") + name + "'", 0), 0u)
          << squint_rt_last_error();
      EXPECT_NE(isa, SQUINT_RT_ISA_REFERENCE);
      continue;
    }
    EXPECT_STREQ(squint_rt_isa_name(m), name);
    ASSERT_EQ(squint_rt_set_input(m, 0, x, 4), SQUINT_RT_OK);
    ASSERT_EQ(squint_rt_invoke(m), SQUINT_RT_OK);
    int8_t y[3];
    ASSERT_EQ(squint_rt_get_output(m, 0, y, 3), SQUINT_RT_OK);
    if (!have_want) std::copy(y, y + 3, want);
    have_want = true;
    for (int n = 0; n < 3; ++n) EXPECT_EQ(y[n], want[n]) << name << " unit " << n;
    squint_rt_destroy(m);
  }
  squint_rt_options o;
  squint_rt_options_init(&o);
  squint_rt_model* m = nullptr;
  o.struct_size = 4;
  EXPECT_EQ(squint_rt_create_from_buffer_with_options(bytes.data(), bytes.size(), &o, &m), SQUINT_RT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(squint_rt_last_error()).find("options.struct_size = 4"), std::string::npos);
  squint_rt_options_init(&o);
  const int32_t bad = 7;
  std::memcpy(&o.isa, &bad, sizeof(bad));
  EXPECT_EQ(squint_rt_create_from_buffer_with_options(bytes.data(), bytes.size(), &o, &m), SQUINT_RT_INVALID_ARGUMENT);
  EXPECT_STREQ(squint_rt_last_error(), "options.isa = 7 is not a squint_rt_isa");
  EXPECT_EQ(m, nullptr);
  squint_rt_options_init(&o);
  EXPECT_EQ(o.num_threads, 1);
  o.num_threads = 0;
  EXPECT_EQ(squint_rt_create_from_buffer_with_options(bytes.data(), bytes.size(), &o, &m), SQUINT_RT_INVALID_ARGUMENT);
  EXPECT_STREQ(squint_rt_last_error(), "options.num_threads = 0, expected in [1, 256]");
  o.num_threads = 3;  // the same codes on three threads
  o.flags = SQUINT_RT_ALLOCATE_ARENA;
  ASSERT_EQ(squint_rt_create_from_buffer_with_options(bytes.data(), bytes.size(), &o, &m), SQUINT_RT_OK);
  ASSERT_EQ(squint_rt_set_input(m, 0, x, 4), SQUINT_RT_OK);
  ASSERT_EQ(squint_rt_invoke(m), SQUINT_RT_OK);
  int8_t y3[3];
  ASSERT_EQ(squint_rt_get_output(m, 0, y3, 3), SQUINT_RT_OK);
  for (int n = 0; n < 3; ++n) EXPECT_EQ(y3[n], want[n]) << "3 threads, unit " << n;
  squint_rt_destroy(m);
  m = nullptr;
  // Null options: the defaults (AUTO).
  ASSERT_EQ(squint_rt_create_from_buffer_with_options(bytes.data(), bytes.size(), nullptr, &m), SQUINT_RT_OK);
  EXPECT_NE(squint_rt_isa_name(m), nullptr);
  squint_rt_destroy(m);
}

// Writes the fuzzer's seed corpus when SQUINT_WRITE_FUZZ_SEEDS names a directory.
TEST(SquintRtC, WriteFuzzSeeds) {
  const char* dir = std::getenv("SQUINT_WRITE_FUZZ_SEEDS");
  if (dir == nullptr) GTEST_SKIP() << "set SQUINT_WRITE_FUZZ_SEEDS=<dir> to write seeds";
  testing::FcModelOptions batched;
  batched.batch = 1;
  for (const auto& [name, bytes] : {std::pair{"fc.sqnt", BuildFcModel()}, std::pair{"fc_batch.sqnt", BuildFcModel(batched)}}) {
    const std::string path = std::string(dir) + "/" + name;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
}

}  // namespace
}  // namespace squint::rt

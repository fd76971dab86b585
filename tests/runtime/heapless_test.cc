// C API, heapless mode (squint_rt_create_heapless): the size query is exact (that many bytes work,
// one fewer is an OUT_OF_MEMORY error naming the size), the codes equal heap mode's on every
// instruction set this build and CPU have, and the rules (alignment, flags, threads, set_arena,
// batches that must fit) are errors, never crashes; so are misaligned buffers in heap mode. The
// bundled models, with every heap allocation counted, are in tests/quant/invoke_no_alloc_test.cc.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/squint_rt.h"
#include "tests/runtime/sqnt_builder.h"

namespace squint::rt {
namespace {

using testing::AlignedBytes;
using testing::BuildFcModel;

// A 64-byte aligned block of `size` bytes at `offset` from an aligned address.
struct Arena {
  explicit Arena(size_t size, size_t offset = 0) : storage(size + offset + 64, 0xA5) {
    const size_t pad = (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64;
    data = storage.data() + pad + offset;
  }
  std::vector<uint8_t> storage;
  uint8_t* data;
};

bool Contains(const char* haystack, const std::string& needle) {
  return std::string(haystack).find(needle) != std::string::npos;
}

const squint_rt_isa kIsas[] = {SQUINT_RT_ISA_REFERENCE, SQUINT_RT_ISA_AVX2, SQUINT_RT_ISA_AVX512VNNI,
                               SQUINT_RT_ISA_NEON, SQUINT_RT_ISA_NEONDOT};

TEST(SquintRtHeapless, ExactSizeSameCodesAndTooSmallByOneByte) {
  AlignedBytes bytes = BuildFcModel();
  const int8_t x[4] = {1, 3, -128, 127};
  int tried = 0;
  for (squint_rt_isa isa : kIsas) {
    squint_rt_options o;
    squint_rt_options_init(&o);
    o.isa = isa;
    o.flags = SQUINT_RT_ALLOCATE_ARENA;
    squint_rt_model* heap = nullptr;
    if (squint_rt_create_from_buffer_with_options(bytes.data(), bytes.size(), &o, &heap) == SQUINT_RT_UNSUPPORTED)
      continue;  // not in this build or CPU
    ASSERT_NE(heap, nullptr) << squint_rt_last_error();
    int8_t want[3];
    ASSERT_EQ(squint_rt_set_input(heap, 0, x, 4), SQUINT_RT_OK);
    ASSERT_EQ(squint_rt_invoke(heap), SQUINT_RT_OK);
    ASSERT_EQ(squint_rt_get_output(heap, 0, want, 3), SQUINT_RT_OK);
    EXPECT_EQ(squint_rt_heapless_arena_used(heap), 0u);  // not heapless
    squint_rt_destroy(heap);

    o.flags = 0;
    size_t need = 0;
    ASSERT_EQ(squint_rt_heapless_arena_size(bytes.data(), bytes.size(), &o, &need), SQUINT_RT_OK)
        << squint_rt_last_error();
    EXPECT_EQ(need % 64, 0u);
    EXPECT_GE(need, 128u);  // at least the activations
    {
      Arena arena(need);
      squint_rt_model* m = nullptr;
      ASSERT_EQ(squint_rt_create_heapless(bytes.data(), bytes.size(), &o, arena.data, need, &m), SQUINT_RT_OK)
          << squint_rt_last_error();
      EXPECT_EQ(squint_rt_heapless_arena_used(m), need);
      EXPECT_EQ(squint_rt_arena_size(m), 128u);
      int8_t got[3];
      ASSERT_EQ(squint_rt_set_input(m, 0, x, 4), SQUINT_RT_OK);
      ASSERT_EQ(squint_rt_invoke(m), SQUINT_RT_OK);
      ASSERT_EQ(squint_rt_get_output(m, 0, got, 3), SQUINT_RT_OK);
      EXPECT_EQ(std::memcmp(got, want, 3), 0) << "isa " << squint_rt_isa_name(m);
      // Its activations are the arena's; no other arena can be set.
      EXPECT_EQ(squint_rt_set_arena(m, arena.data, need), SQUINT_RT_FAILED_PRECONDITION);
      EXPECT_TRUE(Contains(squint_rt_last_error(), "heapless handle"));
      squint_rt_destroy(m);
    }
    for (size_t size : {need - 1, need - 64, size_t{64}, size_t{0}}) {
      Arena arena(need);
      squint_rt_model* m = reinterpret_cast<squint_rt_model*>(&arena);  // must be reset to null
      EXPECT_EQ(squint_rt_create_heapless(bytes.data(), bytes.size(), &o, arena.data, size, &m),
                SQUINT_RT_OUT_OF_MEMORY)
          << size;
      EXPECT_EQ(m, nullptr);
      EXPECT_TRUE(Contains(squint_rt_last_error(), "heapless arena of " + std::to_string(size) + " bytes is too small"))
          << squint_rt_last_error();
      if (size + 64 > need) {
        EXPECT_TRUE(Contains(squint_rt_last_error(), "needs " + std::to_string(need) + " bytes"))
            << squint_rt_last_error();
      }
    }
    ++tried;
  }
  EXPECT_GE(tried, 2);  // the reference and at least one optimized set on x86-64 and aarch64 hosts
}

TEST(SquintRtHeapless, RulesAreErrors) {
  AlignedBytes bytes = BuildFcModel();
  size_t need = 0;
  ASSERT_EQ(squint_rt_heapless_arena_size(bytes.data(), bytes.size(), nullptr, &need), SQUINT_RT_OK);
  squint_rt_model* m = nullptr;
  for (size_t offset : {1, 8, 32}) {
    Arena arena(need, offset);
    EXPECT_EQ(squint_rt_create_heapless(bytes.data(), bytes.size(), nullptr, arena.data, need, &m),
              SQUINT_RT_INVALID_ARGUMENT);
    EXPECT_TRUE(Contains(squint_rt_last_error(), "is not 64-byte aligned")) << squint_rt_last_error();
  }
  Arena arena(need);
  EXPECT_EQ(squint_rt_create_heapless(bytes.data(), bytes.size(), nullptr, nullptr, need, &m),
            SQUINT_RT_INVALID_ARGUMENT);
  EXPECT_EQ(squint_rt_create_heapless(bytes.data(), bytes.size(), nullptr, arena.data, need, nullptr),
            SQUINT_RT_INVALID_ARGUMENT);
  EXPECT_EQ(squint_rt_heapless_arena_size(bytes.data(), bytes.size(), nullptr, nullptr), SQUINT_RT_INVALID_ARGUMENT);
  squint_rt_options o;
  squint_rt_options_init(&o);
  o.num_threads = 2;
  size_t none = 1;
  EXPECT_EQ(squint_rt_heapless_arena_size(bytes.data(), bytes.size(), &o, &none), SQUINT_RT_UNSUPPORTED);
  EXPECT_EQ(none, 0u);
  EXPECT_EQ(squint_rt_create_heapless(bytes.data(), bytes.size(), &o, arena.data, need, &m), SQUINT_RT_UNSUPPORTED);
  EXPECT_TRUE(Contains(squint_rt_last_error(), "options.num_threads = 2: a heapless handle runs on the calling thread"));
  squint_rt_options_init(&o);
  o.flags = SQUINT_RT_ALLOCATE_ARENA;
  EXPECT_EQ(squint_rt_create_heapless(bytes.data(), bytes.size(), &o, arena.data, need, &m),
            SQUINT_RT_INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(squint_rt_last_error(), "SQUINT_RT_ALLOCATE_ARENA"));
  // A model buffer that is not 8-byte aligned, a truncated one, a future version: the loader's
  // errors, from the query and from create alike, and the arena is left as it was.
  for (int variant = 0; variant < 3; ++variant) {
    testing::FcModelOptions fo;
    if (variant == 2) fo.major = 2;
    AlignedBytes bad = BuildFcModel(fo);
    const uint8_t* data = bad.data();
    size_t size = bad.size();
    if (variant == 0) {
      Arena copy(size, 4);
      std::memcpy(copy.data, data, size);
      size_t dummy = 0;
      EXPECT_EQ(squint_rt_heapless_arena_size(copy.data, size, nullptr, &dummy), SQUINT_RT_INVALID_ARGUMENT);
      EXPECT_EQ(squint_rt_create_heapless(copy.data, size, nullptr, arena.data, need, &m), SQUINT_RT_INVALID_ARGUMENT);
      EXPECT_TRUE(Contains(squint_rt_last_error(), "not 8-byte aligned")) << squint_rt_last_error();
      continue;
    }
    if (variant == 1) size /= 2;
    const squint_rt_status want = variant == 1 ? SQUINT_RT_INVALID_MODEL : SQUINT_RT_UNSUPPORTED_VERSION;
    size_t dummy = 0;
    EXPECT_EQ(squint_rt_heapless_arena_size(data, size, nullptr, &dummy), want);
    EXPECT_EQ(squint_rt_create_heapless(data, size, nullptr, arena.data, need, &m), want);
    EXPECT_EQ(m, nullptr);
  }
}

// Alignment in heap mode too: a model buffer off 8 bytes and an arena off 64 are errors that say
// so, and the handle stays usable after a refused arena.
TEST(SquintRtAlignment, ModelBufferAndCallerArena) {
  AlignedBytes bytes = BuildFcModel();
  for (size_t offset : {1, 2, 4}) {
    Arena copy(bytes.size(), offset);
    std::memcpy(copy.data, bytes.data(), bytes.size());
    squint_rt_model* m = nullptr;
    EXPECT_EQ(squint_rt_create_from_buffer(copy.data, bytes.size(), SQUINT_RT_ALLOCATE_ARENA, &m),
              SQUINT_RT_INVALID_ARGUMENT);
    EXPECT_EQ(m, nullptr);
    EXPECT_TRUE(Contains(squint_rt_last_error(), "model buffer address is not 8-byte aligned")) << squint_rt_last_error();
  }
  squint_rt_model* m = nullptr;
  ASSERT_EQ(squint_rt_create_from_buffer(bytes.data(), bytes.size(), 0, &m), SQUINT_RT_OK);
  Arena arena(256);
  for (size_t offset : {1, 8, 32}) {
    EXPECT_EQ(squint_rt_set_arena(m, arena.data + offset, 128), SQUINT_RT_INVALID_ARGUMENT);
    EXPECT_TRUE(Contains(squint_rt_last_error(), "not 64-byte aligned")) << squint_rt_last_error();
    const int8_t x[4] = {0, 0, 0, 0};
    EXPECT_EQ(squint_rt_set_input(m, 0, x, 4), SQUINT_RT_FAILED_PRECONDITION);  // no arena was taken
  }
  ASSERT_EQ(squint_rt_set_arena(m, arena.data, 128), SQUINT_RT_OK);
  EXPECT_EQ(squint_rt_invoke(m), SQUINT_RT_OK);
  squint_rt_destroy(m);
}

// A batch model: resizing works while the staged samples fit in the arena after the prepared
// model; past that it is OUT_OF_MEMORY naming the arena that would hold them (true: a handle
// created with that arena takes the resize), and the handle stays as it was.
TEST(SquintRtHeapless, ResizeBatchWithinTheArena) {
  testing::FcModelOptions fo;
  fo.batch = 1;
  AlignedBytes bytes = BuildFcModel(fo);
  const int8_t x[3][4] = {{1, 3, -128, 127}, {-5, 7, 9, -11}, {0, 0, 0, 0}};
  size_t need = 0;
  ASSERT_EQ(squint_rt_heapless_arena_size(bytes.data(), bytes.size(), nullptr, &need), SQUINT_RT_OK);
  Arena arena(need);
  squint_rt_model* m = nullptr;
  ASSERT_EQ(squint_rt_create_heapless(bytes.data(), bytes.size(), nullptr, arena.data, need, &m), SQUINT_RT_OK)
      << squint_rt_last_error();
  int8_t want[3][3];
  for (int s = 0; s < 3; ++s) {
    ASSERT_EQ(squint_rt_set_input(m, 0, x[s], 4), SQUINT_RT_OK);
    ASSERT_EQ(squint_rt_invoke(m), SQUINT_RT_OK);
    ASSERT_EQ(squint_rt_get_output(m, 0, want[s], 3), SQUINT_RT_OK);
  }
  int64_t samples = 2;
  while (samples < 1000 && squint_rt_resize_batch(m, samples) == SQUINT_RT_OK) ++samples;
  ASSERT_LT(samples, 1000);
  const std::string error = squint_rt_last_error();
  const size_t at = error.find("create it with an arena of at least ");
  ASSERT_NE(at, std::string::npos) << error;
  const size_t bigger = std::stoul(error.substr(at + 36));
  EXPECT_GT(bigger, need);
  squint_rt_tensor_info info;
  ASSERT_EQ(squint_rt_input_info(m, 0, &info), SQUINT_RT_OK);
  EXPECT_EQ(info.dims[0], samples - 1);  // the last resize that fit
  squint_rt_destroy(m);

  Arena big(bigger);
  ASSERT_EQ(squint_rt_create_heapless(bytes.data(), bytes.size(), nullptr, big.data, bigger, &m), SQUINT_RT_OK);
  ASSERT_EQ(squint_rt_resize_batch(m, samples), SQUINT_RT_OK) << squint_rt_last_error();
  EXPECT_EQ(squint_rt_heapless_arena_used(m), bigger);
  std::vector<int8_t> xs(static_cast<size_t>(samples) * 4), ys(static_cast<size_t>(samples) * 3);
  for (int64_t s = 0; s < samples; ++s) std::memcpy(&xs[static_cast<size_t>(s) * 4], x[s % 3], 4);
  ASSERT_EQ(squint_rt_set_input(m, 0, xs.data(), xs.size()), SQUINT_RT_OK);
  ASSERT_EQ(squint_rt_invoke(m), SQUINT_RT_OK);
  ASSERT_EQ(squint_rt_get_output(m, 0, ys.data(), ys.size()), SQUINT_RT_OK);
  for (int64_t s = 0; s < samples; ++s)
    EXPECT_EQ(std::memcmp(&ys[static_cast<size_t>(s) * 3], want[s % 3], 3), 0) << "sample " << s;
  ASSERT_EQ(squint_rt_resize_batch(m, 1), SQUINT_RT_OK);
  EXPECT_EQ(squint_rt_heapless_arena_used(m), need);
  squint_rt_destroy(m);
}

}  // namespace
}  // namespace squint::rt

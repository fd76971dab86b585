// libFuzzer target: arbitrary bytes as a .sqnt model through the whole runtime path the C API
// offers: load (verifier + semantic checks) → prepare → (resize a batched model to three samples)
// → invoke on a zeroed arena → read outputs.
// Any crash, sanitizer report or leak is a finding; errors are the expected outcome.
// Seeds: fuzz/corpus/sqnt_loader (written by tests/runtime/squint_rt_test.cc, WriteFuzzSeeds).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "runtime/squint_rt.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Model buffers are caller-owned and must be aligned: copy into a 64-byte aligned buffer.
  void* copy = std::aligned_alloc(64, (size + 63) / 64 * 64 + 64);
  if (copy == nullptr) return 0;
  if (size) std::memcpy(copy, data, size);
  squint_rt_model* model = nullptr;
  if (squint_rt_create_from_buffer(copy, size, 0, &model) == SQUINT_RT_OK) {
    // A model with a batch runs three samples: the staged inputs and outputs around each run.
    const int32_t batch = squint_rt_batch_size(model);
    if (batch > 0 && batch <= 64) squint_rt_resize_batch(model, 3 * int64_t{batch});
    const size_t arena_size = squint_rt_arena_size(model);
    if (arena_size <= (size_t{64} << 20)) {  // keep RSS bounded; larger plans are valid but skipped
      void* arena = std::aligned_alloc(64, (arena_size + 63) / 64 * 64 + 64);
      if (arena != nullptr) {
        std::memset(arena, 0, arena_size);
        if (squint_rt_set_arena(model, arena, arena_size) == SQUINT_RT_OK && squint_rt_invoke(model) == SQUINT_RT_OK) {
          for (int32_t i = 0; i < squint_rt_num_outputs(model); ++i) {
            squint_rt_tensor_info info;
            if (squint_rt_output_info(model, i, &info) != SQUINT_RT_OK || info.bytes > (size_t{64} << 20)) continue;
            std::vector<uint8_t> out(info.bytes);
            squint_rt_get_output(model, i, out.data(), out.size());
          }
        }
        std::free(arena);
      }
    }
    squint_rt_destroy(model);
  }
  std::free(copy);
  return 0;
}

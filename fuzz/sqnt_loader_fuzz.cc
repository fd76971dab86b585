// libFuzzer target: arbitrary bytes as a .sqnt model through every runtime path the C API
// offers: from a caller buffer (load: verifier + semantic checks → prepare → invoke on a zeroed
// arena → outputs, then a batched model resized to three samples and run again), from a file
// (the same bytes in a memfd, memory-mapped by squint_rt_create_from_file), and heapless
// (squint_rt_heapless_arena_size, then squint_rt_create_heapless with one byte too few and with
// the exact size).
// Any crash, sanitizer report or leak is a finding; errors are the expected outcome. Invariants
// (a broken one aborts): the file path accepts exactly what the buffer path accepts; the heapless
// query succeeds exactly when a heap create does; create succeeds with the size it gives and is
// OUT_OF_MEMORY with one byte less; heapless outputs equal heap mode's.
// Seeds: fuzz/corpus/sqnt_loader (written by tests/runtime/squint_rt_test.cc, WriteFuzzSeeds).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/squint_rt.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s (last error: %s)\n", what, squint_rt_last_error());
    std::abort();
  }
}

constexpr size_t kMaxBytes = size_t{64} << 20;  // keep RSS bounded; larger plans are valid but skipped

// Every output's codes after one invoke on zeroed inputs (empty if the outputs are too large to read).
std::string Outputs(squint_rt_model* model) {
  std::string all;
  if (squint_rt_invoke(model) != SQUINT_RT_OK) return all;
  for (int32_t i = 0; i < squint_rt_num_outputs(model); ++i) {
    squint_rt_tensor_info info;
    if (squint_rt_output_info(model, i, &info) != SQUINT_RT_OK || info.bytes > kMaxBytes) return std::string();
    std::string out(info.bytes, '\0');
    if (squint_rt_get_output(model, i, out.data(), out.size()) != SQUINT_RT_OK) return std::string();
    all += out;
  }
  return all;
}

// A heap handle's run on a zeroed caller arena; false when the arena is too large to try.
bool RunWithArena(squint_rt_model* model, std::string* outputs) {
  const size_t arena_size = squint_rt_arena_size(model);
  if (arena_size > kMaxBytes) return false;
  void* arena = std::aligned_alloc(64, (arena_size + 63) / 64 * 64 + 64);
  if (arena == nullptr) return false;
  std::memset(arena, 0, arena_size);
  const bool ok = squint_rt_set_arena(model, arena, arena_size) == SQUINT_RT_OK;
  if (ok) *outputs = Outputs(model);
  std::free(arena);
  return ok;
}

// The same bytes as a file, through the mmap path; its status.
squint_rt_status CreateFromFile(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("sqnt_loader_fuzz", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)))
    return SQUINT_RT_IO_ERROR;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  squint_rt_model* model = nullptr;
  const squint_rt_status s = squint_rt_create_from_file(path.c_str(), 0, &model);
  squint_rt_destroy(model);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Model buffers are caller-owned and must be aligned: copy into a 64-byte aligned buffer.
  void* copy = std::aligned_alloc(64, (size + 63) / 64 * 64 + 64);
  if (copy == nullptr) return 0;
  if (size) std::memcpy(copy, data, size);
  squint_rt_model* model = nullptr;
  const squint_rt_status created = squint_rt_create_from_buffer(copy, size, 0, &model);
  std::string heap_outputs;
  bool heap_ran = false;
  if (created == SQUINT_RT_OK) {
    heap_ran = RunWithArena(model, &heap_outputs);
    // A model with a batch runs three samples: the staged inputs and outputs around each run.
    const int32_t batch = squint_rt_batch_size(model);
    if (batch > 0 && batch <= 64 && squint_rt_resize_batch(model, 3 * int64_t{batch}) == SQUINT_RT_OK) {
      std::string batched;
      RunWithArena(model, &batched);
    }
    squint_rt_destroy(model);
  }
  const squint_rt_status from_file = CreateFromFile(data, size);
  Check(from_file == created || (size == 0 && from_file != SQUINT_RT_OK), "the file path and the buffer path disagree");

  size_t need = 0;
  const squint_rt_status queried = squint_rt_heapless_arena_size(copy, size, nullptr, &need);
  Check((queried == SQUINT_RT_OK) == (created == SQUINT_RT_OK), "the heapless query and a heap create disagree");
  if (queried == SQUINT_RT_OK && need <= kMaxBytes) {
    Check(need % 64 == 0 && need > 0, "the heapless size is a positive multiple of 64");
    void* arena = std::aligned_alloc(64, need);
    if (arena != nullptr) {
      squint_rt_model* heapless = nullptr;
      Check(squint_rt_create_heapless(copy, size, nullptr, arena, need - 1, &heapless) == SQUINT_RT_OUT_OF_MEMORY &&
                heapless == nullptr,
            "a heapless arena one byte short is OUT_OF_MEMORY");
      Check(squint_rt_create_heapless(copy, size, nullptr, arena, need, &heapless) == SQUINT_RT_OK,
            "a heapless create succeeds with the queried size");
      Check(squint_rt_heapless_arena_used(heapless) == need, "the heapless arena used is the queried size");
      const std::string outputs = Outputs(heapless);
      if (heap_ran) Check(outputs == heap_outputs, "heapless outputs equal heap mode's");
      squint_rt_destroy(heapless);
      std::free(arena);
    }
  }
  std::free(copy);
  return 0;
}

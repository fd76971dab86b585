// The runtime's heap promises, counted on the bundled models quantized with default options:
//  - heap mode: Invoke allocates nothing, on every instruction set this CPU has and with two threads;
//  - heapless mode (squint_rt_create_heapless): create, set input, invoke, get output and destroy
//    allocate nothing at all, on every instruction set, with the codes of heap mode byte for byte;
//    the arena squint_rt_heapless_arena_size gives is exact (one byte fewer is the error).
// Every malloc-family call of this process is counted (this binary's malloc, calloc, realloc,
// memalign, aligned_alloc and posix_memalign forward to glibc's; operator new calls malloc).
#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "export/sqnt_writer.h"
#include "importers/onnx/onnx_importer.h"
#include "ir/eval/shape_inference.h"
#include "ir/npy.h"
#include "passes/pipeline.h"
#include "quant/calibrate.h"
#include "quant/lower.h"
#include "runtime/dispatch.h"
#include "runtime/interpreter.h"
#include "runtime/model.h"
#include "runtime/squint_rt.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};
void Count() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);

void* malloc(size_t n) {
  Count();
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) {
  Count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) {
  Count();
  return __libc_realloc(p, n);
}
void* memalign(size_t align, size_t n) {
  Count();
  return __libc_memalign(align, n);
}
void* aligned_alloc(size_t align, size_t n) {
  Count();
  return __libc_memalign(align, n);
}
int posix_memalign(void** out, size_t align, size_t n) {
  Count();
  void* p = __libc_memalign(align, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
void free(void* p) { __libc_free(p); }
}

namespace squint::quant {
namespace {

struct Case {
  const char* model;
  const char* data;
};

std::string Quantize(const Case& c) {
  const std::string root = std::string(SQUINT_SOURCE_DIR) + "/tests/data/models/";
  auto imported = importers::ImportOnnxFile(root + c.model);
  EXPECT_TRUE(imported.ok()) << imported.status().message();
  if (!imported.ok()) return {};
  ir::Graph g = std::move(imported).value();
  auto calib = ir::ReadNpy(root + c.data + "/calib_x.npy");
  EXPECT_TRUE(calib.ok());
  if (!calib.ok()) return {};
  ir::Dims sample = calib->dims();
  sample.erase(sample.begin());
  ir::Dims one = {1};
  one.insert(one.end(), sample.begin(), sample.end());
  EXPECT_TRUE(ir::eval::BindInputShapes(g, {{g.value(g.inputs[0]).name, one}}).ok());
  EXPECT_TRUE(passes::Canonicalize(g).ok());
  CalibData data;
  data.inputs.push_back({g.value(g.inputs[0]).name, calib->dtype(), sample});
  data.tensors.push_back(calib->Clone());
  data.num_samples = calib->dim(0);
  CalibrationOptions co;
  co.max_samples = 8;
  auto cal = Calibrate(g, data, co);
  EXPECT_TRUE(cal.ok()) << cal.status().message();
  if (!cal.ok()) return {};
  auto lowered = Lower(g, *cal, LowerOptions{});
  EXPECT_TRUE(lowered.ok()) << lowered.status().message();
  return lowered.ok() ? exporter::SerializeSqnt(*lowered->model) : std::string();
}

// Each model is quantized once for both tests.
const std::string& QuantizedBytes(const Case& c) {
  static std::map<std::string, std::string> cache;
  auto it = cache.find(c.model);
  if (it == cache.end()) it = cache.emplace(c.model, Quantize(c)).first;
  return it->second;
}

class InvokeNoAlloc : public ::testing::TestWithParam<Case> {};

TEST_P(InvokeNoAlloc, EveryInstructionSetAndThreads) {
  const std::string& bytes = QuantizedBytes(GetParam());
  ASSERT_FALSE(bytes.empty());
  void* aligned = std::aligned_alloc(64, (bytes.size() + 63) / 64 * 64);
  std::memcpy(aligned, bytes.data(), bytes.size());
  rt::Model model;
  ASSERT_TRUE(model.Load(static_cast<const uint8_t*>(aligned), bytes.size()).ok());
  int tried = 0;
  for (rt::Isa isa : {rt::Isa::kReference, rt::Isa::kAvx2, rt::Isa::kAvx512Vnni}) {
    for (int32_t threads : {1, 2}) {
      rt::Interpreter interp;
      const rt::Status s = interp.Prepare(&model, isa, threads);
      if (!s.ok() && std::string(s.message()).find("not available") != std::string::npos) continue;  // CPU lacks it
      ASSERT_TRUE(s.ok()) << s.message();
      void* arena = std::aligned_alloc(64, (interp.arena_size() + 64) / 64 * 64);
      ASSERT_TRUE(interp.SetArena(arena, (interp.arena_size() + 64) / 64 * 64).ok());
      std::memset(interp.mutable_tensor_data(model.inputs()[0]), 0, 4);  // any codes
      ASSERT_TRUE(interp.Invoke().ok());  // warm up (nothing lazily allocated either way)
      g_allocations = 0;
      g_counting = true;
      for (int i = 0; i < 3; ++i) ASSERT_TRUE(interp.Invoke().ok());
      g_counting = false;
      EXPECT_EQ(g_allocations.load(), 0) << "isa " << static_cast<int>(isa) << ", threads " << threads;
      std::free(arena);
      ++tried;
    }
  }
  EXPECT_GE(tried, 2);  // at least the reference kernels, one and two threads
  std::free(aligned);
}

// Fixed pseudo-random codes for every input of `m`.
std::vector<std::vector<uint8_t>> InputCodes(const squint_rt_model* m) {
  std::vector<std::vector<uint8_t>> inputs;
  for (int32_t i = 0; i < squint_rt_num_inputs(m); ++i) {
    squint_rt_tensor_info info;
    EXPECT_EQ(squint_rt_input_info(m, i, &info), SQUINT_RT_OK);
    std::vector<uint8_t> codes(info.bytes);
    uint32_t state = 12345u + static_cast<uint32_t>(i);
    for (uint8_t& c : codes) c = static_cast<uint8_t>((state = state * 1664525u + 1013904223u) >> 24);
    if (info.type == SQUINT_RT_INT32)  // token ids: keep them small and non-negative
      for (size_t k = 0; k + 3 < codes.size(); k += 4) codes[k] %= 16, codes[k + 1] = codes[k + 2] = codes[k + 3] = 0;
    inputs.push_back(std::move(codes));
  }
  return inputs;
}

// One run: every input set (the memory plan may reuse an input's bytes), invoke, every output's
// codes into `outputs` (sized by the caller). Makes no allocation of its own.
squint_rt_status RunOnce(squint_rt_model* m, const std::vector<std::vector<uint8_t>>& inputs,
                         std::vector<std::vector<uint8_t>>* outputs) {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (squint_rt_status s = squint_rt_set_input(m, static_cast<int32_t>(i), inputs[i].data(), inputs[i].size()))
      return s;
  if (squint_rt_status s = squint_rt_invoke(m)) return s;
  for (size_t o = 0; o < outputs->size(); ++o)
    if (squint_rt_status s = squint_rt_get_output(m, static_cast<int32_t>(o), (*outputs)[o].data(), (*outputs)[o].size()))
      return s;
  return SQUINT_RT_OK;
}

std::vector<std::vector<uint8_t>> OutputBuffers(const squint_rt_model* m) {
  std::vector<std::vector<uint8_t>> outputs;
  for (int32_t o = 0; o < squint_rt_num_outputs(m); ++o) {
    squint_rt_tensor_info info;
    EXPECT_EQ(squint_rt_output_info(m, o, &info), SQUINT_RT_OK);
    outputs.emplace_back(info.bytes);
  }
  return outputs;
}

class HeaplessNoAlloc : public ::testing::TestWithParam<Case> {};

TEST_P(HeaplessNoAlloc, EveryInstructionSetSameCodesAsHeapMode) {
  const std::string& bytes = QuantizedBytes(GetParam());
  ASSERT_FALSE(bytes.empty());
  void* model = std::aligned_alloc(64, (bytes.size() + 63) / 64 * 64);
  std::memcpy(model, bytes.data(), bytes.size());
  int tried = 0;
  for (squint_rt_isa isa : {SQUINT_RT_ISA_REFERENCE, SQUINT_RT_ISA_AVX2, SQUINT_RT_ISA_AVX512VNNI}) {
    squint_rt_options o;
    squint_rt_options_init(&o);
    o.isa = isa;
    o.flags = SQUINT_RT_ALLOCATE_ARENA;
    squint_rt_model* heap = nullptr;
    const squint_rt_status made = squint_rt_create_from_buffer_with_options(model, bytes.size(), &o, &heap);
    if (made == SQUINT_RT_UNSUPPORTED && std::strstr(squint_rt_last_error(), "not available")) continue;  // CPU lacks it
    ASSERT_EQ(made, SQUINT_RT_OK) << squint_rt_last_error();
    const std::vector<std::vector<uint8_t>> inputs = InputCodes(heap);
    std::vector<std::vector<uint8_t>> want = OutputBuffers(heap), got = OutputBuffers(heap);
    ASSERT_EQ(RunOnce(heap, inputs, &want), SQUINT_RT_OK) << squint_rt_last_error();
    squint_rt_destroy(heap);

    o.flags = 0;
    size_t need = 0;
    ASSERT_EQ(squint_rt_heapless_arena_size(model, bytes.size(), &o, &need), SQUINT_RT_OK) << squint_rt_last_error();
    void* arena = std::aligned_alloc(64, need);
    squint_rt_model* m = nullptr;
    EXPECT_EQ(squint_rt_create_heapless(model, bytes.size(), &o, arena, need - 1, &m), SQUINT_RT_OUT_OF_MEMORY);
    EXPECT_NE(std::string(squint_rt_last_error()).find("needs " + std::to_string(need) + " bytes"), std::string::npos)
        << squint_rt_last_error();
    // Counted: everything from create to destroy, two runs in between.
    g_allocations = 0;
    g_counting = true;
    const squint_rt_status s = squint_rt_create_heapless(model, bytes.size(), &o, arena, need, &m);
    squint_rt_status run = s;
    size_t used = 0;
    if (s == SQUINT_RT_OK) {
      for (int r = 0; r < 2 && run == SQUINT_RT_OK; ++r) run = RunOnce(m, inputs, &got);
      used = squint_rt_heapless_arena_used(m);
    }
    squint_rt_destroy(m);
    g_counting = false;
    ASSERT_EQ(s, SQUINT_RT_OK) << squint_rt_last_error();
    ASSERT_EQ(run, SQUINT_RT_OK) << squint_rt_last_error();
    EXPECT_EQ(g_allocations.load(), 0) << "isa " << static_cast<int>(isa);
    EXPECT_EQ(used, need);
    EXPECT_EQ(got, want) << "isa " << static_cast<int>(isa);
    std::free(arena);
    ++tried;
  }
  EXPECT_GE(tried, 1);
  std::free(model);
}

// The counter counts: a heap-mode create allocates (so a heapless create that did would be seen).
TEST(AllocationCounter, SeesHeapModeAllocations) {
  const std::string& bytes = QuantizedBytes(Case{"cnn_small/cnn_small_op17.onnx", "fashion_mnist"});
  ASSERT_FALSE(bytes.empty());
  void* model = std::aligned_alloc(64, (bytes.size() + 63) / 64 * 64);
  std::memcpy(model, bytes.data(), bytes.size());
  squint_rt_model* m = nullptr;
  g_allocations = 0;
  g_counting = true;
  const squint_rt_status s = squint_rt_create_from_buffer(model, bytes.size(), SQUINT_RT_ALLOCATE_ARENA, &m);
  g_counting = false;
  ASSERT_EQ(s, SQUINT_RT_OK);
  EXPECT_GT(g_allocations.load(), 10);
  squint_rt_destroy(m);
  std::free(model);
}

const auto kBundled = ::testing::Values(Case{"vit_tiny/vit_tiny_op17.onnx", "fashion_mnist"},
                                        Case{"cnn_small/cnn_small_op17.onnx", "fashion_mnist"},
                                        Case{"gpt_tiny/gpt_tiny_op17.onnx", "gpt_tiny"});
std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const std::string m = info.param.model;
  return m.substr(0, m.find('/'));
}
INSTANTIATE_TEST_SUITE_P(Bundled, InvokeNoAlloc, kBundled, CaseName);
INSTANTIATE_TEST_SUITE_P(Bundled, HeaplessNoAlloc, kBundled, CaseName);

}  // namespace
}  // namespace squint::quant

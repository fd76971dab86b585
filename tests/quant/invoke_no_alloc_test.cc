// The runtime's promise "no heap in invoke", counted: the bundled models, quantized with default
// options, run Invoke on every instruction set this CPU has (and with two threads) while every
// global operator new of this test binary is counted. Prepare may allocate; Invoke must not.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

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

// GCC takes any operator new for the library's and flags our malloc/free pairing; they do pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};
}  // namespace

void* operator new(size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace squint::quant {
namespace {

struct Case {
  const char* model;
  const char* data;
};

std::string QuantizedBytes(const Case& c) {
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

class InvokeNoAlloc : public ::testing::TestWithParam<Case> {};

TEST_P(InvokeNoAlloc, EveryInstructionSetAndThreads) {
  const std::string bytes = QuantizedBytes(GetParam());
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

INSTANTIATE_TEST_SUITE_P(Bundled, InvokeNoAlloc,
                         ::testing::Values(Case{"vit_tiny/vit_tiny_op17.onnx", "fashion_mnist"},
                                           Case{"cnn_small/cnn_small_op17.onnx", "fashion_mnist"},
                                           Case{"gpt_tiny/gpt_tiny_op17.onnx", "gpt_tiny"}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           const std::string m = info.param.model;
                           return m.substr(0, m.find('/'));
                         });

}  // namespace
}  // namespace squint::quant

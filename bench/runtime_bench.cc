// Integer runtime latency at batch 1, single thread: loads a .sqnt, sets the first sample of
// DATA.npy as the (float) input, then times squint_rt_invoke for --seconds and prints the
// median microseconds per inference. Setting the input is outside the timed region (as
// ONNX Runtime's session.run is timed with its input already in memory).
//   build/bench/squint_runtime_bench --model M.sqnt --data X.npy [--seconds 1]
// bench/runtime_vs_ort.py runs this interleaved with ONNX Runtime fp32 and int8 and reports ratios.
//
// With --per-op, every op is timed alone (Interpreter::InvokeOp, op after op on the arena of a
// real inference) and a JSON list of {index, op, name, median_us} is printed instead: for the
// cost of one kind of layer (e.g. the attention blocks, bench/softmax_ablation.py).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/file.h"
#include "ir/npy.h"
#include "runtime/interpreter.h"
#include "runtime/squint_rt.h"
#include "runtime/tensor_codes.h"

namespace {

double MedianOf(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// Per-op medians over runs of the whole model op by op, for at least `seconds`.
// x: the first sample's values (token ids of an integer input are stored as they are).
int PerOp(const std::string& path, const std::vector<float>& x, double seconds) {
  using namespace squint::rt;
  auto bytes = squint::ReadFile(path);
  if (!bytes.ok()) {
    std::fprintf(stderr, "%s\n", bytes.status().message().c_str());
    return 2;
  }
  std::vector<uint64_t> buffer((bytes->size() + 7) / 8);  // 8-byte aligned copy
  std::memcpy(buffer.data(), bytes->data(), bytes->size());
  Model model;
  Interpreter interp;
  Status s = model.Load(reinterpret_cast<const uint8_t*>(buffer.data()), bytes->size());
  if (s.ok()) s = interp.Prepare(&model);
  const size_t arena_bytes = (interp.arena_size() + 63) / 64 * 64 + 64;
  void* arena = std::aligned_alloc(64, arena_bytes);
  if (s.ok()) s = interp.SetArena(arena, arena_bytes);
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), s.message());
    std::free(arena);
    return 2;
  }
  const int32_t n = model.num_operators();
  std::vector<std::vector<double>> us(static_cast<size_t>(n));
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (int run = 0;; ++run) {
    const TensorDesc& in = model.tensor(model.inputs()[0]);
    void* dst = interp.mutable_tensor_data(model.inputs()[0]);
    for (int64_t k = 0; k < in.num_elements; ++k) {
      const float v = x[static_cast<size_t>(k) % x.size()];
      StoreCode(dst, in.type, k, in.quant == nullptr ? static_cast<int32_t>(std::lround(v)) : QuantizeValue(in, v));
    }
    for (int32_t i = 0; i < n; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      (void)interp.InvokeOp(i);
      const auto t1 = std::chrono::steady_clock::now();
      if (run >= 5) us[static_cast<size_t>(i)].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    if (run >= 25 && std::chrono::steady_clock::now() > end) break;
  }
  std::printf("[\n");
  for (int32_t i = 0; i < n; ++i)
    std::printf("  {\"index\": %d, \"op\": \"%s\", \"name\": \"%s\", \"median_us\": %.3f}%s\n", i,
                OpCodeName(model.op(i)->opcode()), model.op_name(i), MedianOf(us[static_cast<size_t>(i)]),
                i + 1 < n ? "," : "");
  std::printf("]\n");
  std::free(arena);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, data;
  double seconds = 1.0;
  bool per_op = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--per-op") {
      per_op = true;
      continue;
    }
    if (i + 1 >= argc) break;
    ++i;
    if (a == "--model") model = argv[i];
    else if (a == "--data") data = argv[i];
    else if (a == "--seconds") seconds = std::atof(argv[i]);
  }
  if (model.empty() || data.empty() || !(seconds > 0)) {
    std::fprintf(stderr, "usage: squint_runtime_bench --model M.sqnt --data X.npy [--seconds S] [--per-op]\n"
                         "  X.npy: float32 samples, or integer codes (token ids) written as they are\n"
                         "  --per-op: JSON of per-op medians\n");
    return 2;
  }
  auto x = squint::ir::ReadNpy(data);
  if (per_op && x.ok() && x->rank() >= 1 && x->dim(0) >= 1) {  // any numeric dtype (token ids too)
    std::vector<float> values = x->ToFloatVector();
    values.resize(static_cast<size_t>(x->size() / x->dim(0)));
    return PerOp(model, values, seconds);
  }
  if (!x.ok() || x->rank() < 1 || x->dim(0) < 1) {
    std::fprintf(stderr, "%s: expected a numeric .npy with samples on axis 0\n", data.c_str());
    return 2;
  }
  squint_rt_model* m = nullptr;
  if (squint_rt_create_from_file(model.c_str(), SQUINT_RT_ALLOCATE_ARENA, &m) != SQUINT_RT_OK) {
    std::fprintf(stderr, "%s: %s\n", model.c_str(), squint_rt_last_error());
    return 2;
  }
  const size_t count = static_cast<size_t>(x->size() / x->dim(0));
  // A float sample is quantized by the runtime (squint_rt_set_input_float); integer samples
  // (token ids) are the input's codes as they are, written raw.
  const bool is_float = x->dtype() == squint::ir::DType::kFloat32;
  std::vector<uint8_t> codes;
  if (!is_float) {
    squint_rt_tensor_info info;
    squint_rt_input_info(m, 0, &info);
    const std::vector<int64_t> ids = x->ToInt64Vector();
    const size_t width = info.type == SQUINT_RT_INT32 ? 4 : info.type == SQUINT_RT_INT16 ? 2 : 1;
    codes.resize(info.bytes);
    for (size_t k = 0; k < codes.size() / width; ++k) {
      const int32_t v = static_cast<int32_t>(ids[k % count]);
      std::memcpy(codes.data() + k * width, &v, width);  // little-endian: the low bytes
    }
  }
  int rc = 0;
  std::vector<double> us;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (int warm = 0; rc == 0; ++warm) {
    const squint_rt_status set = is_float ? squint_rt_set_input_float(m, 0, x->data<float>(), count)
                                          : squint_rt_set_input(m, 0, codes.data(), codes.size());
    if (set != SQUINT_RT_OK) rc = 1;
    const auto t0 = std::chrono::steady_clock::now();
    if (rc == 0 && squint_rt_invoke(m) != SQUINT_RT_OK) rc = 1;
    const auto t1 = std::chrono::steady_clock::now();
    if (warm >= 5) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (t1 > end && us.size() >= 20) break;
  }
  if (rc != 0) {
    std::fprintf(stderr, "%s: %s\n", model.c_str(), squint_rt_last_error());
  } else {
    std::nth_element(us.begin(), us.begin() + static_cast<std::ptrdiff_t>(us.size() / 2), us.end());
    std::printf("{\"median_us\": %.2f, \"runs\": %zu}\n", us[us.size() / 2], us.size());
  }
  squint_rt_destroy(m);
  return rc;
}

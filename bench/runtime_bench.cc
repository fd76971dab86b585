// Integer runtime latency at batch 1 (one thread, or --threads N): loads a .sqnt, sets the first sample of
// DATA (a .npy for the first input, or a .npz with one array per input, matched by name: e.g. a
// transformer's input_ids, attention_mask, token_type_ids) as the inputs, then times
// squint_rt_invoke for --seconds and prints the median microseconds per inference. Setting the
// inputs is outside the timed region (as ONNX Runtime's session.run is timed with its input
// already in memory). Float arrays are quantized by the runtime; integer arrays (token ids,
// masks) are the inputs' codes as they are.
//   build/bench/squint_runtime_bench --model M.sqnt --data X.npy|X.npz [--seconds 1] [--threads 1]
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

// The first sample of each array of DATA: a .npy (name "": the model's first input) or a .npz
// (one array per input, by name).
struct Sample {
  std::string name;
  squint::ir::Tensor t;                // all samples (axis 0)
  int64_t count = 0;                   // values of one sample
  std::vector<float> floats;           // the first sample as floats (float arrays)
  std::vector<int64_t> ints;           // the first sample as integers (integer arrays)
  bool is_float() const { return t.dtype() == squint::ir::DType::kFloat32; }
};

bool LoadSamples(const std::string& path, std::vector<Sample>* out) {
  std::vector<std::pair<std::string, squint::ir::Tensor>> arrays;
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".npz") == 0) {
    auto z = squint::ir::ReadNpz(path);
    if (!z.ok()) {
      std::fprintf(stderr, "%s\n", z.status().message().c_str());
      return false;
    }
    arrays = std::move(*z);
  } else {
    auto x = squint::ir::ReadNpy(path);
    if (!x.ok()) {
      std::fprintf(stderr, "%s\n", x.status().message().c_str());
      return false;
    }
    arrays.emplace_back("", std::move(*x));
  }
  for (auto& [name, t] : arrays) {
    if (t.rank() < 1 || t.dim(0) < 1) {
      std::fprintf(stderr, "%s: array '%s' has no samples on axis 0\n", path.c_str(), name.c_str());
      return false;
    }
    Sample s;
    s.name = name;
    s.count = t.size() / t.dim(0);
    s.t = std::move(t);
    if (s.is_float()) {
      s.floats.assign(s.t.data<float>(), s.t.data<float>() + s.count);
    } else {
      s.ints = s.t.ToInt64Vector();
      s.ints.resize(static_cast<size_t>(s.count));
    }
    out->push_back(std::move(s));
  }
  return true;
}

// The sample of the model input named `name` (the only one of a .npy for input 0), or null.
const Sample* SampleFor(const std::vector<Sample>& samples, const char* name, int32_t input) {
  if (samples.size() == 1 && samples[0].name.empty()) return input == 0 ? &samples[0] : nullptr;
  for (const Sample& s : samples)
    if (s.name == name) return &s;
  return nullptr;
}

double MedianOf(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// Per-op medians over runs of the whole model op by op, for at least `seconds`.
int PerOp(const std::string& path, const std::vector<Sample>& samples, double seconds, int threads) {
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
  if (s.ok()) s = interp.Prepare(&model, squint::rt::Isa::kAuto, threads);
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
    for (int32_t i = 0; i < static_cast<int32_t>(model.inputs().size()); ++i) {
      const TensorDesc& in = model.tensor(model.inputs()[i]);
      const Sample* x = SampleFor(samples, in.name, i);
      if (x == nullptr) {
        std::fprintf(stderr, "no data for input %d '%s'\n", i, in.name);
        std::free(arena);
        return 2;
      }
      void* dst = interp.mutable_tensor_data(model.inputs()[i]);
      for (int64_t k = 0; k < in.num_elements; ++k) {
        const size_t at = static_cast<size_t>(k % x->count);
        const int32_t code = !x->is_float() ? static_cast<int32_t>(x->ints[at])
                             : in.quant == nullptr ? static_cast<int32_t>(std::lround(x->floats[at]))
                                                   : QuantizeValue(in, x->floats[at]);
        StoreCode(dst, in.type, k, code);
      }
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

// Writes the first sample of every input through the C API (float arrays quantized by the
// runtime, integer arrays as codes: the low bytes of each value).
squint_rt_status SetInputs(squint_rt_model* m, const std::vector<Sample>& samples) {
  for (int32_t i = 0; i < squint_rt_num_inputs(m); ++i) {
    squint_rt_tensor_info info;
    squint_rt_input_info(m, i, &info);
    const Sample* x = SampleFor(samples, info.name, i);
    if (x == nullptr) {
      std::fprintf(stderr, "no data for input %d '%s'\n", i, info.name);
      return SQUINT_RT_INVALID_ARGUMENT;
    }
    squint_rt_status st;
    if (x->is_float()) {
      st = squint_rt_set_input_float(m, i, x->floats.data(), x->floats.size());
    } else {
      const size_t width = info.type == SQUINT_RT_INT32 ? 4 : info.type == SQUINT_RT_INT16 ? 2 : 1;
      std::vector<uint8_t> codes(info.bytes);
      for (size_t k = 0; k < codes.size() / width; ++k) {
        const auto v = static_cast<int32_t>(x->ints[k % x->ints.size()]);
        std::memcpy(codes.data() + k * width, &v, width);  // little-endian: the low bytes
      }
      st = squint_rt_set_input(m, i, codes.data(), codes.size());
    }
    if (st != SQUINT_RT_OK) return st;
  }
  return SQUINT_RT_OK;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, data;
  double seconds = 1.0;
  int threads = 1;
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
    else if (a == "--threads") threads = std::atoi(argv[i]);
  }
  if (model.empty() || data.empty() || !(seconds > 0) || threads < 1) {
    std::fprintf(stderr, "usage: squint_runtime_bench --model M.sqnt --data X.npy|X.npz [--seconds S] [--threads N] [--per-op]\n"
                         "  X.npy: float32 samples, or integer codes (token ids) written as they are, for input 0\n"
                         "  X.npz: one such array per input, by input name\n"
                         "  --threads: squint_rt_options.num_threads (default 1)\n"
                         "  --per-op: JSON of per-op medians\n");
    return 2;
  }
  std::vector<Sample> samples;
  if (!LoadSamples(data, &samples)) return 2;
  if (per_op) return PerOp(model, samples, seconds, threads);
  squint_rt_model* m = nullptr;
  squint_rt_options options;
  squint_rt_options_init(&options);
  options.flags = SQUINT_RT_ALLOCATE_ARENA;
  options.num_threads = threads;
  if (squint_rt_create_from_file_with_options(model.c_str(), &options, &m) != SQUINT_RT_OK) {
    std::fprintf(stderr, "%s: %s\n", model.c_str(), squint_rt_last_error());
    return 2;
  }
  int rc = 0;
  std::vector<double> us;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (int warm = 0; rc == 0; ++warm) {
    if (SetInputs(m, samples) != SQUINT_RT_OK) rc = 1;
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

// Integer runtime latency at batch 1, single thread: loads a .sqnt, sets the first sample of
// DATA.npy as the (float) input, then times squint_rt_invoke for --seconds and prints the
// median microseconds per inference. Setting the input is outside the timed region (as
// ONNX Runtime's session.run is timed with its input already in memory).
//   build/bench/squint_runtime_bench --model M.sqnt --data X.npy [--seconds 1]
// bench/runtime_vs_ort.py runs this interleaved with ONNX Runtime fp32 and int8 and reports ratios.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ir/npy.h"
#include "runtime/squint_rt.h"

int main(int argc, char** argv) {
  std::string model, data;
  double seconds = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--model") model = argv[i + 1];
    else if (a == "--data") data = argv[i + 1];
    else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
  }
  if (model.empty() || data.empty() || !(seconds > 0)) {
    std::fprintf(stderr, "usage: squint_runtime_bench --model M.sqnt --data X.npy [--seconds S]\n");
    return 2;
  }
  auto x = squint::ir::ReadNpy(data);
  if (!x.ok() || x->dtype() != squint::ir::DType::kFloat32 || x->rank() < 1 || x->dim(0) < 1) {
    std::fprintf(stderr, "%s: expected a float32 .npy with samples on axis 0\n", data.c_str());
    return 2;
  }
  squint_rt_model* m = nullptr;
  if (squint_rt_create_from_file(model.c_str(), SQUINT_RT_ALLOCATE_ARENA, &m) != SQUINT_RT_OK) {
    std::fprintf(stderr, "%s: %s\n", model.c_str(), squint_rt_last_error());
    return 2;
  }
  const size_t count = static_cast<size_t>(x->size() / x->dim(0));
  int rc = 0;
  std::vector<double> us;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (int warm = 0; rc == 0; ++warm) {
    if (squint_rt_set_input_float(m, 0, x->data<float>(), count) != SQUINT_RT_OK) rc = 1;
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

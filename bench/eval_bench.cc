// Float evaluator speed on a model at batch 1, single thread (Google Benchmark).
//   build/bench/squint_eval_bench --model M.onnx --data val_x.npy [benchmark flags]
// bench/eval_vs_ort.py runs this and ONNX Runtime in one go and reports the ratio.
#include <cstdio>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "importers/onnx/onnx_importer.h"
#include "ir/eval/evaluator.h"
#include "ir/npy.h"
#include "passes/pipeline.h"

namespace {

std::string g_model, g_data;

void BM_Evaluate(benchmark::State& state) {
  auto graph = squint::importers::ImportOnnxFile(g_model);
  if (!graph.ok()) return state.SkipWithError(graph.status().message().c_str());
  if (auto r = squint::passes::Canonicalize(*graph); !r.ok()) return state.SkipWithError(r.status().message().c_str());
  auto data = squint::ir::ReadNpy(g_data);
  if (!data.ok()) return state.SkipWithError(data.status().message().c_str());
  // One sample: the first along axis 0, kept with a batch dim of 1.
  squint::ir::Dims dims = data->dims();
  dims[0] = 1;
  squint::ir::Tensor x(data->dtype(), dims);
  std::memcpy(x.raw(), data->raw(), x.bytes());
  squint::ir::eval::Evaluator evaluator(*graph);
  std::vector<squint::ir::Tensor> inputs{x};
  for (auto _ : state) {
    auto out = evaluator.Run(inputs);
    if (!out.ok()) return state.SkipWithError(out.status().message().c_str());
    benchmark::DoNotOptimize(out->front().raw());
  }
}
BENCHMARK(BM_Evaluate)->Unit(benchmark::kMicrosecond)->MinTime(2.0);

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--model" && i + 1 < argc) g_model = argv[++i];
    else if (a == "--data" && i + 1 < argc) g_data = argv[++i];
    else rest.push_back(argv[i]);
  }
  if (g_model.empty() || g_data.empty()) {
    std::fprintf(stderr, "usage: squint_eval_bench --model M.onnx --data X.npy [benchmark flags]\n");
    return 2;
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

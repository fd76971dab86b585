// squint's int8 kernels against other libraries' (benchmark anchors only: nothing here is linked
// into the runtime), one thread, batch 1:
//   BM_Gemm/lib:L   int8 GEMM y[M][N] = requant(x[M][K]·w[N][K]ᵀ + bias), weights packed once
//                   outside the timed loop, in MAC/s. L = 0: squint's AVX-512 VNNI microkernel
//                   (per-channel requantization, as FULLY_CONNECTED runs it); 1: oneDNN matmul
//                   (u8 activations with a zero point, s8 weights in oneDNN's own layout, s32 bias,
//                   per-column output scales and an s8 output zero point); 2: XNNPACK
//                   fully_connected_nc_qs8 (s8 activations, per-tensor weight scale: the only
//                   int8 fully-connected operator of Debian's XNNPACK).
//   BM_Softmax      squint's integer SOFTMAX (int8 in, int8 out, uniform 1/256 grid, the AVX-512
//                   rows prepare picks, path 0; path 1: the per-element float rows, 2: the VBMI
//                   byte-plane rows) over `rows` rows of `depth`, in ns per element.
// ORT's int8 GEMM and fp32 softmax on the same shapes: bench/libs_vs_ort.py (it runs this binary
// and ORT interleaved, and prints the tables of docs/benchmarks.md).
// Built when CMake finds Debian's libdnnl-dev and libxnnpack-dev (`scripts/setup.sh --bench`
// installs them); a library that is missing leaves its rows out (SQUINT_HAVE_DNNL, SQUINT_HAVE_XNNPACK).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "runtime/dispatch.h"
#include "runtime/kernels/portable/misc.h"
#include "runtime/kernels/portable/qs8_gemm.h"
#include "runtime/kernels/reference/kernels.h"

#if defined(SQUINT_HAVE_DNNL)
#include <dnnl.hpp>
#endif
#if defined(SQUINT_HAVE_XNNPACK)
#include <xnnpack.h>
#endif

namespace {

namespace ref = squint::rt::ref;
namespace fast = squint::rt::portable;

std::vector<int8_t> RandomCodes(size_t n, uint32_t seed, int32_t lo = -128, int32_t hi = 127) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(lo, hi);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}

struct alignas(64) Line {
  uint8_t bytes[64];
};

// One GEMM problem, the same data for every library: x [M][K] (int8 codes; as u8 for oneDNN,
// x + 128 with its zero point + 128), w [N][K], bias [N].
struct GemmData {
  int64_t m, n, k;
  std::vector<int8_t> x, w, y;
  std::vector<int32_t> bias;
  GemmData(int64_t m_, int64_t n_, int64_t k_)
      : m(m_), n(n_), k(k_), x(RandomCodes(size_t(m_ * k_), 2)), w(RandomCodes(size_t(n_ * k_), 3)),
        y(size_t(m_ * n_)), bias(size_t(n_), 1000) {}
};
constexpr int32_t kInputZeroPoint = -3, kOutputZeroPoint = 5;

void RunSquint(benchmark::State& state, GemmData& d) {
  const auto isa = squint::rt::Isa::kAvx512Vnni;
  if (!squint::rt::IsaSupported(isa)) return state.SkipWithError("AVX-512 VNNI not available on this CPU");
  const auto n = static_cast<int32_t>(d.n);
  std::vector<int32_t> mult(static_cast<size_t>(n)), shift(static_cast<size_t>(n), -10);
  for (int32_t u = 0; u < n; ++u) mult[size_t(u)] = (1 << 30) + u * 4099;
  const fast::Qs8GemmKernel& kernel = *fast::Qs8GemmKernelFor(isa, static_cast<int32_t>(d.k));  // as prepare picks
  fast::Qs8GemmProblem problem;
  problem.units = n;
  problem.depth = static_cast<int32_t>(d.k);
  problem.w = d.w.data();
  problem.bias = d.bias.data();
  problem.input_zero_point = kInputZeroPoint;
  problem.requant = ref::RequantParams{mult.data(), shift.data(), n, kOutputZeroPoint, -128, 127};
  std::vector<Line> block((fast::Qs8GemmPackedLayout(kernel, n, problem.depth).total + 63) / 64);
  std::vector<Line> scratch(fast::Qs8GemmScratchBytes(kernel, static_cast<int32_t>(d.m), problem.depth) / 64 + 1);
  fast::PackQs8Gemm(kernel, problem, block.data());
  fast::Qs8GemmParams g;
  g.rows = static_cast<int32_t>(d.m);
  fast::BindQs8Gemm(kernel, problem, block.data(), &g);
  g.scratch = scratch.data();
  for (auto _ : state) {
    fast::Qs8Gemm(kernel, g, d.x.data(), d.y.data());
    benchmark::DoNotOptimize(d.y.data());
    benchmark::ClobberMemory();
  }
}

#if defined(SQUINT_HAVE_DNNL)
void RunOneDnn(benchmark::State& state, GemmData& d) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  const dnnl::memory::desc a_md({d.m, d.k}, dt::u8, tag::ab), b_any({d.k, d.n}, dt::s8, tag::any),
      b_md({d.k, d.n}, dt::s8, tag::ba), bias_md({1, d.n}, dt::s32, tag::ab), c_md({d.m, d.n}, dt::s8, tag::ab);
  dnnl::primitive_attr attr;
  std::vector<float> scales(size_t(d.n));
  for (int64_t u = 0; u < d.n; ++u) scales[size_t(u)] = 1.0f / 1024.0f * (1.0f + float(u) / 262144.0f);
  attr.set_output_scales(2, scales);  // per column
  attr.set_zero_points(DNNL_ARG_SRC, 0, {kInputZeroPoint + 128});
  attr.set_zero_points(DNNL_ARG_DST, 0, {kOutputZeroPoint});
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_any, bias_md, c_md), attr, eng);
  std::vector<uint8_t> a(d.x.size());
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(d.x[i] + 128);
  dnnl::memory a_mem(a_md, eng, a.data()), b_plain(b_md, eng, d.w.data()), bias_mem(bias_md, eng, d.bias.data()),
      c_mem(c_md, eng, d.y.data()), b_mem(pd.weights_desc(), eng);
  dnnl::reorder(b_plain, b_mem).execute(stream, b_plain, b_mem);  // packed once, as squint's prepare does
  stream.wait();
  const dnnl::matmul mm(pd);
  for (auto _ : state) {
    mm.execute(stream, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_BIAS, bias_mem}, {DNNL_ARG_DST, c_mem}});
    stream.wait();
    benchmark::DoNotOptimize(d.y.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string("oneDNN ") + pd.impl_info_str());
}
#endif

#if defined(SQUINT_HAVE_XNNPACK)
void RunXnnpack(benchmark::State& state, GemmData& d) {
  if (xnn_initialize(nullptr) != xnn_status_success) return state.SkipWithError("xnn_initialize failed");
  xnn_operator_t op = nullptr;
  if (xnn_create_fully_connected_nc_qs8(size_t(d.k), size_t(d.n), size_t(d.k), size_t(d.n), kInputZeroPoint, 0.05f,
                                        0.01f, d.w.data(), d.bias.data(), kOutputZeroPoint, 0.5f, -128, 127, 0,
                                        &op) != xnn_status_success)
    return state.SkipWithError("xnn_create_fully_connected_nc_qs8 failed");
  if (xnn_setup_fully_connected_nc_qs8(op, size_t(d.m), d.x.data(), d.y.data(), nullptr) != xnn_status_success)
    return state.SkipWithError("xnn_setup_fully_connected_nc_qs8 failed");
  for (auto _ : state) {
    xnn_run_operator(op, nullptr);  // no thread pool: the calling thread alone
    benchmark::DoNotOptimize(d.y.data());
    benchmark::ClobberMemory();
  }
  xnn_delete_operator(op);
  state.SetLabel("XNNPACK qs8");
}
#endif

// state.range: M, N, K, library (0 squint, 1 oneDNN, 2 XNNPACK).
void BM_Gemm(benchmark::State& state) {
  GemmData d(state.range(0), state.range(1), state.range(2));
  switch (state.range(3)) {
    case 0: RunSquint(state, d); break;
#if defined(SQUINT_HAVE_DNNL)
    case 1: RunOneDnn(state, d); break;
#endif
#if defined(SQUINT_HAVE_XNNPACK)
    case 2: RunXnnpack(state, d); break;
#endif
    default: return state.SkipWithError("library not built in (bench/CMakeLists.txt)");
  }
  state.counters["MAC/s"] =
      benchmark::Counter(static_cast<double>(d.m * d.n * d.k), benchmark::Counter::kIsIterationInvariantRate);
}
void GemmShapes(benchmark::internal::Benchmark* b) {
  for (auto s : {std::vector<int64_t>{1024, 1024, 1024}, {197, 768, 768}, {50, 96, 288}, {1, 768, 768}})
    for (int64_t lib = 0; lib < 3; ++lib) b->Args({s[0], s[1], s[2], lib});
}
BENCHMARK(BM_Gemm)->Apply(GemmShapes)->ArgNames({"M", "N", "K", "lib"})->Unit(benchmark::kMicrosecond);

// squint's SOFTMAX on int8 rows as an attention layer sees them: codes of a normal spread around
// 0, and the exp table `squint quantize` builds (quant/lowerer.h kSoftmaxExpBits = 20 fraction
// bits) for an input step of 0.05, the smallest attention-logit scale of the bundled and zoo
// models (0.053 to 0.57), so the widest of their tables (no entry is 0).
void BM_Softmax(benchmark::State& state) {
  const auto rows = static_cast<int32_t>(state.range(0)), depth = static_cast<int32_t>(state.range(1));
  if (!squint::rt::IsaSupported(squint::rt::Isa::kAvx512Vnni)) return state.SkipWithError("no AVX-512");
  std::mt19937 rng(7);
  std::normal_distribution<double> normal(0.0, 30.0);
  std::vector<int8_t> x(size_t(rows) * size_t(depth)), y(x.size());
  for (auto& v : x) v = static_cast<int8_t>(std::max(-128.0, std::min(127.0, std::round(normal(rng)))));
  std::vector<int32_t> table(256);
  for (int32_t d = 0; d < 256; ++d) table[size_t(d)] = static_cast<int32_t>(std::lround(std::ldexp(std::exp(-d * 0.05), 20)));
  ref::SoftmaxParams p;
  p.rank = 2;
  p.dims[0] = rows;
  p.dims[1] = depth;
  p.rows = rows;
  p.depth = depth;
  p.exp_table = table.data();
  p.exp_table_size = 256;
  p.exp_bits = 20;
  // The rows prepare picks on this CPU (VBMI's where it has VBMI), or
  // (path 1, 2) the AVX-512 or VBMI ones.
  const bool vbmi = squint::rt::Avx512VbmiSupported();
  const auto path = state.range(2) != 0       ? static_cast<fast::SoftmaxRows>(state.range(2))
                    : vbmi ? fast::SoftmaxRows::kAvx512Vbmi
                                              : fast::SoftmaxRows::kAvx512;
  if (path == fast::SoftmaxRows::kAvx512Vbmi && !vbmi)
    return state.SkipWithError("no AVX-512 VBMI");
  state.SetLabel(path == fast::SoftmaxRows::kAvx512Vbmi ? "avx512vbmi rows" : "avx512 rows");
  for (auto _ : state) {
    fast::Qs8Softmax<int8_t>(p, x.data(), y.data(), path, nullptr);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["ns/element"] = benchmark::Counter(static_cast<double>(rows) * depth,
                                                    benchmark::Counter::kIsIterationInvariantRate |
                                                        benchmark::Counter::kInvert);
}
void SoftmaxShapes(benchmark::internal::Benchmark* b) {
  for (int64_t path : {0, 1, 2})
    for (int64_t n : {50, 64, 128, 197, 256, 512}) b->Args({n, n, path});
}
BENCHMARK(BM_Softmax)->Apply(SoftmaxShapes)->ArgNames({"rows", "depth", "path"})->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  // oneDNN's OpenMP runtime reads OMP_NUM_THREADS when the library loads, before main: one
  // thread, as everything here, by running this program again with it set.
  const char* omp = std::getenv("OMP_NUM_THREADS");
  if (omp == nullptr || std::string(omp) != "1") {
    setenv("OMP_NUM_THREADS", "1", 1);
    execv("/proc/self/exe", argv);
    std::fprintf(stderr, "squint_libs_bench: could not run itself again with OMP_NUM_THREADS=1\n");
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

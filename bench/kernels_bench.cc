// Cost of the online Hadamard transform against the linear layer it precedes (issue target:
// HADAMARD at most 10% of the FULLY_CONNECTED after it), single thread, rows = 197 (ViT tokens):
// HADAMARD [197, K] int8 → int8 and int16 → int8 with block K = 12·2^m (the k = 12 factor path) on
// the reference kernel and (isa 3) on AVX-512 (x86::HadamardAvx512), against the int8
// FULLY_CONNECTED [197, K] × [K, N] for N = K and N = 4K: the reference kernel (BM_FullyConnected)
// and the AVX-512 VNNI GEMM (BM_Gemm's shapes M = 197, N = K and 4K).
//   build/bench/squint_kernels_bench --benchmark_format=json > out.json
// bench/hadamard_cost.py runs this once and prints time(HADAMARD)/time(FULLY_CONNECTED) per size.
// BM_Gemm: the int8 FULLY_CONNECTED GEMM (M rows × N units × K depth, per-channel requant) per
// instruction set (reference kernel, AVX2, AVX-512 VNNI microkernels), in MAC/s; a set the CPU
// lacks is skipped with an error row; BM_GemmThreads: one shape on 1 and 2 threads (wall clock);
// BM_VnniPeak: the machine's int8 multiply-accumulate peak on one core, what BM_Gemm is measured against.
// BM_GroupScaledFc: the group-scaled FULLY_CONNECTED on AVX-512 VNNI (4-bit weights with a scale per
// group of G depth codes, x86/group_scaled.h), M rows × N units × K depth, in MAC/s: against BM_Gemm's
// per-channel int8 kernel on the same shape.
// docs/benchmarks.md "Fast kernels" has the commands and tables.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "runtime/dispatch.h"
#include "runtime/kernels/reference/kernels.h"
#if defined(SQUINT_FAST_KERNELS)
#include "runtime/kernels/portable/qs8_gemm.h"
#endif
#if defined(SQUINT_X86_KERNELS)
#include "runtime/kernels/x86/group_scaled.h"
#include "runtime/kernels/x86/rows.h"
#endif
#include "runtime/quant_math/quant_math.h"
#include "runtime/thread_pool.h"

namespace {

namespace ref = squint::rt::ref;
namespace qm = squint::quant_math;

constexpr int32_t kRows = 197;

template <typename T>
std::vector<T> RandomCodes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(sizeof(T) == 2 ? -32768 : -128, sizeof(T) == 2 ? 32767 : 127);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(d(rng));
  return v;
}

// state.range(0) = K (one block of K channels, K = 12·2^m), state.range(1) = instruction set
// (1 reference, 3 avx512vnni).
template <typename TIn>
void BM_Hadamard(benchmark::State& state) {
  const int32_t k_channels = static_cast<int32_t>(state.range(0));
  const auto isa = static_cast<squint::rt::Isa>(state.range(1));
  state.SetLabel(squint::rt::IsaName(isa));
  if (!squint::rt::IsaSupported(isa)) return state.SkipWithError("instruction set not available on this CPU");
  const int32_t k = qm::HadamardK(k_channels);
  if (k != 12) return state.SkipWithError("K is not 12·2^m");
  const std::vector<int8_t> h_k = qm::BuildHadamardMatrix(k);
  const std::vector<int8_t> signs(static_cast<size_t>(k_channels), -1);
  const auto m =
      qm::RequantFromReal(1.0 / std::sqrt(static_cast<double>(k_channels)) / (sizeof(TIn) == 2 ? 256.0 : 1.0));
  std::vector<int32_t> scratch(2 * static_cast<size_t>(k_channels) + static_cast<size_t>(k) * k);  // AVX-512's
  ref::HadamardParams p;
  p.rows = kRows;
  p.channels = k_channels;
  p.block = k_channels;
  p.k = k;
  p.h_k = h_k.data();
  p.signs = signs.data();
  p.requant.multiplier = &m.multiplier;
  p.requant.shift = &m.shift;
  p.scratch = scratch.data();
  const std::vector<TIn> x = RandomCodes<TIn>(static_cast<size_t>(kRows) * k_channels, 1);
  std::vector<int8_t> y(x.size());
  for (auto _ : state) {
#if defined(SQUINT_X86_KERNELS)
    if (isa == squint::rt::Isa::kAvx512Vnni) squint::rt::x86::HadamardAvx512(p, x.data(), y.data());
    else ref::Hadamard<TIn>(p, x.data(), y.data());
#else
    ref::Hadamard<TIn>(p, x.data(), y.data());
#endif
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

// state.range(0) = K (depth), state.range(1) = N (units).
void BM_FullyConnected(benchmark::State& state) {
  const int32_t depth = static_cast<int32_t>(state.range(0)), units = static_cast<int32_t>(state.range(1));
  const auto m = qm::RequantFromReal(1.0 / 4096);
  ref::FullyConnectedParams p;
  p.rows = kRows;
  p.depth = depth;
  p.units = units;
  p.requant.multiplier = &m.multiplier;
  p.requant.shift = &m.shift;
  const std::vector<int8_t> x = RandomCodes<int8_t>(static_cast<size_t>(kRows) * depth, 2);
  const std::vector<int8_t> w = RandomCodes<int8_t>(static_cast<size_t>(units) * depth, 3);
  const std::vector<int32_t> bias(static_cast<size_t>(units), 0);
  std::vector<int8_t> y(static_cast<size_t>(kRows) * units);
  for (auto _ : state) {
    ref::FullyConnected<int8_t>(p, x.data(), w.data(), bias.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

// state.range: M, N, K, instruction set (squint::rt::Isa: 1 reference, 2 avx2, 3 avx512vnni).
// Args M, N, K, isa; `threads` > 1 splits each call over the runtime's ThreadPool.
void RunGemm(benchmark::State& state, int32_t threads) {
  const int32_t m = static_cast<int32_t>(state.range(0)), n = static_cast<int32_t>(state.range(1)),
                k = static_cast<int32_t>(state.range(2));
  const auto isa = static_cast<squint::rt::Isa>(state.range(3));
  state.SetLabel(squint::rt::IsaName(isa));
  if (!squint::rt::IsaSupported(isa)) return state.SkipWithError("instruction set not available on this CPU");
  std::vector<int32_t> mult(static_cast<size_t>(n)), shift(static_cast<size_t>(n), -10);
  for (int32_t u = 0; u < n; ++u) mult[u] = (1 << 30) + u * 4099;
  ref::FullyConnectedParams p;
  p.rows = m;
  p.depth = k;
  p.units = n;
  p.input_zero_point = -3;
  p.requant = ref::RequantParams{mult.data(), shift.data(), n, 5, -128, 127};
  const std::vector<int8_t> x = RandomCodes<int8_t>(static_cast<size_t>(m) * k, 2);
  const std::vector<int8_t> w = RandomCodes<int8_t>(static_cast<size_t>(n) * k, 3);
  const std::vector<int32_t> bias(static_cast<size_t>(n), 1000);
  std::vector<int8_t> y(static_cast<size_t>(m) * n);
  if (isa == squint::rt::Isa::kReference) {
    for (auto _ : state) {
      ref::FullyConnected<int8_t>(p, x.data(), w.data(), bias.data(), y.data());
      benchmark::DoNotOptimize(y.data());
      benchmark::ClobberMemory();
    }
  } else {
#if defined(SQUINT_FAST_KERNELS)
    namespace fast = squint::rt::portable;
    const fast::Qs8GemmKernel& kernel = *fast::Qs8GemmKernelFor(isa, k);  // the kernel prepare picks for this depth
    fast::Qs8GemmProblem problem;
    problem.units = n;
    problem.depth = k;
    problem.w = w.data();
    problem.bias = bias.data();
    problem.input_zero_point = p.input_zero_point;
    problem.requant = p.requant;
    struct alignas(64) Line {
      uint8_t bytes[64];
    };
    std::vector<Line> block((fast::Qs8GemmPackedLayout(kernel, n, k).total + 63) / 64);
    std::vector<Line> scratch(fast::Qs8GemmScratchBytes(kernel, m, k) / 64 + 1);
    fast::PackQs8Gemm(kernel, problem, block.data());
    fast::Qs8GemmParams g;
    g.rows = m;
    fast::BindQs8Gemm(kernel, problem, block.data(), &g);
    g.scratch = scratch.data();
    squint::rt::ThreadPool pool;  // the interpreter's split (num_threads), when threads > 1
    if (threads > 1) {
      if (!pool.Start(threads).ok()) return state.SkipWithError("thread pool did not start");
      g.parallel.run = &squint::rt::ThreadPool::RunOn;
      g.parallel.pool = &pool;
      g.parallel.threads = threads;
    }
    for (auto _ : state) {
      fast::Qs8Gemm(kernel, g, x.data(), y.data());
      benchmark::DoNotOptimize(y.data());
      benchmark::ClobberMemory();
    }
#endif
  }
  state.counters["MAC/s"] = benchmark::Counter(static_cast<double>(m) * n * k, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Gemm(benchmark::State& state) { RunGemm(state, 1); }

void GemmShapes(benchmark::internal::Benchmark* b) {
  for (int isa = 1; isa <= 3; ++isa)
    for (auto s : {std::vector<int64_t>{1024, 1024, 1024}, {197, 768, 768}, {50, 96, 288}, {1, 768, 768}})
      b->Args({s[0], s[1], s[2], isa});
  // The layers after BM_Hadamard's transforms, on AVX-512 VNNI (bench/hadamard_cost.py)
  for (int64_t k : {192, 768, 3072})
    for (int64_t n : {k, 4 * k})
      if (!(k == 768 && n == 768)) b->Args({197, n, k, 3});
}
BENCHMARK(BM_Gemm)->Apply(GemmShapes)->ArgNames({"M", "N", "K", "isa"})->Unit(benchmark::kMicrosecond);
// BM_GemmThreads: the same GEMM split over 1 or 2 threads (the runtime's ThreadPool, as
// squint_rt_options.num_threads does), timed by the wall clock: the speed-up is real time 1 / 2.
// K = 252 keeps the avx512vnni set on its VNNI kernel (AMX from depth 256).
void BM_GemmThreads(benchmark::State& state) { RunGemm(state, static_cast<int32_t>(state.range(4))); }
BENCHMARK(BM_GemmThreads)
    ->Args({197, 768, 768, 3, 1})->Args({197, 768, 768, 3, 2})
    ->Args({197, 768, 768, 2, 1})->Args({197, 768, 768, 2, 2})->Args({197, 768, 252, 3, 1})->Args({197, 768, 252, 3, 2})
    ->ArgNames({"M", "N", "K", "isa", "threads"})->UseRealTime()->Unit(benchmark::kMicrosecond);

// BM_PoolRoundTrip: one ThreadPool::Run of `threads` empty tasks, the fixed cost every parallel
// kernel call pays on top of its work (hand-off to the polling workers and back).
void EmptyTask(void*, int32_t) {}
void BM_PoolRoundTrip(benchmark::State& state) {
  squint::rt::ThreadPool pool;
  if (!pool.Start(static_cast<int32_t>(state.range(0))).ok()) return state.SkipWithError("thread pool did not start");
  for (auto _ : state) pool.Run(&EmptyTask, nullptr, pool.threads());
}
BENCHMARK(BM_PoolRoundTrip)->Arg(2)->ArgName("threads")->UseRealTime()->Unit(benchmark::kMicrosecond);

#if defined(__x86_64__)
// BM_VnniPeak: `vpdpbusd` on zmm registers (64 u8 x s8 products a lane set) into 16 independent
// accumulators, more than the instruction's latency times its throughput on current cores, so the
// loop is bound by throughput alone; the empty asm keeps the compiler from folding the constant
// products. MAC/s is the one-core int8 peak that BM_Gemm's MAC/s is a fraction of.
__attribute__((target("avx512f,avx512vnni"))) void VnniPeakLoop(int64_t steps, const int8_t* seed, int32_t* sink) {
  // Sixteen named accumulators (an array of them GCC keeps in memory, a load and a store per
  // vpdpbusd) and one empty asm taking them all after each round.
  const __m512i u = _mm512_set1_epi8(seed[0]), s = _mm512_set1_epi8(seed[1]), z = _mm512_setzero_si512();
  __m512i a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z, a6 = z, a7 = z;
  __m512i a8 = z, a9 = z, a10 = z, a11 = z, a12 = z, a13 = z, a14 = z, a15 = z;
  for (int64_t i = 0; i < steps; ++i) {
    a0 = _mm512_dpbusd_epi32(a0, u, s), a1 = _mm512_dpbusd_epi32(a1, u, s);
    a2 = _mm512_dpbusd_epi32(a2, u, s), a3 = _mm512_dpbusd_epi32(a3, u, s);
    a4 = _mm512_dpbusd_epi32(a4, u, s), a5 = _mm512_dpbusd_epi32(a5, u, s);
    a6 = _mm512_dpbusd_epi32(a6, u, s), a7 = _mm512_dpbusd_epi32(a7, u, s);
    a8 = _mm512_dpbusd_epi32(a8, u, s), a9 = _mm512_dpbusd_epi32(a9, u, s);
    a10 = _mm512_dpbusd_epi32(a10, u, s), a11 = _mm512_dpbusd_epi32(a11, u, s);
    a12 = _mm512_dpbusd_epi32(a12, u, s), a13 = _mm512_dpbusd_epi32(a13, u, s);
    a14 = _mm512_dpbusd_epi32(a14, u, s), a15 = _mm512_dpbusd_epi32(a15, u, s);
    asm volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7));
    asm volatile("" : "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11), "+v"(a12), "+v"(a13), "+v"(a14), "+v"(a15));
  }
  const __m512i t0 = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
  const __m512i t1 = _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7));
  const __m512i t2 = _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11));
  const __m512i t3 = _mm512_add_epi32(_mm512_add_epi32(a12, a13), _mm512_add_epi32(a14, a15));
  _mm512_storeu_si512(sink, _mm512_add_epi32(_mm512_add_epi32(t0, t1), _mm512_add_epi32(t2, t3)));
}

void BM_VnniPeak(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512vnni")) return state.SkipWithError("the CPU has no AVX-512 VNNI");
  constexpr int64_t kSteps = 1 << 16;
  const int8_t seed[2] = {1, 2};
  alignas(64) int32_t sink[16];
  for (auto _ : state) {
    VnniPeakLoop(kSteps, seed, sink);
    benchmark::DoNotOptimize(sink);
  }
  state.counters["MAC/s"] = benchmark::Counter(static_cast<double>(kSteps) * 16 * 64,
                                               benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_VnniPeak)->Unit(benchmark::kMicrosecond);
#endif

#if defined(SQUINT_X86_KERNELS)
// state.range: M, N, K, G. Weights in [−8, 7] (4-bit), group multipliers in [2^14, 2^15].
void BM_GroupScaledFc(benchmark::State& state) {
  const auto m = static_cast<int32_t>(state.range(0)), n = static_cast<int32_t>(state.range(1)),
             k = static_cast<int32_t>(state.range(2)), g = static_cast<int32_t>(state.range(3));
  if (!squint::rt::IsaSupported(squint::rt::Isa::kAvx512Vnni)) return state.SkipWithError("the CPU has no AVX-512 VNNI");
  std::vector<int8_t> w = RandomCodes<int8_t>(static_cast<size_t>(n) * k, 3);
  for (auto& v : w) v = static_cast<int8_t>(v >> 4);
  std::vector<uint16_t> mult_g(static_cast<size_t>(n) * (k / g));
  std::mt19937 rng(4);
  for (auto& v : mult_g) v = static_cast<uint16_t>(std::uniform_int_distribution<int32_t>(1 << 14, 1 << 15)(rng));
  std::vector<int32_t> mult(static_cast<size_t>(n), 1 << 30), shift(static_cast<size_t>(n), -12);
  ref::FullyConnectedLowBitParams p;
  p.rows = m, p.depth = k, p.units = n, p.input_zero_point = -3, p.group_size = g;
  p.group_multiplier = mult_g.data();
  p.requant = ref::RequantParams{mult.data(), shift.data(), n, 5, -128, 127};
  const std::vector<int8_t> x = RandomCodes<int8_t>(static_cast<size_t>(m) * k, 2);
  const std::vector<int32_t> bias(static_cast<size_t>(n), 1000);
  std::vector<int8_t> y(static_cast<size_t>(m) * n);
  struct alignas(64) Line {
    uint8_t bytes[64];
  };
  namespace x86 = squint::rt::x86;
  const x86::GroupScaledLayout l = x86::GroupScaledLayoutOf(n, k, g);
  std::vector<Line> packed(static_cast<size_t>(x86::GroupScaledPackedBytes(l) / 64));
  std::vector<Line> scratch(static_cast<size_t>(x86::GroupScaledFcScratchBytes(l, m) / 64 + 1));
  x86::PackGroupScaledAvx512(l, w.data(), mult_g.data(), p.input_zero_point, p.requant, packed.front().bytes);
  for (auto _ : state) {
    x86::Qs8GroupScaledFcAvx512(l, packed.front().bytes, p, x.data(), bias.data(), scratch.front().bytes, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["MAC/s"] = benchmark::Counter(static_cast<double>(m) * n * k, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_GroupScaledFc)
    ->Args({1, 768, 768, 32})->Args({1, 768, 768, 128})->Args({64, 768, 768, 32})->Args({64, 768, 768, 128})
    ->ArgNames({"M", "N", "K", "G"})->Unit(benchmark::kMicrosecond);
#endif

void HadamardShapes(benchmark::internal::Benchmark* b) {
  for (int64_t isa : {1, 3})
    for (int64_t k : {192, 768, 3072}) b->Args({k, isa});
}
BENCHMARK(BM_Hadamard<int8_t>)->Apply(HadamardShapes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Hadamard<int16_t>)->Apply(HadamardShapes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FullyConnected)
    ->Args({192, 192})->Args({192, 768})
    ->Args({768, 768})->Args({768, 3072})
    ->Args({3072, 3072})->Args({3072, 12288})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

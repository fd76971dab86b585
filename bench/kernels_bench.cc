// Reference-kernel cost of the online Hadamard transform against the linear layer it precedes
// (issue target: HADAMARD at most 10% of the FULLY_CONNECTED after it), single thread, rows = 197
// (ViT tokens): HADAMARD [197, K] int8 → int8 and int16 → int8 with block K = 12·2^m (the k = 12
// factor path), and int8 FULLY_CONNECTED [197, K] × [K, N] for N = K and N = 4K.
//   build/bench/squint_kernels_bench --benchmark_format=json > out.json
// bench/hadamard_cost.py runs this once and prints time(HADAMARD)/time(FULLY_CONNECTED) per size.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "runtime/kernels/reference/kernels.h"
#include "runtime/quant_math/quant_math.h"

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

// state.range(0) = K (one block of K channels, K = 12·2^m).
template <typename TIn>
void BM_Hadamard(benchmark::State& state) {
  const int32_t k_channels = static_cast<int32_t>(state.range(0));
  const int32_t k = qm::HadamardK(k_channels);
  if (k != 12) return state.SkipWithError("K is not 12·2^m");
  const std::vector<int8_t> h_k = qm::BuildHadamardMatrix(k);
  const std::vector<int8_t> signs(static_cast<size_t>(k_channels), -1);
  const auto m =
      qm::RequantFromReal(1.0 / std::sqrt(static_cast<double>(k_channels)) / (sizeof(TIn) == 2 ? 256.0 : 1.0));
  std::vector<int32_t> scratch(2 * static_cast<size_t>(k_channels));
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
    ref::Hadamard<TIn>(p, x.data(), y.data());
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

BENCHMARK(BM_Hadamard<int8_t>)->Arg(192)->Arg(768)->Arg(3072)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Hadamard<int16_t>)->Arg(192)->Arg(768)->Arg(3072)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FullyConnected)
    ->Args({192, 192})->Args({192, 768})
    ->Args({768, 768})->Args({768, 3072})
    ->Args({3072, 3072})->Args({3072, 12288})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

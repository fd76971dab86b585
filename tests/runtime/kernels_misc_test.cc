// The optimized non-GEMM int8 kernels (runtime/kernels/portable/misc.h; ADD / SUB / MUL in
// kernels_binary_test.cc) against the reference kernels, tolerance zero: every output code equal.
// Builder-style testers run one case each over edge shapes (1, odd, just below / at / above 16, 32, 64), broadcast patterns, extreme zero points,
// saturating codes, masked and fully masked softmax rows, constant layer-norm rows.
#include <gtest/gtest.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "runtime/dispatch.h"
#include "runtime/kernels/reference/fixed_point.h"
#include "runtime/kernels/reference/kernels.h"
#include "runtime/kernels/portable/misc.h"
#include "runtime/tensor_codes.h"
#if defined(SQUINT_X86_KERNELS)
#include "runtime/kernels/x86/rows.h"
#endif

namespace squint::rt {
namespace {

std::vector<int8_t> RandomCodes(std::mt19937& rng, int64_t n, int32_t lo = -128, int32_t hi = 127) {
  std::uniform_int_distribution<int32_t> d(lo, hi);
  std::vector<int8_t> v(static_cast<size_t>(n));
  for (auto& c : v) c = static_cast<int8_t>(d(rng));
  return v;
}
int64_t Count(const std::vector<int32_t>& dims) {
  return std::accumulate(dims.begin(), dims.end(), int64_t{1}, std::multiplies<int64_t>());
}

// ---- LUT ----

TEST(X86Misc, LutEqualsTheReference) {
  std::mt19937 rng(3);
  for (int32_t extra : {0, 1, 300}) {  // the table covers [min_code, min_code + size): int8 needs all 256
    const int32_t size = 256 + extra, min_code = -128 - extra / 2;
    std::vector<int16_t> t(static_cast<size_t>(size));
    std::uniform_int_distribution<int32_t> d(-300, 300);  // beyond int8: the reference saturates
    for (auto& v : t) v = static_cast<int16_t>(d(rng));
    std::vector<int8_t> table(256);
    portable::BuildQs8Lut(t.data(), size, min_code, table.data());
    // Around the AVX-512 VBMI step (64 codes), and every code in one call (-128, 127: both
    // halves of the table and its ends).
    for (int32_t n : {1, 17, 63, 64, 65, 127, 128, 129, 1000, 256}) {
      auto x = RandomCodes(rng, n);
      if (n == 256) std::iota(x.begin(), x.end(), int8_t{-128});
      std::vector<int8_t> want(static_cast<size_t>(n) + 1, 9);  // one guard byte
      ref::Lut<int8_t, int8_t>(n, x.data(), t.data(), size, min_code, want.data());
      for (bool vbmi : {false, true}) {
        if (vbmi && !Avx512VbmiSupported()) continue;
        std::vector<int8_t> got(static_cast<size_t>(n) + 1, 9);
        portable::Qs8Lut(n, table.data(), x.data(), got.data(), vbmi);
        ASSERT_EQ(got, want) << n << " codes, vbmi " << vbmi;
      }
    }
  }
}

// int16 inputs (portable::Qs16Lut, plain C++ and, on AVX-512, the gathers) against ref::Lut: tables
// of exactly the int16 range and wider on either side, entries beyond int8 (saturated for int8
// outputs), counts around the 16-code step, every code in one call (the table's first and last
// entries: the gather's last pair, which must not read past the table: GuardedTable), a guard
// element after the output's end.
// The table ends where an unreadable page begins (Linux), so a read past its last entry faults.
class GuardedTable {
 public:
  explicit GuardedTable(int32_t size) : size_(size) {
#if defined(__linux__)
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE)), bytes = sizeof(int16_t) * static_cast<size_t>(size);
    len_ = (bytes + page - 1) / page * page + page;
    base_ = mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED || mprotect(static_cast<char*>(base_) + len_ - page, page, PROT_NONE) != 0) std::abort();
    data_ = reinterpret_cast<int16_t*>(static_cast<char*>(base_) + len_ - page - bytes);
#else
    owned_.resize(static_cast<size_t>(size));
    data_ = owned_.data();
#endif
  }
  ~GuardedTable() {
#if defined(__linux__)
    munmap(base_, len_);
#endif
  }
  GuardedTable(const GuardedTable&) = delete;
  GuardedTable& operator=(const GuardedTable&) = delete;
  int16_t* begin() { return data_; }
  int16_t* end() { return data_ + size_; }

 private:
  int32_t size_;
  int16_t* data_ = nullptr;
#if defined(__linux__)
  void* base_ = nullptr;
  size_t len_ = 0;
#else
  std::vector<int16_t> owned_;
#endif
};

template <typename TOut>
void CheckLut16(int32_t before, int32_t after, std::mt19937& rng) {
  const int32_t size = 65536 + before + after, min_code = -32768 - before;
  GuardedTable guarded(size);
  int16_t* const t = guarded.begin();
  for (auto& v : guarded) v = static_cast<int16_t>(std::uniform_int_distribution<int32_t>(-32768, 32767)(rng));
  t[0] = 32767, t[size - 1] = -32768;  // saturating at both ends for int8 outputs
  for (int32_t n : {0, 1, 15, 16, 17, 31, 33, 1000, 65536}) {
    std::vector<int16_t> x(static_cast<size_t>(n));
    for (auto& v : x) v = static_cast<int16_t>(std::uniform_int_distribution<int32_t>(-32768, 32767)(rng));
    if (n == 65536) std::iota(x.begin(), x.end(), int16_t{-32768});
    std::vector<TOut> want(static_cast<size_t>(n) + 1, 7);
    ref::Lut<int16_t, TOut>(n, x.data(), t, size, min_code, want.data());
    for (bool avx512 : {false, true}) {
#if defined(SQUINT_X86_KERNELS)
      if (avx512 && !IsaSupported(Isa::kAvx512Vnni)) continue;
#else
      if (avx512) continue;
#endif
      std::vector<TOut> got(static_cast<size_t>(n) + 1, 7);
      portable::Qs16Lut<TOut>(n, t, size, min_code, x.data(), got.data(), avx512);
      ASSERT_EQ(got, want) << n << " codes, table [" << min_code << ", " << min_code + size << "), " << sizeof(TOut)
                           << "-byte outputs, avx512 " << avx512;
    }
  }
}
TEST(X86Misc, Int16LutEqualsTheReference) {
  std::mt19937 rng(7);
  for (auto [before, after] : {std::pair{0, 0}, {5, 0}, {0, 1}, {128, 128}}) {
    CheckLut16<int8_t>(before, after, rng);
    CheckLut16<int16_t>(before, after, rng);
  }
}

// int16 entries by code (an int8 → int16 REQUANTIZE's table): x86::Qs8ToQs16LutAvx512Vbmi against
// the table read element by element, around its 64-code step, with a guard element after the end.
#if defined(SQUINT_X86_KERNELS)
TEST(X86Misc, Int16EntriesLutEqualsTheTable) {
  if (!Avx512VbmiSupported()) GTEST_SKIP() << "the CPU has no AVX-512 VBMI";
  std::mt19937 rng(5);
  std::vector<int16_t> table(256);
  for (auto& v : table) v = static_cast<int16_t>(std::uniform_int_distribution<int32_t>(-32768, 32767)(rng));
  const int16_t* at_zero = table.data() + 128;
  for (int32_t n : {0, 1, 31, 32, 33, 63, 64, 65, 95, 96, 97, 127, 128, 129, 256, 1000}) {
    auto x = RandomCodes(rng, n);
    if (n == 256) std::iota(x.begin(), x.end(), int8_t{-128});  // every code, in order
    std::vector<int16_t> want(static_cast<size_t>(n) + 1, 7), got(want);  // one guard element
    for (int32_t i = 0; i < n; ++i) want[static_cast<size_t>(i)] = at_zero[x[static_cast<size_t>(i)]];
    x86::Qs8ToQs16LutAvx512Vbmi(n, at_zero, x.data(), got.data());
    ASSERT_EQ(got, want) << n << " codes";
  }
}
#endif

// ---- TRANSPOSE ----

const Isa kEverySet[] = {Isa::kReference, Isa::kAvx2, Isa::kAvx512Vnni, Isa::kNeon, Isa::kNeonDot};

template <typename T>
void CheckTranspose(const std::vector<int32_t>& dims, const std::vector<int32_t>& perm, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t n = Count(dims);
  std::vector<T> x(static_cast<size_t>(n));
  for (auto& v : x) v = static_cast<T>(rng());
  std::vector<T> want(static_cast<size_t>(n) + 1, 7), got(static_cast<size_t>(n) + 1, 7);
  const auto rank = static_cast<int32_t>(dims.size());
  ref::Transpose<T>(rank, dims.data(), perm.data(), x.data(), want.data());
  portable::TransposePlan plan = portable::PlanTranspose(rank, dims.data(), perm.data(), sizeof(T));
  for (Isa isa : kEverySet) {  // the byte matrices by each set's TransposeBytesFor, as prepare sets it
    if (!IsaSupported(isa)) continue;
    plan.transpose_bytes = portable::TransposeBytesFor(isa);
    std::fill(got.begin(), got.end(), T{7});
    portable::Transpose(plan, x.data(), got.data());
    ASSERT_EQ(got, want) << "rank " << rank << ", element size " << sizeof(T) << ", " << IsaName(isa);
  }
}

// TransposeBytes of every set (TransposeBytesFor; on avx512vnni with VBMI the vpermb kernel) over
// every rows × cols from 1 to 18 (below, at and past one and two 8 × 8 blocks), the
// convolutions' planes, and matrices of several 64 × 64 tiles: t[j][i] = x[i][j], nothing written
// past the matrix.
TEST(X86Misc, TransposeBytesEveryShapeEverySet) {
  std::vector<std::pair<int64_t, int64_t>> shapes;
  for (int64_t r = 1; r <= 18; ++r)
    for (int64_t c = 1; c <= 18; ++c) shapes.push_back({r, c});
  for (int64_t big : {31, 33, 63, 64, 65, 196, 784}) {
    shapes.push_back({big, 16}), shapes.push_back({16, big}), shapes.push_back({big, 32}), shapes.push_back({32, big});
    shapes.push_back({big, 7}), shapes.push_back({9, big});
  }
  // Several 64 × 64 tiles each way, partial last tiles, and edges past them.
  for (const auto& rc : {std::pair<int64_t, int64_t>{100, 150}, {130, 72}, {200, 203}, {64, 128}, {240, 96}})
    shapes.push_back(rc);
  std::mt19937 rng(77);
  int32_t sets = 0;
  for (Isa isa : kEverySet) {
    if (!IsaSupported(isa)) continue;
    ++sets;
    const portable::TransposeBytesFn transpose = portable::TransposeBytesFor(isa);
    for (const auto& [rows, cols] : shapes) {
      const auto x = RandomCodes(rng, rows * cols);
      std::vector<int8_t> want(static_cast<size_t>(rows * cols) + 8, 3), got(want.size(), 3);  // 8 guard bytes
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) want[static_cast<size_t>(j * rows + i)] = x[static_cast<size_t>(i * cols + j)];
      transpose(x.data(), rows, cols, got.data());
      ASSERT_EQ(got, want) << IsaName(isa) << ": " << rows << " x " << cols;
    }
  }
  EXPECT_GT(sets, 0);
}

TEST(X86Misc, TransposeAttentionPermutesAndEdges) {
  const std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> cases = {
      {{1, 197, 3, 3, 64}, {2, 0, 3, 1, 4}}, {{1, 3, 197, 64}, {0, 2, 1, 3}}, {{1, 3, 197, 64}, {0, 1, 3, 2}},
      {{197, 192}, {1, 0}},                  {{1, 1, 1}, {2, 1, 0}},          {{5}, {0}},
      {{2, 3, 4}, {0, 1, 2}},                {{1, 17, 1, 33}, {3, 2, 1, 0}},  {{2, 3, 4, 5, 6, 7}, {5, 3, 1, 4, 0, 2}},
      {{0, 3}, {1, 0}},                      {{65, 1, 63}, {2, 1, 0}},        {{}, {}},
  };
  uint32_t seed = 20;
  for (const auto& c : cases) {
    CheckTranspose<int8_t>(c.first, c.second, seed++);
    CheckTranspose<int16_t>(c.first, c.second, seed++);
    CheckTranspose<int32_t>(c.first, c.second, seed++);
  }
}

TEST(X86Misc, TransposeRandomPermutations) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const int32_t rank = 1 + static_cast<int32_t>(rng() % 6);
    std::vector<int32_t> dims(static_cast<size_t>(rank)), perm(static_cast<size_t>(rank));
    for (auto& d : dims) d = 1 + static_cast<int32_t>(rng() % 5);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    CheckTranspose<int8_t>(dims, perm, static_cast<uint32_t>(trial));
  }
}

// ---- GATHER, PAD ----

template <typename T>
void CheckGather(int32_t outer, int32_t axis_dim, int32_t inner, const std::vector<int32_t>& indices) {
  std::mt19937 rng(static_cast<uint32_t>(outer * 131 + axis_dim * 7 + inner));
  std::vector<T> x(static_cast<size_t>(outer) * axis_dim * inner);
  for (auto& v : x) v = static_cast<T>(rng());
  const auto n = static_cast<int32_t>(indices.size());
  std::vector<T> want(static_cast<size_t>(outer) * n * inner + 1, 7), got(want.size(), 7);
  ref::Gather<T>(outer, axis_dim, inner, indices.data(), n, x.data(), want.data());
  portable::GatherRows(outer, axis_dim, int64_t{inner} * sizeof(T), indices.data(), n, x.data(), got.data());
  ASSERT_EQ(got, want) << "outer " << outer << " axis " << axis_dim << " inner " << inner << " size " << sizeof(T);
}

TEST(X86Misc, GatherEqualsTheReference) {  // run-time indices: negative, and out of range (clamped)
  const std::vector<int32_t> indices = {0, 2, -1, -3, 1, 7, -9, 2};
  for (int32_t outer : {1, 3})
    for (int32_t inner : {1, 5, 64, 3200}) {
      CheckGather<int8_t>(outer, 3, inner, indices);
      CheckGather<int16_t>(outer, 3, inner, indices);
      CheckGather<int32_t>(outer, 3, inner, {1});
    }
  CheckGather<int8_t>(2, 1, 4, {0, 0, -1, 5});
  CheckGather<uint8_t>(2, 4, 3, {});
}

template <typename T>
void CheckPad(const std::vector<int32_t>& dims, const std::vector<int32_t>& pads, int32_t value, uint32_t seed) {
  std::mt19937 rng(seed);
  const auto rank = static_cast<int32_t>(dims.size());
  std::vector<T> x(static_cast<size_t>(Count(dims)));
  for (auto& v : x) v = static_cast<T>(rng());
  int64_t out = 1;
  for (int32_t i = 0; i < rank; ++i) out *= dims[static_cast<size_t>(i)] + pads[static_cast<size_t>(i)] + pads[static_cast<size_t>(rank + i)];
  std::vector<T> want(static_cast<size_t>(out) + 1, 7), got(want.size(), 7);
  ref::Pad<T>(rank, dims.data(), pads.data(), 0, value, x.data(), want.data());
  portable::PadConstant<T>(rank, dims.data(), pads.data(), static_cast<T>(value), x.data(), got.data());
  ASSERT_EQ(got, want) << "rank " << rank << " size " << sizeof(T) << " seed " << seed;
}

TEST(X86Misc, PadConstantEqualsTheReference) {  // every axis padded, cropped (negative pads) or empty
  const std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> cases = {
      {{1, 49, 64}, {0, 1, 0, 0, 0, 0}},  // vit_tiny's class-token row
      {{5}, {2, 3}},
      {{5}, {-2, 1}},
      {{3, 4}, {1, 0, 2, 3}},
      {{2, 3, 4, 5}, {1, 0, 2, 1, 0, 2, 1, 3}},
      {{2, 3, 4}, {-1, 1, -2, 0, -1, 1}},
      {{2, 3, 4}, {0, 0, -2, 0, 0, -2}},  // the last axis cropped to nothing
      {{2, 0, 4}, {1, 1, 1, 1, 1, 1}},    // an empty input axis: all padding
      {{1, 1}, {0, 0, 0, 0}},
  };
  uint32_t seed = 70;
  for (const auto& c : cases) {
    CheckPad<int8_t>(c.first, c.second, -128, seed++);
    CheckPad<uint8_t>(c.first, c.second, 200, seed++);
    CheckPad<int16_t>(c.first, c.second, -300, seed++);
    CheckPad<int32_t>(c.first, c.second, 1 << 20, seed++);
  }
}

// ---- global AVERAGE_POOL_2D ----

TEST(X86Misc, GlobalAveragePoolEqualsTheReference) {
  std::mt19937 rng(11);
  const int32_t shapes[][4] = {{1, 64, 7, 7}, {2, 3, 1, 1}, {1, 5, 3, 5}, {3, 2, 16, 17}, {1, 1, 1, 9}};
  for (const auto& sh : shapes)
    for (int32_t zx : {-128, 3, 127})
      for (int32_t shift : {-1, -8, 2}) {
        ref::Pool2DParams p;
        p.batch = sh[0], p.channels = sh[1], p.in_h = p.kernel_h = sh[2], p.in_w = p.kernel_w = sh[3];
        p.out_h = p.out_w = 1;
        p.input_zero_point = zx;
        int32_t mult = 1 << 30 | static_cast<int32_t>(rng() >> 2);
        p.requant = ref::RequantParams{&mult, &shift, 1, static_cast<int32_t>(rng() % 21) - 10, -128, 127};
        ASSERT_TRUE(portable::IsGlobalPool(p));
        const auto x = RandomCodes(rng, int64_t{sh[0]} * sh[1] * sh[2] * sh[3]);
        std::vector<int8_t> want(static_cast<size_t>(sh[0] * sh[1]) + 1, 7), got(want.size(), 7);
        ref::AveragePool2D<int8_t>(p, x.data(), want.data());
        portable::Qs8GlobalAveragePool(p, x.data(), got.data());
        ASSERT_EQ(got, want) << sh[0] << "x" << sh[1] << "x" << sh[2] << "x" << sh[3] << " zx " << zx << " shift " << shift;
      }
  ref::Pool2DParams q;  // not global: a window smaller than the plane, or padding
  q.in_h = q.in_w = 4, q.kernel_h = q.kernel_w = 4, q.out_h = q.out_w = 1;
  EXPECT_TRUE(portable::IsGlobalPool(q));
  q.kernel_w = 3;
  EXPECT_FALSE(portable::IsGlobalPool(q));
  q.kernel_w = 4, q.pad_right = 1;
  EXPECT_FALSE(portable::IsGlobalPool(q));
}

// MAX_POOL_2D and AVERAGE_POOL_2D (dilation 1) by portable::Pool2D: random geometries (kernels up
// to 5, strides up to 3, pads up to the kernel, so windows wholly in the padding too), with and
// without count_include_pad, int8 and int16 codes at extreme zero points, fine to saturating outputs;
// then rows wider than the max pool's 256-column chunk (several chunks a row), windows wider than
// it (the direct path), and narrower activation ranges; then 2-wide windows at stride 2 (the max
// pool's pair loop) on rows of 1–6 and 20–600 columns; then many small windows (the average
// pool's table of window sums: at least twice as many outputs as sums), padded or not.
template <typename T>
void CheckPool2D(std::mt19937& rng) {
  auto uni = [&](int32_t lo, int32_t hi) { return std::uniform_int_distribution<int32_t>(lo, hi)(rng); };
  constexpr int32_t kLo = sizeof(T) == 1 ? -128 : -32768, kHi = sizeof(T) == 1 ? 127 : 32767;
  for (int trial = 0; trial < 108; ++trial) {
    const bool wide = trial >= 60 && trial < 72, two = trial >= 72 && trial < 96;  // two: 2-wide windows at stride 2
    const bool many = trial >= 96;  // many small windows
    ref::Pool2DParams p;
    p.batch = uni(1, 2), p.channels = uni(1, 5), p.in_h = uni(1, 13), p.in_w = wide ? uni(250, 700) : uni(1, 13);
    p.kernel_h = uni(1, 5), p.kernel_w = trial == 71 ? 300 : uni(1, 5), p.stride_h = uni(1, 3), p.stride_w = uni(1, 3);
    if (two) p.kernel_w = p.stride_w = 2, p.in_w = trial < 84 ? uni(1, 6) : uni(20, 600);
    if (many) {
      p.channels = uni(64, 160), p.in_h = uni(3, 12), p.in_w = uni(20, 80);
      p.kernel_h = uni(1, 3), p.kernel_w = uni(1, 3), p.stride_h = uni(1, p.kernel_h), p.stride_w = uni(1, p.kernel_w);
    }
    p.pad_top = uni(0, p.kernel_h), p.pad_bottom = uni(0, p.kernel_h), p.pad_left = uni(0, p.kernel_w);
    p.pad_right = uni(0, p.kernel_w);
    if (many && trial % 2 == 0) p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 0;
    p.out_h = std::max(1, (p.in_h + p.pad_top + p.pad_bottom - p.kernel_h) / p.stride_h + 1);
    p.out_w = std::max(1, (p.in_w + p.pad_left + p.pad_right - p.kernel_w) / p.stride_w + 1);
    p.count_include_pad = uni(0, 1) == 1;
    p.input_zero_point = uni(0, 3) == 0 ? (uni(0, 1) ? kLo : kHi) : uni(kLo / 4, kHi / 4);
    int32_t mult = 1 << 30 | static_cast<int32_t>(rng() >> 2), shift = uni(-12, 1);
    p.requant = ref::RequantParams{&mult, &shift, 1, uni(-10, 10), kLo, kHi};
    if (wide || (two && trial % 2 == 1)) p.requant.act_min = uni(kLo, kLo / 2), p.requant.act_max = uni(kHi / 2, kHi);
    std::vector<T> x(size_t(p.batch) * p.channels * p.in_h * p.in_w);
    for (auto& v : x) v = static_cast<T>(uni(kLo, kHi));
    const size_t n = size_t(p.batch) * p.channels * p.out_h * p.out_w;
    for (bool is_max : {false, true}) {
      std::vector<T> want(n + 1, 7), got(n + 1, 7);
      if (is_max) {
        ref::MaxPool2D<T>(p, x.data(), want.data());
        portable::Pool2D<T, true>(p, x.data(), got.data());
      } else {
        ref::AveragePool2D<T>(p, x.data(), want.data());
        portable::Pool2D<T, false>(p, x.data(), got.data());
      }
      ASSERT_EQ(got, want) << (is_max ? "max" : "average") << " " << p.in_h << "x" << p.in_w << " kernel " << p.kernel_h
                           << "x" << p.kernel_w << " stride " << p.stride_h << "x" << p.stride_w << " pads "
                           << p.pad_top << "," << p.pad_bottom << "," << p.pad_left << "," << p.pad_right
                           << (p.count_include_pad ? " counting pads" : "") << ", " << sizeof(T) * 8 << "-bit";
    }
  }
}
TEST(X86Misc, PoolingEqualsTheReference) {
  std::mt19937 rng(13);
  CheckPool2D<int8_t>(rng);
  CheckPool2D<int16_t>(rng);
}

// ---- float inputs to codes ----

// portable::QuantizeFloats and x86::QuantizeFloatsAvx512 against QuantizeValue (tensor_codes.h,
// the float I/O's definition): int8, uint8 and int16 grids, scales from 1e-30 to 1e30, extreme
// zero points; values at every tie (k + 1/2)·scale and one float either side, random values over
// and beyond the range, ±0, ±inf, NaN, subnormals; every length up to 40 (the 16-lane tails).
TEST(X86Misc, QuantizeFloatsEqualsQuantizeValue) {
  std::mt19937 rng(31);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  struct Grid {
    fb::ElementType type;
    float scale;
    int32_t zero_point;
  };
  std::vector<Grid> grids = {{fb::ElementType::INT8, 0.0173f, 0},     {fb::ElementType::INT8, 0.5f, -128},
                             {fb::ElementType::INT8, 3.0f, 127},      {fb::ElementType::UINT8, 1.0f / 255, 0},
                             {fb::ElementType::UINT8, 0.01f, 255},    {fb::ElementType::INT16, 1e-4f, 0},
                             {fb::ElementType::INT16, 0.25f, -32768}, {fb::ElementType::INT16, 7.0f, 32767},
                             {fb::ElementType::INT8, 1e-30f, 3},      {fb::ElementType::INT16, 1e30f, -5},
                             {fb::ElementType::INT8, 1e-44f, 0}};  // a subnormal scale
  // Scales where v·(1/s) misses an exact tie v/s = k + 1/2 (found by search: 0.0018298626f with
  // k = −104, 0.0036937911f with k = 3, 0.018783092f with k = −119), and random scales whose ties
  // the value list below covers.
  for (float scale : {0.0018298625946044922f, 0.0036937911063432693f, 0.018783092498779297f})
    grids.push_back({fb::ElementType::INT8, scale, 0});
  for (int g = 0; g < 300; ++g)
    grids.push_back({fb::ElementType::INT8, static_cast<float>(std::ldexp(1.5 + unit(rng) / 2, static_cast<int>(rng() % 16) - 10)), 0});
  for (int g = 0; g < 20; ++g)
    grids.push_back({g % 3 == 0 ? fb::ElementType::INT16 : g % 3 == 1 ? fb::ElementType::INT8 : fb::ElementType::UINT8,
                     static_cast<float>(std::ldexp(1.0 + unit(rng), static_cast<int>(rng() % 30) - 20)),
                     static_cast<int32_t>(rng() % 200) - 100 + (g % 3 == 2 ? 100 : 0)});
  for (const Grid& grid : grids) {
    TensorDesc d;
    d.type = grid.type, d.scale = grid.scale, d.zero_point = grid.zero_point;
    const int32_t lo = CodeMin(d.type), hi = CodeMax(d.type);
    std::vector<float> v = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f, 3e38f, -3e38f};
    for (int32_t k = lo - grid.zero_point - 3; k <= hi - grid.zero_point + 3; k += (hi - lo > 255 ? 97 : 1)) {
      const float tie = static_cast<float>((k + 0.5) * static_cast<double>(grid.scale));
      v.insert(v.end(), {tie, std::nextafter(tie, -INFINITY), std::nextafter(tie, INFINITY),
                         static_cast<float>(k * static_cast<double>(grid.scale))});
    }
    for (int i = 0; i < 500; ++i)
      v.push_back(static_cast<float>(unit(rng) * (hi - lo) * 1.5 * static_cast<double>(grid.scale)));
    std::vector<int32_t> want(v.size());
    for (size_t i = 0; i < v.size(); ++i) want[i] = QuantizeValue(d, v[i]);
    const int32_t bytes = d.type == fb::ElementType::INT16 ? 2 : 1;
    const auto n = static_cast<int64_t>(v.size());
    auto decode = [&](const std::vector<uint8_t>& out, int64_t i) { return LoadCode(out.data(), d.type, i); };
    std::vector<uint8_t> got(v.size() * 2 + 2, 0x5A);
    if (d.type == fb::ElementType::INT8) portable::QuantizeFloats(v.data(), n, d.scale, d.zero_point, lo, hi, reinterpret_cast<int8_t*>(got.data()));
    else if (d.type == fb::ElementType::UINT8) portable::QuantizeFloats(v.data(), n, d.scale, d.zero_point, lo, hi, got.data());
    else portable::QuantizeFloats(v.data(), n, d.scale, d.zero_point, lo, hi, reinterpret_cast<int16_t*>(got.data()));
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(decode(got, i), want[i]) << "portable, scale " << grid.scale << " value " << v[i];
    ASSERT_EQ(got[v.size() * bytes], 0x5A) << "wrote past the end";
#if defined(SQUINT_X86_KERNELS)
    if (!IsaSupported(Isa::kAvx512Vnni)) continue;
    for (int64_t len : {n, int64_t{0}, int64_t{1}, int64_t{15}, int64_t{16}, int64_t{17}, int64_t{33}, int64_t{40}}) {
      std::vector<uint8_t> fast(v.size() * 2 + 2, 0x5A);
      x86::QuantizeFloatsAvx512(v.data(), len, d.scale, d.zero_point, lo, hi, fast.data(), bytes);
      for (int64_t i = 0; i < len; ++i) ASSERT_EQ(decode(fast, i), want[i]) << "AVX-512, scale " << grid.scale << " value " << v[i];
      ASSERT_EQ(fast[static_cast<size_t>(len) * bytes], 0x5A) << "wrote past " << len;
    }
#endif
  }
}

// ---- SOFTMAX ----

bool SoftmaxRowsSupported(portable::SoftmaxRows rows) {
  switch (rows) {
    case portable::SoftmaxRows::kAvx512: return IsaSupported(Isa::kAvx512Vnni);
    case portable::SoftmaxRows::kAvx512Vbmi: return Avx512VbmiSupported();
    default: return true;
  }
}

class SoftmaxTester {
 public:
  SoftmaxTester& Dims(std::vector<int32_t> d) { dims_ = std::move(d); return *this; }
  // A keep mask of these dims (right-aligned, 1 = broadcast), kept with probability keep (0: none kept).
  SoftmaxTester& Mask(std::vector<int32_t> d, double keep) { mask_dims_ = std::move(d), keep_ = keep, mask_ = true; return *this; }
  SoftmaxTester& Causal() { causal_ = true; return *this; }  // mask [S, S] lower triangle kept
  // A run-time int32 keep mask (an attention mask input) of these dims, nonzero (any int32, the
  // extremes too) with probability keep; alone or with the byte mask above.
  SoftmaxTester& Mask32(std::vector<int32_t> d, double keep) { mask32_dims_ = std::move(d), keep32_ = keep; return *this; }
  SoftmaxTester& Bits(int32_t b) { bits_ = b; return *this; }
  SoftmaxTester& Clip(float zeta, float gamma) { zeta_ = zeta, gamma_ = gamma; return *this; }
  SoftmaxTester& Codes(int32_t lo, int32_t hi) { lo_ = lo, hi_ = hi; return *this; }
  SoftmaxTester& ExpBits(int32_t b, double step) { exp_bits_ = b, step_ = step; return *this; }
  SoftmaxTester& Seed(uint32_t s) { seed_ = s; return *this; }
  // A random exp table instead: non-increasing, e_0 in [2^29, 2^30], each next entry a random
  // fraction of the one before (so that e/Σe takes arbitrary values, near every code's boundary).
  SoftmaxTester& RandomTable() { random_table_ = true; return *this; }
  // A random non-increasing exp table whose byte planes end at given places: e_d > 0 exactly for
  // d < ends[0] and e_d >= 2^8k exactly for d < ends[k] (k = 1..3; ends non-increasing), some
  // entries multiples of 256 (byte 0 zero while higher bytes are not).
  SoftmaxTester& PlaneEnds(std::array<int32_t, 4> ends) { plane_ends_ = ends; return *this; }
  // Log-grid output (kCpp rows only) with n codes: thresholds of a log2 grid, 2^30·2^−(q + 1/2)
  // (kLog2), random non-increasing ones including 0 and 2^30 + 1 (kRandom), or equal to the P of
  // elements of the first row and one off them (kExact: the boundaries; no masks).
  enum class Grid { kNone, kLog2, kRandom, kExact };
  SoftmaxTester& LogGrid(Grid kind, int32_t n) { grid_ = kind, grid_n_ = n; return *this; }

  template <typename TOut>
  void Test() const {
    std::mt19937 rng(seed_);
    ref::SoftmaxParams p;
    const auto rank = static_cast<int32_t>(dims_.size());
    p.rank = rank;
    for (int32_t i = 0; i < rank; ++i) p.dims[i] = dims_[static_cast<size_t>(i)];
    p.depth = dims_.back();
    p.rows = p.depth == 0 ? 0 : static_cast<int32_t>(Count(dims_) / p.depth);
    std::vector<int32_t> table(256);
    for (int32_t d = 0; d < 256; ++d)
      table[static_cast<size_t>(d)] = static_cast<int32_t>(std::lround(std::ldexp(std::exp(-d * step_), exp_bits_)));
    if (random_table_) {
      table[0] = std::uniform_int_distribution<int32_t>(1 << 29, 1 << 30)(rng);
      for (size_t d = 1; d < 256; ++d)
        table[d] = static_cast<int32_t>(table[d - 1] * std::uniform_real_distribution<double>(0.7, 1.0)(rng));
    }
    if (plane_ends_[0] >= 0) {  // from d = 255 down: each entry at least the next, inside its level
      int64_t next = 0;
      for (int32_t d = 255; d >= 0; --d) {
        int32_t level = -1;  // e_d = 0
        for (int32_t k = 0; k < 4; ++k)
          if (d < plane_ends_[static_cast<size_t>(k)]) level = k;
        int64_t e = 0;
        if (level >= 0) {
          const int64_t lo = level == 0 ? 1 : int64_t{1} << (8 * level), hi = (int64_t{1} << (8 * level + 8)) - 1;
          e = std::min(hi, std::max(next, lo) + std::uniform_int_distribution<int64_t>(0, lo)(rng));
          if (level >= 1 && rng() % 4 == 0 && (e & ~int64_t{255}) >= std::max(next, lo)) e &= ~int64_t{255};
        }
        table[static_cast<size_t>(d)] = static_cast<int32_t>(std::min<int64_t>(e, (int64_t{1} << 30)));
        next = table[static_cast<size_t>(d)];
      }
    }
    p.exp_table = table.data();
    p.exp_table_size = 256;
    p.exp_bits = exp_bits_;
    ref::SoftmaxClipParams(zeta_, gamma_, &p.clip_scale_q16, &p.clip_offset_q16);
    p.output_bits = bits_;
    p.output_zero_point = sizeof(TOut) == 1 && static_cast<TOut>(-1) < 0 ? -128 : 0;
    // The element strides of a mask of dims md broadcast to x.
    auto strides = [&](const std::vector<int32_t>& md, int32_t* out) {
      int64_t stride = 1;
      for (int32_t i = rank - 1; i >= 0; --i) {
        const int32_t mi = i - (rank - static_cast<int32_t>(md.size()));
        const int32_t m = mi >= 0 ? md[static_cast<size_t>(mi)] : 1;
        out[i] = m == 1 ? 0 : static_cast<int32_t>(stride);
        stride *= m;
      }
    };
    std::vector<uint8_t> mask;
    if (mask_ || causal_) {
      std::vector<int32_t> md = causal_ ? std::vector<int32_t>{p.dims[rank - 2], p.depth} : mask_dims_;
      mask.resize(static_cast<size_t>(Count(md)));
      for (size_t i = 0; i < mask.size(); ++i) {
        if (causal_) mask[i] = (i % static_cast<size_t>(p.depth)) <= (i / static_cast<size_t>(p.depth)) ? 1 : 0;
        else mask[i] = std::uniform_real_distribution<double>(0, 1)(rng) < keep_ ? static_cast<uint8_t>(1 + rng() % 255) : 0;
      }
      strides(md, p.mask_strides);
      p.mask = mask.data();
    }
    std::vector<int32_t> mask32;
    if (!mask32_dims_.empty()) {
      mask32.resize(static_cast<size_t>(Count(mask32_dims_)));
      const int32_t nonzero[] = {1, -1, INT32_MIN, INT32_MAX, 256, 65536};
      for (int32_t& m : mask32)
        m = std::uniform_real_distribution<double>(0, 1)(rng) < keep32_ ? nonzero[rng() % 6] : 0;
      strides(mask32_dims_, p.mask32_strides);
      p.mask32 = mask32.data();
    }
    const auto x = RandomCodes(rng, Count(dims_), lo_, hi_);
    const size_t n = x.size();
    std::vector<uint32_t> thresholds;
    std::vector<uint8_t> shifts;
    ref::LogGrid grid;
    if (grid_ != Grid::kNone) {
      thresholds = GridThresholds(p, x.data(), rng);
      shifts.assign(thresholds.size(), 0);
      grid.n = static_cast<int32_t>(thresholds.size());
      grid.thresholds = thresholds.data();
      grid.shifts = shifts.data();
      p.grid = &grid;
    }
    std::vector<TOut> want(n + 1, 9);
    ref::Softmax<int8_t, TOut>(p, x.data(), want.data());
    // Plain C++ code tables, the AVX-512 rows and the VBMI ones (where this CPU has them).
    for (auto rows : {portable::SoftmaxRows::kCpp, portable::SoftmaxRows::kAvx512, portable::SoftmaxRows::kAvx512Vbmi}) {
      if (!SoftmaxRowsSupported(rows) || (grid_ != Grid::kNone && rows != portable::SoftmaxRows::kCpp)) continue;
      std::vector<TOut> got(n + 1, 9);
      std::vector<uint8_t> keep(static_cast<size_t>(p.depth) + 1, 7);
      portable::Qs8Softmax<TOut>(p, x.data(), got.data(), rows, keep.data());
      ASSERT_EQ(got, want) << "rows path " << static_cast<int>(rows);
      if (p.rows >= 3) {  // rows [1, rows − 1) alone (a thread's part): those rows' outputs, nothing else
        std::vector<TOut> part(n + 1, 9), want_part(n + 1, 9);
        const auto first = static_cast<size_t>(p.depth), last = static_cast<size_t>(p.rows - 1) * first;
        std::copy(want.begin() + static_cast<ptrdiff_t>(first), want.begin() + static_cast<ptrdiff_t>(last),
                  want_part.begin() + static_cast<ptrdiff_t>(first));
        portable::Qs8Softmax<TOut>(p, x.data(), part.data(), rows, keep.data(), 1, p.rows - 1);
        ASSERT_EQ(part, want_part) << "rows path " << static_cast<int>(rows) << ", rows 1 to " << p.rows - 1;
      }
    }
  }
  void TestBoth() const {
    Test<int8_t>();
    Test<uint8_t>();
  }

 private:
  // The grid's thresholds (non-increasing, in [0, 2^30 + 1]).
  std::vector<uint32_t> GridThresholds(const ref::SoftmaxParams& p, const int8_t* x, std::mt19937& rng) const {
    std::vector<uint32_t> t;
    if (grid_ == Grid::kLog2) {
      for (int32_t q = 0; q < grid_n_; ++q) t.push_back(static_cast<uint32_t>(std::ldexp(1.0, 30) * std::exp2(-q - 0.5)));
    } else if (grid_ == Grid::kRandom) {
      t = {ref::kLogGridOne + 1, ref::kLogGridOne, 0};
      while (static_cast<int32_t>(t.size()) < grid_n_)
        t.push_back(std::uniform_int_distribution<uint32_t>(0, ref::kLogGridOne)(rng));
      t.resize(static_cast<size_t>(grid_n_));
    } else {  // the reference's P of the first row's elements (all kept), and P ± 1
      int32_t max_code = -128;
      for (int32_t i = 0; i < p.depth; ++i) max_code = std::max<int32_t>(max_code, x[i]);
      int64_t sum = 0;
      for (int32_t i = 0; i < p.depth; ++i) sum += p.exp_table[max_code - x[i]];
      while (static_cast<int32_t>(t.size()) < grid_n_) {
        const int32_t i = std::uniform_int_distribution<int32_t>(0, p.depth - 1)(rng);
        const int64_t num = int64_t{p.clip_scale_q16} * p.exp_table[max_code - x[i]] * (int64_t{1} << 14);
        const int64_t v = std::clamp<int64_t>((num + sum / 2) / sum + int64_t{p.clip_offset_q16} * 64, 0, ref::kLogGridOne);
        t.push_back(static_cast<uint32_t>(v + std::uniform_int_distribution<int32_t>(-1, 1)(rng)));
      }
    }
    std::sort(t.begin(), t.end(), std::greater<uint32_t>());
    return t;
  }

  std::vector<int32_t> dims_{4, 16}, mask_dims_, mask32_dims_;
  Grid grid_ = Grid::kNone;
  int32_t grid_n_ = 0;
  bool mask_ = false, causal_ = false, random_table_ = false;
  std::array<int32_t, 4> plane_ends_{-1, -1, -1, -1};
  double keep_ = 1, keep32_ = 1, step_ = 0.05;
  int32_t bits_ = 8, lo_ = -128, hi_ = 127, exp_bits_ = 30;
  float zeta_ = 1, gamma_ = 0;
  uint32_t seed_ = 1;
};

TEST(X86Misc, SoftmaxEdgeDepths) {
  for (int32_t d : {1, 2, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 197, 300}) {
    SoftmaxTester().Dims({3, d}).Seed(d).TestBoth();
    SoftmaxTester().Dims({1, 3, 5, d}).Bits(2 + d % 7).Clip(1.1f, -0.05f).Seed(d + 1).TestBoth();
  }
}

TEST(X86Misc, SoftmaxTablesAndSaturatingCodes) {
  SoftmaxTester().Dims({5, 65}).Codes(127, 127).TestBoth();    // all equal: uniform
  SoftmaxTester().Dims({5, 65}).Codes(-128, -128).TestBoth();
  SoftmaxTester().Dims({5, 65}).Codes(-128, -127).ExpBits(0, 0.001).TestBoth();  // e in {0, 1}
  SoftmaxTester().Dims({5, 65}).ExpBits(16, 1.0).TestBoth();   // most e == 0
  SoftmaxTester().Dims({2, 197}).ExpBits(30, 0.001).Clip(17.0f, 1.0f).Bits(3).TestBoth();  // clipped to the top
  SoftmaxTester().Dims({2, 197}).Clip(0.5f, -8.0f).TestBoth();                             // clipped to 0
}

TEST(X86Misc, SoftmaxCodeRangesAroundTheTableChunks) {  // max − min at the edges of 32-entry chunks
  uint32_t seed = 90;
  for (int32_t span : {0, 1, 30, 31, 32, 33, 63, 64, 95, 126, 127, 128, 129, 200, 255})
    for (double step : {0.01, 0.05, 0.5}) {  // u reaches 0 late, midway, at once
      SoftmaxTester().Dims({4, 77}).Codes(-100, -100 + span).ExpBits(30, step).Seed(seed++).TestBoth();
      SoftmaxTester().Dims({2, 3, 40}).Codes(127 - span, 127).ExpBits(20, step).Mask({40}, 0.6).Seed(seed++).TestBoth();
    }
}

// The AVX-512 rows find the first d whose code is 0 before tabulating (scale·e_d < T0·S − ⌊S/2⌋):
// a cut at every place of the table, with clip offsets that move T0 up (γ < 0), down, and past 0
// (γ > 1/2^(bits+1): no code is 0), at every output width.
TEST(X86Misc, SoftmaxCutAtTheFirstZeroCode) {
  uint32_t seed = 300;
  for (int32_t bits : {2, 5, 8})
    for (double step : {0.004, 0.03, 0.2, 2.0})
      for (float gamma : {-0.3f, -0.001f, 0.0f, 0.001f, 0.2f}) {
        SoftmaxTester().Dims({3, 64}).Bits(bits).ExpBits(30, step).Clip(1.0f - gamma, gamma).Seed(seed++).TestBoth();
        SoftmaxTester().Dims({2, 9}).Codes(-128, 127).Bits(bits).ExpBits(24, step).Clip(1.0f, gamma).Seed(seed++).TestBoth();
      }
}

// Rows of at most 128 take the AVX-512 codes in float (exact away from a code boundary, the 64-bit
// path near one): many rows of random tables and codes at every width and clip, so that a good
// number of lanes fall near a boundary (about 2·10^−4 of them each) and some within the float
// estimate's error of one.
TEST(X86Misc, SoftmaxShortRowsNearCodeBoundaries) {
  uint32_t seed = 500;
  for (int32_t depth : {1, 2, 3, 16, 17, 50, 64, 100, 128})
    for (int32_t bits : {2, 4, 7, 8})
      for (float gamma : {0.0f, -0.02f, 0.003f}) {
        SoftmaxTester().Dims({400, depth}).Bits(bits).RandomTable().Clip(1.0f - 2 * gamma, gamma).Seed(seed++).TestBoth();
        SoftmaxTester().Dims({100, depth}).Codes(120, 127).Bits(bits).RandomTable().Seed(seed++).TestBoth();
      }
}

// The VBMI rows look up each byte plane of the exp table only in the 64-entry quarters where it has
// a non-zero byte, and only the quarters a row's d reaches: planes that end just before, at and
// after every quarter boundary, planes whose low bytes are 0 where higher ones are not, and rows
// whose codes span one quarter to all four, short (one step) and long.
TEST(X86Misc, SoftmaxPlanesEndingAroundTheQuarters) {
  uint32_t seed = 700;
  const int32_t places[] = {1, 2, 63, 64, 65, 127, 128, 129, 191, 192, 193, 255, 256};
  for (int32_t e0 : places)
    for (int32_t e1 : places) {
      if (e1 > e0) continue;
      const int32_t e2 = std::min(e1, places[seed % 13]), e3 = std::min(e2, places[(seed / 3) % 13] / 2);
      for (int32_t span : {40, 100, 150, 255}) {
        SoftmaxTester().Dims({5, 64}).Codes(127 - span, 127).PlaneEnds({e0, e1, e2, e3}).Seed(seed++).TestBoth();
        SoftmaxTester().Dims({3, 200}).Codes(-128, -128 + span).PlaneEnds({e0, e1, e2, e3}).Mask({200}, 0.8).Seed(seed++).TestBoth();
      }
    }
}

// Rows built so that e·α + β (the float estimate of both AVX-512 row kinds) lies
// 1/(2^drop·S) above the integer j: the float estimate falls on either side of j, and only the
// exact path for lanes near a boundary gets the reference's code. With S = 2S' and
// M = j·2^(drop+1) − 2^drop − 1 (odd), 2^24·e_0 + ⌊S/2⌋ + 2^(drop−1)·S = j·2^drop·S + 1 holds for
// S' = −M^−1 mod 2^24 and e_0 = (S'·M + 1)/2^24, e_1 = S − e_0 (0 <= e_1 <= e_0 for j in
// [2^(bits−1), 2^bits)).
TEST(X86Misc, SoftmaxCodesJustAboveABoundary) {
  if (!IsaSupported(Isa::kAvx512Vnni)) GTEST_SKIP() << "no AVX-512 VNNI";
  int32_t rows = 0;
  for (int32_t bits : {2, 5, 8})
    for (int64_t j = int64_t{1} << (bits - 1); j < (int64_t{1} << bits); j += bits == 8 ? 3 : 1) {
      const int32_t drop = 24 - bits;
      const uint32_t m = static_cast<uint32_t>(j * (int64_t{2} << drop) - (int64_t{1} << drop) - 1);
      uint32_t inv = m;  // Newton: m·inv ≡ 1 (mod 2^32) after five steps
      for (int i = 0; i < 5; ++i) inv *= 2u - m * inv;
      const int64_t s_half = (int64_t{1} << 24) - (inv & 0xffffff);
      const int64_t e0 = (s_half * m + 1) >> 24, e1 = 2 * s_half - e0;
      ASSERT_EQ((e0 << 24) + s_half + (int64_t{1} << (drop - 1)) * 2 * s_half, j * (int64_t{1} << drop) * 2 * s_half + 1);
      if (e1 < 0 || e1 > e0) continue;
      std::vector<int32_t> table(256, 0);
      table[0] = static_cast<int32_t>(e0), table[1] = static_cast<int32_t>(e1);
      // Two elements, and (the long rows' code tables) 130 with 128 more of e = 0.
      for (int32_t depth : {2, 130}) {
        ref::SoftmaxParams p;
        p.rank = 2, p.dims[0] = 1, p.dims[1] = depth, p.rows = 1, p.depth = depth;
        p.exp_table = table.data(), p.exp_table_size = 256, p.exp_bits = 30, p.output_bits = bits;
        std::vector<int8_t> x(static_cast<size_t>(depth), 0), want(x.size()), got(x.size());
        x[0] = 127, x[1] = 126;
        ref::Softmax<int8_t, int8_t>(p, x.data(), want.data());
        ASSERT_EQ(int{want[0]} + 128, j) << "the row is not at the boundary it was built for";
        for (auto path : {portable::SoftmaxRows::kAvx512, portable::SoftmaxRows::kAvx512Vbmi}) {
          if (!SoftmaxRowsSupported(path)) continue;
          portable::Qs8Softmax<int8_t>(p, x.data(), got.data(), path);
          ASSERT_EQ(got, want) << "bits " << bits << " j " << j << " depth " << depth << " path " << static_cast<int>(path);
        }
        ++rows;
      }
    }
  EXPECT_GT(rows, 80);
}

TEST(X86Misc, SoftmaxMasks) {
  SoftmaxTester().Dims({1, 3, 17, 17}).Causal().TestBoth();
  SoftmaxTester().Dims({2, 3, 65, 65}).Causal().Seed(2).TestBoth();
  SoftmaxTester().Dims({1, 3, 7, 33}).Mask({33}, 0.5).TestBoth();         // one row, broadcast
  SoftmaxTester().Dims({2, 3, 7, 33}).Mask({2, 1, 1, 33}, 0.3).TestBoth();  // per batch
  SoftmaxTester().Dims({2, 3, 7, 33}).Mask({3, 7, 33}, 0.2).TestBoth();     // some rows fully masked
  SoftmaxTester().Dims({4, 16}).Mask({4, 16}, 0.0).TestBoth();              // every row fully masked
  SoftmaxTester().Dims({4, 16}).Mask({4, 1}, 0.5).TestBoth();               // whole rows kept or not
  SoftmaxTester().Dims({3, 64}).Mask({64}, 1.0).Codes(-128, -120).TestBoth();
}

// Log-grid codes (the plain C++ rows on every set) against the reference: grids of 1 to 255 codes,
// clipped softmax (P past 2^30 and below 0), masks, and thresholds equal to elements' P and one off.
TEST(X86Misc, SoftmaxLogGridCodes) {
  using Grid = SoftmaxTester::Grid;
  uint32_t seed = 50;
  for (int32_t depth : {1, 7, 50, 64, 197}) {
    SoftmaxTester().Dims({3, depth}).LogGrid(Grid::kLog2, 16).Seed(seed++).TestBoth();
    SoftmaxTester().Dims({3, depth}).LogGrid(Grid::kLog2, 21).ExpBits(30, 0.01).Seed(seed++).TestBoth();
    SoftmaxTester().Dims({4, depth}).LogGrid(Grid::kRandom, 1 + depth % 255).RandomTable().Seed(seed++).TestBoth();
    SoftmaxTester().Dims({2, depth}).LogGrid(Grid::kExact, 40).RandomTable().Seed(seed++).TestBoth();
    SoftmaxTester().Dims({2, depth}).LogGrid(Grid::kExact, 255).Clip(1.5f, -0.2f).Seed(seed++).TestBoth();
    SoftmaxTester().Dims({2, depth}).LogGrid(Grid::kRandom, 8).Clip(2.0f, -1.0f).Seed(seed++).TestBoth();  // clip_scale 2^17
    SoftmaxTester().Dims({2, 3, depth}).LogGrid(Grid::kLog2, 16).Mask({3, depth}, 0.5).Seed(seed++).TestBoth();
    SoftmaxTester().Dims({2, 3, depth}).LogGrid(Grid::kRandom, 30).Mask32({2, 1, depth}, 0.6).Seed(seed++).TestBoth();
  }
  SoftmaxTester().Dims({5, 65}).Codes(127, 127).LogGrid(Grid::kLog2, 16).TestBoth();  // every element equal
  SoftmaxTester().Dims({4, 16}).Mask({4, 16}, 0.0).LogGrid(Grid::kLog2, 16).TestBoth();  // every row masked
  SoftmaxTester().Dims({5, 65}).ExpBits(16, 1.0).LogGrid(Grid::kRandom, 100).TestBoth();  // most e == 0
  // Rows of one element with e = 1: Σe = 1, so P is exactly clip_scale·2^14 + offset, and
  // thresholds equal to it (P < T must not hold) are met exactly.
  SoftmaxTester().Dims({6, 1}).ExpBits(0, 0.05).LogGrid(Grid::kExact, 3).TestBoth();
  SoftmaxTester().Dims({6, 1}).ExpBits(0, 0.05).Clip(0.7f, 0.1f).LogGrid(Grid::kExact, 3).Seed(7).TestBoth();
}

TEST(X86Misc, SoftmaxRunTimeInt32Masks) {  // an attention mask input [batch, 1, 1, S], and others
  for (int32_t d : {1, 15, 16, 17, 63, 64, 65, 130}) {
    SoftmaxTester().Dims({2, 3, 5, d}).Mask32({2, 1, 1, d}, 0.7).Seed(d).TestBoth();
    SoftmaxTester().Dims({1, 2, 3, d}).Mask32({1, 1, 1, d}, 0.5).Seed(d + 1).TestBoth();
  }
  SoftmaxTester().Dims({2, 3, 7, 33}).Mask32({2, 1, 7, 33}, 0.3).TestBoth();  // per row, some fully masked
  SoftmaxTester().Dims({2, 3, 7, 33}).Mask32({2, 3, 7, 1}, 0.5).TestBoth();   // whole rows kept or not
  SoftmaxTester().Dims({4, 16}).Mask32({4, 16}, 0.0).TestBoth();             // every row fully masked
  SoftmaxTester().Dims({2, 4, 16}).Mask32({1}, 1.0).TestBoth();               // one value for everything
  SoftmaxTester().Dims({2, 3, 17, 17}).Causal().Mask32({2, 1, 1, 17}, 0.6).Seed(3).TestBoth();  // both masks
  SoftmaxTester().Dims({2, 3, 7, 33}).Mask({3, 7, 1}, 0.5).Mask32({2, 1, 1, 33}, 0.5).TestBoth();
  SoftmaxTester().Dims({2, 3, 7, 33}).Mask({33}, 0.5).Mask32({2, 3, 7, 1}, 0.5).TestBoth();
  SoftmaxTester().Dims({2, 64}).Mask32({2, 64}, 0.9).Codes(127, 127).Clip(1.1f, -0.05f).Bits(4).TestBoth();
}

// ---- BATCH_MATMUL with a log-grid left operand (P·V) ----

// One product against ref::BatchMatMul: a random grid of n codes (shifts up to 20, √2 flags, an
// eta term), a's bytes codes below n, the zero code or bytes past n (all count as 0), b and its
// zero point anywhere, one requantization. Returns the number of distinct output codes.
// shifts up to max_shift; q: the requantization, or (multiplier 0) one that spreads the codes
// (≈ 60 codes for the typical |acc| = √k·70·2^R, so that one unit of acc matters when R is small).
size_t CheckLogGridMatMul(std::mt19937& rng, int32_t m, int32_t k, int32_t n, int32_t codes, int32_t max_shift,
                          bool sqrt2, double eta, int32_t b_zero_point, QuantizedMultiplier q) {
  auto uni = [&](int32_t lo, int32_t hi) { return std::uniform_int_distribution<int32_t>(lo, hi)(rng); };
  std::vector<uint32_t> thresholds(static_cast<size_t>(codes), 0);
  std::vector<uint8_t> shifts, flags;
  for (int32_t j = 0; j < codes; ++j) {
    shifts.push_back(static_cast<uint8_t>(uni(0, max_shift)));
    flags.push_back(static_cast<uint8_t>(sqrt2 ? uni(0, 1) : 0));
  }
  ref::LogGrid g;
  g.n = codes;
  g.thresholds = thresholds.data();
  g.shifts = shifts.data();
  g.sqrt2 = sqrt2 ? flags.data() : nullptr;
  g.max_shift = *std::max_element(shifts.begin(), shifts.end());
  g.eta_q = ref::LogGridEtaQ(1.0f, static_cast<float>(eta), g.max_shift);
  if (q.multiplier == 0) q = QuantizeMultiplier(60.0 / (std::sqrt(double(k)) * 70.0 * std::ldexp(1.0, g.max_shift)));
  std::vector<int8_t> a(size_t(m) * k);
  for (auto& c : a) {
    const int32_t pick = uni(0, 9);
    c = static_cast<int8_t>(pick == 0 ? ref::kLogGridZeroCode : (pick == 1 ? uni(codes, 255) : uni(0, codes - 1)));
  }
  const std::vector<int8_t> b = RandomCodes(rng, int64_t{k} * n);
  ref::BatchMatMulParams p;
  p.m = m, p.k = k, p.n = n;
  p.b_zero_point = b_zero_point;
  p.a_grid = &g;
  const int32_t mult[1] = {q.multiplier}, shift[1] = {q.shift};
  p.requant.multiplier = mult;
  p.requant.shift = shift;
  p.requant.zero_point = uni(-128, 127);
  std::vector<int8_t> want(size_t(m) * n + 1, 9), got(want.size(), 9);
  ref::BatchMatMul<int8_t>(p, a.data(), b.data(), want.data());
  double v[256];
  portable::LogGridCoefficients(g, v);
  EXPECT_TRUE(portable::LogGridMatMulInDouble(p, v)) << "k " << k;
  std::vector<double> scratch(static_cast<size_t>(portable::Qs8LogGridMatMulScratchBytes(p) / 8));
  portable::Qs8LogGridMatMul(p, v, a.data(), b.data(), got.data(), scratch.data());
  EXPECT_EQ(got, want) << m << "x" << k << "x" << n << " codes " << codes << " max shift " << max_shift << " sqrt2 "
                       << sqrt2 << " eta " << eta
                       << " z_b " << b_zero_point << " multiplier " << q.multiplier << " shift " << q.shift;
  return std::set<int8_t>(want.begin(), want.end() - 1).size();
}

// Shapes around the 4-row and 8-column steps; grids with shifts up to 0, 3 or 20 (with small
// shifts, one unit of acc and its rounding show in the codes); requantization that spreads the
// codes, or any shift from −31 to 30 (saturating).
TEST(X86Misc, LogGridMatMulEqualsTheReference) {
  std::mt19937 rng(60);
  auto uni = [&](int32_t lo, int32_t hi) { return std::uniform_int_distribution<int32_t>(lo, hi)(rng); };
  size_t spread = 0, cases = 0;
  for (int32_t m : {1, 3, 4, 5, 9, 50})
    for (int32_t k : {1, 7, 50, 64, 197})
      for (int32_t n : {1, 7, 8, 9, 32, 64}) {
        const int32_t codes = uni(1, 40), max_shift = std::array<int32_t, 3>{0, 3, 20}[size_t(uni(0, 2))];
        const bool sqrt2 = uni(0, 1) == 1;
        const double eta = uni(0, 2) == 0 ? 0.0 : std::uniform_real_distribution<double>(0.0, 0.01)(rng);
        const int32_t zb = uni(0, 3) == 0 ? (uni(0, 1) ? -128 : 127) : uni(-128, 127);
        const QuantizedMultiplier q = uni(0, 3) == 0 ? QuantizedMultiplier{uni(1 << 30, INT32_MAX), uni(-31, 30)}
                                                     : QuantizedMultiplier{};
        const size_t distinct = CheckLogGridMatMul(rng, m, k, n, codes, max_shift, sqrt2, eta, zb, q);
        if (m * n >= 64 && q.multiplier == 0) spread += distinct >= 10, ++cases;
      }
  EXPECT_GE(spread, cases / 2) << "too many saturated cases";
}

// ---- FULLY_CONNECTED with int16 activations ----

// One int16 FULLY_CONNECTED on the portable kernel and its AVX2 / AVX-512 builds against
// ref::FullyConnected<int16_t>. extreme: every x = −32768 and w = −128 (the block bound at its
// limit; with a depth past 1024 the accumulators reach 2^32, the 128-bit requantization). ties:
// small codes and every multiplier 2^30 with shift −1 (outputs acc/4: a quarter of them exact ties,
// rounded away from zero).
void CheckInt16Fc(std::mt19937& rng, int32_t rows, int32_t depth, int32_t units, int32_t zx, bool per_channel,
                  bool extreme, int32_t max_abs_w = 127, bool ties = false) {
  auto uni = [&](int32_t lo, int32_t hi) { return std::uniform_int_distribution<int32_t>(lo, hi)(rng); };
  std::vector<int16_t> x(size_t(rows) * depth);
  for (auto& v : x) v = static_cast<int16_t>(extreme ? -32768 : ties ? uni(-50, 50) : uni(-32768, 32767));
  std::vector<int8_t> w(size_t(units) * depth);
  for (auto& v : w) v = static_cast<int8_t>(extreme ? -128 : uni(-max_abs_w, max_abs_w));
  std::vector<int32_t> bias(static_cast<size_t>(units));
  for (auto& v : bias)
    v = ties ? uni(-1000, 1000) : uni(0, 4) == 0 ? (uni(0, 1) ? INT32_MAX : INT32_MIN) : uni(-(1 << 24), 1 << 24);
  const int32_t count = per_channel ? units : 1;
  std::vector<int32_t> mult(static_cast<size_t>(count)), shift(static_cast<size_t>(count));
  for (int32_t i = 0; i < count; ++i) {  // mostly inside int16, some saturating, some multiplier 0
    mult[size_t(i)] = ties ? 1 << 30 : uni(0, 9) == 0 ? 0 : uni(1 << 30, INT32_MAX);
    shift[size_t(i)] = ties ? -1 : uni(0, 5) == 0 ? uni(-31, 30) : uni(-22, -12);
  }
  ref::FullyConnectedParams p;
  p.rows = rows;
  p.depth = depth;
  p.units = units;
  p.input_zero_point = zx;
  p.requant = {mult.data(), shift.data(), count, uni(-100, 100), -32768, 32767};
  std::vector<int16_t> want(size_t(rows) * units + 1, 7);
  ref::FullyConnected<int16_t>(p, x.data(), w.data(), bias.data(), want.data());
  int32_t max_abs = 0;
  for (int8_t v : w) max_abs = std::max(max_abs, std::abs(int32_t{v}));
  const int32_t block = portable::Int16FcBlock(max_abs, depth);
  std::vector<int64_t> folded(static_cast<size_t>(units));
  portable::Int16FcFoldedBias(w.data(), units, depth, bias.data(), zx, folded.data());
  size_t scratch_bytes = portable::Int16FcScratchBytes(block);
#if defined(SQUINT_X86_KERNELS)
  scratch_bytes = std::max(scratch_bytes, x86::Qs16FullyConnectedAvx512ScratchBytes());
  std::vector<int8_t> packed(x86::Qs16FcAvx512PackedBytes(units, depth));
  x86::PackQs16FcAvx512(w.data(), units, depth, packed.data());
#endif
  std::vector<int64_t> scratch(scratch_bytes / sizeof(int64_t) + 1);
  using Kernel = void (*)(const ref::FullyConnectedParams&, const int16_t*, const int8_t*, const int64_t*, int32_t,
                          void*, int16_t*);
  std::vector<std::pair<Isa, Kernel>> kernels = {{Isa::kReference, &portable::Qs16FullyConnected}};
#if defined(SQUINT_X86_KERNELS)
  kernels.emplace_back(Isa::kAvx2, &x86::Qs16FullyConnectedAvx2);
  kernels.emplace_back(Isa::kAvx512Vnni, &x86::Qs16FullyConnectedAvx512);
#endif
  for (auto [isa, kernel] : kernels) {
    if (!IsaSupported(isa)) continue;
    std::vector<int16_t> got(want.size(), 7);  // one guard element
    const int8_t* weights = w.data();
#if defined(SQUINT_X86_KERNELS)
    if (isa == Isa::kAvx512Vnni) weights = packed.data();  // its panels
#endif
    kernel(p, x.data(), weights, folded.data(), block, scratch.data(), got.data());
    ASSERT_EQ(got, want) << rows << "x" << depth << "x" << units << " zx " << zx << " block " << block
                         << (extreme ? " extreme" : "") << ", " << IsaName(isa);
  }
}

TEST(X86Misc, Int16FullyConnectedEqualsTheReference) {
  std::mt19937 rng(61);
  // Rows around the 4- and 8-row steps and the 64-row chunk, units around the 4-, 16- and 32-unit steps,
  // depths around 32 (a vector) and the int32 block (516 for max |w| = 127, 511 for 128).
  for (int32_t rows : {1, 4, 5, 67})
    for (int32_t units : {1, 4, 17, 33})
      for (int32_t depth : {1, 33, 515, 517})
        CheckInt16Fc(rng, rows, depth, units, rows % 2 ? 0 : 1234, units != 4, false);
  CheckInt16Fc(rng, 3, 1100, 5, 0, true, true);      // |acc| > 2^32: the 128-bit requantization
  CheckInt16Fc(rng, 2, 511, 3, 0, true, true);       // one block at its bound (511·2^22 < 2^31)
  CheckInt16Fc(rng, 9, 600, 20, -32768, true, false, 1);  // max |w| = 1: the whole depth one block
  CheckInt16Fc(rng, 2, 40, 3, 0, false, false, 0);   // zero weights: the bias alone
  for (int32_t zx : {0, 7, -9})                      // exact ties, with and without zero points
    CheckInt16Fc(rng, 9, 40, 35, zx, true, false, 3, true);
}

// ---- LAYER_NORM ----

class LayerNormTester {
 public:
  LayerNormTester& Shape(int32_t rows, int32_t channels) { rows_ = rows, channels_ = channels; return *this; }
  LayerNormTester& Rms(bool v, int32_t zero_point) { rms_ = v, zp_ = zero_point; return *this; }
  LayerNormTester& NormBits(int32_t v) { norm_bits_ = v; return *this; }
  LayerNormTester& Epsilon(int64_t v) { eps_ = v; return *this; }
  LayerNormTester& PerChannel(bool v) { per_channel_ = v; return *this; }
  LayerNormTester& Codes(int32_t lo, int32_t hi) { lo_ = lo, hi_ = hi; return *this; }
  LayerNormTester& Outlier(bool v) { outlier_ = v; return *this; }  // one code far from a constant row
  LayerNormTester& OutZeroPoint(int32_t v) { out_zp_ = v; return *this; }
  LayerNormTester& Shifts(int32_t lo, int32_t hi) { shift_lo_ = lo, shift_hi_ = hi; return *this; }
  LayerNormTester& Seed(uint32_t s) { seed_ = s; return *this; }
  // Every multiplier m (instead of random ones in [2^30, 2^31)), and |γ| <= gamma_max.
  LayerNormTester& Multiplier(int32_t m) { multiplier_ = m; return *this; }
  LayerNormTester& GammaMax(int32_t g) { gamma_max_ = g; return *this; }
  // int16 codes (x in [lo, hi] of Codes, default the whole int16 range; outputs over int16).
  LayerNormTester& Int16(bool v) {
    int16_ = v;
    if (v && lo_ == -128 && hi_ == 127) lo_ = -32768, hi_ = 32767;
    return *this;
  }

  void Test() const {
    std::mt19937 rng(seed_);
    ref::LayerNormParams p;
    p.rows = rows_;
    p.channels = channels_;
    p.rms = rms_;
    p.input_zero_point = zp_;
    p.norm_bits = norm_bits_;
    p.epsilon_q = eps_;
    std::vector<int32_t> gamma(static_cast<size_t>(channels_)), beta(gamma.size());
    std::uniform_int_distribution<int32_t> g(-gamma_max_, gamma_max_), bt(-(1 << 22), 1 << 22);
    for (auto& v : gamma) v = g(rng);
    for (auto& v : beta) v = bt(rng);
    p.gamma_q = gamma.data();
    p.beta_q = beta.data();
    const int32_t count = per_channel_ ? channels_ : 1;
    std::vector<int32_t> mult(static_cast<size_t>(count)), shift(mult.size());
    const int32_t s_lo = shift_lo_ != kUnset ? shift_lo_ : std::max(-31, -(norm_bits_ + 12));
    const int32_t s_hi = shift_hi_ != kUnset ? shift_hi_ : -(norm_bits_ + 2);
    std::uniform_int_distribution<int32_t> m(1 << 30, 0x7fffffff), s(std::max(-31, s_lo), std::min(30, std::max(s_hi, -31)));
    for (auto& v : mult) v = multiplier_ != 0 ? multiplier_ : m(rng);
    for (auto& v : shift) v = s(rng);
    p.requant = {mult.data(), shift.data(), count, out_zp_, int16_ ? -32768 : -128, int16_ ? 32767 : 127};
    if (int16_) Check<int16_t>(p, rng);
    else Check<int8_t>(p, rng);
  }

 private:
  // x of T codes in [lo, hi] (with the outliers), the reference's rows against the plain C++,
  // AVX2 and AVX-512 rows (where this CPU has them).
  template <typename T>
  void Check(const ref::LayerNormParams& p, std::mt19937& rng) const {
    constexpr bool kInt8 = sizeof(T) == 1;
    std::vector<T> x(static_cast<size_t>(rows_) * channels_);
    std::uniform_int_distribution<int32_t> d(lo_, hi_);
    for (auto& v : x) v = static_cast<T>(d(rng));
    if (outlier_)
      for (int32_t r = 0; r < rows_; ++r)
        x[static_cast<size_t>(r) * channels_ + rng() % channels_] = r % 2 ? (kInt8 ? 127 : 32767) : (kInt8 ? -128 : -32768);
    std::vector<T> want(x.size() + 1, 3);
    ref::LayerNorm<T>(p, x.data(), want.data());
    if (!kInt8 && rows_ * channels_ >= 64 && hi_ - lo_ > 100) {  // int16: not saturated to a few codes
      const std::set<T> distinct(want.begin(), want.end() - 1);
      EXPECT_GT(distinct.size(), size_t(8)) << rows_ << "x" << channels_ << " int16";
    }
    for (auto [isa, rows] : {std::pair{Isa::kReference, portable::RowIsa::kCpp},
                             std::pair{Isa::kAvx2, portable::RowIsa::kAvx2},
                             std::pair{Isa::kAvx512Vnni, portable::RowIsa::kAvx512}}) {
      if (!IsaSupported(isa)) continue;
      std::vector<T> got(x.size() + 1, 3);
      if constexpr (kInt8) portable::Qs8LayerNorm(p, x.data(), got.data(), rows);
      else portable::Qs16LayerNorm(p, x.data(), got.data(), rows);
      ASSERT_EQ(got, want) << rows_ << "x" << channels_ << (kInt8 ? "" : " int16") << " rows " << static_cast<int>(rows);
    }
  }

  static constexpr int32_t kUnset = 1000;
  int32_t rows_ = 3, channels_ = 16, zp_ = 0, norm_bits_ = 12, lo_ = -128, hi_ = 127, out_zp_ = 0;
  int32_t shift_lo_ = kUnset, shift_hi_ = kUnset, multiplier_ = 0, gamma_max_ = 1 << 15;
  int64_t eps_ = 1000;
  bool rms_ = false, per_channel_ = true, outlier_ = false, int16_ = false;
  uint32_t seed_ = 1;
};

// The AVX-512 rows compute outputs in double where they are far from a rounding boundary (rows.h,
// LayerNormFloat). m = 2^30 with shift s makes the output n·γ/2^(1−s) + β/2^(1−s) before + zp: with
// small γ, many outputs fall exactly on a half-integer (ties away from zero, which the double
// path's ⌊est + 1/2⌋ gets wrong for negative ones) or within γ/2 of one (where n's own rounding
// decides): those 8-channel steps must take the exact path.
TEST(X86Misc, LayerNormOutputsAtRoundingBoundaries) {
  uint32_t seed = 700;
  for (int32_t shift : {0, -1, -4, -9, -14})
    for (int32_t gamma : {1, 3, 40, 1000})
      for (int32_t channels : {8, 13, 64, 384}) {
        LayerNormTester().Shape(6, channels).Multiplier(1 << 30).Shifts(shift, shift).GammaMax(gamma).Seed(seed++).Test();
        LayerNormTester().Shape(4, channels).Rms(true, 3).PerChannel(false).Multiplier(1 << 30).Shifts(shift, shift)
            .GammaMax(gamma).NormBits(4).Seed(seed++).Test();
      }
}

// n = ⌊w·up / root⌉ itself on a tie (ties away from zero): rows of 5 codes in [0, 3] with ε = 0
// make N a perfect square often enough that q is an exact half-integer (codes 0 0 0 0 1: q = −1/2
// at norm_bits 0), which the double path's nearest-integer rounding (ties to even) gets wrong.
TEST(X86Misc, LayerNormQuotientTies) {
  for (int32_t norm_bits : {0, 1, 2})
    for (uint32_t seed : {1u, 2u}) {
      LayerNormTester().Shape(64, 5).Codes(0, 3).Epsilon(0).NormBits(norm_bits).Seed(seed).Test();
      LayerNormTester().Shape(64, 5).Codes(0, 1).Epsilon(0).NormBits(norm_bits).PerChannel(false).Seed(seed).Test();
    }
}

// The float rows (rows.h, LayerNormRowFloat32) at their largest quotients and outputs: q near 2^18
// (norm_bits 17), g of 0.2 to 0.4 code per unit of n, and each channel's β set against the row's
// own n (estimated in double) so that the outputs stay inside the int8 range: |n·g| + |b| near
// the float rows' bound 2^18, where a float estimate of q or of the output is off by up to 2^−6,
// so that the two-term scale of q and the output's margin decide codes here (each left out, the
// test fails).
TEST(X86Misc, LayerNormFloatRowsLargeQuotientsAndOutputs) {
  for (uint32_t seed = 0; seed < 40; ++seed) {
    std::mt19937 rng(seed);
    const int32_t channels = std::array{64, 100, 384}[seed % 3];
    std::vector<int8_t> x(static_cast<size_t>(channels));
    std::uniform_int_distribution<int32_t> code(-128, 127), g(200, 400), delta(-100 << 10, 100 << 10);
    for (auto& v : x) v = static_cast<int8_t>(code(rng));
    double mean = 0, square = 0;
    for (int8_t v : x) mean += v, square += double(v) * v;
    mean /= channels;
    const double sd = std::sqrt(square / channels - mean * mean);
    std::vector<int32_t> gamma(x.size()), beta(x.size());
    for (size_t c = 0; c < x.size(); ++c) {
      gamma[c] = g(rng);
      beta[c] = static_cast<int32_t>(-std::llround((x[c] - mean) / sd * 131072.0 * gamma[c])) + delta(rng);
    }
    int32_t m = 1 << 30, shift = -9;  // output = (n·γ + β)/2^10
    ref::LayerNormParams p;
    p.rows = 1, p.channels = channels, p.norm_bits = 17, p.epsilon_q = 1000;
    p.gamma_q = gamma.data(), p.beta_q = beta.data();
    p.requant = {&m, &shift, 1, 0, -128, 127};
    std::vector<int8_t> want(x.size()), got(x.size());
    ref::LayerNorm<int8_t>(p, x.data(), want.data());
    const auto inside = std::count_if(want.begin(), want.end(), [](int8_t v) { return v > -128 && v < 127; });
    ASSERT_GT(inside, channels * 9 / 10) << "seed " << seed;  // the outputs are not saturated
    for (auto [isa, rows] : {std::pair{Isa::kAvx2, portable::RowIsa::kAvx2},
                             std::pair{Isa::kAvx512Vnni, portable::RowIsa::kAvx512}}) {
      if (!IsaSupported(isa)) continue;
      portable::Qs8LayerNorm(p, x.data(), got.data(), rows);
      ASSERT_EQ(got, want) << "seed " << seed << " rows " << static_cast<int>(rows);
    }
  }
}

TEST(X86Misc, LayerNormEdgeChannels) {
  for (int32_t c : {1, 2, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 192, 768}) {
    LayerNormTester().Shape(5, c).Seed(c).Test();
    LayerNormTester().Shape(3, c).Rms(true, -128).PerChannel(false).Seed(c + 1).Test();
    LayerNormTester().Shape(3, c).Rms(true, 127).NormBits(20).Seed(c + 2).Test();
  }
  LayerNormTester().Shape(1, 32768).Rms(true, -128).Codes(127, 127).Test();  // Σv² at its int32 bound
  LayerNormTester().Shape(2, 32768).Seed(9).Test();
}

TEST(X86Misc, LayerNormConstantRowsEpsilonAndLargeQuotients) {
  for (int64_t eps : {int64_t{0}, int64_t{1}, int64_t{1} << 40, int64_t{1} << 60}) {
    LayerNormTester().Shape(4, 33).Codes(5, 5).Epsilon(eps).Test();             // variance 0 (root 0 when eps 0)
    LayerNormTester().Shape(4, 768).Codes(5, 5).Outlier(true).Epsilon(eps).NormBits(20).Test();  // n up to ~2^25
    LayerNormTester().Shape(4, 65).Codes(-1, 0).Epsilon(eps).NormBits(0).Test();
  }
  for (int32_t z : {-128, 127}) LayerNormTester().Shape(6, 97).OutZeroPoint(z).Outlier(true).Test();
  for (int32_t c : {64, 192, 768}) LayerNormTester().Shape(8, c).Codes(-20, 40).Seed(c).Test();  // per-code n table
  for (int32_t e = 0; e <= 60; e += 3) LayerNormTester().Shape(2, 64).Codes(-3, 3).Epsilon(int64_t{1} << e).Test();
}

TEST(X86Misc, LayerNormRequantizationCorners) {  // shifts from −31 (r = 62) to +30, saturating outputs
  for (int32_t nb : {0, 4, 12, 20})
    for (int32_t c : {7, 64, 100}) {
      LayerNormTester().Shape(3, c).NormBits(nb).Shifts(-31, -20).Seed(nb + c).Test();
      LayerNormTester().Shape(3, c).NormBits(nb).Shifts(-12, 8).Seed(nb + c + 1).Test();
      LayerNormTester().Shape(3, c).NormBits(nb).Shifts(20, 30).Seed(nb + c + 3).Test();  // |acc|·2^shift wraps 64 bits
      LayerNormTester().Shape(3, c).NormBits(nb).Shifts(-33 + nb, -30 + nb).PerChannel(false).Seed(nb + c + 2).Test();
      // One shift for the row: each requantization case alone (r <= 32 from shift -1 on, r > 32 below).
      for (int32_t shift : {-31, -20, -2, -1, 0, 5, 30})
        LayerNormTester().Shape(3, c).NormBits(nb).Shifts(shift, shift).PerChannel(false).Seed(nb + c + 4).Test();
    }
}

TEST(X86Misc, LayerNormRandom) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 60; ++trial) {
    const int32_t c = 1 + static_cast<int32_t>(rng() % 300);
    LayerNormTester()
        .Shape(1 + static_cast<int32_t>(rng() % 4), c)
        .Rms(rng() % 2 == 0, static_cast<int32_t>(rng() % 256) - 128)
        .NormBits(static_cast<int32_t>(rng() % 21))
        .Epsilon(static_cast<int64_t>(rng() % 100000))
        .PerChannel(rng() % 2 == 0)
        .Outlier(rng() % 3 == 0)
        .Seed(static_cast<uint32_t>(trial))
        .Test();
  }
}

// int16 rows: the whole int16 range (N past 2^45: the reference's F = 0 case) and narrow ranges
// (F = 16), both modes, RMS zero points up to the range's ends (x − z past int16: the plain C++
// statistics), per-channel and per-tensor requantization from fine to saturating outputs.
TEST(X86Misc, LayerNormInt16) {
  std::mt19937 rng(12);
  for (int trial = 0; trial < 40; ++trial) {
    const int32_t c = std::array<int32_t, 6>{1, 7, 33, 64, 384, 768}[rng() % 6];
    const int32_t span = std::array<int32_t, 3>{32767, 3000, 40}[rng() % 3];
    const int32_t norm_bits = static_cast<int32_t>(rng() % 21);
    LayerNormTester()
        .Int16(true)
        .Codes(-span - 1, span)
        .Shape(1 + static_cast<int32_t>(rng() % 5), c)
        .Rms(rng() % 2 == 0, rng() % 4 == 0 ? (rng() % 2 ? 32767 : -32768) : static_cast<int32_t>(rng() % 2001) - 1000)
        .NormBits(norm_bits)
        .Shifts(std::max(-31, -(norm_bits + 6)), std::min(30, -norm_bits + 2))
        .Epsilon(static_cast<int64_t>(rng() % 100000))
        .PerChannel(rng() % 2 == 0)
        .Outlier(rng() % 3 == 0)
        .OutZeroPoint(static_cast<int32_t>(rng() % 201) - 100)
        .Seed(static_cast<uint32_t>(100 + trial))
        .Test();
  }
  // Pairs of −32768 (2^31 as a pair of squares: the AVX-512 statistics' unsigned 32-bit step).
  for (int32_t c : {2, 64, 130}) LayerNormTester().Int16(true).Codes(-32768, -32767).Shape(3, c).NormBits(8).Test();
}

#if defined(SQUINT_X86_KERNELS)
// The AVX-512 row statistics alone (their min and max only bound the row's quotients, so a wrong
// one need not change a code): 1 to 8 rows a call, each of its own range (rows of one sign,
// constant rows), lengths around the 32-code step, extreme zero points.
TEST(X86Misc, LayerNormRowStatsAvx512) {
  if (!IsaSupported(Isa::kAvx512Vnni)) GTEST_SKIP() << "no AVX-512 VNNI";
  std::mt19937 rng(5);
  const std::array<std::pair<int32_t, int32_t>, 8> ranges = {
      std::pair{1, 127}, {-128, -1}, {-128, 127}, {127, 127}, {-128, -128}, {-3, 5}, {0, 0}, {-60, 90}};
  for (int32_t c : {1, 2, 31, 32, 33, 63, 64, 65, 100, 32768})
    for (int32_t z : {-128, 0, 127})
      for (int32_t count = 1; count <= 8; ++count) {
        std::vector<int8_t> x;
        std::vector<x86::RowStats> want(static_cast<size_t>(count));
        for (int32_t r = 0; r < count; ++r) {
          const auto [lo, hi] = ranges[static_cast<size_t>((r + c + count) % 8)];
          const auto row = RandomCodes(rng, c, lo, hi);
          x.insert(x.end(), row.begin(), row.end());
          x86::RowStats& w = want[static_cast<size_t>(r)];
          for (int8_t code : row) {
            w.sum += code - z;
            w.sum_sq += static_cast<uint32_t>((code - z) * (code - z));
            w.lo = std::min<int32_t>(w.lo, code), w.hi = std::max<int32_t>(w.hi, code);
          }
        }
        x86::RowStats got[8];
        x86::Qs8RowStats8Avx512(x.data(), count, c, z, got);
        for (int32_t r = 0; r < count; ++r) {
          const x86::RowStats& w = want[static_cast<size_t>(r)];
          ASSERT_EQ(got[r].sum, w.sum) << c << " row " << r << " of " << count;
          ASSERT_EQ(got[r].sum_sq, w.sum_sq) << c << " row " << r << " of " << count;
          ASSERT_EQ(got[r].lo, w.lo) << c << " row " << r << " of " << count;
          ASSERT_EQ(got[r].hi, w.hi) << c << " row " << r << " of " << count;
        }
      }
}
#endif

// ---- depthwise CONV_2D ----

class DepthwiseTester {
 public:
  DepthwiseTester& Channels(int32_t c) { c_ = c; return *this; }
  DepthwiseTester& Input(int32_t h, int32_t w) { h_ = h, w_ = w; return *this; }
  DepthwiseTester& Kernel(int32_t kh, int32_t kw) { kh_ = kh, kw_ = kw; return *this; }
  DepthwiseTester& Stride(int32_t s) { stride_ = s; return *this; }
  DepthwiseTester& StrideH(int32_t s) { stride_h_ = s; return *this; }  // 0: Stride()'s
  DepthwiseTester& Dilation(int32_t d) { dilation_ = d; return *this; }
  DepthwiseTester& Pads(int32_t top, int32_t left, int32_t bottom, int32_t right) {
    pt_ = top, pl_ = left, pb_ = bottom, pr_ = right;
    return *this;
  }
  DepthwiseTester& ZeroPoint(int32_t z) { zx_ = z; return *this; }
  DepthwiseTester& Bias(bool b) { bias_ = b; return *this; }
  DepthwiseTester& PerChannel(bool v) { per_channel_ = v; return *this; }
  DepthwiseTester& Batch(int32_t n) { n_ = n; return *this; }
  DepthwiseTester& Shifts(int32_t lo, int32_t hi) { shift_lo_ = lo, shift_hi_ = hi; return *this; }
  // A groups = 1 conv of one input channel into Channels() outputs (the AVX-512 path only).
  DepthwiseTester& OneInput(bool v) { one_input_ = v; return *this; }
  DepthwiseTester& Seed(uint32_t s) { seed_ = s; return *this; }

  void Test() const {
    std::mt19937 rng(seed_);
    ref::Conv2DParams p;
    p.batch = n_;
    p.in_channels = p.out_channels = p.groups = c_;
    if (one_input_) p.in_channels = p.groups = 1;
    p.in_h = h_, p.in_w = w_;
    p.kernel_h = kh_, p.kernel_w = kw_;
    p.stride_h = stride_h_ != 0 ? stride_h_ : stride_;
    p.stride_w = stride_;
    p.dilation_h = p.dilation_w = dilation_;
    p.pad_top = pt_, p.pad_left = pl_;
    auto out = [&](int32_t in, int32_t a, int32_t b, int32_t k, int32_t stride) {
      const int32_t span = in + a + b - dilation_ * (k - 1) - 1;
      return span < 0 ? 0 : span / stride + 1;
    };
    p.out_h = out(h_, pt_, pb_, kh_, p.stride_h);
    p.out_w = out(w_, pl_, pr_, kw_, p.stride_w);
    p.input_zero_point = zx_;
    const int32_t count = per_channel_ ? c_ : 1;
    std::vector<int32_t> mult(static_cast<size_t>(count)), shift(mult.size()), bias(static_cast<size_t>(c_));
    std::uniform_int_distribution<int32_t> m(1 << 30, 0x7fffffff), sh(shift_lo_, shift_hi_), bd(-(1 << 20), 1 << 20);
    for (auto& v : mult) v = m(rng);
    for (auto& v : shift) v = sh(rng);
    for (auto& v : bias) v = bd(rng);
    p.requant = {mult.data(), shift.data(), count, static_cast<int32_t>(rng() % 256) - 128, -128, 127};
    const auto x = RandomCodes(rng, int64_t{n_} * p.in_channels * h_ * w_);
    const auto w = RandomCodes(rng, int64_t{c_} * kh_ * kw_, -127, 127);
    const size_t n = static_cast<size_t>(int64_t{n_} * c_ * p.out_h * p.out_w);
    std::vector<int8_t> want(n + 1, 4);
    ref::Conv2D<int8_t>(p, x.data(), w.data(), bias_ ? bias.data() : nullptr, want.data());
    // One input channel: the AVX-512 pairs kernel's convolutions only (prepare gives the others
    // to the GEMM).
    ASSERT_TRUE(!one_input_ || portable::PairsConv(p)) << "a one-input conv the pairs kernel does not take";
    // Plain C++ planes, and the AVX-512 kernels where this CPU has them.
    for (bool avx512 : {false, true}) {
      if ((avx512 && !IsaSupported(Isa::kAvx512Vnni)) || (!avx512 && one_input_)) continue;
      std::vector<int8_t> got(n + 1, 4);
      std::vector<int32_t> scratch(portable::Qs8DepthwiseScratchBytes(p) / 4 + 1);  // as the pools: int32 words
      portable::Qs8DepthwiseConv2D(p, x.data(), w.data(), bias_ ? bias.data() : nullptr,
                                   reinterpret_cast<int16_t*>(scratch.data()), got.data(), avx512,
                                   portable::TransposeBytesFor(avx512 ? Isa::kAvx512Vnni : Isa::kAvx2));
      size_t first = 0;
      while (first < n && got[first] == want[first]) ++first;
      ASSERT_EQ(got, want) << "first " << first << " of " << n << ": " << c_ << " channels " << h_ << "x" << w_ << " kernel " << kh_ << "x" << kw_ << " stride "
                           << stride_ << " dilation " << dilation_ << " avx512 " << avx512;
    }
  }

 private:
  int32_t c_ = 4, h_ = 7, w_ = 7, kh_ = 3, kw_ = 3, stride_ = 1, stride_h_ = 0, dilation_ = 1, pt_ = 1, pl_ = 1, pb_ = 1,
          pr_ = 1;
  int32_t zx_ = -128, n_ = 1, shift_lo_ = -14, shift_hi_ = -6;
  bool bias_ = true, per_channel_ = true, one_input_ = false;
  uint32_t seed_ = 1;
};

TEST(X86Misc, Depthwise3x3EdgeShapes) {
  uint32_t seed = 30;
  for (int32_t hw : {1, 2, 3, 7, 14, 17, 33})
    for (int32_t stride : {1, 2})
      for (int32_t pad : {0, 1}) DepthwiseTester().Input(hw, hw + 1).Stride(stride).Pads(pad, pad, pad, pad).Seed(seed++).Test();
  DepthwiseTester().Channels(32).Input(14, 14).Stride(2).Seed(1).Test();  // cnn_small's
  DepthwiseTester().Channels(1).Input(5, 9).Pads(1, 0, 0, 1).Test();     // asymmetric pads
  DepthwiseTester().Channels(3).Input(9, 9).Pads(2, 2, 2, 2).Dilation(2).Test();
  DepthwiseTester().Channels(2).Input(6, 6).Batch(3).Bias(false).PerChannel(false).Test();
  // Channel counts around the AVX-512 path's 16-lane step, both requantizations, batches.
  for (int32_t c : {1, 15, 16, 17, 31, 33, 64}) {
    DepthwiseTester().Channels(c).Input(9, 8).Stride(2).Seed(c).Test();
    DepthwiseTester().Channels(c).Input(5, 6).PerChannel(false).Batch(2).Seed(c + 100).Test();
  }
}

// The AVX-512 channels-last path's unrolled 3×3 (dilation 1) over output positions whose nine taps
// are inside the image, next to the general loop at the edges: widths with no such column, exactly
// one and many, strides 1–3, asymmetric pads on either side (and the pairs kernel where the output
// rows reach 8).
TEST(X86Misc, Depthwise3x3InteriorAndEdgeColumns) {
  uint32_t seed = 300;
  for (int32_t w : {1, 3, 4, 5, 10})
    for (int32_t stride : {1, 2, 3})
      for (auto [t, l, b, r] : {std::tuple{0, 0, 0, 0}, {1, 0, 1, 2}, {2, 2, 0, 1}, {0, 1, 2, 0}, {1, 1, 1, 1}})
        DepthwiseTester().Channels(17).Input(w + 2, w).Stride(stride).Pads(t, l, b, r).Seed(seed++).Test();
}

// The AVX-512 pairs kernel (stride_w 1 or 2, dilation 1, output rows of 8 or more,
// kernel_h·⌈kernel_w/2⌉ <= 32: x86::PairsChannelAvx512, NCHW straight through): kernels of even
// and odd widths up to 7 × 7 (28 pair weights) and 9 × 7 (36: the channels-last kernel again),
// rows of 4–261 outputs (whole 32-column blocks, blocks across row ends, masked tails), row strides
// 1–3, column strides 1 and 2, asymmetric pads, depthwise and one input channel, both
// requantizations with left shifts.
TEST(X86Misc, DepthwisePairsKernelShapes) {
  uint32_t seed = 700;
  for (int32_t stride_w : {1, 2})
    for (auto [kh, kw] : {std::pair{1, 1}, {2, 2}, {3, 3}, {4, 3}, {3, 4}, {5, 5}, {1, 7}, {7, 7}, {9, 7}})
      for (int32_t w : {8, 15, 17, 64, 65, 130, 261})
        for (int32_t stride_h : {1, 2, 3}) {
          const uint32_t s = seed++;
          const int32_t pad_l = static_cast<int32_t>(s % 3), pad_r = kw - 1 - pad_l > 0 ? kw - 1 - pad_l : 0;
          const int32_t out_w = (w + pad_l + pad_r - kw) / stride_w + 1;
          // (9 × 7 and rows under 8 outputs: depthwise only, on the channels-last kernel)
          const bool one_input = s % 3 == 0 && kh * ((kw + 1) / 2) <= 32 && out_w >= 8;
          DepthwiseTester().OneInput(one_input).Channels(one_input ? 3 : 5).Kernel(kh, kw).Input(kh + 3, w)
              .Stride(stride_w).StrideH(stride_h).Pads(kh / 2, pad_l, kh - 1 - kh / 2 + 1, pad_r)
              .PerChannel(s % 2 == 0).ZeroPoint(static_cast<int32_t>(s % 256) - 128)
              .Shifts(s % 4 == 0 ? 20 : -20, s % 4 == 0 ? 28 : -4).Seed(s).Test();
        }
}

TEST(X86Misc, DepthwiseOtherKernelsAndZeroPoints) {
  DepthwiseTester().Kernel(1, 1).Pads(0, 0, 0, 0).Test();
  DepthwiseTester().Kernel(5, 5).Input(11, 12).Pads(2, 2, 2, 2).Test();
  DepthwiseTester().Kernel(3, 1).Input(8, 5).Pads(1, 0, 1, 0).Stride(2).Test();
  DepthwiseTester().Kernel(9, 9).Input(10, 10).Pads(4, 4, 4, 4).Test();  // 81 taps: the generic loop
  for (int32_t z : {-128, 0, 127}) DepthwiseTester().Channels(5).Input(9, 8).ZeroPoint(z).Seed(z + 200).Test();
  // One input channel, groups = 1 (cnn_small's first conv: 1 → 16, 3×3, pad 1, 28×28).
  DepthwiseTester().OneInput(true).Channels(16).Input(28, 28).Seed(7).Test();
  for (int32_t c : {1, 2, 15, 17, 33})
    for (int32_t z : {-128, 127})
      DepthwiseTester().OneInput(true).Channels(c).Input(6, 9).StrideH(2).ZeroPoint(z).Batch(2).Seed(c + z).Test();
  DepthwiseTester().OneInput(true).Channels(8).Kernel(5, 3).Input(7, 9).Pads(2, 1, 2, 1).Shifts(25, 30).Test();
  // One input channel, 3×3, stride 1 (the pairs kernel, 16 columns a vector): rows of 15, 16, 17
  // and 40 outputs (the masked tail), both requantizations and their corners.
  uint32_t seed = 500;
  for (int32_t w : {15, 16, 17, 40})
    for (auto [lo, hi] : {std::pair{-31, -25}, std::pair{-3, 3}, std::pair{25, 30}})
      for (bool per_channel : {true, false}) {
        const auto z = static_cast<int32_t>(seed % 256) - 128;
        DepthwiseTester().OneInput(true).Channels(5).Input(4, w).Shifts(lo, hi).PerChannel(per_channel).ZeroPoint(z)
            .Seed(seed++).Test();
      }
  // Requantization corners: r = 31 − shift from 62 (outputs near the zero point) to 1 (saturating).
  for (auto [lo, hi] : {std::pair{-31, -25}, std::pair{-3, 3}, std::pair{25, 30}})
    for (bool per_channel : {true, false})
      DepthwiseTester().Channels(19).Input(7, 7).Shifts(lo, hi).PerChannel(per_channel).Seed(lo + 40).Test();
}

}  // namespace
}  // namespace squint::rt

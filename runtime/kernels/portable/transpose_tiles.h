// The walk of the byte transposes (portable::TransposeBytes, x86::TransposeBytesAvx512Vbmi): the
// 8 × 8 blocks of a rows8 × cols8 matrix in 64 × 64 tiles, so that a tile's 64 source rows and 64
// destination rows stay in the L1 cache while its blocks move. (Row by row over the whole matrix,
// a destination row's lines were evicted before the next block column reached them: 240 × 960
// bytes took 2.2x as long on AVX-512.) Internal linkage: each translation unit that includes it is
// compiled with its own target flags and keeps its own copy.
#pragma once

#include <algorithm>
#include <cstdint>

namespace squint::rt::portable {
namespace {  // NOLINT(build/namespaces): internal linkage, one copy per translation unit

// Calls block(i0, j0) for the block of rows [i0, i0 + 8) and columns [j0, j0 + 8), for every
// block (rows8 and cols8 multiples of 8).
template <typename Block>
inline void ForEachTransposeBlock(int64_t rows8, int64_t cols8, Block block) {
  constexpr int64_t kTile = 64;
  for (int64_t ti = 0; ti < rows8; ti += kTile)
    for (int64_t tj = 0; tj < cols8; tj += kTile) {
      const int64_t i1 = std::min(rows8, ti + kTile), j1 = std::min(cols8, tj + kTile);
      for (int64_t i0 = ti; i0 < i1; i0 += 8)
        for (int64_t j0 = tj; j0 < j1; j0 += 8) block(i0, j0);
    }
}

}  // namespace
}  // namespace squint::rt::portable

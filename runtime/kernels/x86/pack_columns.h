// The loop shared by the x86 kernels' pack_columns (portable/qs8_gemm.h: BATCH_MATMUL's b
// [depth][units] → weight panels and column sums), included by avx2.cc and avx512vnni.cc. Each
// instantiates it with its own Panel type (so no inline function is shared between translation
// units compiled with different target flags): Panel(valid) starts a panel of `valid` <= kNr
// units, Group(rows, dst) interleaves one depth group (rows[i] = b's row g·kKr + i from the
// panel's first unit, or null past depth) into the group's kNr·kKr elements at dst and adds to
// its column sums, Finish(scale, col_term) stores the panel's kNr sums times scale (modulo 2^32).
#pragma once

#include <cstddef>
#include <cstdint>

namespace squint::rt::x86 {

template <int32_t kNr, int32_t kKr, int32_t kElementBytes, typename Panel>
void PackColumnPanels(const int8_t* b, int32_t depth, int32_t units, size_t k_pad, size_t panel_bytes, void* panels,
                      int32_t col_scale, int32_t* col_term) {
  const auto groups = static_cast<int32_t>(k_pad / kKr);
  for (int32_t n0 = 0; n0 < units; n0 += kNr) {
    Panel panel(units - n0 < kNr ? units - n0 : kNr);
    auto* dst = static_cast<uint8_t*>(panels) + static_cast<size_t>(n0 / kNr) * panel_bytes;
    for (int32_t g = 0; g < groups; ++g) {
      const int8_t* rows[kKr];
      for (int32_t i = 0; i < kKr; ++i) {
        const int32_t d = g * kKr + i;
        rows[i] = d < depth ? b + static_cast<int64_t>(d) * units + n0 : nullptr;
      }
      panel.Group(rows, dst + static_cast<size_t>(g) * kNr * kKr * kElementBytes);
    }
    panel.Finish(col_scale, col_term + n0);
  }
}

}  // namespace squint::rt::x86

// KeepInRegisters: an empty asm that reads and writes every accumulator of a register tile once a
// depth step, for the translation units compiled with the avx512vnni set's flags
// (avx512vnni.cc, avx512vnni_int16_fc.cc). Without it GCC 12 gives half of a tile's accumulators
// a second register and copies them back and forth on every depth step (vmovdqa32/64, as many as
// the dot products, and some through the stack); one such asm a row still left four copies a step.
#pragma once

#include <immintrin.h>

namespace squint::rt::x86 {

template <int M>
inline __attribute__((always_inline)) void KeepInRegisters(__m512i (&a)[M][2]) {
  if constexpr (M == 8) {
    asm("" : "+v"(a[0][0]), "+v"(a[0][1]), "+v"(a[1][0]), "+v"(a[1][1]), "+v"(a[2][0]), "+v"(a[2][1]), "+v"(a[3][0]),
        "+v"(a[3][1]));  // (an asm takes at most 30 operands, a "+v" counts two)
    asm("" : "+v"(a[4][0]), "+v"(a[4][1]), "+v"(a[5][0]), "+v"(a[5][1]), "+v"(a[6][0]), "+v"(a[6][1]), "+v"(a[7][0]),
        "+v"(a[7][1]));
  } else if constexpr (M == 4) {
    asm("" : "+v"(a[0][0]), "+v"(a[0][1]), "+v"(a[1][0]), "+v"(a[1][1]), "+v"(a[2][0]), "+v"(a[2][1]), "+v"(a[3][0]),
        "+v"(a[3][1]));
  } else if constexpr (M == 2) {
    asm("" : "+v"(a[0][0]), "+v"(a[0][1]), "+v"(a[1][0]), "+v"(a[1][1]));
  } else {
    static_assert(M == 1);
    asm("" : "+v"(a[0][0]), "+v"(a[0][1]));
  }
}

}  // namespace squint::rt::x86

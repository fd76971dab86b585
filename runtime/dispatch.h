// Instruction-set dispatch: which optimized kernels an interpreter uses, chosen once at prepare.
//
// Order of precedence: an explicit choice (Interpreter::Prepare's isa, the C API's
// squint_rt_options.isa) > the SQUINT_ISA environment variable
// (reference|avx2|avx512vnni|neon|neondot) > the best set this CPU supports (x86-64:
// CPUID and XGETBV, dispatch.cc; aarch64: getauxval(AT_HWCAP), HWCAP_ASIMD and HWCAP_ASIMDDP). x86-64
// builds have avx2 (AVX2 and FMA) and avx512vnni (AVX-512 F, BW, DQ, VL and VNNI; runtime/kernels/x86),
// aarch64 builds neon (plain Advanced SIMD)
// and neondot (with the dot-product extension, sdot; runtime/kernels/arm). Asking for a set the
// CPU (or this build) lacks is an error at prepare, never a silent fallback. kReference runs the
// reference kernels everywhere; an optimized set replaces only the ops it has kernels for (int8
// FULLY_CONNECTED with int8 weights and groups = 1; int8 BATCH_MATMUL with affine operands; int8
// CONV_2D with int8 weights, groups = 1 by im2col or depthwise (avx512vnni: also a one-input-channel
// conv with at most 16 outputs, by the depthwise kernel); int8 ADD / SUB / MUL with at least
// 1024 outputs, int8 → int8 LUT, TRANSPOSE, GATHER, constant-mode PAD, int8 SOFTMAX with a
// uniform-grid output (constant and/or run-time int32 keep masks), int8 LAYER_NORM, int8 global
// AVERAGE_POOL_2D: runtime/kernels/portable/misc.h, the same plain C++ for every set; int16
// FULLY_CONNECTED, REQUANTIZE (by tables, or vectors on avx512vnni) and LUT on every set, int16
// ADD / SUB and LAYER_NORM on avx512vnni; 4-bit and group-scaled weights; log-grid softmax and
// P·V) and leaves every other op on the reference (README's table says which).
#pragma once

#include <cstdint>

#include "runtime/status.h"

namespace squint::rt {

// The values are ABI (squint_rt_isa in squint_rt.h mirrors them): never renumber.
enum class Isa : int32_t { kAuto = 0, kReference = 1, kAvx2 = 2, kAvx512Vnni = 3, kNeon = 4, kNeonDot = 5 };

const char* IsaName(Isa isa);  // "auto", "reference", "avx2", "avx512vnni", "neon", "neondot"
// Parses one of IsaName's names (not "auto"); false otherwise.
bool ParseIsa(const char* name, Isa* out);
// True when this build has the set's kernels and this CPU executes them (kReference: always).
bool IsaSupported(Isa isa);
// An extension the avx512vnni set uses when the CPU has it (the int8 LUT by vpermi2b, byte
// transposes by vpermb: runtime/kernels/x86/avx512vbmi.cc): true when this is an x86-64 build and the CPU has AVX-512
// VBMI, DQ and FMA with avx512vnni's features. Not a set of its own: the codes are the same either way.
bool Avx512VbmiSupported();
// Another: AMX tiles (TDPBUSD, the int8 GEMM's qs8_gemm_32x32c4__amx in runtime/kernels/x86/
// avx512vnni.cc): true when this is an x86-64 Linux build, the CPU has AMX-TILE and AMX-INT8 with
// avx512vnni's features, and the kernel granted this process the tile state (arch_prctl
// ARCH_REQ_XCOMP_PERM, asked once). The codes are the same either way.
bool AmxSupported();
// The set an interpreter uses for `requested` (see the order above); an error names the set and
// what is missing.
Status ResolveIsa(Isa requested, Isa* out);

}  // namespace squint::rt

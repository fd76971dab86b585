#include "runtime/dispatch.h"

#include <cstdlib>
#include <cstring>
#include <initializer_list>

#if defined(SQUINT_X86_KERNELS)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif
#if defined(SQUINT_ARM_KERNELS)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace squint::rt {
namespace {

constexpr Isa kNamedSets[] = {Isa::kReference, Isa::kAvx2, Isa::kAvx512Vnni, Isa::kNeon, Isa::kNeonDot};

bool IsX86Set(Isa isa) { return isa == Isa::kAvx2 || isa == Isa::kAvx512Vnni; }

#if defined(SQUINT_ARM_KERNELS)
// The kernel's HWCAP bits, read once (getauxval is cheap, but prepare may run often).
unsigned long ArmHwcap() {
  static const unsigned long hwcap = getauxval(AT_HWCAP);
  return hwcap;
}
#endif

#if defined(SQUINT_X86_KERNELS)
// The x86-64 features the kernels use, from CPUID and, for the vector registers' state, XGETBV:
// a feature counts only where the operating system saves its registers (XCR0: SSE and AVX state
// for AVX2 and FMA; opmask and the upper ZMM halves and registers too for AVX-512), as GCC's
// __builtin_cpu_supports decides, without libgcc's whole CPU model table (about 4 KB of library).
struct X86Features {
  bool avx2 = false, fma = false, avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false,
       avx512vnni = false, avx512vbmi = false;
};
X86Features ReadX86Features() {
  X86Features f;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return f;
  const bool fma = (ecx & (1u << 12)) != 0, osxsave = (ecx & (1u << 27)) != 0, avx = (ecx & (1u << 28)) != 0;
  if (!osxsave || !avx) return f;
  unsigned xcr0 = 0, xcr0_high = 0;
  __asm__("xgetbv" : "=a"(xcr0), "=d"(xcr0_high) : "c"(0));
  if ((xcr0 & 0x6u) != 0x6u) return f;  // SSE and AVX state
  const bool zmm_state = (xcr0 & 0xe0u) == 0xe0u;  // opmask, ZMM0–15 upper halves, ZMM16–31
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return f;
  f.fma = fma;
  f.avx2 = (ebx & (1u << 5)) != 0;
  if (!zmm_state) return f;
  f.avx512f = (ebx & (1u << 16)) != 0, f.avx512dq = (ebx & (1u << 17)) != 0;
  f.avx512bw = (ebx & (1u << 30)) != 0, f.avx512vl = (ebx & (1u << 31)) != 0;
  f.avx512vbmi = (ecx & (1u << 1)) != 0, f.avx512vnni = (ecx & (1u << 11)) != 0;
  return f;
}
const X86Features& Features() {
  static const X86Features features = ReadX86Features();
  return features;
}
#endif

}  // namespace

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAuto: return "auto";
    case Isa::kReference: return "reference";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512Vnni: return "avx512vnni";
    case Isa::kNeon: return "neon";
    case Isa::kNeonDot: return "neondot";
  }
  return "unknown";
}

bool ParseIsa(const char* name, Isa* out) {
  if (name == nullptr) return false;
  for (Isa isa : kNamedSets)
    if (std::strcmp(name, IsaName(isa)) == 0) {
      *out = isa;
      return true;
    }
  return false;
}

bool IsaSupported(Isa isa) {
  switch (isa) {
    case Isa::kReference: return true;
#if defined(SQUINT_X86_KERNELS)
    case Isa::kAvx2: return Features().avx2 && Features().fma;
    case Isa::kAvx512Vnni:
      return Features().avx512f && Features().avx512bw && Features().avx512dq && Features().avx512vl &&
             Features().avx512vnni;
#endif
#if defined(SQUINT_ARM_KERNELS)
    case Isa::kNeon: return (ArmHwcap() & HWCAP_ASIMD) != 0;
    case Isa::kNeonDot: return (ArmHwcap() & HWCAP_ASIMD) != 0 && (ArmHwcap() & HWCAP_ASIMDDP) != 0;
#endif
    default: return false;
  }
}

bool Avx512VbmiSupported() {
#if defined(SQUINT_X86_KERNELS)
  return IsaSupported(Isa::kAvx512Vnni) && Features().avx512vbmi && Features().avx512dq && Features().fma;
#else
  return false;
#endif
}

bool AmxSupported() {
#if defined(SQUINT_X86_KERNELS) && defined(__linux__)
  static const bool supported = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!IsaSupported(Isa::kAvx512Vnni) || __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    if ((edx & (1u << 24)) == 0 || (edx & (1u << 25)) == 0) return false;  // AMX-TILE, AMX-INT8
    // Linux enables the 8 KiB tile state per process on request (kernel 5.16 on); refused
    // (older kernel, or XCR0 without it), the tiles fault, so the answer is no.
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return supported;
#else
  return false;
#endif
}

Status ResolveIsa(Isa requested, Isa* out) {
  Isa isa = requested;
  const char* source = "requested";
  if (isa == Isa::kAuto) {
    const char* env = std::getenv("SQUINT_ISA");
    if (env != nullptr && env[0] != '\0') {
      if (!ParseIsa(env, &isa))
        return Status::Error(StatusCode::kInvalidArgument,
                             "SQUINT_ISA='%s' is not an instruction set; expected reference, avx2, avx512vnni, neon "
                             "or neondot",
                             env);
      source = "SQUINT_ISA";
    }
  }
  if (isa == Isa::kAuto) {
    *out = Isa::kReference;
    for (Isa best : {Isa::kAvx512Vnni, Isa::kAvx2, Isa::kNeonDot, Isa::kNeon})
      if (IsaSupported(best)) {
        *out = best;
        break;
      }
    return Status::Ok();
  }
  bool named = false;
  for (Isa known : kNamedSets) named = named || isa == known;
  if (!named)
    return Status::Error(StatusCode::kInvalidArgument, "instruction set %d is unknown", static_cast<int>(isa));
  if (!IsaSupported(isa)) {
#if defined(SQUINT_X86_KERNELS)
    const bool built = IsX86Set(isa);
#elif defined(SQUINT_ARM_KERNELS)
    const bool built = !IsX86Set(isa);
#else
    const bool built = false;
#endif
    const char* why = built           ? "this CPU lacks it"
                      : IsX86Set(isa) ? "this build has no x86-64 kernels"
                                      : "this build has no aarch64 kernels";
    return Status::Error(StatusCode::kUnsupported, "instruction set '%s' (%s) is not available: %s", IsaName(isa),
                         source, why);
  }
  *out = isa;
  return Status::Ok();
}

}  // namespace squint::rt

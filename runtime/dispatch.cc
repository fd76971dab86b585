#include "runtime/dispatch.h"

#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace squint::rt {

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAuto: return "auto";
    case Isa::kReference: return "reference";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512Vnni: return "avx512vnni";
  }
  return "unknown";
}

bool ParseIsa(const char* name, Isa* out) {
  if (name == nullptr) return false;
  for (Isa isa : {Isa::kReference, Isa::kAvx2, Isa::kAvx512Vnni})
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
    case Isa::kAvx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::kAvx512Vnni:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#endif
    default: return false;
  }
}

Status ResolveIsa(Isa requested, Isa* out) {
  Isa isa = requested;
  const char* source = "requested";
  if (isa == Isa::kAuto) {
    const char* env = std::getenv("SQUINT_ISA");
    if (env != nullptr && env[0] != '\0') {
      if (!ParseIsa(env, &isa))
        return Status::Error(StatusCode::kInvalidArgument,
                             "SQUINT_ISA='%s' is not an instruction set; expected reference, avx2 or avx512vnni", env);
      source = "SQUINT_ISA";
    }
  }
  if (isa == Isa::kAuto) {
    *out = IsaSupported(Isa::kAvx512Vnni) ? Isa::kAvx512Vnni : IsaSupported(Isa::kAvx2) ? Isa::kAvx2 : Isa::kReference;
    return Status::Ok();
  }
  if (isa != Isa::kReference && isa != Isa::kAvx2 && isa != Isa::kAvx512Vnni)
    return Status::Error(StatusCode::kInvalidArgument, "instruction set %d is unknown", static_cast<int>(isa));
  if (!IsaSupported(isa)) {
#if defined(SQUINT_X86_KERNELS)
    const char* why = "this CPU lacks it";
#else
    const char* why = "this build has no x86-64 kernels";
#endif
    return Status::Error(StatusCode::kUnsupported, "instruction set '%s' (%s) is not available: %s", IsaName(isa),
                         source, why);
  }
  *out = isa;
  return Status::Ok();
}

}  // namespace squint::rt

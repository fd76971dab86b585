# Cross-build for aarch64 Linux with Debian's g++-aarch64-linux-gnu (scripts/build.sh aarch64:
# the runtime alone, SQUINT_RUNTIME_ONLY). Host programs (flatc) come from the build machine;
# libraries and headers from the aarch64 sysroot only. When qemu-user is installed, aarch64
# programs run under it (CTest and gtest discovery use CMAKE_CROSSCOMPILING_EMULATOR):
#   qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu ${SQUINT_QEMU_CPU}
# -cpu max is QEMU's CPU with every feature it emulates, the dot-product extension included
# (HWCAP_ASIMDDP), so both aarch64 instruction sets (neon, neondot) run; a CPU model without it
# (cortex-a53, armv8.0) checks that neondot is refused there.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(SQUINT_AARCH64_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${SQUINT_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(SQUINT_QEMU_CPU max CACHE STRING "qemu-aarch64 -cpu for tests run under the emulator")
find_program(SQUINT_QEMU_AARCH64 qemu-aarch64)
if(SQUINT_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SQUINT_QEMU_AARCH64} -L ${SQUINT_AARCH64_SYSROOT} -cpu ${SQUINT_QEMU_CPU})
endif()

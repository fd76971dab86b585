// The log-grid P·V product (portable/misc.h states the contract) compiled for AVX-512: the same
// source as portable/log_grid_matmul.cc (log_grid_matmul_impl.h), whose double sums the compiler
// vectorizes 8 lanes wide with FMAs here (exact either way: every term and partial sum is an
// integer below 2^53). Compiled with the avx512vnni set's flags; call only after the CPU check.
#define SQUINT_LOG_GRID_NAMESPACE x86
#define SQUINT_LOG_GRID_MATMUL Qs8LogGridMatMulAvx512
#include "runtime/kernels/portable/log_grid_matmul_impl.h"  // NOLINT(build/include)

// FULLY_CONNECTED with int16 activations (portable/misc.h states the contract) compiled for AVX2:
// the same source as portable/int16_fc.cc (int16_fc_impl.h), whose int16 dot products the
// compiler turns into vpmaddwd on 16 lanes here. Compiled with the avx2 set's flags; call only
// after the CPU check.
#include "runtime/kernels/x86/rows.h"

#define SQUINT_INT16_FC_NAMESPACE x86
#define SQUINT_INT16_FC Qs16FullyConnectedAvx2
#include "runtime/kernels/portable/int16_fc_impl.h"  // NOLINT(build/include)

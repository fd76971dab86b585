// The kernel registry, generated from ir/ops.inc: every op must define kDef<Name> in one
// of ir/eval/ops/*.cc, or the build fails to link.
#include "ir/eval/op_def.h"

namespace squint::ir::eval {

#define SQ_OP(name, domain) extern const OpDef kDef##name;
#include "ir/ops.inc"
#undef SQ_OP

const OpDef& GetOpDef(OpType op) {
  static const OpDef* const kTable[] = {
#define SQ_OP(name, domain) &kDef##name,
#include "ir/ops.inc"
#undef SQ_OP
  };
  return *kTable[static_cast<size_t>(op)];
}

}  // namespace squint::ir::eval

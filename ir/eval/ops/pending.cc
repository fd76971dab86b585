// TEMPORARY during the foundation work: ops whose definitions are being written.
// Each line is removed when its op gets a real definition in another file of this folder;
// this file is deleted when it is empty. Inference here fails with "not implemented".
#include "ir/eval/op_def.h"

namespace squint::ir::eval {
namespace {
Result<std::vector<OutputType>> PendingInfer(const InferContext& ctx) {
  return Unsupported("{}: evaluation of this op is not implemented yet", ctx.node.Label());
}
Status PendingKernel(const Node& node, std::span<const Tensor* const>, std::span<Tensor>) {
  return Unsupported("{}: evaluation of this op is not implemented yet", node.Label());
}
}  // namespace

#define SQ_PENDING(name) extern const OpDef kDef##name{PendingInfer, PendingKernel};
#undef SQ_PENDING

}  // namespace squint::ir::eval

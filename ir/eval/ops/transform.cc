// squint.Hadamard(X) (domain squint): the online Hadamard rotation over the last axis,
// attributes block (int, required) and signs (ints ±1, optional, one per channel of the last
// axis). ir/eval/hadamard.h states the formula and the element order.
#include <cmath>
#include <vector>

#include "ir/eval/hadamard.h"
#include "ir/eval/ops/math_util.h"
#include "base/hadamard.h"

namespace squint::ir::eval {

Status CheckHadamardConfig(const std::string& label, int64_t channels, int64_t block,
                           std::span<const int64_t> signs) {
  // The int32 bound keeps HadamardK's argument and the runtime's block field representable.
  if (block < 1 || block > std::numeric_limits<int32_t>::max())
    return InvalidInput("{}: block {} must be in [1, 2^31)", label, block);
  if (hadamard::HadamardK(static_cast<int32_t>(block)) == 0)
    return InvalidInput("{}: block {} is not k·2^m with a Hadamard matrix of size k "
                        "(k in 1, 12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172)",
                        label, block);
  if (channels % block != 0)
    return InvalidInput("{}: block {} does not divide the last dim {}", label, block, channels);
  if (!signs.empty()) {
    if (static_cast<int64_t>(signs.size()) != channels)
      return InvalidInput("{}: signs has {} entries, expected one per channel ({})", label, signs.size(), channels);
    for (size_t i = 0; i < signs.size(); ++i)
      if (signs[i] != 1 && signs[i] != -1)
        return InvalidInput("{}: signs[{}] is {}, expected +1 or -1", label, i, signs[i]);
  }
  return Status::Ok();
}

namespace {

template <typename T>
void HadamardTyped(const T* x, T* y, int64_t rows, int64_t channels, int64_t block,
                   std::span<const int64_t> signs) {
  const int32_t k = hadamard::HadamardK(static_cast<int32_t>(block));
  const std::vector<int8_t> h_k = k > 1 ? hadamard::BuildHadamardMatrix(k) : std::vector<int8_t>{};
  const int64_t seg = block / k;  // 2^m
  const double scale = 1.0 / std::sqrt(static_cast<double>(block));
  std::vector<double> v(static_cast<size_t>(block)), w(static_cast<size_t>(block));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b0 = 0; b0 < channels; b0 += block) {
      const int64_t base = r * channels + b0;
      for (int64_t i = 0; i < block; ++i) {
        const double d = static_cast<double>(x[base + i]);
        v[i] = !signs.empty() && signs[b0 + i] < 0 ? -d : d;
      }
      for (int64_t s0 = 0; s0 < block; s0 += seg)
        for (int64_t h = 1; h < seg; h *= 2)
          for (int64_t i = s0; i < s0 + seg; i += 2 * h)
            for (int64_t j = i; j < i + h; ++j) {
              const double a = v[j], c = v[j + h];
              v[j] = a + c;
              v[j + h] = a - c;
            }
      const std::vector<double>* u = &v;
      if (k > 1) {
        for (int64_t a = 0; a < k; ++a)
          for (int64_t j = 0; j < seg; ++j) {
            double acc = 0;
            for (int64_t c = 0; c < k; ++c) acc += h_k[a * k + c] * v[c * seg + j];
            w[a * seg + j] = acc;
          }
        u = &w;
      }
      for (int64_t i = 0; i < block; ++i) y[base + i] = static_cast<T>((*u)[i] * scale);
    }
  }
}

Result<std::vector<OutputType>> InferHadamard(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kFloatTypes));
  if (!ctx.node.attrs.has("block"))
    return InvalidInput("{}: attribute block is missing (the Hadamard block size)", ctx.node.Label());
  const InputInfo& x = ctx.in(0);
  if (x.shape && x.shape->empty())
    return InvalidInput("{}: X is a scalar, expected at least 1 dim (channels last)", ctx.node.Label());
  const int64_t block = ctx.node.attrs.GetInt("block", 0);
  const std::vector<int64_t> signs = ctx.node.attrs.GetInts("signs");
  if (x.shape && x.shape->back().known()) {
    SQ_RETURN_IF_ERROR(CheckHadamardConfig(ctx.node.Label(), x.shape->back().value, block, signs));
  } else {  // channels unknown: check what does not depend on them
    const int64_t channels = signs.empty() ? block : static_cast<int64_t>(signs.size());
    SQ_RETURN_IF_ERROR(CheckHadamardConfig(ctx.node.Label(), channels, block, signs));
  }
  return std::vector<OutputType>{SameAsInput(ctx, 0)};
}

Status HadamardKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  if (!InTypeSet(x.dtype(), kFloatTypes)) return KernelDTypeError(node, x.dtype());
  // InferHadamard checked rank, block and signs against the concrete shape (op_def.h).
  ApplyHadamard(x, node.attrs.GetInt("block", 0), node.attrs.GetInts("signs"), outputs[0]);
  return Status::Ok();
}

}  // namespace

void ApplyHadamard(const Tensor& x, int64_t block, std::span<const int64_t> signs, Tensor& y) {
  const int64_t channels = x.dim(x.rank() - 1);
  const int64_t rows = channels ? x.size() / channels : 0;
  VisitType<kFloatTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    HadamardTyped<T>(x.data<T>(), y.data<T>(), rows, channels, block, signs);
  });
}

extern const OpDef kDefHadamard{InferHadamard, HadamardKernel};

}  // namespace squint::ir::eval

// Lowering of the linear layers: Conv, ConvTranspose, MatMul/Gemm/Linear (quant/lowerer.h).
#include "quant/lowerer.h"

#include "quant/adaround.h"
#include "quant/gptq.h"

namespace squint::quant::lowering {

Result<Lowerer::WeightTensor> Lowerer::Weights(const std::string& name, const std::vector<float>& w, const ir::Dims& dims,
                                               bool pack_ok, bool group_ok, int bits, const std::vector<float>& min_scale,
                                               const std::vector<std::shared_ptr<const InputHessian>>* hessians) {
  const int64_t units = dims[0];
  const int64_t depth = units ? static_cast<int64_t>(w.size()) / units : 0;
  WeightTensor out;
  if (group_ok && opts_.group_size > 0) {
    if (depth % opts_.group_size == 0 && depth > 0) {
      out.group_size = opts_.group_size;
    } else {
      warnings_.push_back(fmt::format("'{}': depth {} is not a multiple of --group-size {}; this layer keeps "
                                      "per-channel scales",
                                      name, depth, opts_.group_size));
    }
  }
  const int64_t blocks = out.group_size > 0 ? units * (depth / out.group_size) : (opts_.per_channel ? units : 1);
  SQ_ASSIGN_OR_RETURN(QuantizedWeights q, QuantizeWeightBlocks(w, blocks, bits, min_scale));
  WeightCodeCache::Entry* cached = nullptr;
  if (hessians != nullptr && opts_.weight_cache) {
    cached = &opts_.weight_cache->entries[name];
    if (cached->bits == bits && cached->scales == q.scales) {
      q.codes = cached->codes;  // chosen on these scales before
      hessians = nullptr;
    }
  }
  if (hessians != nullptr) {
    GptqOptions go;
    go.damp = opts_.gptq_damp;
    go.act_order = opts_.gptq_act_order;
    const bool ada = opts_.rounding == LowerOptions::Rounding::kAdaRound;
    const RoundFn round = [&](const std::vector<float>& wk, int64_t run, const std::vector<float>& sk,
                              const InputHessian& h) {
      return ada ? AdaRound(name, wk, run, depth, sk, bits, h) : GptqRound(name, wk, run, depth, sk, bits, h, go);
    };
    SQ_ASSIGN_OR_RETURN(q.codes, RoundByGroups(name, w, units, depth, q.scales, *hessians, round));
    if (cached != nullptr) *cached = {q.scales, bits, q.codes};
  }
  out.scales = q.scales;
  fb::QuantizationUnion quant =
      AffineUnion(q.scales, std::vector<int32_t>(q.scales.size(), 0), opts_.per_channel || out.group_size ? 0 : -1);
  quant.AsAffineQuantization()->group_size = out.group_size;
  if (pack_ok && bits == 4 && opts_.pack_int4) {
    const std::vector<uint8_t> packed = quant_math::PackInt4(q.codes);
    out.tensor = AddConstTensor(name, fb::ElementType::INT4, dims, packed.data(), packed.size(), std::move(quant));
  } else {
    out.tensor = AddConstTensor(name, fb::ElementType::INT8, dims, q.codes.data(), q.codes.size(), std::move(quant));
  }
  return out;
}

std::vector<float> Lowerer::ScaleFloor(const std::vector<float>& bias, const AffineParams& pin, int64_t depth) const {
  if (bias.empty()) return {};
  return BiasScaleFloor(bias, pin.scale, depth, pin.zero_point, type_ != fb::ElementType::INT16);
}

int32_t Lowerer::Bias(const std::string& name, const std::vector<float>& b, double s_x, const std::vector<float>& s_w) {
  std::vector<int32_t> q = quant_math::QuantizeBias(b, s_x, s_w);
  return AddConstTensor(name, fb::ElementType::INT32, {static_cast<int64_t>(b.size())}, q.data(), q.size() * 4, {});
}

std::unique_ptr<fb::RequantizationT> Lowerer::BiasAndRequant(const std::string& name, const std::vector<float>& bias,
                                                             double s_x, const WeightTensor& wq, int64_t units,
                                                             const OutGrid& out, std::vector<int32_t>* inputs,
                                                             std::vector<uint16_t>* group_multiplier) {
  if (wq.group_size > 0) {
    quant_math::GroupScaleParams gp = quant_math::BuildGroupScaleParams(s_x, wq.scales, units, out.grid.scale);
    if (!bias.empty()) inputs->push_back(Bias(name, bias, s_x, gp.common_scale));
    *group_multiplier = std::move(gp.group_multiplier);
    return MakeRequantPtr(gp.requant, out.act);
  }
  if (!bias.empty()) inputs->push_back(Bias(name, bias, s_x, wq.scales));
  return MakeRequantPtr(quant_math::BuildChannelRequant(s_x, wq.scales, out.grid.scale), out.act);
}

Status Lowerer::LowerConv(size_t i) {
  const Node& n = g_.nodes[i];
  const ir::Dims in = DimsOf(n.input(0));
  const ir::Dims out_dims = DimsOf(n.outputs[0]);
  const ir::Tensor* w = Const(n.input(1));
  if (!w) return Unsupported("Conv weights must be constant");
  if (in.size() != 4) return Unsupported("Conv over rank {} (2-D convolution on NCHW is supported)", in.size());
  SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(n.input(0)));
  SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
  // Packed int4 and group scales need the W4A8 kernels: int8 activations.
  const bool low_bit_ok = type_ != fb::ElementType::INT16;
  const int bits = WeightBits(n);
  if (!low_bit_ok && (bits == 4 || opts_.group_size > 0))
    warnings_.push_back(fmt::format("'{}': int16 activations (--a16); its weights stay one code per byte with "
                                    "per-channel scales",
                                    n.name));
  const ir::Tensor* b = Const(n.input(2));
  const std::vector<float> bias = b ? b->ToFloatVector() : std::vector<float>{};
  SQ_ASSIGN_OR_RETURN(WeightTensor wq,
                      Weights(n.name + ".weight", w->ToFloatVector(), w->dims(), low_bit_ok, low_bit_ok, bits,
                              ScaleFloor(bias, pin, w->dim(0) ? w->size() / w->dim(0) : 0), HessiansOf(n)));
  SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(n.input(0))));
  std::vector<int32_t> inputs = {x, wq.tensor};
  fb::Conv2DOptionsT o;
  o.requant = BiasAndRequant(n.name + ".bias", bias, pin.scale, wq, w->dim(0), out, &inputs, &o.group_multiplier);
  const std::vector<int64_t> k(w->dims().begin() + 2, w->dims().end());
  const std::vector<int64_t> s = n.attrs.GetInts("strides", {1, 1});
  const std::vector<int64_t> d = n.attrs.GetInts("dilations", {1, 1});
  SQ_ASSIGN_OR_RETURN(o.pads, ExplicitPads(n, in, out_dims, k, s, d));
  o.stride.assign(s.begin(), s.end());
  o.dilation.assign(d.begin(), d.end());
  o.groups = static_cast<int32_t>(n.attrs.GetInt("group", 1));
  AddOp(fb::OpCode::CONV_2D, n, inputs, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
  return Status::Ok();
}

Status Lowerer::LowerConvTranspose(size_t i) {
  const Node& n = g_.nodes[i];
  const ir::Tensor* w = Const(n.input(1));
  if (!w) return Unsupported("ConvTranspose weights must be constant");
  SQ_ASSIGN_OR_RETURN(ConvTransposeLayout l,
                      ConvTransposeForRuntime(n, *w, DimsOf(n.input(0)), DimsOf(n.outputs[0])));
  SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(n.input(0)));
  SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
  const int bits = WeightBits(n);
  if (bits == 4 || opts_.group_size > 0)
    warnings_.push_back(fmt::format("'{}': ConvTranspose weights stay one code per byte with per-channel scales",
                                    n.name));
  const ir::Tensor* b = Const(n.input(2));
  const std::vector<float> bias = b ? b->ToFloatVector() : std::vector<float>{};
  const int64_t depth = l.weight_dims[1] * l.weight_dims[2] * l.weight_dims[3];
  SQ_ASSIGN_OR_RETURN(WeightTensor wq, Weights(n.name + ".weight", l.weight, l.weight_dims, /*pack_ok=*/false,
                                               /*group_ok=*/false, bits, ScaleFloor(bias, pin, depth)));
  SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(n.input(0))));
  std::vector<int32_t> inputs = {x, wq.tensor};
  fb::Conv2DOptionsT o;
  o.requant = BiasAndRequant(n.name + ".bias", bias, pin.scale, wq, l.weight_dims[0], out, &inputs,
                             &o.group_multiplier);
  o.stride = l.stride;
  o.dilation = l.dilation;
  o.pads = l.pads;
  o.groups = l.groups;
  AddOp(fb::OpCode::CONV_TRANSPOSE_2D, n, inputs, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
  return Status::Ok();
}

Status Lowerer::LowerMatMul(size_t i) {
  const Node& n = g_.nodes[i];
  SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
  SQ_ASSIGN_OR_RETURN(AffineParams pa, Grid(n.input(0)));
  SQ_ASSIGN_OR_RETURN(int32_t a, Activation(Resolve(n.input(0))));
  if (n.op == OpType::kMatMul && IsActivation(n.input(1))) {
    SQ_ASSIGN_OR_RETURN(AffineParams pb, Grid(n.input(1)));
    SQ_ASSIGN_OR_RETURN(int32_t b, Activation(Resolve(n.input(1))));
    fb::BatchMatMulOptionsT o;
    o.requant = MakeRequantPtr({quant_math::BuildMulRequant(pa.scale, pb.scale, out.grid.scale)}, out.act);
    AddOp(fb::OpCode::BATCH_MATMUL, n, {a, b}, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
    return Status::Ok();
  }
  const ir::Tensor* wt = Const(n.input(1));
  if (n.op == OpType::kMatMul && wt && wt->rank() > 2) {
    // A stack of matrices [.., K, N] (one per head: per-head gates): BATCH_MATMUL with the
    // constant as operand b on its own per-tensor grid.
    SQ_ASSIGN_OR_RETURN(auto qb, OwnGridConst(g_.value(n.input(1)).name, *wt));
    fb::BatchMatMulOptionsT o;
    o.requant = MakeRequantPtr({quant_math::BuildMulRequant(pa.scale, qb.second.scale, out.grid.scale)}, out.act);
    AddOp(fb::OpCode::BATCH_MATMUL, n, {a, qb.first}, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
    return Status::Ok();
  }
  if (!wt || wt->rank() != 2)
    return Unsupported("the weight must be a constant matrix or a stack of matrices (rank {})", wt ? wt->rank() : 0);
  if (n.op == OpType::kGemm && n.attrs.GetInt("transA", 0) != 0) return Unsupported("Gemm with transA");
  // Weights as [N, K] (grouped: [N, K/G], K below being K/G).
  const bool already_nk = n.op == OpType::kGemm && n.attrs.GetInt("transB", 0) != 0;
  const int64_t groups = n.op == OpType::kLinear ? n.attrs.GetInt("groups", 1) : 1;
  const int64_t rows = wt->dim(0), cols = wt->dim(1);
  const int64_t K = already_nk ? cols : rows, N = already_nk ? rows : cols;
  if (groups < 1 || groups > std::numeric_limits<int32_t>::max() || N % groups != 0)
    return Unsupported("groups = {} for {} output channels (must be >= 1 and divide them)", groups, N);
  const std::vector<float> wf = wt->ToFloatVector();
  std::vector<float> w(wf.size());
  const float alpha = n.op == OpType::kGemm ? n.attrs.GetFloat("alpha", 1.0f) : 1.0f;
  for (int64_t r = 0; r < N; ++r)
    for (int64_t k = 0; k < K; ++k)
      w[static_cast<size_t>(r * K + k)] = alpha * (already_nk ? wf[static_cast<size_t>(r * K + k)]
                                                              : wf[static_cast<size_t>(k * N + r)]);
  // Packed int4 and group scales: FullyConnectedLowBit, int8 or int16 activations; grouped layers
  // take int8 per-channel weights.
  const bool low_bit_ok = groups == 1;
  const int bits = groups == 1 ? WeightBits(n) : 8;
  std::vector<float> bias;
  if (const ir::Tensor* b = Const(n.input(2))) {
    bias = b->ToFloatVector();
    const float beta = n.op == OpType::kGemm ? n.attrs.GetFloat("beta", 1.0f) : 1.0f;
    if (bias.size() == 1) bias.assign(static_cast<size_t>(N), bias[0]);
    if (static_cast<int64_t>(bias.size()) != N) return Unsupported("bias of {} elements for {} outputs", bias.size(), N);
    for (float& v : bias) v *= beta;
  } else if (n.input(2) != kNoValue) {
    return Unsupported("a bias computed at run time");
  }
  if (auto it = opts_.linear_input_offset.find(n.name); it != opts_.linear_input_offset.end()) {
    const std::vector<float>& delta = it->second;  // x + δ: b + W·δ (unit r reads its group's channels)
    if (static_cast<int64_t>(delta.size()) != K * groups)
      return Internal("input offset of {} values for {} input channels", delta.size(), K * groups);
    bias.resize(static_cast<size_t>(N), 0.0f);
    for (int64_t r = 0; r < N; ++r) {
      const float* d = delta.data() + r / (N / groups) * K;
      double sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += double{w[static_cast<size_t>(r * K + k)]} * d[k];
      bias[static_cast<size_t>(r)] += static_cast<float>(sum);
    }
  }
  SQ_ASSIGN_OR_RETURN(WeightTensor wq, Weights(n.name + ".weight", w, {N, K}, low_bit_ok, low_bit_ok, bits,
                                               ScaleFloor(bias, pa, K), groups == 1 ? HessiansOf(n) : nullptr));
  std::vector<int32_t> inputs = {a, wq.tensor};
  fb::FullyConnectedOptionsT o;
  o.groups = static_cast<int32_t>(groups);
  o.requant = BiasAndRequant(n.name + ".bias", bias, pa.scale, wq, N, out, &inputs, &o.group_multiplier);
  AddOp(fb::OpCode::FULLY_CONNECTED, n, inputs, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
  return Status::Ok();
}

}  // namespace squint::quant::lowering

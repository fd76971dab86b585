// Lowering of Softmax, LayerNorm, RMSNorm and Hadamard (quant/lowerer.h).
#include "quant/lowerer.h"

namespace squint::quant::lowering {

Status Lowerer::LowerHadamard(size_t i) {
  const Node& n = g_.nodes[i];
  const ValueId in = n.input(0);
  SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(in));
  SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
  const int64_t block = n.attrs.GetInt("block", 0);
  const int32_t k = quant_math::HadamardK(static_cast<int32_t>(block));
  if (block < 1 || block > (int64_t{1} << 16) || k < 1)
    return Unsupported("Hadamard block {}: the runtime takes k·2^m blocks up to 2^16", block);
  fb::HadamardOptionsT o;
  o.block = static_cast<int32_t>(block);
  o.k = k;
  if (k > 1) {
    const std::vector<int8_t> h = quant_math::BuildHadamardMatrix(k);
    o.h_k.assign(h.begin(), h.end());
  }
  for (int64_t s : n.attrs.GetInts("signs")) o.signs.push_back(static_cast<int8_t>(s));
  o.requant = MakeRequantPtr({rt::HadamardRequant(pin.scale, out.grid.scale, static_cast<int32_t>(block))}, out.act);
  SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(in)));
  AddOp(fb::OpCode::HADAMARD, n, {x}, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
  return Status::Ok();
}

Status Lowerer::LowerSoftmax(size_t i) {
  const Node& n = g_.nodes[i];
  const ir::Dims in = DimsOf(n.input(0));
  int64_t axis = n.attrs.GetInt("axis", -1);
  if (axis < 0) axis += static_cast<int64_t>(in.size());
  if (axis != static_cast<int64_t>(in.size()) - 1)
    return Unsupported("softmax over axis {} of rank {} (the last axis is supported)", axis, in.size());
  fb::SoftmaxOptionsT o;
  ValueId scores = n.input(0);
  int32_t keep_input = -1;  // a keep mask computed at run time (passes/fuse_attention_mask)
  for (size_t k = 1; k < n.inputs.size(); ++k) {
    if (n.input(k) == kNoValue) continue;
    if (const ir::Tensor* m = Const(n.input(k))) {
      if (o.mask >= 0 || softmax_mask_.count(i)) return Unsupported("a softmax with two constant masks");
      const std::vector<int64_t> mv = m->ToInt64Vector();
      std::vector<uint8_t> keep(mv.size());
      for (size_t e = 0; e < keep.size(); ++e) keep[e] = mv[e] != 0;
      o.mask = AddConstTensor(g_.value(n.input(k)).name, fb::ElementType::UINT8, m->dims(), keep.data(), keep.size(),
                              {});
    } else {
      if (keep_input >= 0) return Unsupported("a softmax with two keep masks computed at run time");
      SQ_ASSIGN_OR_RETURN(keep_input, Activation(Resolve(n.input(k))));
      if (model_->tensors[static_cast<size_t>(keep_input)]->type != fb::ElementType::INT32)
        return Unsupported("the softmax keep mask '{}' is not an integer tensor", g_.value(n.input(k)).name);
    }
  }
  if (auto it = softmax_mask_.find(i); it != softmax_mask_.end()) {
    scores = it->second.first;
    const ir::Tensor& m = *Const(it->second.second);
    std::vector<uint8_t> keep(static_cast<size_t>(m.size()));
    for (size_t k = 0; k < keep.size(); ++k) keep[k] = m.data<float>()[k] > kMaskedBelow;
    o.mask = AddConstTensor(g_.value(it->second.second).name, fb::ElementType::UINT8, m.dims(), keep.data(),
                            keep.size(), {});
  }
  SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(scores));
  SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(scores)));
  o.exp_bits = kSoftmaxExpBits;
  o.exp_table = quant_math::BuildSoftmaxExpTable(pin.scale, kSoftmaxExpBits, TypeBits(GridType(pin)));
  o.zeta = n.attrs.GetFloat("zeta", 1.0f);
  o.gamma = n.attrs.GetFloat("gamma", 0.0f);
  if (auto grid = opts_.softmax_grids.find(n.name); grid != opts_.softmax_grids.end())
    return LowerLogGridSoftmax(n, x, keep_input, grid->second, std::move(o));
  // Uniform output grid: probabilities in [0, 1) with step 1/2^b (int8, zero point −128,
  // codes −128 .. −128 + 2^b − 1; the kernel derives b from the scale).
  AffineParams pout;
  pout.scale = std::ldexp(1.0f, -opts_.softmax_bits);
  pout.zero_point = -128;
  pout.qmin = -128;
  pout.qmax = -128 + (1 << opts_.softmax_bits) - 1;
  std::vector<int32_t> ins = {x};
  if (keep_input >= 0) ins.push_back(keep_input);
  AddOp(fb::OpCode::SOFTMAX, n, ins, {NewActivation(n.outputs[0], pout)}, Options(std::move(o)));
  return Status::Ok();
}

Status Lowerer::LowerLogGridSoftmax(const Node& n, int32_t x, int32_t keep_input, const LogGridTables& grid,
                                    fb::SoftmaxOptionsT o) {
  const char* kind = fb::EnumNameSoftmaxGrid(grid.kind);
  if (o.zeta - o.gamma > 2.0f)
    return Unsupported("--softmax-quant {} with a clipped softmax of zeta - gamma = {} (at most 2)", kind,
                       o.zeta - o.gamma);
  const ValueId pv = n.outputs[0];
  int32_t matmul_reads = 0;
  const std::span<const int32_t> readers = index_.Readers(pv);  // ascending; twice for two reads
  for (size_t r = 0; r < readers.size(); ++r) {
    if (r > 0 && readers[r] == readers[r - 1]) continue;
    const auto j = static_cast<size_t>(readers[r]);
    const Node& c = g_.nodes[j];
    for (size_t k = 0; k < c.inputs.size(); ++k) {
      if (c.inputs[k] != pv) continue;
      if (c.op != OpType::kMatMul || k != 0 || !IsActivation(c.input(1)) || c.input(1) == pv)
        return Unsupported("--softmax-quant {}: softmax output '{}' is read by {} '{}' (input {}); only the "
                           "left operand of a MatMul of two activations can read log-grid codes",
                           kind, g_.value(pv).name, ir::OpName(c.op), c.name, k);
      if (NodeType(j) != fb::ElementType::INT8)
        return Unsupported("--softmax-quant {}: MatMul '{}' computes in int16 (--a16); log grids need int8", kind,
                           c.name);
      ++matmul_reads;
    }
  }
  if (matmul_reads != index_.Uses(pv))
    return Unsupported("--softmax-quant {}: softmax output '{}' is a graph output", kind, g_.value(pv).name);
  const int32_t max_shift = *std::max_element(grid.shifts.begin(), grid.shifts.end());
  AffineParams pacc;
  pacc.scale = std::ldexp(grid.delta, -max_shift);
  pacc.zero_point = 0;
  pacc.qmin = -128;  // int8 bytes; the codes themselves are unsigned (up to 254)
  pacc.qmax = 127;
  const int32_t y = NewActivation(pv, pacc);
  fb::LogGridQuantizationT q;
  q.bits = grid.bits;
  q.kind = grid.kind;
  q.delta = grid.delta;
  q.eta = grid.eta;
  q.thresholds = grid.thresholds;
  q.shifts = grid.shifts;
  q.sqrt2 = grid.sqrt2;
  model_->tensors[static_cast<size_t>(y)]->quantization.Set(std::move(q));
  std::vector<int32_t> ins = {x};
  if (keep_input >= 0) ins.push_back(keep_input);
  AddOp(fb::OpCode::SOFTMAX, n, ins, {y}, Options(std::move(o)));
  return Status::Ok();
}

Status Lowerer::LowerLayerNorm(size_t i) {
  const Node& n = g_.nodes[i];
  const ir::Dims in = DimsOf(n.input(0));
  int64_t axis = n.attrs.GetInt("axis", -1);
  if (axis < 0) axis += static_cast<int64_t>(in.size());
  if (axis != static_cast<int64_t>(in.size()) - 1)
    return Unsupported("LayerNormalization over axes from {} of rank {} (the last axis is supported)", axis,
                       in.size());
  const int64_t c = in.back();
  const ir::Tensor* gamma = Const(n.input(1));
  if (!gamma) return Unsupported("scale must be constant");
  std::vector<float> gv = gamma->ToFloatVector(), bv(static_cast<size_t>(c), 0.0f);
  if (n.input(2) != kNoValue) {
    const ir::Tensor* beta = Const(n.input(2));
    if (!beta) return Unsupported("bias must be constant");
    bv = beta->ToFloatVector();
  }
  if (gv.size() == 1) gv.assign(static_cast<size_t>(c), gv[0]);
  if (bv.size() == 1) bv.assign(static_cast<size_t>(c), bv[0]);
  if (static_cast<int64_t>(gv.size()) != c || static_cast<int64_t>(bv.size()) != c)
    return Unsupported("scale/bias not of the normalized size {}", c);
  return EmitLayerNorm(i, gv, bv, /*rms=*/false);
}

Status Lowerer::LowerRMSNorm(size_t i) {
  const size_t c = static_cast<size_t>(DimsOf(g_.nodes[i].input(0)).back());
  const float scale = g_.nodes[i].attrs.GetFloat("scale", 1.0f);
  return EmitLayerNorm(i, std::vector<float>(c, scale), std::vector<float>(c, 0.0f), /*rms=*/true);
}

Status Lowerer::EmitLayerNorm(size_t i, const std::vector<float>& gamma, const std::vector<float>& beta, bool rms) {
  const Node& n = g_.nodes[i];
  SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(n.input(0)));
  SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
  SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(n.input(0))));
  const quant_math::LayerNormParamsQ lp = quant_math::BuildLayerNormParams(
      pin.scale, out.grid.scale, gamma, beta, n.attrs.GetFloat("epsilon", 1e-5f));
  fb::LayerNormOptionsT o;
  o.norm_bits = lp.norm_bits;
  o.epsilon_q = lp.epsilon_q;
  o.gamma_q = lp.gamma_q;
  o.beta_q = lp.beta_q;
  o.requant = MakeRequantPtr({lp.requant}, out.act);
  o.rms = rms;
  AddOp(fb::OpCode::LAYER_NORM, n, {x}, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
  return Status::Ok();
}

}  // namespace squint::quant::lowering

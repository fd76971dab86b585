// Lowering of elementwise ops: lookup tables and Add/Sub/Mul/Div (quant/lowerer.h).
#include "quant/lowerer.h"

namespace squint::quant::lowering {

Status Lowerer::LowerLut(size_t i) {
  const Node& n = g_.nodes[i];
  size_t act_pos = 0;
  for (size_t k = 0; k < n.inputs.size(); ++k)
    if (IsActivation(n.input(k))) act_pos = k;
  const ValueId in = n.input(act_pos);
  SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(in));
  SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
  // Every code of the input type (int8 or int16), dequantized.
  const quant_math::CodeRange in_codes = TypeRange(GridType(pin));
  const int64_t num_codes = int64_t{in_codes.max} - in_codes.min + 1;
  ir::Tensor codes(DType::kFloat32, {num_codes});
  for (int64_t k = 0; k < num_codes; ++k)
    codes.data<float>()[k] = pin.Dequantize(static_cast<int32_t>(in_codes.min + k));
  // The other inputs are single-element constants: viewed as scalars they broadcast over the codes.
  std::vector<ir::Tensor> args(n.inputs.size());
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    if (k == act_pos) args[k] = codes;
    else if (const ir::Tensor* c = Const(n.input(k))) args[k] = c->Reshaped({});
  }
  std::vector<const ir::Tensor*> ins(n.inputs.size(), nullptr);
  std::vector<ir::Shape> shapes(n.inputs.size());
  std::vector<ir::eval::InputInfo> infos(n.inputs.size());
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    if (args[k].empty_type()) continue;
    ins[k] = &args[k];
    shapes[k] = ir::ShapeFromDims(args[k].dims());
    infos[k] = {true, args[k].dtype(), &shapes[k], &args[k]};
  }
  const ir::eval::OpDef& def = ir::eval::GetOpDef(n.op);
  ir::eval::InferContext ctx{n, infos, g_.opset};
  SQ_RETURN_IF_ERROR(def.infer(ctx).status());  // validates attributes before the kernel runs
  std::vector<ir::Tensor> outs;
  outs.emplace_back(DType::kFloat32, ir::Dims{num_codes});
  SQ_RETURN_IF_ERROR(def.kernel(n, ins, outs));
  fb::LutOptionsT lut;
  lut.min_code = in_codes.min;
  for (int64_t k = 0; k < num_codes; ++k) {
    const float y = outs[0].data<float>()[k];
    int32_t q = std::isfinite(y) ? out.grid.Quantize(y) : (y > 0 ? out.act.max : out.act.min);
    lut.table.push_back(static_cast<int16_t>(std::clamp(q, out.act.min, out.act.max)));
  }
  SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(in)));
  AddOp(fb::OpCode::LUT, n, {x}, {NewActivation(out.value, out.grid)}, Options(std::move(lut)));
  return Status::Ok();
}

Status Lowerer::LowerBinary(size_t i) {
  const Node& n = g_.nodes[i];
  SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
  int32_t t[2];
  AffineParams p[2];
  for (int k = 0; k < 2; ++k) {
    const ValueId v = n.input(static_cast<size_t>(k));
    if (IsActivation(v)) {
      SQ_ASSIGN_OR_RETURN(t[k], Activation(Resolve(v)));
      SQ_ASSIGN_OR_RETURN(p[k], Grid(v));
    } else {
      ir::Tensor c = Const(v)->Clone();
      if (c.dtype() != DType::kFloat32) return Unsupported("a non-float constant operand");
      if (n.op == OpType::kDiv)
        for (float& f : c.span<float>()) f = 1.0f / f;
      SQ_ASSIGN_OR_RETURN(auto qc, OwnGridConst(g_.value(v).name, c));
      t[k] = qc.first;
      p[k] = qc.second;
    }
  }
  fb::ElementwiseOptionsT o;
  fb::OpCode code = fb::OpCode::MUL;
  if (n.op == OpType::kAdd || n.op == OpType::kSub) {
    code = n.op == OpType::kAdd ? fb::OpCode::ADD : fb::OpCode::SUB;
    const quant_math::AddParams ap =
        quant_math::BuildAddParams(p[0].scale, p[1].scale, out.grid.scale, TypeBits(GridType(out.grid)));
    o.left_shift = ap.left_shift;
    o.input1 = MakeRequantPtr({ap.a}, TypeRange(GridType(out.grid)));
    o.input2 = MakeRequantPtr({ap.b}, TypeRange(GridType(out.grid)));
    o.output = MakeRequantPtr({ap.out}, out.act);
  } else {
    o.input1 = MakeRequantPtr({}, TypeRange(GridType(out.grid)));
    o.input2 = MakeRequantPtr({}, TypeRange(GridType(out.grid)));
    o.output = MakeRequantPtr({quant_math::BuildMulRequant(p[0].scale, p[1].scale, out.grid.scale)}, out.act);
  }
  AddOp(code, n, {t[0], t[1]}, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
  return Status::Ok();
}

}  // namespace squint::quant::lowering

// Lowering of data movement, pooling, Mean, Concat, Gather and Resize (quant/lowerer.h).
#include "quant/lowerer.h"

namespace squint::quant::lowering {

Status Lowerer::LowerScalePreserving(const Node& n) {
  const ValueId in = n.input(0);
  SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(in)));
  SQ_ASSIGN_OR_RETURN(AffineParams p, Grid(in));
  const ir::Dims in_dims = DimsOf(in);
  if (!grid_[static_cast<size_t>(Resolve(in))]) {  // an integer tensor (mask, indices): new shape only
    if (ir::ElementCount(in_dims) != ir::ElementCount(DimsOf(n.outputs[0])))
      return Unsupported("{} of an integer tensor that is not a reshape ({} to {} elements)", ir::OpName(n.op),
                         ir::ElementCount(in_dims), ir::ElementCount(DimsOf(n.outputs[0])));
    AddOp(fb::OpCode::RESHAPE, n, {x}, {NewIndexTensor(n.outputs[0])});
    return Status::Ok();
  }
  switch (n.op) {
    case OpType::kReshape:
    case OpType::kFlatten:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
    case OpType::kIdentity:
    case OpType::kDropout:
      AddOp(fb::OpCode::RESHAPE, n, {x}, {NewActivation(n.outputs[0], p)});
      return Status::Ok();
    case OpType::kTranspose: {
      fb::TransposeOptionsT o;
      std::vector<int64_t> perm = n.attrs.GetInts("perm");
      if (perm.empty())
        for (int64_t k = static_cast<int64_t>(in_dims.size()) - 1; k >= 0; --k) perm.push_back(k);
      o.perm.assign(perm.begin(), perm.end());
      AddOp(fb::OpCode::TRANSPOSE, n, {x}, {NewActivation(n.outputs[0], p)}, Options(std::move(o)));
      return Status::Ok();
    }
    case OpType::kSlice: return LowerSlice(n, x, p);
    case OpType::kSplit: {
      fb::SplitOptionsT o;
      const int64_t rank = static_cast<int64_t>(in_dims.size());
      int64_t axis = n.attrs.GetInt("axis", 0);
      if (axis < 0) axis += rank;
      o.axis = static_cast<int32_t>(axis);
      std::vector<int32_t> outs;
      for (ValueId v : n.outputs) {
        if (v == kNoValue) return Unsupported("Split with an unused output");
        o.sizes.push_back(static_cast<int32_t>(DimsOf(v)[static_cast<size_t>(axis)]));
        outs.push_back(NewActivation(v, p));
      }
      AddOp(fb::OpCode::SPLIT, n, {x}, outs, Options(std::move(o)));
      return Status::Ok();
    }
    case OpType::kMaxPool: return LowerPool(n, x, p, p, /*max=*/true, {p.qmin, p.qmax});
    case OpType::kPad: {
      const std::string mode = n.attrs.GetString("mode", "constant");
      fb::PadOptionsT o;
      o.mode = mode == "reflect" ? 1 : mode == "edge" ? 2 : 0;
      if (mode != "constant" && mode != "reflect" && mode != "edge")
        return Unsupported("pad mode '{}' (constant, reflect and edge are supported)", mode);
      if (const ir::Tensor* v = Const(n.input(2)); v && v->size() == 1 && v->ToFloatVector()[0] != 0.0f)
        return Unsupported("constant pad value {} (only 0 is supported)", v->ToFloatVector()[0]);
      const ir::Tensor* pads = Const(n.input(1));
      if (!pads) return Unsupported("pads must be constant");
      const std::vector<int64_t> pv = pads->ToInt64Vector();
      const size_t rank = in_dims.size();
      std::vector<int64_t> axes;
      if (const ir::Tensor* a = Const(n.input(3))) axes = a->ToInt64Vector();
      else for (size_t k = 0; k < rank; ++k) axes.push_back(static_cast<int64_t>(k));
      o.pads.assign(2 * rank, 0);
      for (size_t k = 0; k < axes.size(); ++k) {
        int64_t ax = axes[k] < 0 ? axes[k] + static_cast<int64_t>(rank) : axes[k];
        if (pv[k] < 0 || pv[k + axes.size()] < 0) return Unsupported("negative pads (cropping)");
        o.pads[static_cast<size_t>(ax)] = static_cast<int32_t>(pv[k]);
        o.pads[rank + static_cast<size_t>(ax)] = static_cast<int32_t>(pv[k + axes.size()]);
      }
      AddOp(fb::OpCode::PAD, n, {x}, {NewActivation(n.outputs[0], p)}, Options(std::move(o)));
      return Status::Ok();
    }
    case OpType::kExpand:
    case OpType::kTile:
      if (ir::ElementCount(in_dims) == ir::ElementCount(DimsOf(n.outputs[0]))) {
        AddOp(fb::OpCode::RESHAPE, n, {x}, {NewActivation(n.outputs[0], p)});
        return Status::Ok();
      }
      return Unsupported("{} that replicates data", ir::OpName(n.op));
    default: return Internal("not scale-preserving");
  }
}

Status Lowerer::LowerSlice(const Node& n, int32_t x, const AffineParams& p) {
  const ir::Dims in_dims = DimsOf(n.input(0));
  const ir::Dims out_dims = DimsOf(n.outputs[0]);
  const size_t rank = in_dims.size();
  const ir::Tensor* st = Const(n.input(1));
  const ir::Tensor* en = Const(n.input(2));
  if (!st || !en) return Unsupported("Slice bounds must be constant");
  const std::vector<int64_t> starts = st->ToInt64Vector(), ends = en->ToInt64Vector();
  std::vector<int64_t> axes, steps(starts.size(), 1);
  if (const ir::Tensor* a = Const(n.input(3))) axes = a->ToInt64Vector();
  else for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
  if (const ir::Tensor* s = Const(n.input(4))) steps = s->ToInt64Vector();
  fb::SliceOptionsT o;
  o.starts.assign(rank, 0);
  o.steps.assign(rank, 1);
  o.ends.assign(in_dims.begin(), in_dims.end());
  for (size_t k = 0; k < axes.size(); ++k) {
    const int64_t ax = axes[k] < 0 ? axes[k] + static_cast<int64_t>(rank) : axes[k];
    const int64_t dim = in_dims[static_cast<size_t>(ax)];
    const int64_t step = steps[k];
    int64_t s = starts[k] < 0 ? starts[k] + dim : starts[k];
    s = step > 0 ? std::clamp<int64_t>(s, 0, dim) : std::clamp<int64_t>(s, 0, dim - 1);
    o.starts[static_cast<size_t>(ax)] = static_cast<int32_t>(s);
    o.steps[static_cast<size_t>(ax)] = static_cast<int32_t>(step);
    o.ends[static_cast<size_t>(ax)] =
        static_cast<int32_t>(s + step * out_dims[static_cast<size_t>(ax)]);  // exclusive, consistent with out dims
  }
  AddOp(fb::OpCode::SLICE, n, {x}, {NewActivation(n.outputs[0], p)}, Options(std::move(o)));
  return Status::Ok();
}

Status Lowerer::LowerPool(const Node& n, int32_t x, const AffineParams& pin, const AffineParams& pout, bool max,
                          quant_math::CodeRange act) {
  const ir::Dims in = DimsOf(n.input(0));
  const ir::Dims out = DimsOf(n.outputs[0]);
  if (in.size() != 4) return Unsupported("pooling over rank {} (2-D pooling on NCHW is supported)", in.size());
  fb::Pool2DOptionsT o;
  if (n.op == OpType::kGlobalAveragePool) {
    o.kernel = {static_cast<int32_t>(in[2]), static_cast<int32_t>(in[3])};
    o.stride = {1, 1};
    o.dilation = {1, 1};
    o.pads = {0, 0, 0, 0};
  } else {
    const std::vector<int64_t> k = n.attrs.GetInts("kernel_shape");
    const std::vector<int64_t> s = n.attrs.GetInts("strides", {1, 1});
    const std::vector<int64_t> d = n.attrs.GetInts("dilations", {1, 1});
    SQ_ASSIGN_OR_RETURN(std::vector<int32_t> pads, ExplicitPads(n, in, out, k, s, d));
    o.kernel.assign(k.begin(), k.end());
    o.stride.assign(s.begin(), s.end());
    o.dilation.assign(d.begin(), d.end());
    o.pads = pads;
    o.count_include_pad = n.attrs.GetInt("count_include_pad", 0) != 0;
  }
  o.requant = MakeRequantPtr({max ? quant_math::RequantFromReal(1.0) : quant_math::BuildAvgPoolRequant(pin.scale, pout.scale)},
                             act);
  AddOp(max ? fb::OpCode::MAX_POOL_2D : fb::OpCode::AVERAGE_POOL_2D, n, {x},
        {NewActivation(n.outputs[0], pout)}, Options(std::move(o)));
  return Status::Ok();
}

Status Lowerer::LowerMean(size_t i) {
  const Node& n = g_.nodes[i];
  const int64_t rank = static_cast<int64_t>(DimsOf(n.input(0)).size());
  std::vector<int64_t> axes = Const(n.input(1))->ToInt64Vector();
  for (int64_t& a : axes) a = a < 0 ? a + rank : a;
  std::sort(axes.begin(), axes.end());
  if (axes.empty()) return Unsupported("ReduceMean without axes");
  for (size_t k = 0; k < axes.size(); ++k)
    if (axes[k] < 0 || axes[k] >= rank || (k > 0 && axes[k] != axes[k - 1] + 1))
      return Unsupported("ReduceMean over axes that are not consecutive dims of the input");
  SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(n.input(0)));
  SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
  SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(n.input(0))));
  std::vector<int32_t> ins = {x};
  if (n.inputs.size() > 2 && n.input(2) != kNoValue) {
    if (!IsActivation(n.input(2))) return Unsupported("ReduceMean with a constant keep mask");
    SQ_ASSIGN_OR_RETURN(int32_t keep, Activation(Resolve(n.input(2))));
    if (model_->tensors[static_cast<size_t>(keep)]->type != fb::ElementType::INT32)
      return Unsupported("the ReduceMean keep mask '{}' is not an integer tensor", g_.value(n.input(2)).name);
    ins.push_back(keep);
  }
  fb::MeanOptionsT o;
  o.axis = static_cast<int32_t>(axes.front());
  o.count = static_cast<int32_t>(axes.size());
  o.requant = MakeRequantPtr({quant_math::BuildAvgPoolRequant(pin.scale, out.grid.scale)}, out.act);
  AddOp(fb::OpCode::MEAN, n, ins, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
  return Status::Ok();
}

Status Lowerer::LowerAveragePool(size_t i) {
  const Node& n = g_.nodes[i];
  SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(n.input(0)));
  SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
  SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(n.input(0))));
  return LowerPool(n, x, pin, out.grid, /*max=*/false, out.act);
}

Status Lowerer::LowerConcat(size_t i) {
  const Node& n = g_.nodes[i];
  SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
  const int64_t rank = static_cast<int64_t>(DimsOf(n.outputs[0]).size());
  int64_t axis = n.attrs.GetInt("axis", 0);
  if (axis < 0) axis += rank;
  fb::ConcatOptionsT o;
  o.axis = static_cast<int32_t>(axis);
  std::vector<int32_t> inputs;
  for (ValueId v : n.inputs) {
    if (IsActivation(v)) {
      SQ_ASSIGN_OR_RETURN(int32_t t, Activation(Resolve(v)));
      SQ_ASSIGN_OR_RETURN(AffineParams p, Grid(v));
      inputs.push_back(t);
      const rt::ref::RescaleParams r = quant_math::BuildRescale(p.scale, p.zero_point, out.grid.scale,
                                                                out.grid.zero_point, out.act);
      o.requant.push_back(MakeRequantPtr({{r.multiplier, r.shift}}, {r.act_min, r.act_max}));
    } else {
      inputs.push_back(QuantizedConst(g_.value(v).name, *Const(v), out.grid));
      o.requant.push_back(MakeRequantPtr({quant_math::RequantFromReal(1.0)}, out.act));
    }
  }
  AddOp(fb::OpCode::CONCAT, n, inputs, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
  return Status::Ok();
}

Status Lowerer::LowerGather(size_t i) {
  const Node& n = g_.nodes[i];
  const int64_t rank = static_cast<int64_t>(DimsOf(n.input(0)).size());
  int64_t axis = n.attrs.GetInt("axis", 0);
  if (axis < 0) axis += rank;
  fb::GatherOptionsT o;
  o.axis = static_cast<int32_t>(axis);
  int32_t data = -1;
  AffineParams p;
  if (IsActivation(n.input(0))) {
    SQ_ASSIGN_OR_RETURN(data, Activation(Resolve(n.input(0))));
    SQ_ASSIGN_OR_RETURN(p, Grid(n.input(0)));
  } else {  // an embedding table
    SQ_ASSIGN_OR_RETURN(auto qc, OwnGridConst(g_.value(n.input(0)).name, *Const(n.input(0))));
    data = qc.first;
    p = qc.second;
  }
  int32_t indices = -1;
  if (const ir::Tensor* idx = Const(n.input(1))) {
    const std::vector<int64_t> iv = idx->ToInt64Vector();
    std::vector<int32_t> i32(iv.begin(), iv.end());
    indices = AddConstTensor(g_.value(n.input(1)).name, fb::ElementType::INT32, idx->dims(), i32.data(),
                             i32.size() * 4, {});
  } else {
    SQ_ASSIGN_OR_RETURN(indices, Activation(n.input(1)));
  }
  AddOp(fb::OpCode::GATHER, n, {data, indices}, {NewActivation(n.outputs[0], p)}, Options(std::move(o)));
  return Status::Ok();
}

Status Lowerer::LowerResize(size_t i) {
  const Node& n = g_.nodes[i];
  const std::string mode = n.attrs.GetString("mode", "nearest");
  const std::string coord = n.attrs.GetString("coordinate_transformation_mode", "half_pixel");
  const std::string nearest = n.attrs.GetString("nearest_mode", "round_prefer_floor");
  fb::ResizeOptionsT o;
  if (mode != "nearest" && mode != "linear") return Unsupported("resize mode '{}'", mode);
  o.mode = mode == "linear" ? 1 : 0;
  static const char* kCoord[] = {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"};
  static const char* kNearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  o.coordinate_mode = -1;
  for (int k = 0; k < 4; ++k) {
    if (coord == kCoord[k]) o.coordinate_mode = static_cast<int8_t>(k);
    if (nearest == kNearest[k]) o.nearest_mode = static_cast<int8_t>(k);
  }
  if (o.coordinate_mode < 0) return Unsupported("coordinate_transformation_mode '{}'", coord);
  const ir::Dims in = DimsOf(n.input(0)), out_dims = DimsOf(n.outputs[0]);
  if (in.size() != 4 || in[0] != out_dims[0] || in[1] != out_dims[1])
    return Unsupported("resize other than over H and W of NCHW");
  SQ_ASSIGN_OR_RETURN(AffineParams pin, Grid(n.input(0)));
  SQ_ASSIGN_OR_RETURN(OutGrid out, Output(i));
  SQ_ASSIGN_OR_RETURN(int32_t x, Activation(Resolve(n.input(0))));
  o.requant = MakeRequantPtr({quant_math::BuildResizeRequant(pin.scale, out.grid.scale, o.mode == 1)}, out.act);
  AddOp(fb::OpCode::RESIZE, n, {x}, {NewActivation(out.value, out.grid)}, Options(std::move(o)));
  return Status::Ok();
}

}  // namespace squint::quant::lowering

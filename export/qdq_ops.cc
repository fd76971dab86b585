// Each runtime op as float ONNX ops between the QDQ pairs of its tensors (qdq_builder.h).
// What each integer op becomes, where the float op only approximates the integer kernel
// (runtime/kernels/reference/kernels.h), is stated at its function; docs/export.md repeats it
// for users.
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "export/qdq_builder.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::exporter::qdq {
namespace {

// A stored requantization multiplier as a real number: multiplier·2^(shift − 31).
double RealMultiplier(const fb::RequantizationT& r, size_t c) {
  const size_t i = r.multiplier.size() == 1 ? 0 : c;
  return std::ldexp(static_cast<double>(r.multiplier[i]), r.shift[i] - 31);
}

std::vector<int64_t> I64(const std::vector<int32_t>& v) { return {v.begin(), v.end()}; }

int32_t In(const fb::OperatorT& op, size_t k) { return k < op.inputs.size() ? op.inputs[k] : -1; }

}  // namespace

Result<Builder::Names> Builder::ConvInputs(int32_t x, const std::string& wv, int32_t w, int32_t b) {
  SQ_ASSIGN_OR_RETURN(std::string xv, Value(x));
  Names ins = {xv, wv};
  if (b >= 0) {
    SQ_ASSIGN_OR_RETURN(std::string bv, Bias(x, w, b));
    ins.push_back(bv);
  }
  return ins;
}

Status Builder::SettleRequant(int32_t t, const std::string& f, const fb::RequantizationT* r) {
  const auto [lo, hi] = CodeRange(r, TypeMin(t), TypeMax(t));
  return Settle(t, f, lo, hi);
}

Status Builder::EmitOp(const fb::OperatorT& op) {
  if (op.outputs.empty()) return CannotExpress(op, "no output");
  switch (op.opcode) {
    case fb::OpCode::CONV_2D: return EmitConv(op);
    case fb::OpCode::CONV_TRANSPOSE_2D: return EmitConvTranspose(op);
    case fb::OpCode::FULLY_CONNECTED: return EmitFullyConnected(op);
    case fb::OpCode::BATCH_MATMUL: return EmitBatchMatMul(op);
    case fb::OpCode::ADD:
    case fb::OpCode::SUB:
    case fb::OpCode::MUL: return EmitElementwise(op);
    case fb::OpCode::SOFTMAX: return EmitSoftmax(op);
    case fb::OpCode::LAYER_NORM: return EmitLayerNorm(op);
    case fb::OpCode::LUT: return EmitLut(op);
    case fb::OpCode::MAX_POOL_2D:
    case fb::OpCode::AVERAGE_POOL_2D: return EmitPool(op);
    case fb::OpCode::MEAN: return EmitMean(op);
    case fb::OpCode::HADAMARD: return EmitHadamard(op);
    case fb::OpCode::RESIZE: return EmitResize(op);
    case fb::OpCode::RESHAPE:
    case fb::OpCode::TRANSPOSE:
    case fb::OpCode::CONCAT:
    case fb::OpCode::SLICE:
    case fb::OpCode::GATHER:
    case fb::OpCode::SPLIT:
    case fb::OpCode::PAD:
    case fb::OpCode::REQUANTIZE: return EmitDataMovement(op);
  }
  return CannotExpress(op, "unknown op code");
}

// CONV_2D: Conv on the dequantized input and weight (int8 or unpacked int4 codes, per-channel
// DequantizeLinear on axis 0; group scales: one row per group, then reshaped), the int32 bias
// dequantized with scale s_x·s_w[c]; the fused activation's clamp as Relu/Clip before the output
// QuantizeLinear.
Status Builder::EmitConv(const fb::OperatorT& op) {
  const fb::Conv2DOptionsT* o = op.options.AsConv2DOptions();
  const int32_t x = In(op, 0), w = In(op, 1), b = In(op, 2), y = op.outputs[0];
  SQ_ASSIGN_OR_RETURN(std::string wv, Value(w));
  SQ_ASSIGN_OR_RETURN(Names ins, ConvInputs(x, wv, w, b));
  const std::vector<int32_t>& ws = T(w).shape;
  const std::string f =
      Op("Conv", ins, base_[y] + "/conv",
         {AttrInts("kernel_shape", {ws[2], ws[3]}), AttrInts("strides", I64(o->stride)),
          AttrInts("dilations", I64(o->dilation)), AttrInts("pads", I64(o->pads)), AttrInt("group", o->groups)});
  return SettleRequant(y, f, o->requant.get());
}

// CONV_TRANSPOSE_2D: ConvTranspose with the weight back in ONNX's [C_in, C_out/groups, kH, kW]
// order (per-channel scales then on axis 1, so per-channel weights need groups = 1); negative
// end pads (output_padding, output_shape) become output_padding.
Status Builder::EmitConvTranspose(const fb::OperatorT& op) {
  const fb::Conv2DOptionsT* o = op.options.AsConv2DOptions();
  const int32_t x = In(op, 0), w = In(op, 1), b = In(op, 2), y = op.outputs[0];
  const fb::AffineQuantizationT* qw = Affine(w);
  if (T(w).type != fb::ElementType::INT8 || qw == nullptr || qw->group_size > 0)
    return CannotExpress(op, "the weight is not int8 with per-channel or per-tensor scales");
  if (o == nullptr || o->pads.size() != 4 || o->stride.size() != 2 || o->dilation.size() != 2 ||
      T(w).shape.size() != 4 || o->groups < 1 || T(w).shape[0] % o->groups != 0)
    return CannotExpress(op, "its options or weight shape are not a 2-D ConvTranspose's (4 pads, 2 strides, 2 "
                             "dilations, a [C_out, C_in/groups, kH, kW] weight with C_out a multiple of groups)");
  if (qw->scale.size() > 1 && o->groups != 1)
    return CannotExpress(op, "per-channel weight scales of a grouped ConvTranspose (ONNX's axis 1 holds C_out/groups)");
  const std::vector<int32_t>& ws = T(w).shape;  // [C_out, C_in/g, kH, kW]
  const int64_t g = o->groups, cout = ws[0], cin_g = ws[1], kk = int64_t{ws[2]} * ws[3];
  const int64_t cout_g = cout / g;
  const std::vector<int8_t> codes = WeightCodes(w);
  std::vector<int8_t> onnx_codes(codes.size());
  for (int64_t gi = 0; gi < g; ++gi)
    for (int64_t oc = 0; oc < cout_g; ++oc)
      for (int64_t ic = 0; ic < cin_g; ++ic)
        for (int64_t k = 0; k < kk; ++k)
          onnx_codes[static_cast<size_t>(((gi * cin_g + ic) * cout_g + oc) * kk + k)] =
              codes[static_cast<size_t>(((gi * cout_g + oc) * cin_g + ic) * kk + k)];
  const std::string wc = Init(base_[w] + "/codes", onnx::TensorProto::INT8, {g * cin_g, cout_g, ws[2], ws[3]},
                              onnx_codes.data(), onnx_codes.size());
  const Names params = ConstParams(w);
  const std::string wv = Op("DequantizeLinear", {wc, params[0], params[1]}, base_[w] + "/onnx",
                            qw->scale.size() > 1 ? Attrs{AttrInt("axis", 1)} : Attrs{});
  SQ_ASSIGN_OR_RETURN(Names ins, ConvInputs(x, wv, w, b));
  const std::vector<int32_t>& p = o->pads;  // [top, left, bottom, right]
  const std::vector<int64_t> pads = {p[0], p[1], std::max(p[2], 0), std::max(p[3], 0)};
  const std::vector<int64_t> out_pad = {std::max(-p[2], 0), std::max(-p[3], 0)};
  const std::string f = Op("ConvTranspose", ins, base_[y] + "/convt",
                           {AttrInts("kernel_shape", {ws[2], ws[3]}), AttrInts("strides", I64(o->stride)),
                            AttrInts("dilations", I64(o->dilation)), AttrInts("pads", pads),
                            AttrInts("output_padding", out_pad), AttrInt("group", g)});
  return SettleRequant(y, f, o->requant.get());
}

// FULLY_CONNECTED: MatMul by the transposed weight, stored as int8 codes [K, N] with per-channel
// scales on axis 1 (grouped layers: block-diagonal, zeros outside each group's block; group
// scales: dequantized [N, K], then Transpose), then Add of the dequantized int32 bias.
Status Builder::EmitFullyConnected(const fb::OperatorT& op) {
  const fb::FullyConnectedOptionsT* o = op.options.AsFullyConnectedOptions();
  const int32_t x = In(op, 0), w = In(op, 1), b = In(op, 2), y = op.outputs[0];
  const fb::AffineQuantizationT* qw = Affine(w);
  if (qw == nullptr) return CannotExpress(op, "the weight has no affine quantization");
  SQ_ASSIGN_OR_RETURN(std::string xv, Value(x));
  std::string wt;
  if (qw->group_size > 0) {
    SQ_ASSIGN_OR_RETURN(std::string wv, Value(w));
    wt = Op("Transpose", {wv}, base_[w] + "/t", {AttrInts("perm", {1, 0})});
  } else {
    const int64_t n = T(w).shape[0], d = T(w).shape[1], g = o->groups, k = d * g;
    const std::vector<int8_t> codes = WeightCodes(w);
    std::vector<int8_t> t(static_cast<size_t>(k * n), 0);
    for (int64_t u = 0; u < n; ++u) {
      const int64_t gi = u / (n / g);
      for (int64_t j = 0; j < d; ++j) t[static_cast<size_t>((gi * d + j) * n + u)] = codes[static_cast<size_t>(u * d + j)];
    }
    const std::string wc = Init(base_[w] + "/codes_t", onnx::TensorProto::INT8, {k, n}, t.data(), t.size());
    const Names params = ConstParams(w);
    wt = Op("DequantizeLinear", {wc, params[0], params[1]}, base_[w] + "/t",
            qw->scale.size() > 1 ? Attrs{AttrInt("axis", 1)} : Attrs{});
  }
  std::string f = Op("MatMul", {xv, wt}, base_[y] + "/matmul");
  if (b >= 0) {
    SQ_ASSIGN_OR_RETURN(std::string bv, Bias(x, w, b));
    f = Op("Add", {f, bv}, base_[y] + "/bias");
  }
  return SettleRequant(y, f, o->requant.get());
}

// BATCH_MATMUL: MatMul of the two dequantized activations (a log-grid left operand is already the
// float value of its codes, EmitSoftmax).
Status Builder::EmitBatchMatMul(const fb::OperatorT& op) {
  const fb::BatchMatMulOptionsT* o = op.options.AsBatchMatMulOptions();
  const int32_t y = op.outputs[0];
  SQ_ASSIGN_OR_RETURN(std::string a, Value(In(op, 0)));
  SQ_ASSIGN_OR_RETURN(std::string b, Value(In(op, 1)));
  const std::string f = Op("MatMul", {a, b}, base_[y] + "/matmul");
  return SettleRequant(y, f, o ? o->requant.get() : nullptr);
}

// ADD, SUB, MUL: the float op (NumPy broadcasting, as the kernels) on the dequantized inputs.
Status Builder::EmitElementwise(const fb::OperatorT& op) {
  const fb::ElementwiseOptionsT* o = op.options.AsElementwiseOptions();
  const int32_t y = op.outputs[0];
  SQ_ASSIGN_OR_RETURN(std::string a, Value(In(op, 0)));
  SQ_ASSIGN_OR_RETURN(std::string b, Value(In(op, 1)));
  const char* name = op.opcode == fb::OpCode::ADD ? "Add" : op.opcode == fb::OpCode::SUB ? "Sub" : "Mul";
  const std::string f = Op(name, {a, b}, base_[y] + "/" + name);
  return SettleRequant(y, f, o ? o->output.get() : nullptr);
}

// SOFTMAX: float Softmax over the last axis of the dequantized scores (the kernel's exp table is
// exp(−s_in·d)); masks (a constant mask, a keep mask input) through Where: masked scores become
// the lowest float before the Softmax and their probabilities exactly 0 after it, as the kernel's
// (a row with nothing kept: all 0). Clipped softmax: clip((ζ − γ)·p + γ, 0, 1). Then the output
// grid: uniform (1/2^b, codes up to 2^b − 1 above the zero point) by QuantizeLinear; a log grid
// by EmitLogGridCodes.
Status Builder::EmitSoftmax(const fb::OperatorT& op) {
  const fb::SoftmaxOptionsT* o = op.options.AsSoftmaxOptions();
  if (o == nullptr) return CannotExpress(op, "no SoftmaxOptions");
  const int32_t y = op.outputs[0];
  SQ_ASSIGN_OR_RETURN(std::string x, Value(In(op, 0)));
  std::string keep;  // bool, broadcast to x
  if (o->mask >= 0) {
    SQ_ASSIGN_OR_RETURN(std::string m, Value(o->mask));
    keep = Op("Cast", {m}, base_[y] + "/mask", {AttrInt("to", onnx::TensorProto::BOOL)});
  }
  if (In(op, 1) >= 0) {
    SQ_ASSIGN_OR_RETURN(std::string m, Value(In(op, 1)));
    const std::string k = Op("Cast", {m}, base_[y] + "/keep", {AttrInt("to", onnx::TensorProto::BOOL)});
    keep = keep.empty() ? k : Op("And", {keep, k}, base_[y] + "/keep_both");
  }
  if (!keep.empty())
    x = Op("Where", {keep, x, FloatScalar(base_[y] + "/lowest", std::numeric_limits<float>::lowest())},
           base_[y] + "/masked");
  std::string p = Op("Softmax", {x}, base_[y] + "/softmax", {AttrInt("axis", -1)});
  if (o->zeta != 1.0f || o->gamma != 0.0f) {
    p = Op("Mul", {p, FloatScalar(base_[y] + "/zeta_minus_gamma", o->zeta - o->gamma)}, base_[y] + "/stretch");
    p = Op("Add", {p, FloatScalar(base_[y] + "/gamma", o->gamma)}, base_[y] + "/shift");
    p = Op("Clip", {p, FloatScalar(base_[y] + "/zero", 0.0f), FloatScalar(base_[y] + "/one", 1.0f)},
           base_[y] + "/clip01");
  }
  if (!keep.empty()) p = Op("Where", {keep, p, FloatScalar(base_[y] + "/zero", 0.0f)}, base_[y] + "/kept");
  if (T(y).quantization.type == fb::Quantization::LogGridQuantization) {
    SQ_RETURN_IF_ERROR(EmitLogGridCodes(op, p));
    if (!keep.empty())  // masked positions hold the zero code even where the grid would not round p = 0 to it
      value_[y] = Op("Where", {keep, value_[y], FloatScalar(base_[y] + "/zero", 0.0f)}, base_[y] + "/kept_codes");
    return Status::Ok();
  }
  const fb::AffineQuantizationT* q = Affine(y);
  if (q == nullptr || q->scale.size() != 1) return CannotExpress(op, "the output has no per-tensor grid");
  const int32_t z = q->zero_point.empty() ? 0 : q->zero_point[0];
  const int32_t steps = static_cast<int32_t>(std::lround(1.0 / static_cast<double>(q->scale[0])));
  return Settle(y, p, z, std::min(TypeMax(y), z + steps - 1));
}

// A log-grid softmax output (schema LogGridQuantization): the code of p is the number of
// thresholds above ⌊p·2^30⌉ (compared in float: Less against thresholds/2^30, Cast, ReduceSum),
// and the tensor's float value that code's grid value, by Gather from the n values plus 0 for
// the zero code. No QuantizeLinear: ONNX has no log grid; the graph computes the codes exactly
// as the kernel's comparisons up to float rounding of p near a threshold.
Status Builder::EmitLogGridCodes(const fb::OperatorT& op, const std::string& p) {
  const int32_t y = op.outputs[0];
  const fb::LogGridQuantizationT* g = T(y).quantization.AsLogGridQuantization();
  const size_t n = g->thresholds.size();
  if (n == 0 || g->shifts.size() != n) return CannotExpress(op, "an empty log grid");
  std::vector<float> thresholds(n), values(n + 1, 0.0f);
  for (size_t j = 0; j < n; ++j) {
    thresholds[j] = static_cast<float>(std::ldexp(static_cast<double>(g->thresholds[j]), -30));
    values[j] = static_cast<float>(rt::ref::LogGridValue(g->delta, g->eta, g->shifts[j],
                                                         j < g->sqrt2.size() && g->sqrt2[j] != 0));
  }
  const std::string pu = Op("Unsqueeze", {p, InitInt64s(base_[y] + "/last", {-1})}, base_[y] + "/p1");
  const std::string below =
      Op("Less", {pu, InitFloats(base_[y] + "/thresholds", {static_cast<int64_t>(n)}, thresholds)}, base_[y] + "/below");
  const std::string count = Op("Cast", {below}, base_[y] + "/below_i32", {AttrInt("to", onnx::TensorProto::INT32)});
  codes_[y] = Op("ReduceSum", {count, InitInt64s(base_[y] + "/axis", {-1})}, base_[y] + "/codes",
                 {AttrInt("keepdims", 0)});
  value_[y] = Op("Gather", {InitFloats(base_[y] + "/values", {static_cast<int64_t>(n + 1)}, values), codes_[y]},
                 base_[y] + "/dq");
  return Status::Ok();
}

// LAYER_NORM: float LayerNormalization (RMS: x/sqrt(mean(x²) + eps) from ReduceSum, Sqrt, Div)
// with γ and β reconstructed from the integer op: the kernel outputs requant(n·γ_q + β_q) with
// n = x̂·2^norm_bits, so in real terms y = s_y·M[c]·(x̂·2^norm_bits·γ_q[c] + β_q[c]), i.e.
// γ[c] = s_y·M[c]·2^norm_bits·γ_q[c], β[c] = s_y·M[c]·β_q[c]; eps = epsilon_q·s_x² / (C²·2^16).
Status Builder::EmitLayerNorm(const fb::OperatorT& op) {
  const fb::LayerNormOptionsT* o = op.options.AsLayerNormOptions();
  const int32_t x = In(op, 0), y = op.outputs[0];
  if (o == nullptr || !o->requant) return CannotExpress(op, "no LayerNormOptions");
  const size_t c = static_cast<size_t>(T(x).shape.back());
  const double sx = Affine(x)->scale[0], sy = Affine(y)->scale[0];
  std::vector<float> gamma(c), beta(c);
  for (size_t i = 0; i < c; ++i) {
    const double m = RealMultiplier(*o->requant, i) * sy;
    gamma[i] = static_cast<float>(m * std::ldexp(1.0, o->norm_bits) * o->gamma_q[i]);
    beta[i] = static_cast<float>(m * o->beta_q[i]);
  }
  const float eps = static_cast<float>(static_cast<double>(o->epsilon_q) * sx * sx /
                                       (static_cast<double>(c) * static_cast<double>(c) * 65536.0));
  SQ_ASSIGN_OR_RETURN(std::string xv, Value(x));
  const int64_t cc = static_cast<int64_t>(c);
  const std::string g = InitFloats(base_[y] + "/gamma", {cc}, gamma), b = InitFloats(base_[y] + "/beta", {cc}, beta);
  std::string f;
  if (!o->rms) {
    f = Op("LayerNormalization", {xv, g, b}, base_[y] + "/layernorm", {AttrInt("axis", -1), AttrFloat("epsilon", eps)});
  } else {
    const std::string sq = Op("Mul", {xv, xv}, base_[y] + "/square");
    const std::string sum = Op("ReduceSum", {sq, InitInt64s(base_[y] + "/axis", {-1})}, base_[y] + "/sum_square");
    const std::string ms = Op("Mul", {sum, FloatScalar(base_[y] + "/inv_c", 1.0f / static_cast<float>(c))},
                              base_[y] + "/mean_square");
    const std::string rms =
        Op("Sqrt", {Op("Add", {ms, FloatScalar(base_[y] + "/eps", eps)}, base_[y] + "/plus_eps")}, base_[y] + "/rms");
    f = Op("Add", {Op("Mul", {Op("Div", {xv, rms}, base_[y] + "/normalized"), g}, base_[y] + "/scaled"), b},
           base_[y] + "/rmsnorm");
  }
  return SettleRequant(y, f, o->requant.get());
}

// LUT: exact. The input's codes (its QuantizeLinear output) index a float table of the
// dequantized output codes, one entry per code of the input type:
//   Cast(int32) → Add(−type_min) → Gather(table).
Status Builder::EmitLut(const fb::OperatorT& op) {
  const fb::LutOptionsT* o = op.options.AsLutOptions();
  const int32_t x = In(op, 0), y = op.outputs[0];
  if (o == nullptr || o->table.empty()) return CannotExpress(op, "an empty table");
  const fb::AffineQuantizationT* qy = Affine(y);
  if (qy == nullptr || qy->scale.size() != 1) return CannotExpress(op, "the output has no per-tensor grid");
  SQ_ASSIGN_OR_RETURN(std::string codes, Codes(x));
  const int32_t zy = qy->zero_point.empty() ? 0 : qy->zero_point[0];
  const int64_t size = static_cast<int64_t>(o->table.size());
  std::vector<float> table;
  for (int32_t code = TypeMin(x); code <= TypeMax(x); ++code) {
    const int64_t index = std::clamp<int64_t>(int64_t{code} - o->min_code, 0, size - 1);
    const int32_t q = std::clamp<int32_t>(o->table[static_cast<size_t>(index)], TypeMin(y), TypeMax(y));
    table.push_back(qy->scale[0] * static_cast<float>(q - zy));
  }
  const std::string i32 = Op("Cast", {codes}, base_[y] + "/code", {AttrInt("to", onnx::TensorProto::INT32)});
  const int32_t offset = -TypeMin(x);
  const std::string index = Op(
      "Add", {i32, Init(base_[y] + "/offset", onnx::TensorProto::INT32, {}, &offset, sizeof offset)}, base_[y] + "/index");
  const std::string f = Op(
      "Gather", {InitFloats(base_[y] + "/table", {static_cast<int64_t>(table.size())}, table), index}, base_[y] + "/lut");
  return Settle(y, f);
}

// MAX_POOL_2D, AVERAGE_POOL_2D: MaxPool / AveragePool with the same window, pads and
// count_include_pad (the kernel's average rounds once, to 8 fraction bits, before requant).
Status Builder::EmitPool(const fb::OperatorT& op) {
  const fb::Pool2DOptionsT* o = op.options.AsPool2DOptions();
  const int32_t y = op.outputs[0];
  if (o == nullptr) return CannotExpress(op, "no Pool2DOptions");
  SQ_ASSIGN_OR_RETURN(std::string xv, Value(In(op, 0)));
  const bool max = op.opcode == fb::OpCode::MAX_POOL_2D;
  const bool dilated = std::any_of(o->dilation.begin(), o->dilation.end(), [](int32_t d) { return d != 1; });
  if (!max && dilated) return CannotExpress(op, "a dilated average pool (ONNX AveragePool takes dilations from opset 19)");
  Attrs attrs = {AttrInts("kernel_shape", I64(o->kernel)), AttrInts("strides", I64(o->stride)),
                 AttrInts("pads", I64(o->pads))};
  if (max) attrs.push_back(AttrInts("dilations", I64(o->dilation)));
  if (!max) attrs.push_back(AttrInt("count_include_pad", o->count_include_pad ? 1 : 0));
  const std::string f = Op(max ? "MaxPool" : "AveragePool", {xv}, base_[y] + (max ? "/maxpool" : "/avgpool"), attrs);
  return SettleRequant(y, f, o->requant.get());
}

// MEAN over axes [axis, axis + count): ReduceSum·(1/r); with a keep input, the sum of the kept
// values over the number kept (0 where nothing is kept, as the kernel), then Reshape to the
// output's shape.
Status Builder::EmitMean(const fb::OperatorT& op) {
  const fb::MeanOptionsT* o = op.options.AsMeanOptions();
  const int32_t x = In(op, 0), y = op.outputs[0];
  if (o == nullptr) return CannotExpress(op, "no MeanOptions");
  SQ_ASSIGN_OR_RETURN(std::string xv, Value(x));
  std::vector<int64_t> axes;
  int64_t r = 1;
  for (int32_t a = o->axis; a < o->axis + o->count; ++a) {
    axes.push_back(a);
    r *= T(x).shape[static_cast<size_t>(a)];
  }
  const std::string ax = InitInt64s(base_[y] + "/axes", axes);
  std::string f;
  if (In(op, 1) < 0) {
    const std::string sum = Op("ReduceSum", {xv, ax}, base_[y] + "/sum", {AttrInt("keepdims", 1)});
    f = Op("Mul", {sum, FloatScalar(base_[y] + "/inv_r", 1.0f / static_cast<float>(r))}, base_[y] + "/mean");
  } else {
    SQ_ASSIGN_OR_RETURN(std::string keep, Value(In(op, 1)));
    const std::string kb = Op("Cast", {keep}, base_[y] + "/keep", {AttrInt("to", onnx::TensorProto::BOOL)});
    const std::string kf = Op("Cast", {kb}, base_[y] + "/keep_f", {AttrInt("to", onnx::TensorProto::FLOAT)});
    const std::string kx = Op("Expand", {kf, InitInt64s(base_[y] + "/x_shape", Dims(x))}, base_[y] + "/keep_x");
    const std::string sum =
        Op("ReduceSum", {Op("Mul", {xv, kx}, base_[y] + "/kept"), ax}, base_[y] + "/sum", {AttrInt("keepdims", 1)});
    const std::string n = Op("ReduceSum", {kx, ax}, base_[y] + "/n", {AttrInt("keepdims", 1)});
    const std::string n1 = Op("Max", {n, FloatScalar(base_[y] + "/one", 1.0f)}, base_[y] + "/n_or_1");
    f = Op("Div", {sum, n1}, base_[y] + "/mean");
  }
  f = Op("Reshape", {f, InitInt64s(base_[y] + "/shape", Dims(y))}, base_[y] + "/reshaped");
  return SettleRequant(y, f, o->requant.get());
}

// HADAMARD: MatMul by the block-diagonal C×C matrix (H_k ⊗ H_{2^m})·diag(signs) of each block,
// transposed, times the op's own real factor s_y·M/s_x (the orthonormal 1/√block and any
// rounding of the multiplier).
Status Builder::EmitHadamard(const fb::OperatorT& op) {
  const fb::HadamardOptionsT* o = op.options.AsHadamardOptions();
  const int32_t x = In(op, 0), y = op.outputs[0];
  if (o == nullptr || !o->requant) return CannotExpress(op, "no HadamardOptions");
  const int64_t c = T(x).shape.back(), block = o->block, k = o->k, seg = block / k;
  if (c > 8192) return CannotExpress(op, fmt::format("{} channels: the dense {}x{} matrix is too large", c, c, c));
  const double factor = RealMultiplier(*o->requant, 0) * Affine(y)->scale[0] / Affine(x)->scale[0];
  std::vector<float> w(static_cast<size_t>(c * c), 0.0f);
  for (int64_t b0 = 0; b0 < c; b0 += block)
    for (int64_t i = 0; i < block; ++i)      // output channel b0 + i
      for (int64_t j = 0; j < block; ++j) {  // input channel b0 + j
        const int64_t a = i / seg, p = i % seg, cc = j / seg, q = j % seg;
        const int hk = k > 1 ? o->h_k[static_cast<size_t>(a * k + cc)] : 1;
        const int sylvester = __builtin_popcountll(static_cast<uint64_t>(p & q)) % 2 ? -1 : 1;
        const int sign = o->signs.empty() ? 1 : o->signs[static_cast<size_t>(b0 + j)];
        w[static_cast<size_t>((b0 + j) * c + b0 + i)] = static_cast<float>(factor * hk * sylvester * sign);
      }
  SQ_ASSIGN_OR_RETURN(std::string xv, Value(x));
  const std::string f = Op("MatMul", {xv, InitFloats(base_[y] + "/hadamard", {c, c}, w)}, base_[y] + "/rotated");
  return SettleRequant(y, f, o->requant.get());
}

// RESIZE: Resize to the output's sizes with the same mode, coordinate transformation and nearest
// rounding (linear: the kernel's weights have 20 fraction bits, the result 8).
Status Builder::EmitResize(const fb::OperatorT& op) {
  const fb::ResizeOptionsT* o = op.options.AsResizeOptions();
  const int32_t y = op.outputs[0];
  if (o == nullptr || o->mode > 1 || o->coordinate_mode > 3 || o->nearest_mode > 3)
    return CannotExpress(op, "resize options out of range");
  static const char* const kCoord[] = {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"};
  static const char* const kNearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  SQ_ASSIGN_OR_RETURN(std::string xv, Value(In(op, 0)));
  const std::string f = Op("Resize", {xv, "", "", InitInt64s(base_[y] + "/sizes", Dims(y))}, base_[y] + "/resize",
                           {AttrString("mode", o->mode == 0 ? "nearest" : "linear"),
                            AttrString("coordinate_transformation_mode", kCoord[o->coordinate_mode]),
                            AttrString("nearest_mode", kNearest[o->nearest_mode])});
  return SettleRequant(y, f, o->requant.get());
}

// Exact ops (the codes move, the grid stays or is requantized): RESHAPE, TRANSPOSE, CONCAT, SLICE,
// GATHER, SPLIT, PAD (constant padding is the zero point: 0.0), REQUANTIZE (a QDQ pair with the
// new grid) on the float values; int32 tensors (ids, masks) pass without QDQ.
Status Builder::EmitDataMovement(const fb::OperatorT& op) {
  const int32_t y = op.outputs[0];
  SQ_ASSIGN_OR_RETURN(std::string xv, Value(In(op, 0)));
  const std::string& stem = base_[y];
  switch (op.opcode) {
    case fb::OpCode::RESHAPE:
      return Settle(y, Op("Reshape", {xv, InitInt64s(stem + "/shape", Dims(y))}, stem + "/reshape"));
    case fb::OpCode::TRANSPOSE: {
      const fb::TransposeOptionsT* o = op.options.AsTransposeOptions();
      if (o == nullptr) return CannotExpress(op, "no TransposeOptions");
      return Settle(y, Op("Transpose", {xv}, stem + "/transpose", {AttrInts("perm", I64(o->perm))}));
    }
    case fb::OpCode::CONCAT: {
      const fb::ConcatOptionsT* o = op.options.AsConcatOptions();
      if (o == nullptr) return CannotExpress(op, "no ConcatOptions");
      Names ins;
      for (int32_t t : op.inputs) {
        SQ_ASSIGN_OR_RETURN(std::string v, Value(t));
        ins.push_back(v);
      }
      return Settle(y, Op("Concat", ins, stem + "/concat", {AttrInt("axis", o->axis)}));
    }
    case fb::OpCode::SLICE: {
      const fb::SliceOptionsT* o = op.options.AsSliceOptions();
      if (o == nullptr) return CannotExpress(op, "no SliceOptions");
      // ends from the output size (a negative step's end before index 0 is INT64_MIN, ONNX's "before the start")
      std::vector<int64_t> starts, ends, axes, steps;
      for (size_t a = 0; a < o->starts.size(); ++a) {
        const int64_t s = o->starts[a], st = o->steps[a], n = T(y).shape[a];
        const int64_t e = s + (n - 1) * st + (st > 0 ? 1 : -1);
        starts.push_back(s);
        ends.push_back(n == 0 ? s : (e < 0 ? std::numeric_limits<int64_t>::min() : e));
        axes.push_back(static_cast<int64_t>(a));
        steps.push_back(st);
      }
      return Settle(y, Op("Slice",
                          {xv, InitInt64s(stem + "/starts", starts), InitInt64s(stem + "/ends", ends),
                           InitInt64s(stem + "/axes", axes), InitInt64s(stem + "/steps", steps)},
                          stem + "/slice"));
    }
    case fb::OpCode::GATHER: {
      const fb::GatherOptionsT* o = op.options.AsGatherOptions();
      if (o == nullptr) return CannotExpress(op, "no GatherOptions");
      SQ_ASSIGN_OR_RETURN(std::string idx, Value(In(op, 1)));
      return Settle(y, Op("Gather", {xv, idx}, stem + "/gather", {AttrInt("axis", o->axis)}));
    }
    case fb::OpCode::SPLIT: {
      const fb::SplitOptionsT* o = op.options.AsSplitOptions();
      if (o == nullptr) return CannotExpress(op, "no SplitOptions");
      Names outs;
      for (int32_t t : op.outputs) outs.push_back(Fresh(base_[t] + "/split"));
      Node("Split", {xv, InitInt64s(stem + "/sizes", I64(o->sizes))}, outs, {AttrInt("axis", o->axis)});
      for (size_t i = 0; i < outs.size(); ++i) SQ_RETURN_IF_ERROR(Settle(op.outputs[i], outs[i]));
      return Status::Ok();
    }
    case fb::OpCode::PAD: {
      const fb::PadOptionsT* o = op.options.AsPadOptions();
      if (o == nullptr || o->mode < 0 || o->mode > 2) return CannotExpress(op, "pad options out of range");
      static const char* const kMode[] = {"constant", "reflect", "edge"};
      return Settle(y, Op("Pad", {xv, InitInt64s(stem + "/pads", I64(o->pads))}, stem + "/pad",
                          {AttrString("mode", kMode[o->mode])}));
    }
    case fb::OpCode::REQUANTIZE: {
      const fb::RequantizeOptionsT* o = op.options.AsRequantizeOptions();
      return SettleRequant(y, xv, o ? o->requant.get() : nullptr);
    }
    default: return CannotExpress(op, "not a data-movement op");
  }
}

}  // namespace squint::exporter::qdq

// The QDQ ONNX graph of an integer model (internal to export/; qdq_writer.h is the interface).
//
// Every quantized tensor t of the .sqnt becomes, in the ONNX graph, the float value
//   DequantizeLinear(QuantizeLinear(f, s_t, z_t), s_t, z_t)
// where f is the float result of the op that produced t (or the float model input): the value
// is on t's grid, as the integer runtime's codes are. Constant tensors become integer
// initializers with a DequantizeLinear. Each runtime op is written as the float ONNX op(s)
// that compute what its reference kernel approximates (runtime/kernels/reference/kernels.h),
// on the dequantized inputs; qdq_ops.cc has one function per op code and says how.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "runtime/schema/squint_generated.h"

namespace squint::exporter::qdq {

onnx::AttributeProto AttrInt(const std::string& name, int64_t v);
onnx::AttributeProto AttrInts(const std::string& name, const std::vector<int64_t>& v);
onnx::AttributeProto AttrFloat(const std::string& name, float v);
onnx::AttributeProto AttrString(const std::string& name, const std::string& v);

// The ONNX opset of the graph: 17 (LayerNormalization). int16 tensors are quantized by ONNX
// Runtime's com.microsoft QuantizeLinear/DequantizeLinear (version 1), which take int16 codes:
// ONNX's own int16 form needs opset 21, where ORT 1.19 fuses int8 MatMuls into a QLinearMatMul
// it has no kernel for.
constexpr int64_t kOpset = 17;
inline constexpr char kMicrosoftDomain[] = "com.microsoft";

class Builder {
 public:
  explicit Builder(const fb::ModelT& model);
  // The whole model; Unsupported names the op and tensor an ONNX graph cannot express.
  Result<onnx::ModelProto> Build();

 private:
  using Names = std::vector<std::string>;
  using Attrs = std::vector<onnx::AttributeProto>;

  // ---- Graph building -------------------------------------------------------------------
  // A name no other value has: `stem`, else stem.1, stem.2, ...
  std::string Fresh(const std::string& stem);
  // A node with outputs named exactly `outputs` (names the caller made with Fresh).
  onnx::NodeProto* Node(const std::string& op, const Names& inputs, const Names& outputs, const Attrs& attrs = {});
  // A node of one output, named Fresh(out_stem); returns that name.
  std::string Op(const std::string& op, const Names& inputs, const std::string& out_stem, const Attrs& attrs = {});
  // Initializers (raw little-endian data), named Fresh(stem) or, when `exact`, stem itself.
  std::string Init(const std::string& stem, int32_t data_type, const std::vector<int64_t>& dims, const void* data,
                   size_t bytes, bool exact = false);
  std::string InitFloats(const std::string& stem, const std::vector<int64_t>& dims, const std::vector<float>& v);
  std::string InitInt64s(const std::string& stem, const std::vector<int64_t>& v);  // 1-D
  std::string FloatScalar(const std::string& stem, float v);

  // ---- Tensors --------------------------------------------------------------------------
  const fb::TensorT& T(int32_t t) const { return *model_.tensors[static_cast<size_t>(t)]; }
  const fb::AffineQuantizationT* Affine(int32_t t) const;
  std::vector<int64_t> Dims(int32_t t) const;
  // The float (or, for an unquantized int32 tensor, the int32) value of tensor t; constants
  // are materialized on first use (int8/int4 codes + DequantizeLinear, group scales through a
  // reshape to one row per group).
  Result<std::string> Value(int32_t t);
  // The integer codes of an activation (its QuantizeLinear output).
  Result<std::string> Codes(int32_t t);
  // Makes `f` the value of activation t: Relu or Clip to the codes [lo, hi] when narrower than
  // the type's range (a fused activation, fewer bits), QuantizeLinear, DequantizeLinear.
  // An unquantized (int32) tensor takes `f` as it is.
  Status Settle(int32_t t, const std::string& f, int32_t lo, int32_t hi);
  Status Settle(int32_t t, const std::string& f);  // the type's whole range
  // Settle within the codes a requantization clamps to (none: the type's range).
  Status SettleRequant(int32_t t, const std::string& f, const fb::RequantizationT* r);
  // The scale and zero-point initializers of a per-tensor activation (shared by its Q and DQ).
  std::pair<std::string, std::string> ActivationParams(int32_t t);
  // The scale and zero-point initializers of a constant's DequantizeLinear: per tensor, or one
  // per channel / group (zeros where the tensor stores none).
  Names ConstParams(int32_t t);
  // A zero-point initializer of the codes' type: `zps` (missing entries 0) laid out as `dims`.
  std::string ZeroPoints(const std::string& stem, fb::ElementType type, const std::vector<int32_t>& zps,
                         const std::vector<int64_t>& dims);
  int32_t TypeMin(int32_t t) const;
  int32_t TypeMax(int32_t t) const;
  // The float [lo, hi] a requantization clamps codes to, as codes.
  static std::pair<int32_t, int32_t> CodeRange(const fb::RequantizationT* r, int32_t lo, int32_t hi);
  // s_in·s_w[c] per output channel (a bias's scale); group scales: the unit's largest.
  std::vector<float> BiasScales(int32_t x, int32_t w) const;
  Result<std::string> Bias(int32_t x, int32_t w, int32_t b);
  // {x, w, bias (when b >= 0)} of a convolution.
  Result<Names> ConvInputs(int32_t x, const std::string& wv, int32_t w, int32_t b);
  // The weight codes of a constant tensor as int8, one per element (INT4 unpacked).
  std::vector<int8_t> WeightCodes(int32_t t) const;

  // ---- Ops (qdq_ops.cc) -----------------------------------------------------------------
  Status EmitOp(const fb::OperatorT& op);
  Status EmitConv(const fb::OperatorT& op);
  Status EmitConvTranspose(const fb::OperatorT& op);
  Status EmitFullyConnected(const fb::OperatorT& op);
  Status EmitBatchMatMul(const fb::OperatorT& op);
  Status EmitElementwise(const fb::OperatorT& op);
  Status EmitSoftmax(const fb::OperatorT& op);
  Status EmitLogGridCodes(const fb::OperatorT& op, const std::string& p);
  Status EmitLayerNorm(const fb::OperatorT& op);
  Status EmitLut(const fb::OperatorT& op);
  Status EmitPool(const fb::OperatorT& op);
  Status EmitMean(const fb::OperatorT& op);
  Status EmitHadamard(const fb::OperatorT& op);
  Status EmitDataMovement(const fb::OperatorT& op);
  Status EmitResize(const fb::OperatorT& op);
  // Makes the graph built so far (one run of the .sqnt, a batch of Model.batch samples) the body
  // of a Scan over runs: inputs and outputs lead with a free dim N, a multiple of the batch.
  Status WrapInBatchScan();
  // Unsupported naming the op and its first output.
  Status CannotExpress(const fb::OperatorT& op, const std::string& why) const;

  const fb::ModelT& model_;
  onnx::ModelProto proto_;
  onnx::GraphProto* graph_ = nullptr;
  // A QuantizeLinear/DequantizeLinear of tensor t's codes: com.microsoft for int16 codes.
  void SetQdqDomain(onnx::NodeProto* node, int32_t t) const;
  std::set<std::string> used_;
  std::vector<std::string> base_;   // per tensor: its unique ONNX base name
  std::vector<std::string> value_;  // per tensor: float (or int32) value, once produced
  std::vector<std::string> codes_;  // per tensor: integer codes, once produced
  std::map<int32_t, std::pair<std::string, std::string>> params_;  // activation scale/zero point
};

}  // namespace squint::exporter::qdq

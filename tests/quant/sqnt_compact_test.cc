// The compact .sqnt layout (schema 1.1) against the layout every file had before (1.0): each bundled
// model, quantized under several option sets, is serialized by the pre-1.1 writer (fb::Model::Pack,
// kept here verbatim) and by the new one in both layouts. Checked: the 1.0 layout is byte for byte
// the old writer's; the 1.1 file is smaller, keeps stored pairs only where no derivation rule
// exists (LAYER_NORM, log-grid P·V), and gives the same codes as the 1.0 file for every op output
// on the reference kernels and on the best instruction set; reading the 1.1 file back and writing
// 1.0 gives the old bytes again. And the committed pre-1.1 files (tests/data/sqnt) still load and
// give the codes of their 1.1 rewrite.
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/aligned.h"
#include "base/file.h"
#include "export/sqnt_compact.h"
#include "export/sqnt_reader.h"
#include "export/sqnt_writer.h"
#include "importers/onnx/onnx_importer.h"
#include "ir/eval/shape_inference.h"
#include "ir/npy.h"
#include "passes/pipeline.h"
#include "quant/pipeline.h"
#include "runtime/dispatch.h"
#include "runtime/interpreter.h"
#include "runtime/model.h"

namespace squint::quant {
namespace {

const std::string kRoot = std::string(SQUINT_SOURCE_DIR) + "/tests/data/";

// The .sqnt writer before schema 1.1 (export/sqnt_writer.cc at 0976e4a).
std::string OldWriter(const fb::ModelT& model) {
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  fbb.ForceDefaults(false);
  fb::FinishModelBuffer(fbb, fb::Model::Pack(fbb, &model));
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

// Every op's output codes, concatenated in op order, for one run on deterministic input codes.
std::string AllCodes(const std::string& bytes, rt::Isa isa) {
  const AlignedBytes buf = AlignedCopy(bytes);
  rt::Model model;
  const rt::Status loaded = model.Load(buf.get(), bytes.size());
  EXPECT_TRUE(loaded.ok()) << loaded.message();
  if (!loaded.ok()) return {};
  rt::Interpreter interp;
  const rt::Status prepared = interp.Prepare(&model, isa);
  EXPECT_TRUE(prepared.ok()) << prepared.message();
  if (!prepared.ok()) return {};
  std::vector<uint8_t> arena(interp.arena_size() + 64);
  void* base = arena.data() + (64 - reinterpret_cast<uintptr_t>(arena.data()) % 64) % 64;
  EXPECT_TRUE(interp.SetArena(base, interp.arena_size()).ok());
  uint32_t state = 12345;
  for (int32_t t : model.inputs()) {
    const rt::TensorDesc& d = model.tensor(t);
    auto* p = static_cast<uint8_t*>(interp.mutable_tensor_data(t));
    for (int64_t i = 0; i < d.bytes; ++i) {
      state = state * 1664525u + 1013904223u;
      p[i] = static_cast<uint8_t>(state >> 24);
    }
    if (d.type == fb::ElementType::INT32)  // token ids, masks: small non-negative values
      for (int64_t i = 0; i < d.num_elements; ++i) reinterpret_cast<int32_t*>(p)[i] = static_cast<int32_t>(i % 7);
  }
  std::string codes;
  interp.SetObserver(
      [](void* user, int32_t, const rt::TensorView* outs, int32_t n) {
        for (int32_t k = 0; k < n; ++k)
          static_cast<std::string*>(user)->append(static_cast<const char*>(outs[k].data),
                                                  static_cast<size_t>(outs[k].desc->bytes));
      },
      &codes);
  EXPECT_TRUE(interp.Invoke().ok());
  return codes;
}

// Each stored pair of a 1.1 file belongs to an op without a derivation rule.
void ExpectOnlyUnderivedPairsStored(const std::string& bytes) {
  const fb::Model* m = fb::GetModel(bytes.data());
  for (uint32_t i = 0; i < m->operators()->size(); ++i) {
    const fb::Operator* op = m->operators()->Get(i);
    const fb::Requantization* r = nullptr;
    if (op->options_type() == fb::OpOptions::Conv2DOptions) r = op->options_as_Conv2DOptions()->requant();
    if (op->options_type() == fb::OpOptions::FullyConnectedOptions) r = op->options_as_FullyConnectedOptions()->requant();
    if (op->options_type() == fb::OpOptions::ElementwiseOptions) r = op->options_as_ElementwiseOptions()->output();
    if (op->options_type() == fb::OpOptions::RequantizeOptions) r = op->options_as_RequantizeOptions()->requant();
    if (op->options_type() == fb::OpOptions::HadamardOptions) r = op->options_as_HadamardOptions()->requant();
    if (op->options_type() == fb::OpOptions::BatchMatMulOptions) {
      const int32_t a = op->inputs()->Get(0);
      if (m->tensors()->Get(static_cast<uint32_t>(a))->quantization_type() != fb::Quantization::LogGridQuantization)
        r = op->options_as_BatchMatMulOptions()->requant();
    }
    if (r != nullptr) {
      EXPECT_TRUE(r->multiplier() == nullptr && r->shift() == nullptr && r->shift8() == nullptr)
          << "op " << i << " (" << fb::EnumNameOpCode(op->opcode()) << ") keeps stored multipliers";
    }
    if (op->options_type() == fb::OpOptions::LayerNormOptions) {
      const fb::Requantization* ln = op->options_as_LayerNormOptions()->requant();
      EXPECT_TRUE(ln->shift() == nullptr && ln->shift8() != nullptr) << "op " << i << ": shifts not one byte each";
    }
  }
}

struct Config {
  const char* name;
  PipelineOptions options;
};

std::vector<Config> Configs() {
  std::vector<Config> c(4);
  c[0].name = "w8a8";
  c[1].name = "w4g32";
  c[1].options.weight_bits = 4;
  c[1].options.group_size = 32;
  c[2].name = "a16";
  c[2].options.a16 = {"LayerNormalization", "Softmax", "Add", "Gelu"};
  c[3].name = "log2_hadamard";
  c[3].options.softmax_quant = "log2";
  c[3].options.transforms = {"hadamard"};
  c[3].options.transform_optional = true;
  return c;
}

// A bundled model imported with a batch of one, canonicalized, and its calibration samples as CalibData.
struct Prepared {
  ir::Graph graph;
  CalibData data;
};
Result<Prepared> PrepareModel(const std::string& onnx, const ir::Tensor& calib) {
  SQ_ASSIGN_OR_RETURN(ir::Graph g, importers::ImportOnnxFile(onnx));
  ir::Dims sample = calib.dims();
  sample.erase(sample.begin());
  ir::Dims one = {1};
  one.insert(one.end(), sample.begin(), sample.end());
  SQ_RETURN_IF_ERROR(ir::eval::BindInputShapes(g, {{g.value(g.inputs[0]).name, one}}));
  SQ_RETURN_IF_ERROR(passes::Canonicalize(g).status());
  Prepared p{std::move(g), {}};
  p.data.inputs.push_back({p.graph.value(p.graph.inputs[0]).name, calib.dtype(), sample});
  p.data.tensors.push_back(calib.Clone());
  p.data.num_samples = calib.dim(0);
  return p;
}

struct Case {
  const char* model;
  const char* data;
  int configs;  // how many of Configs() apply to the model
};

class SqntCompact : public ::testing::TestWithParam<Case> {};

TEST_P(SqntCompact, SameCodesAsTheOldLayoutUnderEveryConfig) {
  const Case& c = GetParam();
  auto calib = ir::ReadNpy(kRoot + "models/" + c.data + "/calib_x.npy");
  ASSERT_TRUE(calib.ok());
  int compared = 0;
  for (const Config& config : Configs()) {
    SCOPED_TRACE(config.name);
    auto prepared = PrepareModel(kRoot + "models/" + c.model, *calib);
    ASSERT_TRUE(prepared.ok()) << prepared.status().message();
    ir::Graph& g = prepared->graph;
    const CalibData& data = prepared->data;
    PipelineOptions o = config.options;
    o.calib_samples = 8;
    if (!CheckPipelineOptions(g, o, c.model).ok()) continue;  // e.g. a log2 softmax grid on a CNN
    auto q = QuantizeGraph(g, data, o, c.model, "sha");
    if (!q.ok() && config.options.softmax_quant != "uniform") continue;  // no softmax the grid applies to
    ASSERT_TRUE(q.ok()) << q.status().message();
    const fb::ModelT& model = *q->lowered.model;

    const std::string old_bytes = OldWriter(model);
    const std::string v10 = exporter::SerializeSqnt(model, exporter::SqntVersion::k1_0);
    const std::string v11 = exporter::SerializeSqnt(model);
    EXPECT_EQ(v10, old_bytes) << "the 1.0 layout is not the old writer's bytes";
    EXPECT_LT(v11.size(), v10.size());
    EXPECT_EQ(fb::GetModel(v11.data())->schema_version_minor(), 1);
    ExpectOnlyUnderivedPairsStored(v11);
    for (rt::Isa isa : {rt::Isa::kReference, rt::Isa::kAuto}) {
      const std::string a = AllCodes(v10, isa), b = AllCodes(v11, isa);
      ASSERT_FALSE(a.empty());
      EXPECT_TRUE(a == b) << "codes differ, isa " << static_cast<int>(isa);
    }
    auto back = exporter::ParseSqnt(v11, "v11");
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(exporter::SerializeSqnt(**back, exporter::SqntVersion::k1_0), old_bytes)
        << "1.1 read back and written as 1.0 is not the old file";
    ++compared;
  }
  EXPECT_EQ(compared, c.configs);
}

std::vector<Case> BundledModels() {
  // The CNNs have no LayerNorm, Softmax or Gelu for the a16 and log2 configs.
  return {{"cnn_small/cnn_small_op13.onnx", "fashion_mnist", 2},
          {"cnn_small/cnn_small_op17.onnx", "fashion_mnist", 2},
          {"cnn_small/cnn_small_bn_op13.onnx", "fashion_mnist", 2},
          {"vit_tiny/vit_tiny_op13.onnx", "fashion_mnist", 4},
          {"vit_tiny/vit_tiny_op17.onnx", "fashion_mnist", 4},
          {"vit_tiny_clipped/vit_tiny_clipped_op13.onnx", "fashion_mnist", 4},
          {"vit_tiny_clipped/vit_tiny_clipped_op17.onnx", "fashion_mnist", 4},
          {"vit_tiny_gated/vit_tiny_gated_op13.onnx", "fashion_mnist", 4},
          {"vit_tiny_gated/vit_tiny_gated_op17.onnx", "fashion_mnist", 4},
          {"gpt_tiny/gpt_tiny_op13.onnx", "gpt_tiny", 4},
          {"gpt_tiny/gpt_tiny_op17.onnx", "gpt_tiny", 4}};
}

INSTANTIATE_TEST_SUITE_P(Bundled, SqntCompact, ::testing::ValuesIn(BundledModels()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string m = info.param.model;
                           m = m.substr(m.find('/') + 1);
                           return m.substr(0, m.find('.'));
                         });

// The message of the first failure of load + prepare (reference kernels), "" when both pass.
std::string LoadAndPrepareError(const std::string& bytes) {
  const AlignedBytes buf = AlignedCopy(bytes);
  rt::Model model;
  rt::Status s = model.Load(buf.get(), bytes.size());
  if (s.ok()) {
    rt::Interpreter interp;
    s = interp.Prepare(&model, rt::Isa::kReference);
  }
  return s.ok() ? "" : s.message();
}

// The new fields of 1.1 are untrusted input: each malformed use is refused with a message naming it.
TEST(SqntCompactBadInput, MalformedCompactFieldsAreRefused) {
  auto calib = ir::ReadNpy(kRoot + "models/gpt_tiny/calib_x.npy");
  ASSERT_TRUE(calib.ok());
  auto prepared = PrepareModel(kRoot + "models/gpt_tiny/gpt_tiny_op17.onnx", *calib);
  ASSERT_TRUE(prepared.ok()) << prepared.status().message();
  ir::Graph& g = prepared->graph;
  const CalibData& data = prepared->data;
  PipelineOptions o;
  o.calib_samples = 4;
  auto q = QuantizeGraph(g, data, o, "gpt", "sha");
  ASSERT_TRUE(q.ok()) << q.status().message();
  const std::string good = exporter::SerializeSqnt(*q->lowered.model);
  ASSERT_EQ(LoadAndPrepareError(good), "");
  std::unique_ptr<fb::ModelT> base(fb::GetModel(good.data())->UnPack());
  auto find_op = [&](fb::ModelT& m, fb::OpCode code) -> fb::OperatorT& {
    for (auto& op : m.operators)
      if (op->opcode == code) return *op;
    ADD_FAILURE() << "no " << fb::EnumNameOpCode(code);
    return *m.operators[0];
  };
  auto expect = [&](const char* what, const std::function<void(fb::ModelT&)>& edit, const std::string& message) {
    SCOPED_TRACE(what);
    fb::ModelT m(*base);
    edit(m);
    const std::string error = LoadAndPrepareError(exporter::PackModel(m, 16));
    EXPECT_NE(error.find(message), std::string::npos) << "got: '" << error << "'";
  };
  auto ln = [&](fb::ModelT& m) { return find_op(m, fb::OpCode::LAYER_NORM).options.AsLayerNormOptions()->requant.get(); };
  expect("LAYER_NORM pairs left out: no rule", [&](fb::ModelT& m) { ln(m)->multiplier.clear(), ln(m)->shift8.clear(); },
         "requantization stores no multipliers and none can be derived");
  expect("shift8 count", [&](fb::ModelT& m) { ln(m)->shift8.push_back(3); }, "has 1 multipliers but 2 shifts");
  expect("shift and shift8", [&](fb::ModelT& m) { ln(m)->shift = {-5}; }, "exactly one of shift / shift8");
  expect("shift8 out of range", [&](fb::ModelT& m) { ln(m)->shift8 = {100}; }, "shift[0] = 100, expected in [-31, 30]");
  auto lut = [&](fb::ModelT& m) { return find_op(m, fb::OpCode::LUT).options.AsLutOptions(); };
  expect("table and table8", [&](fb::ModelT& m) { lut(m)->table = {1, 2}; }, "has both table and table8");
  expect("short table8", [&](fb::ModelT& m) { lut(m)->table8.resize(100); }, "table covers codes [-128, -29]");
  auto mask = [&](fb::ModelT& m) -> fb::TensorT& {
    return *m.tensors[static_cast<size_t>(find_op(m, fb::OpCode::SOFTMAX).options.AsSoftmaxOptions()->mask)];
  };
  expect("bit mask with a padding bit set", [&](fb::ModelT& m) {
    mask(m).shape = {61, 65};  // 3965 bits: 496 bytes, the last 3 bits padding
    auto b = std::make_unique<fb::BufferT>();
    b->data.assign(496, 0xFF);
    m.buffers.push_back(std::move(b));
    mask(m).buffer = static_cast<uint32_t>(m.buffers.size() - 1);
  }, "nonzero padding bits");
  expect("bit tensor as an op input", [&](fb::ModelT& m) {
    const int32_t bits = find_op(m, fb::OpCode::SOFTMAX).options.AsSoftmaxOptions()->mask;
    find_op(m, fb::OpCode::GATHER).inputs[1] = bits;
  }, "bit tensors are only softmax masks");
  expect("bit tensor with quantization", [&](fb::ModelT& m) {
    fb::AffineQuantizationT a;
    a.scale = {1.0f};
    mask(m).quantization.Set(std::move(a));
  }, "bit tensor with quantization");
  auto softmax = [&](fb::ModelT& m) { return find_op(m, fb::OpCode::SOFTMAX).options.AsSoftmaxOptions(); };
  expect("exp table longer than the int8 range", [&](fb::ModelT& m) {
    ASSERT_LT(softmax(m)->exp_table.size(), 256u);  // trimmed by the 1.1 writer
    softmax(m)->exp_table.resize(257, 0);
  }, "exp_table has 257 entries, expected at most 256 for int8 input");
  expect("trimmed exp table that increases", [&](fb::ModelT& m) { softmax(m)->exp_table.push_back(5); },
         "the table must be non-negative and non-increasing");
  auto bias = [&](fb::ModelT& m) -> fb::TensorT& {
    return *m.tensors[static_cast<size_t>(find_op(m, fb::OpCode::FULLY_CONNECTED).inputs[2])];
  };
  expect("int16_storage on an activation", [&](fb::ModelT& m) {
    m.tensors[static_cast<size_t>(find_op(m, fb::OpCode::FULLY_CONNECTED).outputs[0])]->int16_storage = true;
  }, "int16_storage on an activation");
  expect("int16_storage on an int8 constant", [&](fb::ModelT& m) {
    m.tensors[static_cast<size_t>(find_op(m, fb::OpCode::FULLY_CONNECTED).inputs[1])]->int16_storage = true;
  }, "int16_storage on a int8 tensor");
  expect("int16-stored bias of the wrong size", [&](fb::ModelT& m) {
    ASSERT_TRUE(bias(m).int16_storage);
    m.buffers[bias(m).buffer]->data.resize(m.buffers[bias(m).buffer]->data.size() * 2);
  }, "stored as int16");
  expect("derived pairs without the weight's scales", [&](fb::ModelT& m) {
    const int32_t w = find_op(m, fb::OpCode::FULLY_CONNECTED).inputs[1];
    m.tensors[static_cast<size_t>(w)]->quantization.Reset();
  }, "none can be derived");
}

// Files written before schema 1.1 (tests/data/sqnt/README.md): they load, and their 1.1 rewrite
// gives the same codes; written back as 1.0 they are the same bytes.
TEST(SqntCompat, PreCompactFilesLoadAndMatchTheirCompactRewrite) {
  for (const char* name : {"cnn_small_w8a8_v1_0.sqnt", "vit_tiny_w4g32_v1_0.sqnt"}) {
    SCOPED_TRACE(name);
    auto bytes = ReadFile(kRoot + "sqnt/" + name);
    ASSERT_TRUE(bytes.ok());
    ASSERT_EQ(fb::GetModel(bytes->data())->schema_version_minor(), 0);
    auto parsed = exporter::ParseSqnt(*bytes, name);
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    const std::string v11 = exporter::SerializeSqnt(**parsed);
    EXPECT_LT(v11.size(), bytes->size());
    for (rt::Isa isa : {rt::Isa::kReference, rt::Isa::kAuto}) {
      const std::string a = AllCodes(*bytes, isa);
      ASSERT_FALSE(a.empty());
      EXPECT_TRUE(a == AllCodes(v11, isa)) << "codes differ, isa " << static_cast<int>(isa);
    }
    EXPECT_TRUE(exporter::SerializeSqnt(**parsed, exporter::SqntVersion::k1_0) == *bytes);
  }
}

// Writes 1.1 seeds for fuzz/sqnt_loader_fuzz when SQUINT_WRITE_FUZZ_SEEDS names a directory: the
// 1.0 seeds of fuzz/corpus/sqnt_loader rewritten as 1.1 (NAME_v1_1.sqnt) and the committed cnn_small
// file as 1.1 (derived per-channel pairs, shared buffers).
TEST(SqntCompactSeeds, WriteFuzzSeeds) {
  const char* dir = std::getenv("SQUINT_WRITE_FUZZ_SEEDS");
  if (dir == nullptr) GTEST_SKIP() << "set SQUINT_WRITE_FUZZ_SEEDS=<dir> to write seeds";
  const std::string corpus = std::string(SQUINT_SOURCE_DIR) + "/fuzz/corpus/sqnt_loader/";
  std::vector<std::pair<std::string, std::string>> sources;  // (path, seed name)
  for (const char* seed : {"conv_int4_group6", "conv_transpose", "fc", "fc_batch", "fc_int4", "fc_int4_group32",
                           "mean", "mean_keep"})
    sources.push_back({corpus + seed + ".sqnt", std::string(seed) + "_v1_1.sqnt"});
  sources.push_back({kRoot + "sqnt/cnn_small_w8a8_v1_0.sqnt", "cnn_small_v1_1.sqnt"});
  for (const auto& [path, name] : sources) {
    auto bytes = ReadFile(path);
    ASSERT_TRUE(bytes.ok()) << path;
    std::unique_ptr<fb::ModelT> m(fb::GetModel(bytes->data())->UnPack());
    const std::string v11 = exporter::SerializeSqnt(*m);
    ASSERT_EQ(fb::GetModel(v11.data())->schema_version_minor(), 1) << name;
    ASSERT_EQ(LoadAndPrepareError(v11), "") << name;
    ASSERT_TRUE(WriteFileAtomic(std::string(dir) + "/" + name, v11).ok());
  }
}

}  // namespace
}  // namespace squint::quant

// squint run MODEL.onnx|MODEL.sqnt --input NAME=FILE.npy ... --output-dir DIR [--codes] [--threads N]
#include <cmath>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/input_data.h"
#include "cli/load_model.h"
#include "ir/eval/evaluator.h"
#include "ir/npy.h"
#include "runtime/squint_rt.h"
#include "runtime/tensor_codes.h"

namespace squint::cli {
namespace {

struct Output {
  std::string name;
  ir::Tensor tensor;
};

Status WriteOutputs(const std::string& dir, const std::vector<Output>& outputs) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return InvalidInput("cannot create output folder '{}': {}", dir, ec.message());
  for (const Output& o : outputs) {
    const std::string path = (std::filesystem::path(dir) / (SafeFileName(o.name) + ".npy")).string();
    SQ_RETURN_IF_ERROR(ir::WriteNpy(path, o.tensor));
    fmt::print("{}: {} {} -> {}\n", o.name, ir::DTypeName(o.tensor.dtype()), ir::DimsToString(o.tensor.dims()), path);
  }
  return Status::Ok();
}

Result<std::vector<Output>> RunOnnx(const std::string& model, const std::vector<std::string>& specs) {
  SQ_ASSIGN_OR_RETURN(LoadedModel m, LoadOnnxModel(model, {}));
  SQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> inputs, ReadInputs(m.graph, specs));
  ir::eval::Evaluator evaluator(m.graph);
  SQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> outputs, evaluator.Run(inputs));
  std::vector<Output> out;
  for (size_t i = 0; i < outputs.size(); ++i) out.push_back({m.graph.value(m.graph.outputs[i]).name, std::move(outputs[i])});
  return out;
}

ir::DType CodeDType(squint_rt_type t) {
  switch (t) {
    case SQUINT_RT_INT8: return ir::DType::kInt8;
    case SQUINT_RT_UINT8: return ir::DType::kUInt8;
    case SQUINT_RT_INT16: return ir::DType::kInt16;
    case SQUINT_RT_INT32: return ir::DType::kInt32;
  }
  return ir::DType::kInt32;
}

ir::Dims InfoDims(const squint_rt_tensor_info& info) { return ir::Dims(info.dims, info.dims + info.rank); }

std::string Describe(const squint_rt_tensor_info& info) {
  std::string s = fmt::format("{} {}", ir::DTypeName(CodeDType(info.type)), ir::DimsToString(InfoDims(info)));
  if (info.has_quantization) s += fmt::format(", scale {:g} zero point {}", info.scale, info.zero_point);
  return s;
}

// Integer values of `t` as codes of the runtime type, each checked against the type's range.
Result<ir::Tensor> ToCodes(const ir::Tensor& t, const squint_rt_tensor_info& info) {
  const ir::DType dtype = CodeDType(info.type);
  const auto type = static_cast<fb::ElementType>(info.type);  // squint_rt_type mirrors it (squint_rt.cc)
  const int64_t lo = rt::CodeMin(type), hi = rt::CodeMax(type);
  const std::vector<int64_t> values = t.ToInt64Vector();
  ir::Tensor codes(dtype, t.dims());
  for (size_t k = 0; k < values.size(); ++k) {
    if (values[k] < lo || values[k] > hi)
      return InvalidInput("input '{}': value {} at flat index {} is outside the range [{}, {}] of {}", info.name, values[k],
                          k, lo, hi, ir::DTypeName(dtype));
    rt::StoreCode(codes.raw(), type, static_cast<int64_t>(k), static_cast<int32_t>(values[k]));
  }
  return codes;
}

struct RtDeleter {
  void operator()(squint_rt_model* m) const { squint_rt_destroy(m); }
};

// The integer runtime: float inputs are quantized with the input tensor's parameters, integer
// inputs are taken as codes; outputs are dequantized (and, with `codes`, also written raw).
Result<std::vector<Output>> RunSqnt(const std::string& path, const std::vector<std::string>& specs, bool codes,
                                    int32_t threads) {
  squint_rt_model* raw = nullptr;
  squint_rt_options options;
  squint_rt_options_init(&options);
  options.flags = SQUINT_RT_ALLOCATE_ARENA;
  options.num_threads = threads;
  if (squint_rt_create_from_file_with_options(path.c_str(), &options, &raw) != SQUINT_RT_OK)
    return InvalidInput("{}: {}", path, squint_rt_last_error());
  std::unique_ptr<squint_rt_model, RtDeleter> m(raw);
  std::vector<squint_rt_tensor_info> in_info(static_cast<size_t>(squint_rt_num_inputs(m.get())));
  std::vector<ExpectedInput> expected;
  for (size_t i = 0; i < in_info.size(); ++i) {
    squint_rt_input_info(m.get(), static_cast<int32_t>(i), &in_info[i]);
    expected.push_back({in_info[i].name, Describe(in_info[i]), std::nullopt});
  }
  SQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> inputs, ReadInputs(expected, specs));
  // Any number of samples when the model has a batch (squint_rt_batch_size): every input holds the
  // same N samples along its first dim and the runtime runs them all; else the stored shapes only.
  const int32_t batch = squint_rt_batch_size(m.get());
  int64_t samples = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const squint_rt_tensor_info& info = in_info[i];
    const ir::Dims want = InfoDims(info), got = inputs[i].dims();
    const bool same_sample = batch > 0 && got.size() == want.size() && !got.empty() &&
                             std::equal(want.begin() + 1, want.end(), got.begin() + 1);
    if (got != want && !same_sample)
      return InvalidInput("input '{}': the model expects shape {}{}, the file holds {}", info.name,
                          ir::DimsToString(want),
                          batch > 0 ? fmt::format(" (any multiple of {} samples along the first dim)", batch)
                                    : std::string(" (its shapes are fixed: the ONNX model did not leave the leading "
                                                  "dims free)"),
                          ir::DimsToString(got));
    if (samples >= 0 && got[0] != samples)
      return InvalidInput("input '{}' holds {} samples, the inputs before it {}: every input needs the same count",
                          info.name, got[0], samples);
    samples = got.empty() ? 1 : got[0];
  }
  if (batch > 0) {
    if (samples == 0) return InvalidInput("the inputs hold no samples");
    if (squint_rt_resize_batch(m.get(), samples) != SQUINT_RT_OK)
      return InvalidInput("{}: {}", path, squint_rt_last_error());
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    squint_rt_tensor_info& info = in_info[i];
    squint_rt_input_info(m.get(), static_cast<int32_t>(i), &info);
    const ir::Tensor& t = inputs[i];
    squint_rt_status st;
    if (t.dtype() == ir::DType::kFloat32 || t.dtype() == ir::DType::kFloat64) {
      if (!info.has_quantization)
        return InvalidInput("input '{}' takes integer values ({}), the file holds {}", info.name, Describe(info),
                            ir::DTypeName(t.dtype()));
      const std::vector<float> values = t.ToFloatVector();
      for (size_t k = 0; k < values.size(); ++k)
        if (!std::isfinite(values[k]))
          return InvalidInput("input '{}': value {} at flat index {} is not finite", info.name, values[k], k);
      st = squint_rt_set_input_float(m.get(), static_cast<int32_t>(i), values.data(), values.size());
    } else if (t.dtype() == ir::DType::kBool) {
      return InvalidInput("input '{}': the model expects {}, the file holds bool", info.name, Describe(info));
    } else {
      SQ_ASSIGN_OR_RETURN(ir::Tensor c, ToCodes(t, info));
      st = squint_rt_set_input(m.get(), static_cast<int32_t>(i), c.raw(), c.bytes());
    }
    if (st != SQUINT_RT_OK) return InvalidInput("input '{}': {}", info.name, squint_rt_last_error());
  }
  if (squint_rt_invoke(m.get()) != SQUINT_RT_OK) return Internal("{}: invoke failed: {}", path, squint_rt_last_error());
  std::vector<Output> out;
  for (int32_t i = 0; i < squint_rt_num_outputs(m.get()); ++i) {
    squint_rt_tensor_info info;
    squint_rt_output_info(m.get(), i, &info);
    const ir::DType code_type = CodeDType(info.type);
    if (info.has_quantization) {
      ir::Tensor values(ir::DType::kFloat32, InfoDims(info));
      squint_rt_get_output_float(m.get(), i, values.data<float>(), static_cast<size_t>(values.size()));
      out.push_back({info.name, std::move(values)});
    }
    if (!info.has_quantization || codes) {
      ir::Tensor raw_codes(code_type, InfoDims(info));
      squint_rt_get_output(m.get(), i, raw_codes.raw(), raw_codes.bytes());
      out.push_back({std::string(info.name) + (info.has_quantization ? ".codes" : ""), std::move(raw_codes)});
    }
  }
  return out;
}

}  // namespace

void AddRun(Command& app, Action& action) {
  struct Options {
    std::string model;
    std::vector<std::string> inputs;
    std::string output_dir = ".";
    bool codes = false;
    int32_t threads = 1;
  };
  auto opts = std::make_shared<Options>();
  Command cmd = app.Subcommand(
      "run",
      "Run a model on inputs from .npy/.npz files and write each output as <output name>.npy.\n"
      "An .onnx model runs on squint's float reference evaluator; a .sqnt model on the integer\n"
      "runtime: float inputs are quantized with the input tensor's parameters (integer inputs are\n"
      "taken as codes) and outputs are dequantized to float32.");
  cmd.Add("model", opts->model, "the model: an .onnx or .sqnt file").Required();
  cmd.Add("--input,-i", opts->inputs,
                  "NAME=FILE.npy for one input (repeatable), FILE.npz for all inputs by name,\n"
                  "or FILE.npy alone for a single-input model. Shapes and dtypes must match the model.")
      .Required();
  cmd.Add("--output-dir,-o", opts->output_dir, "folder for the output .npy files (created if missing)")
      .ShowDefault();
  cmd.Flag("--codes", opts->codes,
                ".sqnt only: also write each quantized output's raw integer codes as <output name>.codes.npy");
  cmd.Add("--threads", opts->threads,
                  ".sqnt only: threads for the runtime's optimized GEMMs of 4 M multiply-accumulates a thread\n"
                  "or more, and LayerNorm, Softmax, batched MatMul, LUT and ADD/SUB/MUL of an estimated 3 us\n"
                  "a thread or more (outputs do not change;\n"
                  "the instruction set is the CPU's best, or SQUINT_ISA=reference|avx2|avx512vnni|neon|neondot)")
      .Range(1, 256)
      .ShowDefault();
  cmd.OnChosen([&action, opts] {
    action = [opts]() -> Status {
      const bool sqnt = std::filesystem::path(opts->model).extension() == ".sqnt";
      if (opts->codes && !sqnt) return InvalidInput("--codes applies to .sqnt models only, not '{}'", opts->model);
      SQ_ASSIGN_OR_RETURN(std::vector<Output> outputs,
                          sqnt ? RunSqnt(opts->model, opts->inputs, opts->codes, opts->threads) : RunOnnx(opts->model, opts->inputs));
      return WriteOutputs(opts->output_dir, outputs);
    };
  });
}

}  // namespace squint::cli

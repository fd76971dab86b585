// squint export MODEL.sqnt --format qdq -o MODEL.onnx
#include <fmt/format.h>

#include "base/file.h"
#include "cli/commands.h"
#include "export/qdq_writer.h"
#include "export/sqnt_reader.h"

namespace squint::cli {

void AddExport(Command& app, Action& action) {
  struct Options {
    std::string model;
    std::string format;
    std::string output;
  };
  auto opts = std::make_shared<Options>();
  Command cmd = app.Subcommand(
      "export",
      "Write a quantized model (.sqnt) in another format:  squint export model.sqnt --format qdq -o model_qdq.onnx\n"
      "--format qdq: an ONNX model for ONNX Runtime and other QDQ consumers (opset 17; int16 tensors through\n"
      "ORT's com.microsoft QuantizeLinear/DequantizeLinear): the float graph with QuantizeLinear/DequantizeLinear\n"
      "pairs carrying the .sqnt's scales, zero points and weight codes (after squint's calibration and\n"
      "transforms). Same input and output names and shapes as the .sqnt: float32 in and out, integer inputs\n"
      "(ids, masks) int32; a .sqnt with a batch takes any N samples (a free leading dim N, computed as a Scan\n"
      "over runs of the .sqnt's batch). Ops squint runs in integer arithmetic become float ONNX ops between QDQ pairs: LUT\n"
      "(GELU, ...) exactly, as Gather from a table indexed by the input's codes; LAYER_NORM a float\n"
      "LayerNormalization with gamma/beta rebuilt from the integer ones; SOFTMAX a float Softmax (masks by\n"
      "Where) quantized on the .sqnt's output grid; log-grid softmax outputs their grid values by comparisons\n"
      "with the thresholds and a Gather (docs/export.md lists every op). The .sqnt is verified by the runtime's\n"
      "checks first. An op ONNX cannot express is an error naming the op and tensor (exit 2) and no file is\n"
      "written.");
  cmd.Add("model", opts->model, "the quantized model (.sqnt)").Required();
  cmd.Add("--format", opts->format, "output format: qdq (the only one so far)").Required();
  cmd.Add("-o,--output", opts->output, "the file to write (.onnx); written atomically").Required();
  cmd.OnChosen([&action, opts] {
    action = [opts]() -> Status {
      if (opts->format != "qdq") return InvalidInput("--format '{}': the formats are: qdq", opts->format);
      SQ_RETURN_IF_ERROR(CheckWritable(opts->output));
      SQ_ASSIGN_OR_RETURN(std::unique_ptr<fb::ModelT> model, exporter::ReadSqnt(opts->model));
      SQ_RETURN_IF_ERROR(exporter::WriteQdq(opts->output, *model).WithContext(opts->model));
      fmt::print("wrote {} (QDQ ONNX, {} ops of {})\n", opts->output, model->operators.size(), opts->model);
      return Status::Ok();
    };
  });
}

}  // namespace squint::cli

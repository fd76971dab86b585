// squint inspect MODEL.onnx|MODEL.sqnt [--json] [--input-shape NAME=DIMS]...
#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/load_model.h"
#include "base/file.h"
#include "report/model_summary.h"
#include "report/sqnt_summary.h"

namespace squint::cli {

void AddInspect(Command& app, Action& action) {
  struct Options {
    std::string model;
    bool json = false;
    std::vector<std::string> input_shapes;
  };
  auto opts = std::make_shared<Options>();
  Command cmd = app.Subcommand(
      "inspect",
      "Show a model's opset, inputs and outputs with shapes, op histogram, parameter count and bytes,\n"
      "MACs per op type, and which canonicalization passes fired (fusions squint applies before quantizing).\n"
      "For a .sqnt model: tensors with type, shape and quantization parameters, the op list, bytes by kind\n"
      "(weights, biases, tables, metadata), the arena plan (size and lower bound) and the provenance.");
  cmd.Add("model", opts->model, "the model: an .onnx or .sqnt file").Required();
  cmd.Flag("--json", opts->json, "print machine-readable JSON instead of text");
  cmd.Add("--input-shape", opts->input_shapes,
                  "bind an input's symbolic dims, e.g. input=1x1x28x28 (repeatable); makes shapes and MACs exact");
  cmd.OnChosen([&action, opts] {
    action = [opts]() -> Status {
      if (std::filesystem::path(opts->model).extension() == ".sqnt") {
        if (!opts->input_shapes.empty()) return InvalidInput("--input-shape applies to .onnx models only");
        SQ_ASSIGN_OR_RETURN(std::string bytes, ReadFile(opts->model));
        SQ_ASSIGN_OR_RETURN(report::SqntSummary s, report::SummarizeSqnt(opts->model, bytes));
        fmt::print("{}", opts->json ? report::ToJson(s).dump(2) + "\n" : report::FormatText(s));
        return Status::Ok();
      }
      SQ_ASSIGN_OR_RETURN(LoadedModel m, LoadOnnxModel(opts->model, opts->input_shapes));
      report::ModelSummary s = report::Summarize(m.graph);
      s.passes_fired = m.passes_fired;
      if (opts->json)
        fmt::print("{}\n", report::ToJson(s).dump(2));
      else
        fmt::print("{}", report::FormatText(s));
      return Status::Ok();
    };
  });
}

}  // namespace squint::cli

// squint run MODEL.onnx --input NAME=FILE.npy ... --output-dir DIR
#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/input_data.h"
#include "cli/load_model.h"
#include "ir/eval/evaluator.h"
#include "ir/npy.h"

namespace squint::cli {

void AddRun(CLI::App& app, Action& action) {
  struct Options {
    std::string model;
    std::vector<std::string> inputs;
    std::string output_dir = ".";
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Run a model on inputs from .npy/.npz files and write each output as <output name>.npy.\n"
      "An .onnx model runs on squint's float reference evaluator.");
  cmd->add_option("model", opts->model, "the model: an .onnx file")->required();
  cmd->add_option("--input,-i", opts->inputs,
                  "NAME=FILE.npy for one input (repeatable), FILE.npz for all inputs by name,\n"
                  "or FILE.npy alone for a single-input model. Shapes and dtypes must match the model.")
      ->required();
  cmd->add_option("--output-dir,-o", opts->output_dir, "folder for the output .npy files (created if missing)")
      ->capture_default_str();
  cmd->callback([&action, opts] {
    action = [opts]() -> Status {
      SQ_ASSIGN_OR_RETURN(LoadedModel m, LoadOnnxModel(opts->model, {}));
      SQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> inputs, ReadInputs(m.graph, opts->inputs));
      ir::eval::Evaluator evaluator(m.graph);
      SQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> outputs, evaluator.Run(inputs));
      std::error_code ec;
      std::filesystem::create_directories(opts->output_dir, ec);
      if (ec) return InvalidInput("cannot create output folder '{}': {}", opts->output_dir, ec.message());
      for (size_t i = 0; i < outputs.size(); ++i) {
        const std::string& name = m.graph.value(m.graph.outputs[i]).name;
        const std::string path = (std::filesystem::path(opts->output_dir) / (SafeFileName(name) + ".npy")).string();
        SQ_RETURN_IF_ERROR(ir::WriteNpy(path, outputs[i]));
        fmt::print("{}: {} {} -> {}\n", name, ir::DTypeName(outputs[i].dtype()), ir::DimsToString(outputs[i].dims()),
                   path);
      }
      return Status::Ok();
    };
  });
}

}  // namespace squint::cli

#include "cli/load_model.h"

#include <map>

#include "importers/onnx/onnx_importer.h"
#include "ir/eval/shape_inference.h"
#include "passes/pipeline.h"

namespace squint::cli {

Result<LoadedModel> LoadOnnxModel(const std::string& path, const std::vector<std::string>& input_shapes,
                                  bool batch_one) {
  LoadedModel m;
  SQ_ASSIGN_OR_RETURN(m.graph, importers::ImportOnnxFile(path));
  std::map<std::string, ir::Dims> shapes;
  for (const std::string& spec : input_shapes) {
    SQ_ASSIGN_OR_RETURN(auto parsed, ir::eval::ParseInputShape(spec));
    shapes[parsed.first] = parsed.second;
  }
  if (batch_one) {
    for (ir::ValueId id : m.graph.inputs) {
      const ir::Value& v = m.graph.value(id);
      if (shapes.count(v.name)) continue;
      if (!v.shape) return InvalidInput("input '{}' has unknown rank: give --input-shape {}=DIMS", v.name, v.name);
      ir::Dims dims;
      for (size_t i = 0; i < v.shape->size(); ++i) {
        const ir::Dim& d = (*v.shape)[i];
        if (d.known()) {
          dims.push_back(d.value);
        } else if (i == 0) {
          dims.push_back(1);
        } else {
          return InvalidInput("input '{}' has shape {}: give --input-shape {}=DIMS to fix its dims", v.name,
                              ir::ShapeToString(*v.shape), v.name);
        }
      }
      shapes[v.name] = dims;
    }
  }
  if (!shapes.empty()) SQ_RETURN_IF_ERROR(ir::eval::BindInputShapes(m.graph, shapes).WithContext("'" + path + "'"));
  SQ_ASSIGN_OR_RETURN(passes::PipelineReport report, passes::Canonicalize(m.graph));
  for (const auto& [name, count] : report.fired) m.passes_fired.emplace_back(name, count);
  return m;
}

}  // namespace squint::cli

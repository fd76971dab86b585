#include "cli/load_model.h"

#include <algorithm>
#include <map>

#include "importers/onnx/onnx_importer.h"
#include "ir/eval/shape_inference.h"
#include "passes/pipeline.h"

namespace squint::cli {

Result<LoadedModel> LoadOnnxModel(const std::string& path, const std::vector<std::string>& input_shapes,
                                  bool batch_one, const std::optional<ir::Dims>& sample_dims) {
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
      const bool from_data =
          sample_dims && m.graph.inputs.size() == 1 && sample_dims->size() + 1 == v.shape->size() &&
          std::any_of(v.shape->begin() + 1, v.shape->end(), [](const ir::Dim& d) { return !d.known(); });
      if (from_data) {  // the data's sample dims fill the unknown ones (batch 1)
        ir::Dims dims = {1};
        dims.insert(dims.end(), sample_dims->begin(), sample_dims->end());
        for (size_t i = 1; i < dims.size(); ++i)
          if ((*v.shape)[i].known() && (*v.shape)[i].value != dims[i])
            return InvalidInput("input '{}' has shape {} but the data's samples are {}: dim {} differs", v.name,
                                ir::ShapeToString(*v.shape), ir::DimsToString(*sample_dims), i);
        shapes[v.name] = dims;
        continue;
      }
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

#include "cli/load_model.h"

#include <algorithm>
#include <map>
#include <optional>

#include <fmt/core.h>

#include "importers/onnx/onnx_importer.h"
#include "ir/eval/shape_inference.h"
#include "passes/pipeline.h"

namespace squint::cli {

Result<LoadedModel> LoadOnnxModel(const std::string& path, const std::vector<std::string>& input_shapes,
                                  bool batch_one, const DataDimsFn& data_dims) {
  LoadedModel m;
  SQ_ASSIGN_OR_RETURN(m.graph, importers::ImportOnnxFile(path));
  std::map<std::string, ir::Dims> shapes;
  bool batched = false;  // every input and output leads with a free dim
  for (const std::string& spec : input_shapes) {
    SQ_ASSIGN_OR_RETURN(auto parsed, ir::eval::ParseInputShape(spec));
    shapes[parsed.first] = parsed.second;
  }
  if (batch_one) {
    auto free_leading = [&](ir::ValueId id) {
      const ir::Value& v = m.graph.value(id);
      return v.shape && !v.shape->empty() && !(*v.shape)[0].known();
    };
    batched = !m.graph.inputs.empty() && std::all_of(m.graph.inputs.begin(), m.graph.inputs.end(), free_leading) &&
              std::all_of(m.graph.outputs.begin(), m.graph.outputs.end(), free_leading);
    std::optional<std::map<std::string, ir::Dims>> from_data;  // read once, when first needed
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
        } else if (data_dims) {
          if (!from_data) {
            SQ_ASSIGN_OR_RETURN(from_data, data_dims(m.graph));
          }
          auto it = from_data->find(v.name);
          if (it == from_data->end() || it->second.size() + 1 != v.shape->size())
            return InvalidInput("input '{}' has shape {} and the data does not fix dim {}: give --input-shape {}=DIMS",
                                v.name, ir::ShapeToString(*v.shape), i, v.name);
          dims.push_back(it->second[i - 1]);
        } else {
          return InvalidInput("input '{}' has shape {}: give --input-shape {}=DIMS to fix its dims", v.name,
                              ir::ShapeToString(*v.shape), v.name);
        }
      }
      const bool bound_from_data = std::any_of(v.shape->begin() + 1, v.shape->end(),
                                               [](const ir::Dim& d) { return !d.known(); });
      if (bound_from_data)
        fmt::print(stderr, "input '{}' {}: bound to {} from the data (--input-shape {}=DIMS chooses otherwise)\n",
                   v.name, ir::ShapeToString(*v.shape), ir::DimsToString(dims), v.name);
      shapes[v.name] = dims;
    }
  }
  // The batch: the leading dim every input was bound to (by --input-shape or to 1), when the model
  // leaves all leading dims free; inputs bound to different leading dims make the shapes fixed.
  if (batched) {
    for (ir::ValueId id : m.graph.inputs) {
      const auto it = shapes.find(m.graph.value(id).name);
      if (it == shapes.end()) {
        m.batch = 0;
        break;
      }
      const ir::Dims& d = it->second;
      if (d.empty() || d[0] < 1 || d[0] > INT32_MAX || (m.batch != 0 && d[0] != m.batch)) {
        m.batch = 0;
        break;
      }
      m.batch = static_cast<int32_t>(d[0]);
    }
  }
  if (!shapes.empty()) SQ_RETURN_IF_ERROR(ir::eval::BindInputShapes(m.graph, shapes).WithContext("'" + path + "'"));
  SQ_ASSIGN_OR_RETURN(passes::PipelineReport report, passes::Canonicalize(m.graph));
  for (const auto& [name, count] : report.fired) m.passes_fired.emplace_back(name, count);
  return m;
}

}  // namespace squint::cli

#include "cli/input_data.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <tuple>

#include "cli/parse.h"
#include "ir/npy.h"

namespace squint::cli {

Result<std::vector<ir::Tensor>> ReadInputs(const ir::Graph& g, const std::vector<std::string>& specs) {
  std::vector<ExpectedInput> expected;
  for (ir::ValueId id : g.inputs) {
    const ir::Value& v = g.value(id);
    expected.push_back({v.name, std::string(ir::DTypeName(v.dtype)) + " " + (v.shape ? ir::ShapeToString(*v.shape) : "?"),
                        v.dtype});
  }
  return ReadInputs(expected, specs);
}

Result<std::vector<ir::Tensor>> ReadInputs(const std::vector<ExpectedInput>& expected,
                                           const std::vector<std::string>& specs) {
  std::map<std::string, ir::Tensor> by_name;
  auto add = [&](const std::string& name, ir::Tensor t, const std::string& spec) -> Status {
    if (!by_name.emplace(name, std::move(t)).second)
      return InvalidInput("--input {}: input '{}' is given more than once", spec, name);
    return Status::Ok();
  };
  for (const std::string& spec : specs) {
    const InputArg arg = ParseInputArg(spec);
    if (arg.kind == InputArg::Kind::kNamed) {
      SQ_ASSIGN_OR_RETURN(ir::Tensor t, ir::ReadNpy(arg.path));
      SQ_RETURN_IF_ERROR(add(arg.name, std::move(t), spec));
    } else if (arg.kind == InputArg::Kind::kNpz) {
      SQ_ASSIGN_OR_RETURN(auto arrays, ir::ReadNpz(arg.path));
      for (auto& [name, t] : arrays) SQ_RETURN_IF_ERROR(add(name, std::move(t), spec));
    } else {
      if (expected.size() != 1)
        return InvalidInput("--input {}: the model has {} inputs; name each as NAME=FILE.npy or give a .npz", spec,
                            expected.size());
      SQ_ASSIGN_OR_RETURN(ir::Tensor t, ir::ReadNpy(arg.path));
      SQ_RETURN_IF_ERROR(add(expected[0].name, std::move(t), spec));
    }
  }
  std::vector<ir::Tensor> out;
  std::string missing;
  for (const ExpectedInput& v : expected) {
    auto it = by_name.find(v.name);
    if (it == by_name.end()) {
      missing += (missing.empty() ? "'" : ", '") + v.name + "' (" + v.description + ")";
      continue;
    }
    if (v.dtype && it->second.dtype() != *v.dtype)
      return InvalidInput("input '{}': the model expects {}, the file holds {} (convert with numpy's astype)", v.name,
                          ir::DTypeName(*v.dtype), ir::DTypeName(it->second.dtype()));
    out.push_back(std::move(it->second));
    by_name.erase(it);
  }
  if (!missing.empty()) return InvalidInput("missing model inputs: {}", missing);
  if (!by_name.empty()) {
    std::string names;
    for (const auto& [name, t] : by_name) names += (names.empty() ? "'" : ", '") + name + "'";
    std::string known;
    for (const ExpectedInput& v : expected) known += (known.empty() ? "'" : ", '") + v.name + "'";
    return InvalidInput("the model has no input named {}; its inputs are {}", names, known);
  }
  return out;
}

std::string SafeFileName(const std::string& tensor_name) {
  std::string out = tensor_name.empty() ? "output" : tensor_name;
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  if (out == "." || out == "..") out = "output";
  return out;
}

void AddImageFlags(Command& cmd, ImageFlags& f) {
  f.given = {
      cmd.Add("--mean", f.mean, "image folders: x = (pixel/255 - mean)/std; one value or one per channel")
          .Delimiter(',')
          .ShowDefault(),
      cmd.Add("--std", f.std, "image folders: see --mean").Delimiter(',').ShowDefault(),
      cmd.Add("--size", f.size, "image folders: resize images to HxW (default: the model input's size)")};
}

namespace {
Result<quant::ImageOptions> ImageOptionsOf(const ImageFlags& f) {
  quant::ImageOptions o;
  o.mean = f.mean;
  o.std = f.std;
  if (!f.size.empty()) {
    SQ_ASSIGN_OR_RETURN(std::tie(o.height, o.width), ParseImageSize(f.size));
  }
  return o;
}
}  // namespace

Result<std::map<std::string, ir::Dims>> SampleDimsFromData(const std::string& path, const ir::Graph& g,
                                                           const ImageFlags& f) {
  SQ_ASSIGN_OR_RETURN(quant::ImageOptions o, ImageOptionsOf(f));
  std::vector<quant::InputSpec> specs;
  for (ir::ValueId id : g.inputs) {
    const ir::Value& v = g.value(id);
    if (!v.shape) return InvalidInput("input '{}' has unknown rank: give --input-shape {}=DIMS", v.name, v.name);
    ir::Dims dims;
    for (size_t i = 1; i < v.shape->size(); ++i) dims.push_back((*v.shape)[i].known() ? (*v.shape)[i].value : -1);
    specs.push_back({v.name, v.dtype, dims});
  }
  SQ_ASSIGN_OR_RETURN(quant::CalibData data, quant::LoadCalibData(path, specs, o));
  std::map<std::string, ir::Dims> out;
  for (size_t k = 0; k < specs.size(); ++k) {
    const ir::Dims& d = data.tensors[k].dims();
    out[specs[k].name] = ir::Dims(d.begin() + 1, d.end());
  }
  return out;
}

Result<quant::CalibData> LoadData(const std::string& flag, const std::string& path, const ir::Graph& g,
                                  const ImageFlags& f) {
  SQ_ASSIGN_OR_RETURN(quant::ImageOptions o, ImageOptionsOf(f));
  std::vector<quant::InputSpec> specs;
  for (ir::ValueId id : g.inputs) {
    const ir::Value& v = g.value(id);
    ir::Dims dims = *ir::DimsFromShape(*v.shape);
    dims.erase(dims.begin());  // the sample axis
    specs.push_back({v.name, v.dtype, dims});
  }
  SQ_ASSIGN_OR_RETURN(quant::CalibData data, quant::LoadCalibData(path, specs, o));
  const bool images = std::any_of(data.files.begin(), data.files.end(), [](const std::string& file) {
    const std::string ext = std::filesystem::path(file).extension().string();
    return ext != ".npy" && ext != ".npz";
  });
  for (const Option& opt : f.given)
    if (opt.Given() && !images)
      return InvalidInput("{} '{}' holds arrays, not images: {} applies to image folders only (arrays are used as they are)",
                          flag, path, opt.Name());
  return data;
}

Result<std::optional<ir::Tensor>> LoadLabels(const std::string& labels_path, const quant::CalibData& data,
                                             const std::string& data_path) {
  if (labels_path.empty()) return data.labels;
  SQ_ASSIGN_OR_RETURN(ir::Tensor labels, ir::ReadNpy(labels_path));
  if (labels.rank() < 1 || labels.dim(0) != data.num_samples)
    return InvalidInput("--labels '{}': {} labels for the {} samples of '{}'", labels_path,
                        labels.rank() ? labels.dim(0) : 0, data.num_samples, data_path);
  return std::optional<ir::Tensor>(std::move(labels));
}

}  // namespace squint::cli

#include "quant/calib_data.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/npy.h"
#include "quant/image_folder.h"

namespace squint::quant {
namespace fs = std::filesystem;
namespace {

using NamedArrays = std::vector<std::pair<std::string, ir::Tensor>>;

std::string ExpectedShape(const InputSpec& spec) {
  std::string s = "N";
  for (int64_t d : spec.dims) s += d < 0 ? "x?" : fmt::format("x{}", d);
  return s;
}

std::string InputNames(const std::vector<InputSpec>& inputs) {
  std::vector<std::string> names;
  for (const InputSpec& in : inputs) names.push_back("'" + in.name + "'");
  return fmt::format("{}", fmt::join(names, ", "));
}

std::string ArrayNames(const NamedArrays& arrays) {
  std::vector<std::string> names;
  for (const auto& [name, t] : arrays) names.push_back("'" + name + "'");
  return names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "));
}

// Row-major multi-index of flat element `flat` in dims.
std::string IndexString(const ir::Dims& dims, int64_t flat) {
  std::vector<int64_t> idx(dims.size());
  for (size_t k = dims.size(); k-- > 0;) {
    idx[k] = flat % dims[k];
    flat /= dims[k];
  }
  return fmt::format("[{}]", fmt::join(idx, ", "));
}

template <typename T>
std::optional<int64_t> FirstNonFinite(const ir::Tensor& t) {
  const T* p = t.data<T>();
  for (int64_t i = 0; i < t.size(); ++i)
    if (!std::isfinite(p[i])) return i;
  return std::nullopt;
}

// Checks one array against its input: dtype, shape (sample axis first), finite floats.
Status CheckArray(const std::string& file, const InputSpec& spec, const ir::Tensor& t) {
  if (t.dtype() != spec.dtype)
    return InvalidInput("'{}': input '{}': dtype {}, expected {}", file, spec.name, ir::DTypeName(t.dtype()),
                        ir::DTypeName(spec.dtype));
  bool shape_ok = t.rank() == static_cast<int64_t>(spec.dims.size()) + 1;
  for (size_t k = 0; shape_ok && k < spec.dims.size(); ++k)
    shape_ok = spec.dims[k] < 0 || spec.dims[k] == t.dim(static_cast<int64_t>(k) + 1);
  if (!shape_ok)
    return InvalidInput("'{}': input '{}': shape {}, expected {} (samples on the first axis)", file, spec.name,
                        ir::DimsToString(t.dims()), ExpectedShape(spec));
  std::optional<int64_t> bad;
  if (t.dtype() == ir::DType::kFloat32) bad = FirstNonFinite<float>(t);
  if (t.dtype() == ir::DType::kFloat64) bad = FirstNonFinite<double>(t);
  if (bad) {
    const double v = t.dtype() == ir::DType::kFloat32 ? t.data<float>()[*bad] : t.data<double>()[*bad];
    return InvalidInput("'{}': input '{}': {} at index {} (sample {}); calibration data must be finite", file,
                        spec.name, std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"), IndexString(t.dims(), *bad),
                        *bad / std::max<int64_t>(1, t.size() / std::max<int64_t>(1, t.dim(0))));
  }
  return Status::Ok();
}

// The arrays of one file, one per input, in input order.
Result<std::vector<ir::Tensor>> ReadArrays(const std::string& file, const std::vector<InputSpec>& inputs) {
  std::vector<ir::Tensor> out;
  const std::string ext = fs::path(file).extension().string();
  if (ext == ".npy") {
    if (inputs.size() != 1)
      return InvalidInput("'{}': a .npy file holds one array but the model has {} inputs ({}); use a .npz "
                          "with one array per input, named after it",
                          file, inputs.size(), InputNames(inputs));
    SQ_ASSIGN_OR_RETURN(ir::Tensor t, ir::ReadNpy(file));
    SQ_RETURN_IF_ERROR(CheckArray(file, inputs[0], t));
    out.push_back(std::move(t));
    return out;
  }
  SQ_ASSIGN_OR_RETURN(NamedArrays arrays, ir::ReadNpz(file));
  for (const InputSpec& spec : inputs) {
    auto it = std::find_if(arrays.begin(), arrays.end(), [&](const auto& a) { return a.first == spec.name; });
    if (it == arrays.end() && inputs.size() == 1 && arrays.size() == 1 && arrays[0].first == "arr_0")
      it = arrays.begin();
    if (it == arrays.end())
      return InvalidInput("'{}': no array for input '{}' (arrays in the file: {}; model inputs: {})", file,
                          spec.name, ArrayNames(arrays), InputNames(inputs));
    SQ_RETURN_IF_ERROR(CheckArray(file, spec, it->second));
    out.push_back(std::move(it->second));
  }
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].dim(0) != out[0].dim(0))
      return InvalidInput("'{}': inconsistent sample counts: input '{}' has {} samples, input '{}' has {}", file,
                          inputs[0].name, out[0].dim(0), inputs[i].name, out[i].dim(0));
  }
  return out;
}

Result<std::vector<std::string>> ListFiles(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return InvalidInput("calibration data '{}': no such file or folder", path);
  if (fs::is_directory(st)) {
    std::vector<std::string> files;
    for (const fs::directory_entry& e : fs::directory_iterator(path, ec)) {
      const std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".npy" || ext == ".npz")) files.push_back(e.path().string());
    }
    if (ec) return InvalidInput("calibration data '{}': cannot list the folder: {}", path, ec.message());
    if (files.empty()) return InvalidInput("calibration data folder '{}' holds no .npy, .npz or image files", path);
    std::sort(files.begin(), files.end());
    return files;
  }
  const std::string ext = fs::path(path).extension().string();
  if (ext != ".npy" && ext != ".npz")
    return InvalidInput("calibration data '{}': expected a .npy or .npz file or a folder of them", path);
  return std::vector<std::string>{path};
}

}  // namespace

Result<CalibData> LoadCalibData(const std::string& path, const std::vector<InputSpec>& inputs,
                                const ImageOptions& images) {
  if (inputs.empty()) return InvalidInput("calibration data '{}': the model has no inputs", path);
  if (IsImageFolder(path)) return LoadImageFolder(path, inputs, images);
  SQ_ASSIGN_OR_RETURN(std::vector<std::string> files, ListFiles(path));

  std::vector<std::vector<ir::Tensor>> parts;  // per file, per input
  int64_t total = 0;
  for (const std::string& file : files) {
    SQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> arrays, ReadArrays(file, inputs));
    if (!parts.empty()) {  // wildcard dims must agree with the first file to concatenate
      for (size_t i = 0; i < inputs.size(); ++i) {
        const ir::Dims& first = parts[0][i].dims();
        if (!std::equal(first.begin() + 1, first.end(), arrays[i].dims().begin() + 1, arrays[i].dims().end()))
          return InvalidInput("'{}': input '{}': shape {} cannot be concatenated with {} from '{}'", file,
                              inputs[i].name, ir::DimsToString(arrays[i].dims()), ir::DimsToString(first),
                              files[0]);
      }
    }
    total += arrays[0].dim(0);
    parts.push_back(std::move(arrays));
  }
  if (total == 0) return InvalidInput("calibration data '{}' holds no samples", path);

  CalibData data;
  data.inputs = inputs;
  data.files = files;
  data.num_samples = total;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ir::Dims dims = parts[0][i].dims();
    dims[0] = total;
    SQ_ASSIGN_OR_RETURN(ir::Tensor all, ir::Tensor::Create(inputs[i].dtype, dims));
    auto* dst = static_cast<char*>(all.raw());
    for (const auto& file_arrays : parts) {
      std::memcpy(dst, file_arrays[i].raw(), file_arrays[i].bytes());
      dst += file_arrays[i].bytes();
    }
    data.tensors.push_back(std::move(all));
  }
  return data;
}

int64_t CalibData::NumBatches(int64_t batch_size) const {
  if (batch_size <= 0) return 0;
  return (num_samples + batch_size - 1) / batch_size;
}

Result<std::vector<ir::Tensor>> CalibData::Samples(int64_t begin, int64_t count) const {
  if (begin < 0 || count <= 0 || begin >= num_samples)
    return InvalidInput("calibration samples [{}, {}) out of range: {} samples", begin, begin + count,
                        num_samples);
  count = std::min(count, num_samples - begin);
  std::vector<ir::Tensor> out;
  for (const ir::Tensor& t : tensors) {
    ir::Dims dims = t.dims();
    dims[0] = count;
    ir::Tensor part(t.dtype(), dims);
    const size_t sample_bytes = t.bytes() / static_cast<size_t>(num_samples);
    std::memcpy(part.raw(), static_cast<const char*>(t.raw()) + sample_bytes * static_cast<size_t>(begin),
                sample_bytes * static_cast<size_t>(count));
    out.push_back(std::move(part));
  }
  return out;
}

Result<std::vector<ir::Tensor>> CalibData::Batch(int64_t index, int64_t batch_size) const {
  if (batch_size <= 0) return InvalidInput("batch size {} must be positive", batch_size);
  return Samples(index * batch_size, batch_size);
}

}  // namespace squint::quant

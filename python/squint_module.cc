// squint._squint: the Python module's native part (pybind11). Model wraps the runtime's C API
// (runtime/squint_rt.h) with numpy arrays; main runs the command line in-process (squint.quantize
// and friends in python/squint/__init__.py build its arguments).
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "cli/commands.h"
#include "runtime/dispatch.h"
#include "runtime/squint_rt.h"
#include "runtime/tensor_codes.h"

namespace py = pybind11;

namespace {

struct Destroy {
  void operator()(squint_rt_model* m) const { squint_rt_destroy(m); }
};

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

void Check(squint_rt_status s, const std::string& what) {
  if (s != SQUINT_RT_OK) Fail(what + ": " + squint_rt_last_error());
}

py::dict InfoDict(const squint_rt_tensor_info& i) {
  py::dict d;
  d["name"] = i.name;
  d["dtype"] = squint_rt_type_name(i.type);
  d["shape"] = py::tuple(py::cast(std::vector<int64_t>(i.dims, i.dims + i.rank)));
  d["scale"] = i.has_quantization ? py::cast(i.scale) : py::none();
  d["zero_point"] = i.has_quantization ? py::cast(i.zero_point) : py::none();
  d["log_grid_bits"] = i.log_grid_bits;
  return d;
}

class Model {
 public:
  Model(const std::string& path, const std::string& isa, int32_t threads) : path_(path) {
    squint_rt_options o;
    squint_rt_options_init(&o);
    o.flags = SQUINT_RT_ALLOCATE_ARENA;
    o.num_threads = threads;
    // The runtime's own names (dispatch.h); squint_rt_isa shares rt::Isa's values (squint_rt.cc).
    squint::rt::Isa chosen = squint::rt::Isa::kAuto;
    if (!isa.empty() && isa != "auto" && !squint::rt::ParseIsa(isa.c_str(), &chosen))
      Fail("isa '" + isa + "': expected auto, reference, avx2, avx512vnni, neon or neondot");
    o.isa = static_cast<squint_rt_isa>(chosen);
    squint_rt_model* raw = nullptr;
    Check(squint_rt_create_from_file_with_options(path.c_str(), &o, &raw), path);
    m_.reset(raw);
    for (int32_t i = 0; i < squint_rt_num_inputs(raw); ++i) {
      stored_inputs_.push_back(Info(i, true));
      input_dims_.emplace_back(stored_inputs_.back().dims, stored_inputs_.back().dims + stored_inputs_.back().rank);
      inputs_.append(InfoDict(stored_inputs_.back()));
    }
    for (int32_t i = 0; i < squint_rt_num_outputs(raw); ++i) outputs_.append(InfoDict(Info(i, false)));
  }

  // At the stored shapes (the leading dim is free when batch_size > 0).
  py::list Infos(bool inputs) const { return inputs ? inputs_ : outputs_; }
  int32_t batch_size() const { return squint_rt_batch_size(m_.get()); }
  std::string isa() const { return squint_rt_isa_name(m_.get()); }

  // inputs: name -> array. Float arrays are quantized with the input's grid, integer arrays are
  // codes (range-checked). With a batch, any number of samples along the first axis.
  py::dict Run(const py::dict& feeds) {
    const int32_t n_in = squint_rt_num_inputs(m_.get());
    if (static_cast<int32_t>(feeds.size()) != n_in)
      Fail(path_ + ": " + std::to_string(n_in) + " inputs expected, got " + std::to_string(feeds.size()));
    std::vector<py::array> arrays;
    int64_t samples = -1;
    const int32_t batch = batch_size();
    for (int32_t i = 0; i < n_in; ++i) {
      squint_rt_tensor_info info = stored_inputs_[static_cast<size_t>(i)];
      info.dims = input_dims_[static_cast<size_t>(i)].data();
      if (!feeds.contains(info.name)) Fail(path_ + ": no array for input '" + info.name + "'");
      py::array a = py::array::ensure(feeds[info.name]);
      if (!a) Fail("input '" + std::string(info.name) + "': not an array");
      const bool same_sample = batch > 0 && a.ndim() == info.rank && a.ndim() > 0 &&
                               std::equal(info.dims + 1, info.dims + info.rank, a.shape() + 1,
                                          [](int32_t d, py::ssize_t s) { return d == s; });
      const bool exact = a.ndim() == info.rank && std::equal(info.dims, info.dims + info.rank, a.shape(),
                                                             [](int32_t d, py::ssize_t s) { return d == s; });
      if (!exact && !same_sample)
        Fail("input '" + std::string(info.name) + "': shape " + Shape(a) + ", the model expects " +
             Shape(info) + (batch > 0 ? " (any number of samples along the first axis)" : " (fixed shapes)"));
      const int64_t s = info.rank > 0 ? a.shape(0) : 1;
      if (samples >= 0 && s != samples)
        Fail("input '" + std::string(info.name) + "' has " + std::to_string(s) + " samples, the inputs before it " +
             std::to_string(samples));
      samples = s;
      arrays.push_back(a);
    }
    if (batch > 0) {
      if (samples <= 0 || samples % batch != 0) Fail("the inputs hold " + std::to_string(samples) + " samples");
      Check(squint_rt_resize_batch(m_.get(), samples), path_);
    }
    for (int32_t i = 0; i < n_in; ++i) SetInput(i, arrays[static_cast<size_t>(i)]);
    Check(squint_rt_invoke(m_.get()), path_ + ": invoke");
    py::dict out;
    for (int32_t i = 0; i < squint_rt_num_outputs(m_.get()); ++i) {
      const squint_rt_tensor_info info = Info(i, false);
      std::vector<py::ssize_t> shape(info.dims, info.dims + info.rank);
      if (info.has_quantization || info.log_grid_bits > 0) {
        py::array_t<float> values(shape);
        Check(squint_rt_get_output_float(m_.get(), i, values.mutable_data(), static_cast<size_t>(info.num_elements)),
              info.name);
        out[info.name] = values;
      } else {
        py::array codes(py::dtype(squint_rt_type_name(info.type)), shape);
        Check(squint_rt_get_output(m_.get(), i, codes.mutable_data(), info.bytes), info.name);
        out[info.name] = codes;
      }
    }
    return out;
  }

 private:
  // Input/output i's info at the current batch.
  squint_rt_tensor_info Info(int32_t i, bool input) const {
    squint_rt_tensor_info info;
    Check(input ? squint_rt_input_info(m_.get(), i, &info) : squint_rt_output_info(m_.get(), i, &info), path_);
    return info;
  }
  static std::string Shape(const py::array& a) {
    std::string s;
    for (py::ssize_t k = 0; k < a.ndim(); ++k) s += (k ? "x" : "") + std::to_string(a.shape(k));
    return s.empty() ? "scalar" : s;
  }
  static std::string Shape(const squint_rt_tensor_info& i) {
    std::string s;
    for (int32_t k = 0; k < i.rank; ++k) s += (k ? "x" : "") + std::to_string(i.dims[k]);
    return s.empty() ? "scalar" : s;
  }
  void SetInput(int32_t i, const py::array& a) {
    const squint_rt_tensor_info info = Info(i, true);
    const std::string name = info.name;
    if (a.dtype().kind() == 'f') {
      if (!info.has_quantization) Fail("input '" + name + "' takes integer codes (" + squint_rt_type_name(info.type) + "), got floats");
      py::array_t<float, py::array::c_style | py::array::forcecast> f(a);
      for (py::ssize_t k = 0; k < f.size(); ++k)
        if (!std::isfinite(f.data()[k])) Fail("input '" + name + "': value at flat index " + std::to_string(k) + " is not finite");
      Check(squint_rt_set_input_float(m_.get(), i, f.data(), static_cast<size_t>(f.size())), name);
    } else if (a.dtype().kind() == 'i' || a.dtype().kind() == 'u') {
      py::array_t<int64_t, py::array::c_style | py::array::forcecast> v(a);
      const auto type = static_cast<squint::fb::ElementType>(info.type);  // the same values (squint_rt.cc)
      const int64_t lo = squint::rt::CodeMin(type), hi = squint::rt::CodeMax(type);
      py::array codes(py::dtype(squint_rt_type_name(info.type)), std::vector<py::ssize_t>{v.size()});
      for (py::ssize_t k = 0; k < v.size(); ++k) {
        const int64_t x = v.data()[k];
        if (x < lo || x > hi)
          Fail("input '" + name + "': value " + std::to_string(x) + " at flat index " + std::to_string(k) +
               " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "] of " +
               squint_rt_type_name(info.type));
        squint::rt::StoreCode(codes.mutable_data(), type, k, static_cast<int32_t>(x));
      }
      Check(squint_rt_set_input(m_.get(), i, codes.data(), info.bytes), name);
    } else {
      Fail("input '" + name + "': dtype " + std::string(py::str(a.dtype())) + " is neither float nor integer");
    }
  }

  std::string path_;
  std::unique_ptr<squint_rt_model, Destroy> m_;
  std::vector<squint_rt_tensor_info> stored_inputs_;  // at create (their dims pointers go stale: input_dims_)
  std::vector<std::vector<int32_t>> input_dims_;
  py::list inputs_, outputs_;
};

int Main(const std::vector<std::string>& args) {
  std::vector<const char*> argv = {"squint"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  py::gil_scoped_release release;  // quantization takes a while; other Python threads may run
  return squint::cli::Main(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

PYBIND11_MODULE(_squint, m) {
  m.doc() = "squint's native module: the integer runtime (Model) and the command line (main)";
  m.attr("runtime_version") = squint_rt_version();
  py::class_<Model>(m, "Model")
      .def(py::init<const std::string&, const std::string&, int32_t>(), py::arg("path"), py::arg("isa") = "auto",
           py::arg("threads") = 1)
      .def_property_readonly("inputs", [](const Model& self) { return self.Infos(true); })
      .def_property_readonly("outputs", [](const Model& self) { return self.Infos(false); })
      .def_property_readonly("batch_size", &Model::batch_size)
      .def_property_readonly("isa", &Model::isa)
      .def("run", &Model::Run, py::arg("inputs"));
  m.def("main", &Main, py::arg("args"), "Runs `squint ARGS...` in this process; returns its exit code.");
}

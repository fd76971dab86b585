// squint integer runtime: a C++17 wrapper over the C API (squint_rt.h), header only. Errors are
// exceptions (squint::runtime::Error, with the C API's status and message); a Model owns its
// handle and its arena and frees them when it goes out of scope. Same rules as the C API:
// one thread at a time per Model.
//
//   squint::runtime::Model model("m.sqnt");            // options: instruction set, threads
//   model.Resize(8);                                     // 8 samples, if model.batch_size() > 0
//   model.SetInput(0, values);                           // floats, quantized by the input's grid
//   model.Invoke();
//   std::vector<float> logits = model.Output(0);         // dequantized
#ifndef SQUINT_RUNTIME_SQUINT_RT_HPP_
#define SQUINT_RUNTIME_SQUINT_RT_HPP_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "squint_rt.h"

namespace squint::runtime {

class Error : public std::runtime_error {
 public:
  Error(squint_rt_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  squint_rt_status status() const noexcept { return status_; }

 private:
  squint_rt_status status_;
};

// Throws Error for a failed C API call, with `what` and the runtime's message.
inline void Check(squint_rt_status status, const char* what) {
  if (status != SQUINT_RT_OK) throw Error(status, std::string(what) + ": " + squint_rt_last_error());
}

struct TensorInfo {
  std::string name;
  squint_rt_type type = SQUINT_RT_INT8;
  std::vector<int32_t> dims;
  int64_t num_elements = 0;
  size_t bytes = 0;
  bool quantized = false;  // affine or log grid: float I/O possible
  float scale = 0.0f;
  int32_t zero_point = 0;
};

class Model {
 public:
  struct Options {
    squint_rt_isa isa = SQUINT_RT_ISA_AUTO;
    int32_t threads = 1;
  };

  explicit Model(const std::string& path) : Model(path, Options()) {}
  Model(const std::string& path, const Options& options) {
    squint_rt_options o;
    squint_rt_options_init(&o);
    o.flags = SQUINT_RT_ALLOCATE_ARENA;
    o.isa = options.isa;
    o.num_threads = options.threads;
    squint_rt_model* raw = nullptr;
    Check(squint_rt_create_from_file_with_options(path.c_str(), &o, &raw), path.c_str());
    handle_.reset(raw);
  }

  int32_t num_inputs() const { return squint_rt_num_inputs(handle_.get()); }
  int32_t num_outputs() const { return squint_rt_num_outputs(handle_.get()); }
  TensorInfo input(int32_t i) const { return Info(i, true); }
  TensorInfo output(int32_t i) const { return Info(i, false); }
  // Samples per run when inputs and outputs lead with a batch dim, else 0 (fixed shapes).
  int32_t batch_size() const { return squint_rt_batch_size(handle_.get()); }
  // The instruction set the kernels run on ("reference", "avx2", ...).
  std::string isa() const { return squint_rt_isa_name(handle_.get()); }

  // Any multiple of batch_size() samples; the inputs must be written again afterwards.
  void Resize(int64_t samples) { Check(squint_rt_resize_batch(handle_.get(), samples), "resize"); }
  void SetInput(int32_t i, const std::vector<float>& values) {
    Check(squint_rt_set_input_float(handle_.get(), i, values.data(), values.size()), "set input");
  }
  void SetInputCodes(int32_t i, const void* codes, size_t bytes) {
    Check(squint_rt_set_input(handle_.get(), i, codes, bytes), "set input codes");
  }
  void Invoke() { Check(squint_rt_invoke(handle_.get()), "invoke"); }
  std::vector<float> Output(int32_t i) const {
    std::vector<float> values(static_cast<size_t>(output(i).num_elements));
    Check(squint_rt_get_output_float(handle_.get(), i, values.data(), values.size()), "get output");
    return values;
  }
  squint_rt_model* get() const { return handle_.get(); }  // for the C API's other calls

 private:
  struct Destroy {
    void operator()(squint_rt_model* m) const { squint_rt_destroy(m); }
  };
  TensorInfo Info(int32_t i, bool in) const {
    squint_rt_tensor_info c;
    Check(in ? squint_rt_input_info(handle_.get(), i, &c) : squint_rt_output_info(handle_.get(), i, &c),
          in ? "input info" : "output info");
    TensorInfo t;
    t.name = c.name;
    t.type = c.type;
    t.dims.assign(c.dims, c.dims + c.rank);
    t.num_elements = c.num_elements;
    t.bytes = c.bytes;
    t.quantized = c.has_quantization != 0 || c.log_grid_bits > 0;
    t.scale = c.scale;
    t.zero_point = c.zero_point;
    return t;
  }
  std::unique_ptr<squint_rt_model, Destroy> handle_;
};

}  // namespace squint::runtime

#endif  // SQUINT_RUNTIME_SQUINT_RT_HPP_

#include "runtime/squint_rt.h"

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "runtime/interpreter.h"
#include "runtime/model.h"
#include "runtime/planner.h"
#include "runtime/tensor_codes.h"

namespace {

using squint::rt::DequantizeCode;
using squint::rt::Interpreter;
using squint::rt::LoadCode;
using squint::rt::Model;
using squint::rt::QuantizeValue;
using squint::rt::Status;
using squint::rt::StatusCode;
using squint::rt::StoreCode;
using squint::rt::TensorDesc;
using squint::rt::TensorView;

static_assert(static_cast<int>(squint::rt::Isa::kAuto) == SQUINT_RT_ISA_AUTO &&
                  static_cast<int>(squint::rt::Isa::kReference) == SQUINT_RT_ISA_REFERENCE &&
                  static_cast<int>(squint::rt::Isa::kAvx2) == SQUINT_RT_ISA_AVX2 &&
                  static_cast<int>(squint::rt::Isa::kAvx512Vnni) == SQUINT_RT_ISA_AVX512VNNI &&
                  static_cast<int>(squint::rt::Isa::kNeon) == SQUINT_RT_ISA_NEON &&
                  static_cast<int>(squint::rt::Isa::kNeonDot) == SQUINT_RT_ISA_NEONDOT,
              "squint_rt_isa mirrors rt::Isa");

thread_local char g_last_error[Status::kMaxMessage] = "";

squint_rt_status Report(const Status& s) {
  if (!s.ok()) std::snprintf(g_last_error, sizeof(g_last_error), "%s", s.message());
  return static_cast<squint_rt_status>(s.code());
}
squint_rt_status Fail(squint_rt_status code, const char* message) {
  std::snprintf(g_last_error, sizeof(g_last_error), "%s", message);
  return code;
}

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

void* AllocAligned(size_t size) {
  const size_t rounded = (size + 63) / 64 * 64;
  return std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
}

}  // namespace

struct squint_rt_model {
  void* file = nullptr;   // owned copy of the model file (create_from_file)
  void* arena = nullptr;  // owned arena (SQUINT_RT_ALLOCATE_ARENA)
  Model model;
  Interpreter interp;
  bool arena_set = false;
  squint_rt_observer observer = nullptr;
  void* observer_user = nullptr;
  const TensorView* observed = nullptr;
  int32_t num_observed = 0;

  ~squint_rt_model() {
    std::free(file);
    std::free(arena);
  }
};

namespace {

void FillInfo(const TensorDesc& d, squint_rt_tensor_info* info) {
  info->name = d.name;
  info->type = static_cast<squint_rt_type>(d.type);
  info->rank = d.rank;
  info->dims = d.dims;
  info->num_elements = d.num_elements;
  info->bytes = static_cast<size_t>(d.bytes);
  info->has_quantization = d.quant != nullptr;
  info->scale = d.scale;
  info->zero_point = d.zero_point;
  info->log_grid_bits = d.log_grid != nullptr ? d.log_grid->bits() : 0;
}

// The caller's options, checked, with defaults for what an older caller's struct lacks.
squint_rt_status ReadOptions(const squint_rt_options* in, squint_rt_options* out) {
  squint_rt_options_init(out);
  if (in == nullptr) return SQUINT_RT_OK;
  if (in->struct_size < offsetof(squint_rt_options, isa) + sizeof(in->isa) || in->struct_size > sizeof(*out)) {
    char message[Status::kMaxMessage];
    std::snprintf(message, sizeof(message),
                  "options.struct_size = %u, expected %zu: call squint_rt_options_init before setting fields",
                  in->struct_size, sizeof(*out));
    return Fail(SQUINT_RT_INVALID_ARGUMENT, message);
  }
  std::memcpy(out, in, in->struct_size);
  out->struct_size = sizeof(*out);
  // Read as an integer: a caller's out-of-range value must not be loaded as the enum type.
  int32_t isa = 0;
  static_assert(sizeof(isa) == sizeof(out->isa), "squint_rt_isa is 32-bit");
  std::memcpy(&isa, &out->isa, sizeof(isa));
  if (isa < SQUINT_RT_ISA_AUTO || isa > SQUINT_RT_ISA_NEONDOT) {
    char message[Status::kMaxMessage];
    std::snprintf(message, sizeof(message), "options.isa = %d is not a squint_rt_isa", static_cast<int>(isa));
    return Fail(SQUINT_RT_INVALID_ARGUMENT, message);
  }
  if (out->num_threads < 1 || out->num_threads > squint::rt::ThreadPool::kMaxThreads) {
    char message[Status::kMaxMessage];
    std::snprintf(message, sizeof(message), "options.num_threads = %d, expected in [1, %d]", out->num_threads,
                  squint::rt::ThreadPool::kMaxThreads);
    return Fail(SQUINT_RT_INVALID_ARGUMENT, message);
  }
  return SQUINT_RT_OK;
}

squint_rt_status Create(const void* data, size_t size, const squint_rt_options& options, squint_rt_model* m,
                        squint_rt_model** out) {
  const uint32_t flags = options.flags;
  Status s = m->model.Load(static_cast<const uint8_t*>(data), size);
  // squint_rt_isa and rt::Isa share their values (static_asserts below).
  if (s.ok()) s = m->interp.Prepare(&m->model, static_cast<squint::rt::Isa>(options.isa), options.num_threads);
  if (s.ok() && (flags & SQUINT_RT_ALLOCATE_ARENA)) {
    const uint64_t n = m->interp.arena_size();
    m->arena = n > SIZE_MAX / 2 ? nullptr : AllocAligned(static_cast<size_t>(n));
    if (m->arena == nullptr) {
      s = Status::Error(StatusCode::kOutOfMemory, "cannot allocate an arena of %llu bytes",
                        static_cast<unsigned long long>(n));
    } else {
      std::memset(m->arena, 0, static_cast<size_t>(n));
      s = m->interp.SetArena(m->arena, static_cast<size_t>(n));
      m->arena_set = s.ok();
    }
  }
  if (!s.ok()) {
    delete m;
    return Report(s);
  }
  *out = m;
  return SQUINT_RT_OK;
}

// Tensor index of model input/output i, or -1.
int32_t IoTensor(const squint_rt_model* m, int32_t i, bool input) {
  const auto& list = input ? m->model.inputs() : m->model.outputs();
  if (i < 0 || static_cast<size_t>(i) >= list.size()) return -1;
  return list[i];
}

void Observe(void* user, int32_t op, const TensorView* outputs, int32_t n) {
  auto* m = static_cast<squint_rt_model*>(user);
  m->observed = outputs;
  m->num_observed = n;
  m->observer(m->observer_user, m, op, m->model.op_name(op), n);
  m->observed = nullptr;
  m->num_observed = 0;
}

squint_rt_status CheckIo(const squint_rt_model* m, int32_t t, bool need_arena, bool need_quant) {
  if (m == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "model handle is null");
  if (t < 0) return Fail(SQUINT_RT_INVALID_ARGUMENT, "input/output index out of range");
  if (need_arena && !m->arena_set)
    return Fail(SQUINT_RT_FAILED_PRECONDITION, "no arena: call squint_rt_set_arena or create with SQUINT_RT_ALLOCATE_ARENA");
  if (need_quant) {
    const TensorDesc& d = m->model.tensor(t);
    if (d.quant == nullptr || d.per_channel) {
      char message[Status::kMaxMessage];
      std::snprintf(message, sizeof(message), "tensor '%s' has no per-tensor quantization: float I/O impossible", d.name);
      return Fail(SQUINT_RT_FAILED_PRECONDITION, message);
    }
  }
  return SQUINT_RT_OK;
}

}  // namespace

extern "C" {

const char* squint_rt_last_error(void) { return g_last_error; }

void squint_rt_options_init(squint_rt_options* options) {
  if (options == nullptr) return;
  std::memset(options, 0, sizeof(*options));
  options->struct_size = sizeof(*options);
  options->isa = SQUINT_RT_ISA_AUTO;
  options->num_threads = 1;
}

squint_rt_status squint_rt_create_from_buffer(const void* data, size_t size, uint32_t flags, squint_rt_model** out) {
  squint_rt_options options;
  squint_rt_options_init(&options);
  options.flags = flags;
  return squint_rt_create_from_buffer_with_options(data, size, &options, out);
}

squint_rt_status squint_rt_create_from_buffer_with_options(const void* data, size_t size,
                                                           const squint_rt_options* options, squint_rt_model** out) {
  if (out == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "out is null");
  *out = nullptr;
  squint_rt_options o;
  if (squint_rt_status s = ReadOptions(options, &o)) return s;
  auto* m = new (std::nothrow) squint_rt_model();
  if (m == nullptr) return Fail(SQUINT_RT_OUT_OF_MEMORY, "cannot allocate the model handle");
  return Create(data, size, o, m, out);
}

squint_rt_status squint_rt_create_from_file(const char* path, uint32_t flags, squint_rt_model** out) {
  squint_rt_options options;
  squint_rt_options_init(&options);
  options.flags = flags;
  return squint_rt_create_from_file_with_options(path, &options, out);
}

squint_rt_status squint_rt_create_from_file_with_options(const char* path, const squint_rt_options* options,
                                                         squint_rt_model** out) {
  if (out == nullptr || path == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "path or out is null");
  *out = nullptr;
  squint_rt_options o;
  if (squint_rt_status s = ReadOptions(options, &o)) return s;
  std::FILE* f = std::fopen(path, "rb");
  char message[Status::kMaxMessage];
  if (f == nullptr) {
    std::snprintf(message, sizeof(message), "cannot open '%s'", path);
    return Fail(SQUINT_RT_IO_ERROR, message);
  }
  long size = -1;
  if (std::fseek(f, 0, SEEK_END) == 0) size = std::ftell(f);
  if (size < 0 || std::fseek(f, 0, SEEK_SET) != 0) {
    std::fclose(f);
    std::snprintf(message, sizeof(message), "cannot determine the size of '%s'", path);
    return Fail(SQUINT_RT_IO_ERROR, message);
  }
  auto* m = new (std::nothrow) squint_rt_model();
  if (m != nullptr) m->file = AllocAligned(static_cast<size_t>(size));
  if (m == nullptr || m->file == nullptr) {
    std::fclose(f);
    delete m;
    return Fail(SQUINT_RT_OUT_OF_MEMORY, "cannot allocate memory for the model file");
  }
  const size_t got = std::fread(m->file, 1, static_cast<size_t>(size), f);
  std::fclose(f);
  if (got != static_cast<size_t>(size)) {
    delete m;
    std::snprintf(message, sizeof(message), "short read of '%s'", path);
    return Fail(SQUINT_RT_IO_ERROR, message);
  }
  return Create(m->file, static_cast<size_t>(size), o, m, out);
}

void squint_rt_destroy(squint_rt_model* model) { delete model; }

const char* squint_rt_isa_name(const squint_rt_model* m) {
  return m != nullptr ? squint::rt::IsaName(m->interp.isa()) : "reference";
}

int32_t squint_rt_num_inputs(const squint_rt_model* m) {
  return m ? static_cast<int32_t>(m->model.inputs().size()) : 0;
}
int32_t squint_rt_num_outputs(const squint_rt_model* m) {
  return m ? static_cast<int32_t>(m->model.outputs().size()) : 0;
}

squint_rt_status squint_rt_input_info(const squint_rt_model* m, int32_t i, squint_rt_tensor_info* info) {
  if (m == nullptr || info == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "model or info is null");
  const int32_t t = IoTensor(m, i, true);
  if (t < 0) return Fail(SQUINT_RT_INVALID_ARGUMENT, "input index out of range");
  FillInfo(m->model.tensor(t), info);
  return SQUINT_RT_OK;
}

squint_rt_status squint_rt_output_info(const squint_rt_model* m, int32_t i, squint_rt_tensor_info* info) {
  if (m == nullptr || info == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "model or info is null");
  const int32_t t = IoTensor(m, i, false);
  if (t < 0) return Fail(SQUINT_RT_INVALID_ARGUMENT, "output index out of range");
  FillInfo(m->model.tensor(t), info);
  return SQUINT_RT_OK;
}

size_t squint_rt_arena_size(const squint_rt_model* m) { return m ? static_cast<size_t>(m->interp.arena_size()) : 0; }

squint_rt_status squint_rt_set_arena(squint_rt_model* m, void* arena, size_t size) {
  if (m == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "model handle is null");
  squint_rt_status s = Report(m->interp.SetArena(arena, size));
  m->arena_set = s == SQUINT_RT_OK;
  return s;
}

squint_rt_status squint_rt_set_input(squint_rt_model* m, int32_t i, const void* codes, size_t bytes) {
  const int32_t t = m ? IoTensor(m, i, true) : -1;
  if (squint_rt_status s = CheckIo(m, t, true, false)) return s;
  const TensorDesc& d = m->model.tensor(t);
  if (codes == nullptr || bytes != static_cast<size_t>(d.bytes)) {
    char message[Status::kMaxMessage];
    std::snprintf(message, sizeof(message), "input '%s' takes %lld bytes, got %zu", d.name,
                  static_cast<long long>(d.bytes), bytes);
    return Fail(SQUINT_RT_INVALID_ARGUMENT, message);
  }
  if (bytes) std::memcpy(m->interp.mutable_tensor_data(t), codes, bytes);
  return SQUINT_RT_OK;
}

squint_rt_status squint_rt_set_input_float(squint_rt_model* m, int32_t i, const float* values, size_t count) {
  const int32_t t = m ? IoTensor(m, i, true) : -1;
  if (squint_rt_status s = CheckIo(m, t, true, true)) return s;
  const TensorDesc& d = m->model.tensor(t);
  if ((values == nullptr && count) || count != static_cast<size_t>(d.num_elements)) {
    char message[Status::kMaxMessage];
    std::snprintf(message, sizeof(message), "input '%s' takes %lld values, got %zu", d.name,
                  static_cast<long long>(d.num_elements), count);
    return Fail(SQUINT_RT_INVALID_ARGUMENT, message);
  }
  void* data = m->interp.mutable_tensor_data(t);
  for (size_t k = 0; k < count; ++k) StoreCode(data, d.type, static_cast<int64_t>(k), QuantizeValue(d, values[k]));
  return SQUINT_RT_OK;
}

squint_rt_status squint_rt_invoke(squint_rt_model* m) {
  if (m == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "model handle is null");
  return Report(m->interp.Invoke());
}

squint_rt_status squint_rt_get_output(const squint_rt_model* m, int32_t i, void* codes, size_t bytes) {
  const int32_t t = m ? IoTensor(m, i, false) : -1;
  if (squint_rt_status s = CheckIo(m, t, true, false)) return s;
  const TensorDesc& d = m->model.tensor(t);
  if (codes == nullptr || bytes != static_cast<size_t>(d.bytes)) {
    char message[Status::kMaxMessage];
    std::snprintf(message, sizeof(message), "output '%s' has %lld bytes, buffer has %zu", d.name,
                  static_cast<long long>(d.bytes), bytes);
    return Fail(SQUINT_RT_INVALID_ARGUMENT, message);
  }
  if (bytes) std::memcpy(codes, m->interp.tensor_data(t), bytes);
  return SQUINT_RT_OK;
}

squint_rt_status squint_rt_get_output_float(const squint_rt_model* m, int32_t i, float* values, size_t count) {
  const int32_t t = m ? IoTensor(m, i, false) : -1;
  if (squint_rt_status s = CheckIo(m, t, true, true)) return s;
  const TensorDesc& d = m->model.tensor(t);
  if ((values == nullptr && count) || count != static_cast<size_t>(d.num_elements)) {
    char message[Status::kMaxMessage];
    std::snprintf(message, sizeof(message), "output '%s' has %lld values, buffer has %zu", d.name,
                  static_cast<long long>(d.num_elements), count);
    return Fail(SQUINT_RT_INVALID_ARGUMENT, message);
  }
  const void* data = m->interp.tensor_data(t);
  for (size_t k = 0; k < count; ++k)
    values[k] = DequantizeCode(d, LoadCode(data, d.type, static_cast<int64_t>(k)));
  return SQUINT_RT_OK;
}

squint_rt_status squint_rt_set_observer(squint_rt_model* m, squint_rt_observer observer, void* user) {
  if (m == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "model handle is null");
  m->observer = observer;
  m->observer_user = user;
  m->interp.SetObserver(observer ? &Observe : nullptr, observer ? m : nullptr);
  return SQUINT_RT_OK;
}

squint_rt_status squint_rt_observed_output(const squint_rt_model* m, int32_t k, squint_rt_tensor_info* info,
                                           const void** data) {
  if (m == nullptr || info == nullptr || data == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "null argument");
  if (m->observed == nullptr) return Fail(SQUINT_RT_FAILED_PRECONDITION, "only valid inside the observer callback");
  if (k < 0 || k >= m->num_observed) return Fail(SQUINT_RT_INVALID_ARGUMENT, "output index out of range");
  FillInfo(*m->observed[k].desc, info);
  *data = m->observed[k].data;
  return SQUINT_RT_OK;
}

}  // extern "C"

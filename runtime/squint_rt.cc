#include "runtime/squint_rt.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define SQUINT_RT_HAVE_MMAP 1
#endif
#include <vector>

#include "runtime/interpreter.h"
#if defined(SQUINT_FAST_KERNELS)
#include "runtime/kernels/portable/misc.h"
#endif
#if defined(SQUINT_X86_KERNELS)
#include "runtime/kernels/x86/rows.h"
#endif
#include "runtime/memory.h"
#include "runtime/model.h"
#include "runtime/planner.h"
#include "runtime/tensor_codes.h"

namespace {

using squint::rt::ArenaSource;
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
using squint::rt::Vec;

// FillInfo hands out the model's element types as squint_rt_type: the same values.
static_assert(static_cast<int>(squint::fb::ElementType::INT8) == SQUINT_RT_INT8 &&
                  static_cast<int>(squint::fb::ElementType::UINT8) == SQUINT_RT_UINT8 &&
                  static_cast<int>(squint::fb::ElementType::INT16) == SQUINT_RT_INT16 &&
                  static_cast<int>(squint::fb::ElementType::INT32) == SQUINT_RT_INT32,
              "squint_rt_type mirrors fb::ElementType");
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

void* AllocAligned(size_t size) {
  const size_t rounded = (size + 63) / 64 * 64;
  return std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
}

}  // namespace

// A heap handle is allocated with new and its containers with operator new. A heapless handle
// (squint_rt_create_heapless) lives in the caller's arena: [ArenaSource][squint_rt_model][head: the
// model's tables, the prepared ops, packed weights, I/O dims][activations ...][... tail: create's
// temporaries]; its containers were built with that source current (memory.h).
struct squint_rt_model {
  ArenaSource* heapless = nullptr;  // a heapless handle's source, at the base of the caller's arena
  uint64_t activations_at = 0;      // heapless: where the activations start (64-byte aligned offset)
  void* file = nullptr;   // owned copy of the model file (create_from_file without mmap)
  void* mapped = nullptr;  // the model file mapped read-only (create_from_file on POSIX systems)
  size_t mapped_size = 0;
  void* arena = nullptr;  // owned arena (SQUINT_RT_ALLOCATE_ARENA)
  uint32_t flags = 0;
  Model model;
  Interpreter interp;
  bool arena_set = false;
  uint8_t* arena_base = nullptr;  // the arena given to the interpreter
  // Batches (squint_rt_resize_batch): the graph runs `runs` times per invoke; with runs > 1 the
  // inputs (then the outputs) of all runs are staged at stage_at[k] in the arena, after the
  // interpreter's activations. io_dims holds each input's (then output's) dims as the info
  // reports them (leading dim × runs), allocated at create.
  int64_t runs = 1;
  Vec<uint64_t> stage_at;
  Vec<int32_t> io_dims;
  Vec<size_t> io_dims_at;
  uint64_t staged_arena_size = 0;
  squint_rt_observer observer = nullptr;
  void* observer_user = nullptr;
  const TensorView* observed = nullptr;
  int32_t num_observed = 0;

  ~squint_rt_model() {
    std::free(file);
#if defined(SQUINT_RT_HAVE_MMAP)
    if (mapped != nullptr) munmap(mapped, mapped_size);
#endif
    std::free(arena);
  }
};

namespace {

// Model input i (input) or output i as I/O slot k: inputs first, then outputs.
size_t IoSlot(const squint_rt_model* m, int32_t i, bool input) {
  return input ? static_cast<size_t>(i) : m->model.inputs().size() + static_cast<size_t>(i);
}

// The tensor of I/O slot k, its bytes and elements over all runs, and where they are: staged in
// the arena (runs > 1) or the tensor's own place.
struct Io {
  const TensorDesc* d;
  size_t bytes;
  size_t elements;
  uint8_t* data;
};
Io IoOf(const squint_rt_model* m, int32_t t, size_t slot) {
  const TensorDesc& d = m->model.tensor(t);
  Io io{&d, static_cast<size_t>(d.bytes * m->runs), static_cast<size_t>(d.num_elements * m->runs), nullptr};
  if (m->runs > 1)
    io.data = m->arena_base != nullptr ? m->arena_base + m->stage_at[slot] : nullptr;
  else
    io.data = static_cast<uint8_t*>(m->interp.mutable_tensor_data(t));
  return io;
}

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

uint64_t ArenaSize(const squint_rt_model* m) { return m->runs > 1 ? m->staged_arena_size : m->interp.arena_size(); }

Status SetArena(squint_rt_model* m, void* arena, size_t size) {
  m->arena_set = false;
  m->arena_base = nullptr;
  const uint64_t need = ArenaSize(m);
  if (static_cast<uint64_t>(size) < need)
    return Status::Error(StatusCode::kInvalidArgument, "arena of %zu bytes is smaller than the %llu this model needs%s",
                         size, static_cast<unsigned long long>(need), m->runs > 1 ? " at its batch" : "");
  SQUINT_RT_RETURN_IF_ERROR(m->interp.SetArena(arena, size));
  m->arena_set = true;
  m->arena_base = static_cast<uint8_t*>(arena);
  return Status::Ok();
}

// Replaces the owned arena by a zeroed one of ArenaSize bytes.
Status AllocateArena(squint_rt_model* m) {
  std::free(m->arena);
  m->arena_set = false;
  m->arena_base = nullptr;
  const uint64_t n = ArenaSize(m);
  m->arena = n > SIZE_MAX / 2 ? nullptr : AllocAligned(static_cast<size_t>(n));
  if (m->arena == nullptr)
    return Status::Error(StatusCode::kOutOfMemory, "cannot allocate an arena of %llu bytes",
                         static_cast<unsigned long long>(n));
  std::memset(m->arena, 0, static_cast<size_t>(n));
  return SetArena(m, m->arena, static_cast<size_t>(n));
}

// The I/O dims the info reports, one block per input then output (leading dim × runs).
void FillIoDims(squint_rt_model* m) {
  size_t k = 0, total = 0;
  for (const Vec<int32_t>* list : {&m->model.inputs(), &m->model.outputs()})
    for (int32_t t : *list) total += static_cast<size_t>(m->model.tensor(t).rank);
  m->io_dims.reserve(total);
  for (const Vec<int32_t>* list : {&m->model.inputs(), &m->model.outputs()}) {
    for (int32_t t : *list) {
      const TensorDesc& d = m->model.tensor(t);
      m->io_dims_at[k] = m->io_dims.size();
      for (int32_t r = 0; r < d.rank; ++r) m->io_dims.push_back(d.dims[r]);
      ++k;
    }
  }
}

void DestroyHandle(squint_rt_model* m) {
  if (m == nullptr) return;
  if (ArenaSource* source = m->heapless) {  // in the caller's arena: nothing to free
    m->~squint_rt_model();
    source->~ArenaSource();
  } else {
    delete m;
  }
}

uint64_t Align64(uint64_t x) { return (x + 63) / 64 * 64; }

// A heapless arena begins with its ArenaSource, then the handle, each 64-byte aligned.
const uint64_t kHeaplessHandleAt = Align64(sizeof(ArenaSource));
const uint64_t kHeaplessStart = kHeaplessHandleAt + Align64(sizeof(squint_rt_model));

// The smallest arena (a multiple of 64 bytes) that holds what `source` handed out at its peak and,
// after the head, `activation_bytes`.
uint64_t HeaplessNeed(const ArenaSource& source, uint64_t activation_bytes) {
  return Align64(std::max<uint64_t>(source.peak(), Align64(source.head()) + activation_bytes));
}

// The options of a heapless handle: read as any, then no owned arena and no worker threads.
squint_rt_status ReadHeaplessOptions(const squint_rt_options* in, squint_rt_options* out) {
  if (squint_rt_status s = ReadOptions(in, out)) return s;
  char message[Status::kMaxMessage];
  if (out->flags & SQUINT_RT_ALLOCATE_ARENA)
    return Fail(SQUINT_RT_INVALID_ARGUMENT,
                "options.flags has SQUINT_RT_ALLOCATE_ARENA: a heapless handle's activations live in the caller's arena");
  if (out->num_threads != 1) {
    std::snprintf(message, sizeof(message),
                  "options.num_threads = %d: a heapless handle runs on the calling thread only (worker threads need "
                  "the heap); use 1",
                  out->num_threads);
    return Fail(SQUINT_RT_UNSUPPORTED, message);
  }
  return SQUINT_RT_OK;
}

squint_rt_status Create(const void* data, size_t size, const squint_rt_options& options, squint_rt_model* m,
                        squint_rt_model** out) {
  m->flags = options.flags;
  Status s = m->model.Load(static_cast<const uint8_t*>(data), size);
  // squint_rt_isa and rt::Isa share their values (static_asserts below).
  if (s.ok()) s = m->interp.Prepare(&m->model, static_cast<squint::rt::Isa>(options.isa), options.num_threads);
  if (s.ok()) {
    const size_t slots = m->model.inputs().size() + m->model.outputs().size();
    m->stage_at.assign(slots, 0);
    m->io_dims_at.assign(slots, 0);
    FillIoDims(m);
  }
  if (s.ok() && (m->flags & SQUINT_RT_ALLOCATE_ARENA)) s = AllocateArena(m);
  if (!s.ok()) {
    DestroyHandle(m);
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

// The info of I/O slot k at the current batch.
void ResizedInfo(const squint_rt_model* m, size_t k, squint_rt_tensor_info* info) {
  if (m->runs == 1) return;
  info->dims = m->io_dims.data() + m->io_dims_at[k];
  info->num_elements *= m->runs;
  info->bytes *= static_cast<size_t>(m->runs);
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

int32_t squint_rt_version(void) {
  return SQUINT_RT_VERSION_MAJOR * 10000 + SQUINT_RT_VERSION_MINOR * 100 + SQUINT_RT_VERSION_PATCH;
}

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
  char message[Status::kMaxMessage];
#if defined(SQUINT_RT_HAVE_MMAP)
  // Mapped read-only: the weights are used in place from the page cache, never copied (an empty
  // file takes the read path below, whose model load reports it).
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::snprintf(message, sizeof(message), "cannot open '%s'", path);
    return Fail(SQUINT_RT_IO_ERROR, message);
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    std::snprintf(message, sizeof(message), "'%s' is not a regular file", path);
    return Fail(SQUINT_RT_IO_ERROR, message);
  }
  if (st.st_size > 0) {
    const size_t size = static_cast<size_t>(st.st_size);
    void* mapped = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (mapped == MAP_FAILED) {
      std::snprintf(message, sizeof(message), "cannot map '%s' (%zu bytes) into memory", path, size);
      return Fail(SQUINT_RT_IO_ERROR, message);
    }
    auto* m = new (std::nothrow) squint_rt_model();
    if (m == nullptr) {
      munmap(mapped, size);
      return Fail(SQUINT_RT_OUT_OF_MEMORY, "cannot allocate the model handle");
    }
    m->mapped = mapped;
    m->mapped_size = size;
    return Create(mapped, size, o, m, out);
  }
  close(fd);
#endif
  std::FILE* f = std::fopen(path, "rb");
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

squint_rt_status squint_rt_heapless_arena_size(const void* data, size_t size, const squint_rt_options* options,
                                              size_t* bytes) {
  if (bytes == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "bytes is null");
  *bytes = 0;
  squint_rt_options o;
  if (squint_rt_status s = ReadHeaplessOptions(options, &o)) return s;
  // Create as squint_rt_create_heapless does, every block on the heap, counting the arena offsets.
  ArenaSource measure(nullptr, 0, kHeaplessStart);
  squint::rt::SourceScope scope(&measure);
  auto* m = new (std::nothrow) squint_rt_model();
  if (m == nullptr) return Fail(SQUINT_RT_OUT_OF_MEMORY, "cannot allocate the model handle");
  squint_rt_model* made = nullptr;
  if (squint_rt_status s = Create(data, size, o, m, &made)) return s;
  *bytes = static_cast<size_t>(HeaplessNeed(measure, m->interp.arena_size()));
  DestroyHandle(m);
  return SQUINT_RT_OK;
}

squint_rt_status squint_rt_create_heapless(const void* data, size_t size, const squint_rt_options* options,
                                           void* arena, size_t arena_size, squint_rt_model** out) {
  if (out == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "out is null");
  *out = nullptr;
  squint_rt_options o;
  if (squint_rt_status s = ReadHeaplessOptions(options, &o)) return s;
  char message[Status::kMaxMessage];
  if (arena == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "heapless arena is null");
  if (reinterpret_cast<uintptr_t>(arena) % ArenaSource::kAlignment != 0) {
    std::snprintf(message, sizeof(message), "heapless arena address %p is not %zu-byte aligned", arena,
                  ArenaSource::kAlignment);
    return Fail(SQUINT_RT_INVALID_ARGUMENT, message);
  }
  auto too_small = [&](const char* needs) {
    std::snprintf(message, sizeof(message),
                  "heapless arena of %zu bytes is too small: this model with these options needs %s bytes "
                  "(squint_rt_heapless_arena_size)",
                  arena_size, needs);
    return Fail(SQUINT_RT_OUT_OF_MEMORY, message);
  };
  const uint64_t usable = arena_size / ArenaSource::kAlignment * ArenaSource::kAlignment;
  if (usable < kHeaplessStart) {
    char needs[48];
    std::snprintf(needs, sizeof(needs), "more than %llu", static_cast<unsigned long long>(kHeaplessStart));
    return too_small(needs);
  }
  auto* base = static_cast<uint8_t*>(arena);
  auto* source = new (base) ArenaSource(base, static_cast<size_t>(usable), kHeaplessStart);
  squint::rt::SourceScope scope(source);
  auto* m = new (base + kHeaplessHandleAt) squint_rt_model();
  m->heapless = source;
  squint_rt_model* made = nullptr;
  if (squint_rt_status s = Create(data, size, o, m, &made)) return s;
  // Whatever did not fit came from the heap (and goes back to it now): the arena is too small.
  const uint64_t need = HeaplessNeed(*source, m->interp.arena_size());
  if (source->spilled() || need > usable) {
    DestroyHandle(m);
    char needs[32];
    std::snprintf(needs, sizeof(needs), "%llu", static_cast<unsigned long long>(need));
    return too_small(needs);
  }
  m->activations_at = Align64(source->head());
  std::memset(base + m->activations_at, 0, static_cast<size_t>(m->interp.arena_size()));
  const Status s = SetArena(m, base + m->activations_at, static_cast<size_t>(usable - m->activations_at));
  if (!s.ok()) {
    DestroyHandle(m);
    return Report(s);
  }
  *out = m;
  return SQUINT_RT_OK;
}

size_t squint_rt_heapless_arena_used(const squint_rt_model* m) {
  return m != nullptr && m->heapless != nullptr ? static_cast<size_t>(HeaplessNeed(*m->heapless, ArenaSize(m))) : 0;
}

void squint_rt_destroy(squint_rt_model* model) { DestroyHandle(model); }

const char* squint_rt_type_name(squint_rt_type type) {
  // Read as an integer: a caller's out-of-range value must not be loaded as the enum type.
  int32_t t = 0;
  static_assert(sizeof(t) == sizeof(type), "squint_rt_type is 32-bit");
  std::memcpy(&t, &type, sizeof(t));
  return t >= SQUINT_RT_INT8 && t <= SQUINT_RT_INT32 ? squint::rt::ElementTypeName(static_cast<squint::fb::ElementType>(t))
                                                     : "unknown";
}

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
  ResizedInfo(m, IoSlot(m, i, true), info);
  return SQUINT_RT_OK;
}

squint_rt_status squint_rt_output_info(const squint_rt_model* m, int32_t i, squint_rt_tensor_info* info) {
  if (m == nullptr || info == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "model or info is null");
  const int32_t t = IoTensor(m, i, false);
  if (t < 0) return Fail(SQUINT_RT_INVALID_ARGUMENT, "output index out of range");
  FillInfo(m->model.tensor(t), info);
  ResizedInfo(m, IoSlot(m, i, false), info);
  return SQUINT_RT_OK;
}

int32_t squint_rt_batch_size(const squint_rt_model* m) { return m ? m->model.batch() : 0; }

squint_rt_status squint_rt_resize_batch(squint_rt_model* m, int64_t samples) {
  if (m == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "model handle is null");
  char message[Status::kMaxMessage];
  const int64_t batch = m->model.batch();
  if (batch == 0) {
    std::snprintf(message, sizeof(message),
                  "resize to %lld samples: this model's shapes are fixed (its batch is 0: the ONNX model it was "
                  "quantized from did not leave the leading dim of every input and output free)",
                  static_cast<long long>(samples));
    return Fail(SQUINT_RT_FAILED_PRECONDITION, message);
  }
  // The staged bytes of every run stay under the planner's 2^40 limit, which also keeps the
  // products below from overflowing.
  constexpr uint64_t kLimit = uint64_t{1} << 40;
  uint64_t per_run = 0;
  for (const Vec<int32_t>* list : {&m->model.inputs(), &m->model.outputs()})
    for (int32_t t : *list) per_run += (static_cast<uint64_t>(m->model.tensor(t).bytes) + 63) / 64 * 64;
  if (samples < 1 || samples % batch != 0 || samples / batch > static_cast<int64_t>(kLimit / (per_run + 1))) {
    std::snprintf(message, sizeof(message),
                  "resize to %lld samples: expected a positive multiple of the model's batch %lld%s",
                  static_cast<long long>(samples), static_cast<long long>(batch),
                  samples >= 1 && samples % batch == 0 ? " whose inputs and outputs fit in 2^40 bytes" : "");
    return Fail(SQUINT_RT_INVALID_ARGUMENT, message);
  }
  const int64_t runs = samples / batch;
  if (runs == m->runs) return SQUINT_RT_OK;
  uint64_t at = Align64(m->interp.arena_size());
  if (m->heapless != nullptr) {  // cannot grow: the staged I/O must fit in the caller's arena
    uint64_t staged = at;
    for (const Vec<int32_t>* list : {&m->model.inputs(), &m->model.outputs()})
      for (int32_t t : *list)
        staged += Align64(static_cast<uint64_t>(m->model.tensor(t).bytes) * static_cast<uint64_t>(runs));
    const uint64_t room = m->heapless->size() - m->activations_at;
    if (runs > 1 && staged > room) {
      std::snprintf(message, sizeof(message),
                    "resize to %lld samples: a heapless handle's activations and staged inputs and outputs then take "
                    "%llu bytes, its arena has %llu after the prepared model (create it with an arena of at least "
                    "%llu bytes)",
                    static_cast<long long>(samples), static_cast<unsigned long long>(staged),
                    static_cast<unsigned long long>(room), static_cast<unsigned long long>(m->activations_at + staged));
      return Fail(SQUINT_RT_OUT_OF_MEMORY, message);
    }
  }
  m->runs = runs;
  size_t k = 0;
  for (const Vec<int32_t>* list : {&m->model.inputs(), &m->model.outputs()}) {
    for (int32_t t : *list) {
      m->stage_at[k] = at;
      at += (static_cast<uint64_t>(m->model.tensor(t).bytes) * static_cast<uint64_t>(runs) + 63) / 64 * 64;
      m->io_dims[m->io_dims_at[k]] = static_cast<int32_t>(samples);
      ++k;
    }
  }
  m->staged_arena_size = at;
  m->arena_set = false;
  m->arena_base = nullptr;
  if (m->flags & SQUINT_RT_ALLOCATE_ARENA) return Report(AllocateArena(m));
  if (m->heapless != nullptr)
    return Report(SetArena(m, m->heapless->base() + m->activations_at, m->heapless->size() - m->activations_at));
  return SQUINT_RT_OK;
}

size_t squint_rt_arena_size(const squint_rt_model* m) { return m ? static_cast<size_t>(ArenaSize(m)) : 0; }

squint_rt_status squint_rt_set_arena(squint_rt_model* m, void* arena, size_t size) {
  if (m == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "model handle is null");
  if (m->heapless != nullptr)
    return Fail(SQUINT_RT_FAILED_PRECONDITION,
                "a heapless handle keeps its activations in the arena given to squint_rt_create_heapless");
  return Report(SetArena(m, arena, size));
}

squint_rt_status squint_rt_set_input(squint_rt_model* m, int32_t i, const void* codes, size_t bytes) {
  const int32_t t = m ? IoTensor(m, i, true) : -1;
  if (squint_rt_status s = CheckIo(m, t, true, false)) return s;
  const Io io = IoOf(m, t, IoSlot(m, i, true));
  if (codes == nullptr || bytes != io.bytes) {
    char message[Status::kMaxMessage];
    std::snprintf(message, sizeof(message), "input '%s' takes %zu bytes, got %zu", io.d->name, io.bytes, bytes);
    return Fail(SQUINT_RT_INVALID_ARGUMENT, message);
  }
  if (bytes) std::memcpy(io.data, codes, bytes);
  return SQUINT_RT_OK;
}

squint_rt_status squint_rt_set_input_float(squint_rt_model* m, int32_t i, const float* values, size_t count) {
  const int32_t t = m ? IoTensor(m, i, true) : -1;
  if (squint_rt_status s = CheckIo(m, t, true, true)) return s;
  const Io io = IoOf(m, t, IoSlot(m, i, true));
  if ((values == nullptr && count) || count != io.elements) {
    char message[Status::kMaxMessage];
    std::snprintf(message, sizeof(message), "input '%s' takes %zu values, got %zu", io.d->name, io.elements, count);
    return Fail(SQUINT_RT_INVALID_ARGUMENT, message);
  }
#if defined(SQUINT_FAST_KERNELS)
  // The per-tensor grids of 8- and 16-bit codes (a positive scale) by the vectorized loops, unless
  // the model runs on the reference kernels.
  const squint::fb::ElementType type = io.d->type;
  if (m->interp.isa() != squint::rt::Isa::kReference && io.d->log_grid == nullptr && io.d->scale > 0.0f &&
      (type == squint::fb::ElementType::INT8 || type == squint::fb::ElementType::UINT8 ||
       type == squint::fb::ElementType::INT16)) {
    const auto n = static_cast<int64_t>(count);
    const float s = io.d->scale;
    const int32_t z = io.d->zero_point, lo = squint::rt::CodeMin(type), hi = squint::rt::CodeMax(type);
#if defined(SQUINT_X86_KERNELS)
    if (m->interp.isa() == squint::rt::Isa::kAvx512Vnni) {
      squint::rt::x86::QuantizeFloatsAvx512(values, n, s, z, lo, hi, io.data, type == squint::fb::ElementType::INT16 ? 2 : 1);
      return SQUINT_RT_OK;
    }
#endif
    switch (type) {
      case squint::fb::ElementType::INT8:
        squint::rt::portable::QuantizeFloats(values, n, s, z, lo, hi, reinterpret_cast<int8_t*>(io.data));
        break;
      case squint::fb::ElementType::UINT8:
        squint::rt::portable::QuantizeFloats(values, n, s, z, lo, hi, io.data);
        break;
      default:  // INT16
        squint::rt::portable::QuantizeFloats(values, n, s, z, lo, hi, reinterpret_cast<int16_t*>(io.data));
        break;
    }
    return SQUINT_RT_OK;
  }
#endif
  for (size_t k = 0; k < count; ++k)
    StoreCode(io.data, io.d->type, static_cast<int64_t>(k), QuantizeValue(*io.d, values[k]));
  return SQUINT_RT_OK;
}

squint_rt_status squint_rt_invoke(squint_rt_model* m) {
  if (m == nullptr) return Fail(SQUINT_RT_INVALID_ARGUMENT, "model handle is null");
  if (!m->arena_set && ArenaSize(m) > 0)
    return Fail(SQUINT_RT_FAILED_PRECONDITION,
                "no arena: call squint_rt_set_arena with squint_rt_arena_size bytes (again after "
                "squint_rt_resize_batch) or create with SQUINT_RT_ALLOCATE_ARENA");
  if (m->runs == 1) return Report(m->interp.Invoke());
  const size_t num_inputs = m->model.inputs().size();
  for (int64_t r = 0; r < m->runs; ++r) {
    for (size_t i = 0; i < num_inputs; ++i) {
      const int32_t t = m->model.inputs()[i];
      const size_t bytes = static_cast<size_t>(m->model.tensor(t).bytes);
      if (bytes) std::memcpy(m->interp.mutable_tensor_data(t), m->arena_base + m->stage_at[i] + r * bytes, bytes);
    }
    if (squint_rt_status s = Report(m->interp.Invoke())) return s;
    for (size_t o = 0; o < m->model.outputs().size(); ++o) {
      const int32_t t = m->model.outputs()[o];
      const size_t bytes = static_cast<size_t>(m->model.tensor(t).bytes);
      if (bytes)
        std::memcpy(m->arena_base + m->stage_at[num_inputs + o] + r * bytes, m->interp.tensor_data(t), bytes);
    }
  }
  return SQUINT_RT_OK;
}

squint_rt_status squint_rt_get_output(const squint_rt_model* m, int32_t i, void* codes, size_t bytes) {
  const int32_t t = m ? IoTensor(m, i, false) : -1;
  if (squint_rt_status s = CheckIo(m, t, true, false)) return s;
  const Io io = IoOf(m, t, IoSlot(m, i, false));
  if (codes == nullptr || bytes != io.bytes) {
    char message[Status::kMaxMessage];
    std::snprintf(message, sizeof(message), "output '%s' has %zu bytes, buffer has %zu", io.d->name, io.bytes, bytes);
    return Fail(SQUINT_RT_INVALID_ARGUMENT, message);
  }
  if (bytes) std::memcpy(codes, io.data, bytes);
  return SQUINT_RT_OK;
}

squint_rt_status squint_rt_get_output_float(const squint_rt_model* m, int32_t i, float* values, size_t count) {
  const int32_t t = m ? IoTensor(m, i, false) : -1;
  if (squint_rt_status s = CheckIo(m, t, true, true)) return s;
  const Io io = IoOf(m, t, IoSlot(m, i, false));
  if ((values == nullptr && count) || count != io.elements) {
    char message[Status::kMaxMessage];
    std::snprintf(message, sizeof(message), "output '%s' has %zu values, buffer has %zu", io.d->name, io.elements,
                  count);
    return Fail(SQUINT_RT_INVALID_ARGUMENT, message);
  }
  for (size_t k = 0; k < count; ++k)
    values[k] = DequantizeCode(*io.d, LoadCode(io.data, io.d->type, static_cast<int64_t>(k)));
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

/* squint integer runtime: C API.
 *
 * Installed as <squint/squint_rt.h> with the runtime library (CMake: find_package(squint CONFIG),
 * target squint::runtime or squint::runtime_shared; pkg-config: squint-runtime). The library is
 * C++17 inside and has no dependency but libstdc++ and pthreads; this header is plain C99.
 *
 * Versions. SQUINT_RT_VERSION_* is the version of this header; squint_rt_version() that of the
 * library actually linked. Within one major version the ABI only grows: functions are added,
 * never changed or removed, and struct squint_rt_options grows at its end (struct_size tells the
 * library which fields the caller knows); the shared library's SONAME carries the major version
 * (libsquint_runtime.so.0). The .sqnt file format has its own version (schema major.minor in the
 * file): a runtime reads files of its schema major and any minor up to its own, and refuses others
 * with SQUINT_RT_UNSUPPORTED_VERSION and a message naming both versions.
 *
 * Threads. A squint_rt_model handle is not thread-safe: one thread at a time may call functions on
 * it (several handles, even of the same file, may run on different threads at once). The
 * worker threads of squint_rt_options.num_threads belong to the handle. squint_rt_last_error is
 * per thread.
 *
 * Errors. Every function returns a squint_rt_status (0 = OK); on failure squint_rt_last_error()
 * gives a message naming the object, the bad value and the rule (thread-local, valid until the
 * next failing call on the same thread). INVALID_ARGUMENT: a null pointer, an index out of range,
 * a buffer of the wrong size, a bad option; INVALID_MODEL: the file fails verification (truncated,
 * corrupt, inconsistent); UNSUPPORTED_VERSION: see Versions; UNSUPPORTED: the file needs what this
 * runtime or CPU lacks (e.g. a requested instruction set); OUT_OF_MEMORY; FAILED_PRECONDITION: a
 * call out of order (no arena yet, squint_rt_observed_output outside the observer, a batch resize
 * of a model with fixed shapes); IO_ERROR: the file cannot be opened or read.
 *
 * Memory: the model buffer passed to squint_rt_create_from_buffer is caller-owned and must
 * stay alive and unchanged until squint_rt_destroy (zero copy; 8-byte aligned, 64 recommended).
 * squint_rt_create_from_file maps the file read-only (POSIX mmap; weights are used in place,
 * never copied; the file must not change while the handle lives) or, where there is no mmap,
 * reads it into an allocation owned by the handle. The arena
 * (all activations) is either caller-provided (squint_rt_set_arena, 64-byte aligned, at least
 * squint_rt_arena_size bytes) or allocated at create time with SQUINT_RT_ALLOCATE_ARENA.
 * Nothing allocates after create but squint_rt_resize_batch on a handle that owns its arena;
 * squint_rt_invoke never allocates. squint_rt_destroy frees everything the handle owns.
 * A heapless handle (squint_rt_create_heapless, since 0.2) allocates nothing at all: see "Heapless
 * mode" below.
 *
 * Inputs: the memory plan may reuse an input's arena bytes once the input is dead, so write
 * every input before each squint_rt_invoke.
 * Float inputs are quantized as q = clamp(round_half_to_even(x / scale) + zero_point, type
 * range); NaN becomes the zero point. Float outputs are scale * (q - zero_point).
 */
#ifndef SQUINT_RUNTIME_SQUINT_RT_H_
#define SQUINT_RUNTIME_SQUINT_RT_H_

#include <stddef.h>
#include <stdint.h>

#define SQUINT_RT_VERSION_MAJOR 0
#define SQUINT_RT_VERSION_MINOR 2
#define SQUINT_RT_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* The linked library's version: major * 10000 + minor * 100 + patch. */
int32_t squint_rt_version(void);

typedef enum squint_rt_status {
  SQUINT_RT_OK = 0,
  SQUINT_RT_INVALID_ARGUMENT = 1,
  SQUINT_RT_INVALID_MODEL = 2,
  SQUINT_RT_UNSUPPORTED_VERSION = 3,
  SQUINT_RT_UNSUPPORTED = 4,
  SQUINT_RT_OUT_OF_MEMORY = 5,
  SQUINT_RT_FAILED_PRECONDITION = 6,
  SQUINT_RT_IO_ERROR = 7
} squint_rt_status;

typedef enum squint_rt_type {
  SQUINT_RT_INT8 = 0,
  SQUINT_RT_UINT8 = 1,
  SQUINT_RT_INT16 = 2,
  SQUINT_RT_INT32 = 3
} squint_rt_type;

enum { SQUINT_RT_ALLOCATE_ARENA = 1 };

/* Which optimized kernels a model runs on, chosen once at create (prepare). Every choice gives
 * the same output codes (the optimized kernels equal the reference bit for bit); they differ in
 * speed. AUTO: the SQUINT_ISA environment variable (reference | avx2 | avx512vnni | neon |
 * neondot) if set, else the best set this CPU supports. AVX2 and AVX512VNNI exist in x86-64
 * builds (AVX512VNNI also uses AVX-512 VBMI, and on Linux AMX tiles, where the CPU has them),
 * NEON (plain Advanced SIMD) and NEONDOT (with the dot-product extension, sdot) in aarch64
 * builds. Asking for a set the CPU or the build lacks fails at create. */
typedef enum squint_rt_isa {
  SQUINT_RT_ISA_AUTO = 0,
  SQUINT_RT_ISA_REFERENCE = 1,
  SQUINT_RT_ISA_AVX2 = 2,
  SQUINT_RT_ISA_AVX512VNNI = 3,
  SQUINT_RT_ISA_NEON = 4,
  SQUINT_RT_ISA_NEONDOT = 5
} squint_rt_isa;

/* Options of squint_rt_create_*_with_options. Fill with squint_rt_options_init first: it sets
 * struct_size, which lets a later runtime add fields without breaking callers built today. */
typedef struct squint_rt_options {
  uint32_t struct_size; /* sizeof(squint_rt_options) of the caller */
  uint32_t flags;       /* 0 or SQUINT_RT_ALLOCATE_ARENA */
  squint_rt_isa isa;    /* default SQUINT_RT_ISA_AUTO */
  /* Threads an invoke may use, in [1, 256], default 1: the workers are started at create. The
   * optimized GEMMs (FULLY_CONNECTED, BATCH_MATMUL, CONV_2D) split their rows (or, with few
   * rows, their output units) over them when each thread gets at least 4 M multiply-accumulates,
   * and the optimized int8 LAYER_NORM and SOFTMAX (rows), BATCH_MATMUL (its products), LUT and
   * ADD/SUB/MUL without broadcast (elements) when each thread gets an estimated 3 µs or more;
   * every other op, smaller ones and the
   * reference kernels run on the calling thread. A worker polls for up to 1 ms after each split
   * op before it sleeps (waking a sleeping thread costs more than a small op), so an idle handle
   * costs no CPU time once that millisecond is over. The output codes do not depend on the
   * thread count. */
  int32_t num_threads;
} squint_rt_options;

typedef struct squint_rt_model squint_rt_model;

typedef struct squint_rt_tensor_info {
  const char* name;      /* owned by the model */
  squint_rt_type type;
  int32_t rank;
  const int32_t* dims;   /* rank values, owned by the model */
  int64_t num_elements;
  size_t bytes;
  int32_t has_quantization; /* 0: none; then scale = 0 */
  float scale;              /* per-tensor scale (first scale if per channel) */
  int32_t zero_point;
  /* > 0: log-grid quantization (softmax outputs on a log2, log-sqrt2 or SULQ grid) with these
   * bits (then has_quantization = 0, scale = 0, zero_point = 0): each code byte stands for a
   * value from the model's tables, 0xFF for exactly 0; squint_rt_get_output_float applies
   * this. 0: affine (or none) as above. */
  int32_t log_grid_bits;
} squint_rt_tensor_info;

/* flags: 0 or SQUINT_RT_ALLOCATE_ARENA. */
squint_rt_status squint_rt_create_from_file(const char* path, uint32_t flags, squint_rt_model** out);
squint_rt_status squint_rt_create_from_buffer(const void* data, size_t size, uint32_t flags,
                                              squint_rt_model** out);
void squint_rt_options_init(squint_rt_options* options);
squint_rt_status squint_rt_create_from_file_with_options(const char* path, const squint_rt_options* options,
                                                         squint_rt_model** out);
squint_rt_status squint_rt_create_from_buffer_with_options(const void* data, size_t size,
                                                           const squint_rt_options* options, squint_rt_model** out);
void squint_rt_destroy(squint_rt_model* model);
/* The instruction set the model runs on: "reference", "avx2", "avx512vnni", "neon" or "neondot"
 * (static string). */
const char* squint_rt_isa_name(const squint_rt_model* model);
/* The name of a code type: "int8", "uint8", "int16", "int32" (static string; "unknown" otherwise). */
const char* squint_rt_type_name(squint_rt_type type);
const char* squint_rt_last_error(void);

int32_t squint_rt_num_inputs(const squint_rt_model* model);
int32_t squint_rt_num_outputs(const squint_rt_model* model);
squint_rt_status squint_rt_input_info(const squint_rt_model* model, int32_t i, squint_rt_tensor_info* info);
squint_rt_status squint_rt_output_info(const squint_rt_model* model, int32_t i, squint_rt_tensor_info* info);

size_t squint_rt_arena_size(const squint_rt_model* model);
squint_rt_status squint_rt_set_arena(squint_rt_model* model, void* arena, size_t size);

/* Batches. A model whose inputs and outputs all lead with a batch dim has squint_rt_batch_size > 0
 * (the quantizer records it when every input and output of the ONNX model had a free leading dim;
 * 0: fixed shapes) and runs any multiple of that many samples: after
 * squint_rt_resize_batch(model, n), every input and output leads with n (the info's dims,
 * num_elements and bytes say so), squint_rt_set_input* take and squint_rt_get_output* give n
 * samples, and squint_rt_invoke runs the graph n / batch_size times over consecutive slices, in
 * order, on one set of activations: the codes equal those of separate runs. The n-sample inputs
 * and outputs are staged in the arena after the activations, so squint_rt_arena_size grows; a
 * handle created with SQUINT_RT_ALLOCATE_ARENA reallocates its arena here (the only allocation
 * after create; the inputs must be written again), otherwise the caller passes a large enough
 * arena to squint_rt_set_arena before the next set_input or invoke. The observer sees every op of
 * every run. Resizing to squint_rt_batch_size returns to the stored shapes. */
int32_t squint_rt_batch_size(const squint_rt_model* model);
squint_rt_status squint_rt_resize_batch(squint_rt_model* model, int64_t samples);

/* Raw codes: `bytes` must equal the tensor's byte size. */
squint_rt_status squint_rt_set_input(squint_rt_model* model, int32_t i, const void* codes, size_t bytes);
squint_rt_status squint_rt_set_input_float(squint_rt_model* model, int32_t i, const float* values, size_t count);
squint_rt_status squint_rt_invoke(squint_rt_model* model);
squint_rt_status squint_rt_get_output(const squint_rt_model* model, int32_t i, void* codes, size_t bytes);
squint_rt_status squint_rt_get_output_float(const squint_rt_model* model, int32_t i, float* values, size_t count);

/* Heapless mode (ABI 0.2), in the manner of TensorFlow Lite Micro's arena: everything create
 * needs comes from one caller-owned arena, and from squint_rt_create_heapless through
 * squint_rt_invoke to squint_rt_destroy the runtime makes no heap allocation (no malloc, no
 * operator new) and starts no thread.
 *
 *   size_t n;  squint_rt_heapless_arena_size(model_data, model_size, &options, &n);
 *   void* arena = <n bytes, 64-byte aligned, the caller's>;
 *   squint_rt_create_heapless(model_data, model_size, &options, arena, n, &model);
 *   ... set inputs, invoke, read outputs ...;  squint_rt_destroy(model);  (frees nothing; the arena is
 *   the caller's again)
 *
 * The arena holds the handle itself, the model's tensor table, the prepared ops (derived
 * requantization arrays, weights repacked for the optimized kernels, tables), the kernels'
 * scratch and the activations; create's temporaries (the memory plan's check, a weight copy
 * reordered before packing) are taken from its far end and given back before create returns.
 * The model buffer is the caller's as with squint_rt_create_from_buffer (zero copy; 8-byte
 * aligned, 64 recommended; alive and unchanged until squint_rt_destroy); a memory-mapped file
 * serves (it is not the heap).
 *
 * squint_rt_heapless_arena_size gives the exact size (a multiple of 64): create succeeds with an
 * arena of that many bytes and fails with one byte fewer. It runs create once with every block on
 * the heap (so call it where a heap exists: at build time or on the host, and embed the number);
 * the number depends on the model bytes, the options (isa: AUTO resolves as create would; the
 * optimized kernels repack weights, so an ISA's arena differs from the reference's) and this
 * runtime's version. Alternatively pass a generous arena and read squint_rt_heapless_arena_used.
 *
 * Rules and errors: the arena must be 64-byte aligned (else INVALID_ARGUMENT, message naming the
 * address); options.flags may not hold SQUINT_RT_ALLOCATE_ARENA (INVALID_ARGUMENT) and
 * options.num_threads must be 1 (UNSUPPORTED: worker threads need the heap). An arena smaller
 * than needed gives OUT_OF_MEMORY and a message with the size needed; finding that out, create
 * takes what did not fit from the heap and frees it before returning, so only a create that
 * succeeds is heap-free. squint_rt_set_arena on a heapless handle is FAILED_PRECONDITION (its
 * activations live in the arena). squint_rt_arena_size reports the activation bytes within it.
 * squint_rt_resize_batch works while the staged samples fit in the arena after the prepared model
 * (else OUT_OF_MEMORY naming the arena size that would hold them; the handle is unchanged).
 * The arena must stay alive and untouched by the caller until squint_rt_destroy. */
squint_rt_status squint_rt_heapless_arena_size(const void* data, size_t size, const squint_rt_options* options,
                                              size_t* bytes);
squint_rt_status squint_rt_create_heapless(const void* data, size_t size, const squint_rt_options* options,
                                           void* arena, size_t arena_size, squint_rt_model** out);
/* For a heapless handle, the smallest arena it could have been created with at its current batch
 * (what squint_rt_heapless_arena_size gives at the stored batch); 0 for any other handle. */
size_t squint_rt_heapless_arena_used(const squint_rt_model* model);

/* Called after each op during squint_rt_invoke; inside it, squint_rt_observed_output gives the
 * op's outputs (valid only during the callback). Pass NULL to remove. */
typedef void (*squint_rt_observer)(void* user, const squint_rt_model* model, int32_t op_index,
                                   const char* op_name, int32_t num_outputs);
squint_rt_status squint_rt_set_observer(squint_rt_model* model, squint_rt_observer observer, void* user);
squint_rt_status squint_rt_observed_output(const squint_rt_model* model, int32_t k, squint_rt_tensor_info* info,
                                           const void** data);

#ifdef __cplusplus
}
#endif

#endif /* SQUINT_RUNTIME_SQUINT_RT_H_ */

/* squint integer runtime: C API.
 *
 * Every function returns a squint_rt_status (0 = OK); on failure squint_rt_last_error() gives a
 * message naming the object, the bad value and the rule (thread-local, valid until the next
 * failing call on the same thread).
 *
 * Memory: the model buffer passed to squint_rt_create_from_buffer is caller-owned and must
 * stay alive and unchanged until squint_rt_destroy (zero copy; 8-byte aligned, 64 recommended).
 * squint_rt_create_from_file reads the file into an allocation owned by the handle. The arena
 * (all activations) is either caller-provided (squint_rt_set_arena, 64-byte aligned, at least
 * squint_rt_arena_size bytes) or allocated at create time with SQUINT_RT_ALLOCATE_ARENA.
 * Nothing allocates after create; squint_rt_invoke never allocates.
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

#ifdef __cplusplus
extern "C" {
#endif

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
 * builds, NEON (plain Advanced SIMD) and NEONDOT (with the dot-product extension, sdot) in
 * aarch64 builds. Asking for a set the CPU or the build lacks fails at create. */
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
  /* Threads an invoke may use, in [1, 256], default 1: the workers are started at create and the
   * optimized GEMMs (FULLY_CONNECTED, BATCH_MATMUL, CONV_2D) split their output units over
   * them; every other op, and the reference kernels, run on the calling thread. The output
   * codes do not depend on the thread count. */
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
const char* squint_rt_last_error(void);

int32_t squint_rt_num_inputs(const squint_rt_model* model);
int32_t squint_rt_num_outputs(const squint_rt_model* model);
squint_rt_status squint_rt_input_info(const squint_rt_model* model, int32_t i, squint_rt_tensor_info* info);
squint_rt_status squint_rt_output_info(const squint_rt_model* model, int32_t i, squint_rt_tensor_info* info);

size_t squint_rt_arena_size(const squint_rt_model* model);
squint_rt_status squint_rt_set_arena(squint_rt_model* model, void* arena, size_t size);

/* Raw codes: `bytes` must equal the tensor's byte size. */
squint_rt_status squint_rt_set_input(squint_rt_model* model, int32_t i, const void* codes, size_t bytes);
squint_rt_status squint_rt_set_input_float(squint_rt_model* model, int32_t i, const float* values, size_t count);
squint_rt_status squint_rt_invoke(squint_rt_model* model);
squint_rt_status squint_rt_get_output(const squint_rt_model* model, int32_t i, void* codes, size_t bytes);
squint_rt_status squint_rt_get_output_float(const squint_rt_model* model, int32_t i, float* values, size_t count);

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

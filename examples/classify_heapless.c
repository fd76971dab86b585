/* classify_heapless: classify's job in the C API's heapless mode (squint/squint_rt.h, ABI 0.2): the
 * program owns every byte the runtime uses, the model buffer and one arena, and the runtime makes
 * no heap allocation from squint_rt_create_heapless to squint_rt_destroy. A device would embed
 * the arena size (squint_rt_heapless_arena_size, run on the host) and use a static arena; this
 * example asks at run time, then runs sample after sample (no batch resize: the arena is sized for
 * the stored shapes).
 *
 *   classify_heapless MODEL.sqnt SAMPLES.f32 [TOP]
 *
 * Prints what classify prints (each sample's TOP classes, best first); the arena size on stderr.
 * Exit 0 on success, 2 on bad input. */
#include <squint/squint_rt.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char* what, const char* detail) {
  fprintf(stderr, "classify_heapless: %s: %s\n", what, detail);
  return 2;
}

/* `size` bytes at a 64-byte aligned address inside *block (free *block afterwards). */
static void* alloc64(size_t size, void** block) {
  *block = malloc(size + 63);
  if (*block == NULL) return NULL;
  return (void*)(((uintptr_t)*block + 63) / 64 * 64);
}

/* The whole file, 64-byte aligned; NULL on error (message printed). */
static void* read_file(const char* path, size_t* size, void** block) {
  FILE* f = fopen(path, "rb");
  long n;
  void* data;
  if (f == NULL) {
    fail(path, "cannot open");
    return NULL;
  }
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    fail(path, "cannot determine its size, or it is empty");
    return NULL;
  }
  data = alloc64((size_t)n, block);
  if (data == NULL || fread(data, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    free(*block);
    fail(path, "cannot read");
    return NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return data;
}

static void print_top(size_t sample, const float* row, size_t classes, int top) {
  size_t k, c, other;
  printf("sample %zu:", sample);
  for (k = 0; k < (size_t)top && k < classes; ++k) {
    for (c = 0; c < classes; ++c) { /* the class with exactly k classes ranked above it */
      size_t above = 0;
      for (other = 0; other < classes; ++other)
        if (row[other] > row[c] || (row[other] == row[c] && other < c)) ++above;
      if (above == k) break;
    }
    printf(" %zu (%.6g)", c, (double)row[c]);
  }
  printf("\n");
}

int main(int argc, char** argv) {
  void *model_block = NULL, *x_block = NULL, *arena_block = NULL;
  size_t model_size = 0, x_bytes = 0, arena_size = 0, runs, per_run_samples, classes, r, s;
  const void* model_data;
  const float* x;
  void* arena;
  float* scores = NULL;
  squint_rt_options options;
  squint_rt_model* model = NULL;
  squint_rt_tensor_info in, out;
  int top = 3, status = 0;
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: classify_heapless MODEL.sqnt SAMPLES.f32 [TOP]\n");
    return 2;
  }
  if (argc == 4) top = atoi(argv[3]);
  if (top < 1) return fail("TOP", "expected a positive number of classes");
  model_data = read_file(argv[1], &model_size, &model_block);
  if (model_data == NULL) return 2;
  x = (const float*)read_file(argv[2], &x_bytes, &x_block);
  if (x == NULL) {
    free(model_block);
    return 2;
  }
  squint_rt_options_init(&options); /* one thread, no SQUINT_RT_ALLOCATE_ARENA: what heapless needs */
  if (squint_rt_heapless_arena_size(model_data, model_size, &options, &arena_size) != SQUINT_RT_OK) {
    status = fail(argv[1], squint_rt_last_error());
  } else if ((arena = alloc64(arena_size, &arena_block)) == NULL) {
    status = fail("arena", "out of memory");
  } else if (squint_rt_create_heapless(model_data, model_size, &options, arena, arena_size, &model) != SQUINT_RT_OK) {
    status = fail(argv[1], squint_rt_last_error());
  } else {
    fprintf(stderr, "classify_heapless: heapless arena of %zu bytes (model file %zu bytes)\n", arena_size, model_size);
    squint_rt_input_info(model, 0, &in);
    squint_rt_output_info(model, 0, &out);
    /* One run takes in.num_elements values: batch_size samples (or one, for fixed shapes). */
    per_run_samples = squint_rt_batch_size(model) > 0 ? (size_t)squint_rt_batch_size(model) : 1;
    classes = (size_t)out.num_elements / per_run_samples;
    runs = x_bytes / 4 / (size_t)in.num_elements;
    if (x_bytes % 4 != 0 || runs * (size_t)in.num_elements * 4 != x_bytes) {
      fprintf(stderr, "classify_heapless: %s: %zu bytes do not make whole runs of %lld float32 values for input '%s'\n",
              argv[2], x_bytes, (long long)in.num_elements, in.name);
      status = 2;
    } else if ((scores = (float*)malloc((size_t)out.num_elements * sizeof(float))) == NULL) {
      status = fail("scores", "out of memory");
    }
    for (r = 0; r < runs && status == 0; ++r) {
      if (squint_rt_set_input_float(model, 0, x + r * (size_t)in.num_elements, (size_t)in.num_elements) != SQUINT_RT_OK ||
          squint_rt_invoke(model) != SQUINT_RT_OK ||
          squint_rt_get_output_float(model, 0, scores, (size_t)out.num_elements) != SQUINT_RT_OK) {
        status = fail(argv[1], squint_rt_last_error());
        break;
      }
      for (s = 0; s < per_run_samples; ++s) print_top(r * per_run_samples + s, scores + s * classes, classes, top);
    }
    squint_rt_destroy(model); /* frees nothing: the arena and the model buffer are ours */
  }
  free(scores);
  free(arena_block);
  free(x_block);
  free(model_block);
  return status;
}

/* classify: runs a .sqnt classifier on samples of raw float32 and prints each sample's top
 * classes. An example of the C API (squint/squint_rt.h), built against the installed package.
 *
 *   classify MODEL.sqnt SAMPLES.f32 [TOP]
 *
 * SAMPLES.f32 holds little-endian float32 values for input 0, sample after sample (e.g. numpy's
 * x.astype('<f4').tofile(path)); with a model that runs any batch, any number of samples.
 * Output 0 is read as [samples, classes] scores. Exit 0 on success, 2 on bad input. */
#include <squint/squint_rt.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char* what, const char* detail) {
  fprintf(stderr, "classify: %s: %s\n", what, detail);
  return 2;
}

/* The whole file as floats; *count set. NULL on error (message printed). */
static float* read_floats(const char* path, size_t* count) {
  FILE* f = fopen(path, "rb");
  long size;
  float* data;
  if (f == NULL) {
    fail(path, "cannot open");
    return NULL;
  }
  if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    fail(path, "cannot determine its size");
    return NULL;
  }
  if (size == 0 || size % 4 != 0) {
    fclose(f);
    fail(path, "size is not a positive multiple of 4 bytes (float32 values)");
    return NULL;
  }
  data = (float*)malloc((size_t)size);
  if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
    fclose(f);
    free(data);
    fail(path, "cannot read");
    return NULL;
  }
  fclose(f);
  *count = (size_t)size / 4;
  return data;
}

int main(int argc, char** argv) {
  squint_rt_model* model = NULL;
  squint_rt_tensor_info in, out;
  size_t count = 0, per_sample, samples, classes, s, c, k;
  float* x;
  float* scores;
  int top = 3, status = 0;
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: classify MODEL.sqnt SAMPLES.f32 [TOP]\n");
    return 2;
  }
  if (argc == 4) top = atoi(argv[3]);
  if (top < 1) return fail("TOP", "expected a positive number of classes");
  if (squint_rt_create_from_file(argv[1], SQUINT_RT_ALLOCATE_ARENA, &model) != SQUINT_RT_OK)
    return fail(argv[1], squint_rt_last_error());
  x = read_floats(argv[2], &count);
  if (x == NULL) {
    squint_rt_destroy(model);
    return 2;
  }
  squint_rt_input_info(model, 0, &in);
  /* One run takes in.num_elements values; a model with a batch takes any multiple of them. */
  per_sample = (size_t)in.num_elements;
  if (squint_rt_batch_size(model) > 0) per_sample /= (size_t)squint_rt_batch_size(model);
  samples = count / per_sample;
  if (count % per_sample != 0 || (squint_rt_batch_size(model) == 0 && count != (size_t)in.num_elements)) {
    fprintf(stderr, "classify: %s: %zu values do not make whole samples of %zu for input '%s'\n", argv[2], count,
            per_sample, in.name);
    status = 2;
  } else if (squint_rt_batch_size(model) > 0 && squint_rt_resize_batch(model, (int64_t)samples) != SQUINT_RT_OK) {
    status = fail(argv[1], squint_rt_last_error());
  } else if (squint_rt_set_input_float(model, 0, x, count) != SQUINT_RT_OK || squint_rt_invoke(model) != SQUINT_RT_OK ||
             squint_rt_output_info(model, 0, &out) != SQUINT_RT_OK) {
    status = fail(argv[1], squint_rt_last_error());
  } else {
    classes = (size_t)out.num_elements / samples;
    scores = (float*)malloc((size_t)out.num_elements * sizeof(float));
    if (scores == NULL || squint_rt_get_output_float(model, 0, scores, (size_t)out.num_elements) != SQUINT_RT_OK) {
      status = fail(argv[1], scores == NULL ? "out of memory" : squint_rt_last_error());
    } else {
      for (s = 0; s < samples; ++s) {
        const float* row = scores + s * classes;
        printf("sample %zu:", s);
        /* The TOP best classes, best first: the k-th is the class with exactly k classes ranked
           above it (a higher score, or the same score and a lower index). */
        for (k = 0; k < (size_t)top && k < classes; ++k) {
          for (c = 0; c < classes; ++c) {
            size_t above = 0, other;
            for (other = 0; other < classes; ++other)
              if (row[other] > row[c] || (row[other] == row[c] && other < c)) ++above;
            if (above == k) break;
          }
          printf(" %zu (%.6g)", c, (double)row[c]);
        }
        printf("\n");
      }
    }
    free(scores);
  }
  free(x);
  squint_rt_destroy(model);
  return status;
}

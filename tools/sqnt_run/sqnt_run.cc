// sqnt_run: runs a .sqnt model once on the squint integer runtime and writes its raw output codes.
// It uses the C API alone (runtime/squint_rt.h) and needs nothing but the runtime library, so it
// runs on the edge targets (the aarch64 cross-build runs it under qemu in scripts/test.sh) and
// serves as an example of the API: create with options, fill the inputs, invoke, read the outputs.
// Exit status: 0 done; 2 bad usage or bad input (an unreadable or malformed model or input file,
// sizes or types that do not match the model); 1 any other failure of the runtime (e.g. an
// instruction set the build or CPU lacks). Every error is one line on stderr.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/squint_rt.h"

namespace {

constexpr int kExitRuntime = 1, kExitUsage = 2;

const char kUsage[] =
    "usage: sqnt_run [options] MODEL.sqnt INPUT...\n"
    "Runs MODEL.sqnt once on the squint integer runtime and writes the raw integer codes of its outputs.\n"
    "\n"
    "INPUT, one per model input, in the model's order:\n"
    "  FILE.npy   a NumPy array with as many elements as the input (C order): float32 values are\n"
    "             quantized with the input's scale and zero point; an array of the input's own\n"
    "             integer type (int8, uint8, int16, int32) is taken as its codes\n"
    "  FILE       any other name: the input's raw codes, exactly its byte size\n"
    "\n"
    "options:\n"
    "  -o, --output FILE   write every output's codes to FILE, output 0 first, back to back\n"
    "                      (each exactly its byte size: the model's output types and shapes)\n"
    "  --trace FILE        write the codes of every op's outputs to FILE, in execution order (op 0's\n"
    "                      outputs first), back to back: two runs compare layer by layer with cmp\n"
    "  --isa NAME          auto (default: SQUINT_ISA, else the CPU's best), reference, avx2,\n"
    "                      avx512vnni (x86-64 builds), neon or neondot (aarch64 builds); a set\n"
    "                      the build or CPU lacks is an error\n"
    "  --threads N         threads for the optimized GEMMs, 1 to 256 (default 1)\n"
    "  --heapless          run in the C API's heapless mode: the model file memory-mapped, one arena\n"
    "                      (an anonymous mapping, not the heap) holds everything the runtime needs,\n"
    "                      sized by squint_rt_heapless_arena_size (which runs create once on the heap);\n"
    "                      prints the arena's size; one thread only\n"
    "  --arena-size BYTES  with --heapless: an arena of BYTES instead of the query (too small: exit 2)\n"
    "  -q, --quiet         print nothing but errors\n"
    "  -h, --help          this text\n"
    "\n"
    "Prints the instruction set used and, per output, its name, type, shape and an FNV-1a hash of\n"
    "its codes. Exit status: 0 done; 2 bad usage or bad input (an unreadable or malformed model or\n"
    "input file, a size or type that does not match the model); 1 any other failure of the runtime\n"
    "(e.g. an instruction set this build or CPU lacks).\n";

int UsageError(const char* fmt, const char* arg) {
  std::fprintf(stderr, "sqnt_run: ");
  std::fprintf(stderr, fmt, arg);
  std::fprintf(stderr, "\n(sqnt_run --help for usage)\n");
  return kExitUsage;
}

// The runtime's message; bad input (the model file, an input's size) exits 2, anything else 1.
int RuntimeError(squint_rt_status s, const char* what) {
  std::fprintf(stderr, "sqnt_run: %s: %s\n", what, squint_rt_last_error());
  const bool bad_input = s == SQUINT_RT_INVALID_ARGUMENT || s == SQUINT_RT_INVALID_MODEL ||
                         s == SQUINT_RT_UNSUPPORTED_VERSION || s == SQUINT_RT_IO_ERROR;
  return bad_input ? kExitUsage : kExitRuntime;
}

bool ReadFile(const char* path, std::vector<uint8_t>* out, std::string* error) {
  FILE* f = std::fopen(path, "rb");
  if (f == nullptr) {
    *error = std::string("cannot open '") + path + "': " + std::strerror(errno);
    return false;
  }
  out->clear();
  uint8_t buf[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out->insert(out->end(), buf, buf + n);
  const bool ok = std::ferror(f) == 0;
  std::fclose(f);
  if (!ok) *error = std::string("cannot read '") + path + "'";
  return ok;
}

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// The NumPy descr of a type's codes (little-endian; one byte types have no byte order).
const char* NpyDescr(squint_rt_type t) {
  switch (t) {
    case SQUINT_RT_INT8: return "|i1";
    case SQUINT_RT_UINT8: return "|u1";
    case SQUINT_RT_INT16: return "<i2";
    case SQUINT_RT_INT32: return "<i4";
  }
  return "";
}

// A parsed .npy (format 1.0 to 3.0, C order): its descr ('<f4', '|i1', ...), element count and data.
struct Npy {
  std::string descr;
  int64_t count = 1;
  const uint8_t* data = nullptr;
  size_t bytes = 0;
};

// The value text of `key` in the header dict ("'descr': '<f4', ..."), up to the next top-level ','.
bool DictValue(const std::string& header, const char* key, std::string* value) {
  const std::string quoted = std::string("'") + key + "'";
  size_t at = header.find(quoted);
  if (at == std::string::npos) return false;
  at = header.find(':', at + quoted.size());
  if (at == std::string::npos) return false;
  ++at;
  while (at < header.size() && header[at] == ' ') ++at;
  size_t end = at;
  int depth = 0;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if ((c == ',' || c == '}') && depth == 0) break;
  }
  *value = header.substr(at, end - at);
  return true;
}

bool ParseNpy(const std::vector<uint8_t>& file, Npy* out, std::string* error) {
  static const uint8_t kMagic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (file.size() < 10 || std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) {
    *error = "not a .npy file (no \\x93NUMPY magic)";
    return false;
  }
  const int major = file[6];
  size_t header_len = 0, at = 0;
  if (major == 1) {
    header_len = file[8] | (size_t{file[9]} << 8);
    at = 10;
  } else if ((major == 2 || major == 3) && file.size() >= 12) {
    header_len = file[8] | (size_t{file[9]} << 8) | (size_t{file[10]} << 16) | (size_t{file[11]} << 24);
    at = 12;
  } else {
    *error = "unsupported .npy format version " + std::to_string(major);
    return false;
  }
  if (header_len > file.size() - at) {
    *error = ".npy header runs past the end of the file";
    return false;
  }
  const std::string header(reinterpret_cast<const char*>(file.data() + at), header_len);
  std::string descr, fortran, shape;
  if (!DictValue(header, "descr", &descr) || !DictValue(header, "fortran_order", &fortran) ||
      !DictValue(header, "shape", &shape)) {
    *error = ".npy header lacks descr, fortran_order or shape: " + header;
    return false;
  }
  if (fortran != "False") {
    *error = ".npy array is in Fortran order; save it in C order";
    return false;
  }
  if (descr.size() < 2 || descr.front() != '\'' || descr.back() != '\'') {
    *error = ".npy descr is not a simple type: " + descr;
    return false;
  }
  out->descr = descr.substr(1, descr.size() - 2);
  out->count = 1;
  // shape: "(d0, d1, ...)" or "()" (a scalar: one element).
  for (size_t i = 0; i < shape.size();) {
    if (shape[i] < '0' || shape[i] > '9') {
      ++i;
      continue;
    }
    int64_t d = 0;
    while (i < shape.size() && shape[i] >= '0' && shape[i] <= '9') {
      d = d * 10 + (shape[i] - '0');
      if (d > (int64_t{1} << 40)) {
        *error = ".npy shape too large: " + shape;
        return false;
      }
      ++i;
    }
    out->count *= d;
    if (out->count > (int64_t{1} << 40)) {
      *error = ".npy shape too large: " + shape;
      return false;
    }
  }
  out->data = file.data() + at + header_len;
  out->bytes = file.size() - at - header_len;
  return true;
}

// Sets input i from `path` (see kUsage). On failure: *status the runtime's status, or
// SQUINT_RT_OK with a message in *error (a bad file).
bool SetInput(squint_rt_model* model, int32_t i, const char* path, std::string* error, squint_rt_status* status) {
  squint_rt_tensor_info info;
  if ((*status = squint_rt_input_info(model, i, &info)) != SQUINT_RT_OK) return false;
  std::vector<uint8_t> file;
  if (!ReadFile(path, &file, error)) return false;
  const std::string where = std::string("input ") + std::to_string(i) + " '" + info.name + "' from '" + path + "'";
  if (!EndsWith(path, ".npy")) {
    if (file.size() != info.bytes) {
      *error = where + ": " + std::to_string(file.size()) + " bytes, expected " + std::to_string(info.bytes) +
               " (raw " + squint_rt_type_name(info.type) + " codes of " + std::to_string(info.num_elements) + " elements)";
      return false;
    }
    return (*status = squint_rt_set_input(model, i, file.data(), file.size())) == SQUINT_RT_OK;
  }
  Npy npy;
  if (!ParseNpy(file, &npy, error)) {
    *error = where + ": " + *error;
    return false;
  }
  if (npy.count != info.num_elements) {
    *error = where + ": " + std::to_string(npy.count) + " elements, expected " + std::to_string(info.num_elements);
    return false;
  }
  if (npy.descr == "<f4") {
    if (npy.bytes != static_cast<size_t>(npy.count) * 4) {
      *error = where + ": the data is " + std::to_string(npy.bytes) + " bytes, the shape says " +
               std::to_string(npy.count * 4);
      return false;
    }
    std::vector<float> values(static_cast<size_t>(npy.count));
    std::memcpy(values.data(), npy.data, npy.bytes);  // little-endian host (x86-64, aarch64)
    return (*status = squint_rt_set_input_float(model, i, values.data(), values.size())) == SQUINT_RT_OK;
  }
  if (npy.descr == NpyDescr(info.type) || (info.type == SQUINT_RT_INT8 && npy.descr == "<i1") ||
      (info.type == SQUINT_RT_UINT8 && npy.descr == "<u1")) {
    if (npy.bytes != info.bytes) {
      *error = where + ": the data is " + std::to_string(npy.bytes) + " bytes, expected " + std::to_string(info.bytes);
      return false;
    }
    return (*status = squint_rt_set_input(model, i, npy.data, npy.bytes)) == SQUINT_RT_OK;
  }
  *error = where + ": dtype '" + npy.descr + "' is neither float32 ('<f4') nor the input's " + squint_rt_type_name(info.type) +
           " ('" + NpyDescr(info.type) + "')";
  return false;
}

// The observer of --trace: appends each op's output codes to the file.
struct Trace {
  FILE* file = nullptr;
  int64_t ops = 0, bytes = 0;
  bool failed = false;
};
void TraceOp(void* user, const squint_rt_model* model, int32_t op_index, const char* op_name, int32_t num_outputs) {
  (void)op_index, (void)op_name;
  auto* t = static_cast<Trace*>(user);
  ++t->ops;
  for (int32_t k = 0; k < num_outputs && !t->failed; ++k) {
    squint_rt_tensor_info info;
    const void* data = nullptr;
    if (squint_rt_observed_output(model, k, &info, &data) != SQUINT_RT_OK || data == nullptr) continue;  // absent
    t->failed = std::fwrite(data, 1, info.bytes, t->file) != info.bytes;
    t->bytes += static_cast<int64_t>(info.bytes);
  }
}

// --heapless: the model file mapped read-only and the arena, both the caller's (this program's).
struct Heapless {
  void* file = MAP_FAILED;
  size_t file_size = 0;
  void* arena = MAP_FAILED;
  size_t arena_size = 0;
  ~Heapless() {
    if (file != MAP_FAILED) munmap(file, file_size);
    if (arena != MAP_FAILED) munmap(arena, arena_size);
  }
};

// Maps `path`, sizes the arena (`arena_size` 0: the runtime's query) and creates the handle.
// Returns 0, or the exit status after printing the error.
int CreateHeapless(const char* path, const squint_rt_options& options, unsigned long long arena_size, Heapless* h,
                   squint_rt_model** model) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
    std::fprintf(stderr, "sqnt_run: %s: cannot open a non-empty regular file: %s\n", path,
                 fd < 0 ? std::strerror(errno) : "not regular or empty");
    if (fd >= 0) close(fd);
    return kExitUsage;
  }
  h->file_size = static_cast<size_t>(st.st_size);
  h->file = mmap(nullptr, h->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (h->file == MAP_FAILED) {
    std::fprintf(stderr, "sqnt_run: %s: cannot map: %s\n", path, std::strerror(errno));
    return kExitRuntime;
  }
  size_t need = static_cast<size_t>(arena_size);
  if (need == 0) {
    const squint_rt_status s = squint_rt_heapless_arena_size(h->file, h->file_size, &options, &need);
    if (s != SQUINT_RT_OK) return RuntimeError(s, path);
  }
  h->arena_size = need == 0 ? 1 : need;
  h->arena = mmap(nullptr, h->arena_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (h->arena == MAP_FAILED) {
    std::fprintf(stderr, "sqnt_run: cannot map an arena of %zu bytes: %s\n", need, std::strerror(errno));
    return kExitRuntime;
  }
  const squint_rt_status s = squint_rt_create_heapless(h->file, h->file_size, &options, h->arena, need, model);
  if (s == SQUINT_RT_OUT_OF_MEMORY && arena_size != 0) {  // the user's --arena-size is too small: bad usage
    RuntimeError(s, path);
    return kExitUsage;
  }
  return s == SQUINT_RT_OK ? 0 : RuntimeError(s, path);
}

uint64_t Fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  const char* output = nullptr;
  const char* trace_path = nullptr;
  const char* isa = "auto";
  long threads = 1;
  bool quiet = false, heapless = false;
  unsigned long long arena_size = 0;
  std::vector<const char*> positional;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    auto value = [&](const char** out) {
      if (a + 1 >= argc) return false;
      *out = argv[++a];
      return true;
    };
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "-o" || arg == "--output") {
      if (!value(&output)) return UsageError("%s needs a file name", arg.c_str());
    } else if (arg == "--trace") {
      if (!value(&trace_path)) return UsageError("%s needs a file name", "--trace");
    } else if (arg == "--isa") {
      if (!value(&isa)) return UsageError("%s needs a name", "--isa");
    } else if (arg == "--threads") {
      const char* text = nullptr;
      if (!value(&text)) return UsageError("%s needs a number", "--threads");
      char* end = nullptr;
      threads = std::strtol(text, &end, 10);
      if (*text == '\0' || *end != '\0' || threads < 1 || threads > 256)
        return UsageError("--threads '%s' is not a whole number from 1 to 256", text);
    } else if (arg == "--heapless") {
      heapless = true;
    } else if (arg == "--arena-size") {
      const char* text = nullptr;
      if (!value(&text)) return UsageError("%s needs a number of bytes", "--arena-size");
      char* end = nullptr;
      errno = 0;
      arena_size = std::strtoull(text, &end, 10);
      if (*text < '0' || *text > '9' || *end != '\0' || errno != 0 || arena_size == 0)
        return UsageError("--arena-size '%s' is not a positive whole number of bytes", text);
    } else if (arg == "-q" || arg == "--quiet") {
      quiet = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return UsageError("unknown option '%s'", arg.c_str());
    } else {
      positional.push_back(argv[a]);
    }
  }
  if (positional.empty()) return UsageError("%s", "no model given");

  static const struct {
    const char* name;
    squint_rt_isa isa;
  } kIsas[] = {{"auto", SQUINT_RT_ISA_AUTO}, {"reference", SQUINT_RT_ISA_REFERENCE},
               {"avx2", SQUINT_RT_ISA_AVX2}, {"avx512vnni", SQUINT_RT_ISA_AVX512VNNI},
               {"neon", SQUINT_RT_ISA_NEON}, {"neondot", SQUINT_RT_ISA_NEONDOT}};
  squint_rt_options options;
  squint_rt_options_init(&options);
  bool known = false;
  for (const auto& k : kIsas)
    if (std::strcmp(isa, k.name) == 0) {
      options.isa = k.isa;
      known = true;
    }
  if (!known) return UsageError("--isa '%s' is not one of auto, reference, avx2, avx512vnni, neon, neondot", isa);
  if (arena_size != 0 && !heapless) return UsageError("%s needs --heapless", "--arena-size");
  options.flags = heapless ? 0 : SQUINT_RT_ALLOCATE_ARENA;
  options.num_threads = static_cast<int32_t>(threads);

  squint_rt_model* model = nullptr;
  Heapless mapped;  // unmapped when main returns, after squint_rt_destroy
  if (heapless) {
    if (const int failed = CreateHeapless(positional[0], options, arena_size, &mapped, &model)) return failed;
  } else {
    const squint_rt_status created = squint_rt_create_from_file_with_options(positional[0], &options, &model);
    if (created != SQUINT_RT_OK) return RuntimeError(created, positional[0]);
  }
  int status = 0;
  const int32_t inputs = squint_rt_num_inputs(model), outputs = squint_rt_num_outputs(model);
  if (static_cast<int32_t>(positional.size()) - 1 != inputs) {
    std::fprintf(stderr, "sqnt_run: %s has %d input(s), %d input file(s) given\n(sqnt_run --help for usage)\n",
                 positional[0], inputs, static_cast<int>(positional.size()) - 1);
    squint_rt_destroy(model);
    return kExitUsage;
  }
  for (int32_t i = 0; i < inputs && status == 0; ++i) {
    std::string error;
    squint_rt_status s = SQUINT_RT_OK;
    if (!SetInput(model, i, positional[static_cast<size_t>(i) + 1], &error, &s)) {
      if (s != SQUINT_RT_OK) {
        status = RuntimeError(s, positional[static_cast<size_t>(i) + 1]);
      } else {
        std::fprintf(stderr, "sqnt_run: %s\n", error.c_str());
        status = kExitUsage;
      }
    }
  }
  Trace trace;
  if (status == 0 && trace_path != nullptr) {
    trace.file = std::fopen(trace_path, "wb");
    if (trace.file == nullptr) {
      std::fprintf(stderr, "sqnt_run: cannot write '%s': %s\n", trace_path, std::strerror(errno));
      status = kExitUsage;
    } else {
      const squint_rt_status s = squint_rt_set_observer(model, &TraceOp, &trace);
      if (s != SQUINT_RT_OK) status = RuntimeError(s, "observer");
    }
  }
  if (status == 0) {
    const squint_rt_status s = squint_rt_invoke(model);
    if (s != SQUINT_RT_OK) status = RuntimeError(s, "invoke");
  }
  if (trace.file != nullptr && (std::fclose(trace.file) != 0 || trace.failed) && status == 0) {
    std::fprintf(stderr, "sqnt_run: cannot write '%s'\n", trace_path);
    status = kExitUsage;
  }
  FILE* out = nullptr;
  if (status == 0 && output != nullptr) {
    out = std::fopen(output, "wb");
    if (out == nullptr) {
      std::fprintf(stderr, "sqnt_run: cannot write '%s': %s\n", output, std::strerror(errno));
      status = kExitUsage;
    }
  }
  if (status == 0 && !quiet) std::printf("isa %s\n", squint_rt_isa_name(model));
  if (status == 0 && !quiet && heapless) std::printf("heapless arena %zu bytes\n", squint_rt_heapless_arena_used(model));
  if (status == 0 && !quiet && trace_path != nullptr)
    std::printf("trace %lld ops, %lld bytes\n", static_cast<long long>(trace.ops), static_cast<long long>(trace.bytes));
  for (int32_t i = 0; i < outputs && status == 0; ++i) {
    squint_rt_tensor_info info;
    squint_rt_status s = squint_rt_output_info(model, i, &info);
    std::vector<uint8_t> codes(s == SQUINT_RT_OK ? info.bytes : 0);
    if (s == SQUINT_RT_OK) s = squint_rt_get_output(model, i, codes.data(), codes.size());
    if (s != SQUINT_RT_OK) {
      status = RuntimeError(s, "output");
      break;
    }
    if (out != nullptr && std::fwrite(codes.data(), 1, codes.size(), out) != codes.size()) {
      std::fprintf(stderr, "sqnt_run: cannot write '%s': %s\n", output, std::strerror(errno));
      status = kExitUsage;
      break;
    }
    if (!quiet) {
      std::printf("output %d '%s' %s [", i, info.name, squint_rt_type_name(info.type));
      for (int32_t d = 0; d < info.rank; ++d) std::printf(d == 0 ? "%d" : ", %d", info.dims[d]);
      std::printf("] fnv1a %016llx\n", static_cast<unsigned long long>(Fnv1a(codes.data(), codes.size())));
    }
  }
  if (out != nullptr && std::fclose(out) != 0 && status == 0) {
    std::fprintf(stderr, "sqnt_run: cannot write '%s': %s\n", output, std::strerror(errno));
    status = kExitUsage;
  }
  squint_rt_destroy(model);
  return status;
}

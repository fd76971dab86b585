#include "importers/onnx/tensor_proto.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace squint::importers::onnx_detail {
namespace {

static_assert(std::endian::native == std::endian::little,
              "ONNX raw_data is little-endian; the importer copies it as is");
static_assert(sizeof(off_t) == 8, "external data needs 64-bit file offsets");

namespace fs = std::filesystem;

// One external data reference (ONNX external_data key/value entries).
struct ExternalRef {
  std::string location;
  uint64_t offset = 0;
  bool has_length = false;
  uint64_t length = 0;
};

// Decimal integer in [0, 2^63); the ONNX format stores offsets and lengths as strings.
bool ParseU63(const std::string& s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > static_cast<uint64_t>(INT64_MAX)) return false;
  out = v;
  return true;
}

Result<ExternalRef> ParseExternalRef(const onnx::TensorProto& p, const std::string& what) {
  ExternalRef ref;
  bool has_location = false;
  for (const auto& e : p.external_data()) {
    if (e.key() == "location") {
      ref.location = e.value();
      has_location = true;
    } else if (e.key() == "offset") {
      if (!ParseU63(e.value(), ref.offset))
        return InvalidInput("{}: external data offset '{}' is not a non-negative integer", what, e.value());
    } else if (e.key() == "length") {
      if (!ParseU63(e.value(), ref.length))
        return InvalidInput("{}: external data length '{}' is not a non-negative integer", what, e.value());
      ref.has_length = true;
    }
  }
  if (!has_location || ref.location.empty())
    return InvalidInput("{}: external data has no 'location' entry", what);
  return ref;
}

// model_dir/location, refusing anything that could leave model_dir: absolute paths, '..'
// components, and symbolic links that resolve outside it.
Result<fs::path> ResolveLocation(const std::string& model_dir, const std::string& location,
                                 const std::string& what) {
  if (model_dir.empty())
    return InvalidInput("{}: uses external data file '{}', but the model was read from memory "
                        "(no folder to resolve it against)", what, location);
  if (location.find('\0') != std::string::npos)
    return InvalidInput("{}: external data location contains a NUL byte", what);
  const bool drive = location.size() >= 2 && location[1] == ':';
  if (location[0] == '/' || location[0] == '\\' || drive)
    return InvalidInput("{}: external data location '{}' is an absolute path; it must be relative "
                        "to the model's folder", what, location);
  size_t start = 0;
  while (start <= location.size()) {
    size_t end = location.find_first_of("/\\", start);
    if (end == std::string::npos) end = location.size();
    if (location.compare(start, end - start, "..") == 0 && end - start == 2)
      return InvalidInput("{}: external data location '{}' leaves the model's folder ('..' is not "
                          "allowed)", what, location);
    start = end + 1;
  }
  std::error_code ec;
  const fs::path dir = fs::weakly_canonical(fs::path(model_dir), ec);
  if (ec) return InvalidInput("{}: cannot resolve the model folder '{}': {}", what, model_dir, ec.message());
  const fs::path file = fs::weakly_canonical(dir / location, ec);
  if (ec) return InvalidInput("{}: cannot resolve external data file '{}': {}", what, location, ec.message());
  const fs::path rel = file.lexically_relative(dir);
  if (rel.empty() || *rel.begin() == "..")
    return InvalidInput("{}: external data location '{}' resolves to '{}', outside the model's "
                        "folder '{}'", what, location, file.string(), dir.string());
  return file;
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

// Reads `bytes` bytes at a 64-bit `offset` straight into `dst`, in chunks.
Status PreadAll(int fd, void* dst, uint64_t bytes, uint64_t offset, const std::string& file) {
  auto* out = static_cast<char*>(dst);
  uint64_t done = 0;
  constexpr uint64_t kChunk = uint64_t{1} << 26;
  while (done < bytes) {
    const size_t n = static_cast<size_t>(std::min(kChunk, bytes - done));
    const ssize_t got = ::pread(fd, out + done, n, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return InvalidInput("cannot read '{}': {}", file, std::strerror(errno));
    if (got == 0)
      return InvalidInput("'{}' ended at byte {} while reading {} bytes at offset {}", file, offset + done,
                          bytes, offset);
    done += static_cast<uint64_t>(got);
  }
  return Status::Ok();
}

// bool tensors may only hold 0 or 1; files may hold any byte.
void NormalizeBools(ir::Tensor& t) {
  if (t.dtype() != ir::DType::kBool) return;
  auto* b = static_cast<unsigned char*>(t.raw());
  for (int64_t i = 0; i < t.size(); ++i) b[i] = b[i] != 0;
}

Status ReadExternal(const onnx::TensorProto& p, const std::string& what, const ExternalDataPolicy& ext,
                    ir::Tensor& t) {
  SQ_ASSIGN_OR_RETURN(ExternalRef ref, ParseExternalRef(p, what));
  SQ_ASSIGN_OR_RETURN(fs::path file, ResolveLocation(ext.model_dir, ref.location, what));
  const std::string fname = file.string();
  const int fd = ::open(fname.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return InvalidInput("{}: cannot open external data file '{}': {}", what, fname, std::strerror(errno));
  FdCloser closer(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return InvalidInput("{}: cannot stat external data file '{}': {}", what, fname, std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    return InvalidInput("{}: external data file '{}' is not a regular file", what, fname);
  const auto size = static_cast<uint64_t>(st.st_size);
  const uint64_t need = t.bytes();
  if (ref.offset > size)
    return InvalidInput("{}: external data offset {} is past the end of '{}' ({} bytes)", what, ref.offset,
                        fname, size);
  const uint64_t avail = size - ref.offset;
  if (ref.has_length) {
    if (ref.length > avail)
      return InvalidInput("{}: external data at offset {} with length {} runs past the end of '{}' ({} bytes)",
                          what, ref.offset, ref.length, fname, size);
    if (ref.length != need)
      return InvalidInput("{}: external data length {} disagrees with dims {} of {} ({} bytes)", what,
                          ref.length, ir::DimsToString(t.dims()), ir::DTypeName(t.dtype()), need);
  } else if (avail != need) {
    return InvalidInput("{}: external data in '{}' has {} bytes from offset {} to the end, but dims {} of {} "
                        "need {} bytes", what, fname, avail, ref.offset, ir::DimsToString(t.dims()),
                        ir::DTypeName(t.dtype()), need);
  }
  SQ_RETURN_IF_ERROR(PreadAll(fd, t.raw(), need, ref.offset, fname).WithContext(what));
  NormalizeBools(t);
  return Status::Ok();
}

// Copies a typed repeated field (float_data, int32_data, ...) into the tensor.
template <typename Dst, typename Field>
Status CopyField(const Field& f, const char* field_name, const std::string& what, ir::Tensor& t) {
  if (static_cast<int64_t>(f.size()) != t.size())
    return InvalidInput("{}: {} has {} values but dims {} need {}", what, field_name, f.size(),
                        ir::DimsToString(t.dims()), t.size());
  Dst* d = t.data<Dst>();
  for (int64_t i = 0; i < t.size(); ++i) {
    if constexpr (std::is_same_v<Dst, bool>)
      d[i] = f[static_cast<int>(i)] != 0;
    else
      d[i] = static_cast<Dst>(f[static_cast<int>(i)]);
  }
  return Status::Ok();
}

// The typed field that holds values of dtype, and its length.
const char* TypedFieldName(ir::DType d) {
  switch (d) {
    case ir::DType::kFloat32: return "float_data";
    case ir::DType::kInt64: return "int64_data";
    case ir::DType::kFloat64: return "double_data";
    default: return "int32_data";
  }
}
int64_t TypedFieldSize(const onnx::TensorProto& p, ir::DType d) {
  switch (d) {
    case ir::DType::kFloat32: return p.float_data_size();
    case ir::DType::kInt64: return p.int64_data_size();
    case ir::DType::kFloat64: return p.double_data_size();
    default: return p.int32_data_size();
  }
}

int CountTypedFields(const onnx::TensorProto& p) {
  return (p.float_data_size() > 0) + (p.int32_data_size() > 0) + (p.string_data_size() > 0) +
         (p.int64_data_size() > 0) + (p.double_data_size() > 0) + (p.uint64_data_size() > 0);
}

}  // namespace

Status CheckExternalData(const onnx::TensorProto& p, const std::string& what, const ExternalDataPolicy& ext) {
  if (p.data_location() != onnx::TensorProto::EXTERNAL) return Status::Ok();
  SQ_ASSIGN_OR_RETURN(ExternalRef ref, ParseExternalRef(p, what));
  SQ_ASSIGN_OR_RETURN(fs::path file, ResolveLocation(ext.model_dir, ref.location, what));
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0)
    return InvalidInput("{}: cannot open external data file '{}': {}", what, file.string(), std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    return InvalidInput("{}: external data file '{}' is not a regular file", what, file.string());
  return Status::Ok();
}

std::string OnnxDTypeName(int t) {
  static const char* const kNames[] = {
      "undefined", "float32",  "uint8",     "int8",          "uint16",          "int16",
      "int32",     "int64",    "string",    "bool",          "float16",         "float64",
      "uint32",    "uint64",   "complex64", "complex128",    "bfloat16",        "float8e4m3fn",
      "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "uint4", "int4", "float4e2m1"};
  if (t >= 0 && t < static_cast<int>(std::size(kNames))) return kNames[t];
  return fmt::format("unknown type {}", t);
}

Status CheckTensorDims(const onnx::TensorProto& proto, const std::string& what) {
  ir::Dims dims(proto.dims().begin(), proto.dims().end());
  return ir::CheckedElementCount(dims).status().WithContext(what);
}

Result<ir::Tensor> ConvertTensor(onnx::TensorProto& p, const std::string& what, const ExternalDataPolicy& ext,
                                 bool release) {
  const ir::DType dtype = ir::DTypeFromOnnx(p.data_type());
  if (p.data_type() == onnx::TensorProto::UNDEFINED)
    return InvalidInput("{}: has no element type (data_type 0)", what);
  if (dtype == ir::DType::kUndefined)
    return Unsupported("{}: element type {} is not supported", what, OnnxDTypeName(p.data_type()));
  if (p.has_segment()) return Unsupported("{}: segmented tensors are not supported", what);
  ir::Dims dims(p.dims().begin(), p.dims().end());
  SQ_RETURN_IF_ERROR(ir::CheckedElementCount(dims).status().WithContext(what));
  const size_t need = static_cast<size_t>(ir::ElementCount(dims)) * ir::DTypeSize(dtype);
  const bool external = p.data_location() == onnx::TensorProto::EXTERNAL;
  const int typed = CountTypedFields(p);
  if (typed + (p.has_raw_data() ? 1 : 0) + (external ? 1 : 0) > 1)
    return InvalidInput("{}: holds data in more than one place (raw_data, typed fields, external data)", what);
  // Size checks come before the allocation.
  if (p.has_raw_data() && p.raw_data().size() != need)
    return InvalidInput("{}: raw_data has {} bytes but dims {} of {} need {}", what, p.raw_data().size(),
                        ir::DimsToString(dims), ir::DTypeName(dtype), need);
  if (!external && !p.has_raw_data() && typed == 0 && need != 0)
    return InvalidInput("{}: has dims {} but no data", what, ir::DimsToString(dims));
  if (typed > 0 && p.string_data_size() > 0)
    return InvalidInput("{}: string_data given for a {} tensor", what, ir::DTypeName(dtype));
  if (typed > 0) {
    const char* field = TypedFieldName(dtype);
    const int64_t count = TypedFieldSize(p, dtype);
    if (count != ir::ElementCount(dims))
      return InvalidInput("{}: {} has {} values but dims {} need {}", what, field, count, ir::DimsToString(dims),
                          ir::ElementCount(dims));
  }

  SQ_ASSIGN_OR_RETURN(ir::Tensor t, ir::Tensor::Create(dtype, dims));
  if (external) {
    SQ_RETURN_IF_ERROR(ReadExternal(p, what, ext, t));
    return t;
  }
  if (p.has_raw_data()) {
    if (need) std::memcpy(t.raw(), p.raw_data().data(), need);
    NormalizeBools(t);
    if (release) std::string().swap(*p.mutable_raw_data());
    return t;
  }
  if (typed == 0) return t;  // zero elements
  Status s;
  switch (dtype) {
    case ir::DType::kFloat32: s = CopyField<float>(p.float_data(), "float_data", what, t); break;
    case ir::DType::kUInt8: s = CopyField<uint8_t>(p.int32_data(), "int32_data", what, t); break;
    case ir::DType::kInt8: s = CopyField<int8_t>(p.int32_data(), "int32_data", what, t); break;
    case ir::DType::kInt16: s = CopyField<int16_t>(p.int32_data(), "int32_data", what, t); break;
    case ir::DType::kInt32: s = CopyField<int32_t>(p.int32_data(), "int32_data", what, t); break;
    case ir::DType::kBool: s = CopyField<bool>(p.int32_data(), "int32_data", what, t); break;
    case ir::DType::kInt64: s = CopyField<int64_t>(p.int64_data(), "int64_data", what, t); break;
    case ir::DType::kFloat64: s = CopyField<double>(p.double_data(), "double_data", what, t); break;
    case ir::DType::kUndefined: s = Internal("{}: undefined type", what); break;
  }
  if (!s.ok()) return s;
  return t;
}

}  // namespace squint::importers::onnx_detail

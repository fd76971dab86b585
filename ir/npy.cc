#include "ir/npy.h"

#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include "base/file.h"

namespace squint::ir {
namespace {

// descr string ("<f4", "|b1", ...) -> DType; kUndefined if squint has no such type.
DType DTypeFromDescr(std::string_view d, bool* big_endian) {
  *big_endian = false;
  if (d.size() < 3) return DType::kUndefined;
  const char order = d[0];
  if (order == '>') *big_endian = true;
  std::string_view kind = d.substr(1);
  if (kind == "f4") return DType::kFloat32;
  if (kind == "f8") return DType::kFloat64;
  if (kind == "i1") return DType::kInt8;
  if (kind == "u1") return DType::kUInt8;
  if (kind == "i2") return DType::kInt16;
  if (kind == "i4") return DType::kInt32;
  if (kind == "i8") return DType::kInt64;
  if (kind == "b1") return DType::kBool;
  return DType::kUndefined;
}

const char* DescrOf(DType t) {
  switch (t) {
    case DType::kFloat32: return "<f4";
    case DType::kFloat64: return "<f8";
    case DType::kInt8: return "|i1";
    case DType::kUInt8: return "|u1";
    case DType::kInt16: return "<i2";
    case DType::kInt32: return "<i4";
    case DType::kInt64: return "<i8";
    case DType::kBool: return "|b1";
    case DType::kUndefined: break;
  }
  return "";
}

// Value of `key` in the header dict: the text after "'key':" up to the matching end.
Result<std::string_view> DictField(std::string_view header, std::string_view key, const std::string& what) {
  const std::string needle = "'" + std::string(key) + "'";
  auto pos = header.find(needle);
  if (pos == std::string_view::npos) return InvalidInput("{}: .npy header has no '{}' field", what, key);
  pos = header.find(':', pos + needle.size());
  if (pos == std::string_view::npos) return InvalidInput("{}: malformed .npy header", what);
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  size_t end = pos;
  if (end < header.size() && header[end] == '(') {
    end = header.find(')', end);
    if (end == std::string_view::npos) return InvalidInput("{}: malformed shape in .npy header", what);
    ++end;
  } else if (end < header.size() && header[end] == '\'') {
    end = header.find('\'', end + 1);
    if (end == std::string_view::npos) return InvalidInput("{}: malformed .npy header", what);
    ++end;
  } else {
    while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  }
  return header.substr(pos, end - pos);
}

}  // namespace

Result<Tensor> ParseNpy(std::string_view bytes, const std::string& what) {
  static constexpr char kMagic[] = "\x93NUMPY";
  if (bytes.size() < 10 || bytes.substr(0, 6) != std::string_view(kMagic, 6))
    return InvalidInput("{}: not a .npy file (bad magic)", what);
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return InvalidInput("{}: truncated .npy header", what);
    for (int i = 3; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + i]);
    offset = 12;
  } else {
    return InvalidInput("{}: unsupported .npy format version {}", what, major);
  }
  if (header_len > bytes.size() - offset) return InvalidInput("{}: truncated .npy header", what);
  const std::string_view header = bytes.substr(offset, header_len);
  offset += header_len;

  SQ_ASSIGN_OR_RETURN(std::string_view descr_q, DictField(header, "descr", what));
  if (descr_q.size() < 2 || descr_q.front() != '\'') return InvalidInput("{}: malformed dtype in .npy header", what);
  const std::string_view descr = descr_q.substr(1, descr_q.size() - 2);
  bool big_endian = false;
  const DType dtype = DTypeFromDescr(descr, &big_endian);
  if (dtype == DType::kUndefined)
    return Unsupported("{}: dtype '{}' is not supported (use float32, float64, int8/16/32/64, uint8 or bool)",
                       what, descr);
  if (big_endian && DTypeSize(dtype) > 1) return Unsupported("{}: big-endian arrays are not supported", what);
  SQ_ASSIGN_OR_RETURN(std::string_view fortran, DictField(header, "fortran_order", what));
  if (fortran.substr(0, 4) == "True")
    return Unsupported("{}: Fortran-ordered arrays are not supported; save with np.ascontiguousarray", what);
  SQ_ASSIGN_OR_RETURN(std::string_view shape_text, DictField(header, "shape", what));
  if (shape_text.size() < 2 || shape_text.front() != '(') return InvalidInput("{}: malformed shape in .npy header", what);
  Dims dims;
  std::string_view s = shape_text.substr(1, shape_text.size() - 2);
  while (!s.empty()) {
    while (!s.empty() && (s.front() == ' ' || s.front() == ',')) s.remove_prefix(1);
    if (s.empty()) break;
    int64_t d = 0;
    size_t n = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9') {
      if (d > (int64_t{1} << 50)) return InvalidInput("{}: dim too large in .npy header", what);
      d = d * 10 + (s[n] - '0');
      ++n;
    }
    if (n == 0) return InvalidInput("{}: malformed shape '{}' in .npy header", what, shape_text);
    dims.push_back(d);
    s.remove_prefix(n);
  }
  SQ_ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(dims));
  const uint64_t need = static_cast<uint64_t>(count) * DTypeSize(dtype);
  if (bytes.size() - offset < need)
    return InvalidInput("{}: array {} {} needs {} data bytes, file has {}", what, DTypeName(dtype),
                        DimsToString(dims), need, bytes.size() - offset);
  Tensor t(dtype, std::move(dims));
  if (need) std::memcpy(t.raw(), bytes.data() + offset, need);
  if (dtype == DType::kBool) {  // normalize to 0/1 so no invalid bool is ever read
    auto* p = static_cast<uint8_t*>(t.raw());
    for (int64_t i = 0; i < t.size(); ++i) p[i] = p[i] != 0;
  }
  return t;
}

Result<Tensor> ReadNpy(const std::string& path) {
  SQ_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return ParseNpy(bytes, "'" + path + "'");
}

namespace {

uint32_t Le32(std::string_view b, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<size_t>(i)]);
  return v;
}
uint16_t Le16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(b[at]) | (static_cast<unsigned char>(b[at + 1]) << 8));
}
uint64_t Le64(std::string_view b, size_t at) {
  return static_cast<uint64_t>(Le32(b, at)) | (static_cast<uint64_t>(Le32(b, at + 4)) << 32);
}

// Deflate writes at most 258 bytes per 2 bits (a 1-bit length code and a 1-bit distance code).
constexpr uint64_t kMaxDeflateRatio = 1032;

Result<std::string> Inflate(std::string_view in, uint64_t out_size, const std::string& what) {
  if (out_size > (uint64_t{1} << 36)) return InvalidInput("{}: entry too large ({} bytes)", what, out_size);
  // The size comes from the archive: check it before allocating it.
  if (out_size > in.size() * kMaxDeflateRatio)
    return InvalidInput("{}: corrupt zip entry: {} compressed bytes cannot inflate to the {} bytes it declares", what,
                        in.size(), out_size);
  std::string out(static_cast<size_t>(out_size), '\0');
  z_stream zs{};
  if (inflateInit2(&zs, -15) != Z_OK) return Internal("{}: zlib init failed", what);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  const uint64_t produced = zs.total_out;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || produced != out_size)
    return InvalidInput("{}: corrupt compressed data", what);
  return out;
}

}  // namespace

Result<std::vector<std::pair<std::string, Tensor>>> ReadNpz(const std::string& path) {
  SQ_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return ParseNpz(bytes, "'" + path + "'");
}

Result<std::vector<std::pair<std::string, Tensor>>> ParseNpz(std::string_view b, const std::string& what) {
  // End of central directory: last signature 0x06054b50 within the final 64 KiB + 22 bytes.
  if (b.size() < 22) return InvalidInput("{}: not a .npz archive (too short)", what);
  size_t eocd = std::string::npos;
  const size_t lo = b.size() > 65557 ? b.size() - 65557 : 0;
  for (size_t i = b.size() - 22 + 1; i-- > lo;)
    if (Le32(b, i) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == std::string::npos) return InvalidInput("{}: not a .npz archive (no zip directory)", what);
  uint64_t entries = Le16(b, eocd + 10);
  uint64_t cd_offset = Le32(b, eocd + 16);
  // Zip64 end of central directory locator just before the EOCD.
  if ((cd_offset == 0xFFFFFFFF || entries == 0xFFFF) && eocd >= 20 && Le32(b, eocd - 20) == 0x07064b50) {
    const uint64_t z64 = Le64(b, eocd - 20 + 8);
    if (b.size() < 56 || z64 > b.size() - 56 || Le32(b, z64) != 0x06064b50) return InvalidInput("{}: corrupt zip64 directory", what);
    entries = Le64(b, z64 + 32);
    cd_offset = Le64(b, z64 + 48);
  }
  std::vector<std::pair<std::string, Tensor>> out;
  size_t p = cd_offset;
  uint64_t previous_end = 0;  // entries follow each other: none is read twice (an overlap bomb)
  for (uint64_t e = 0; e < entries; ++e) {
    if (p > b.size() || b.size() - p < 46 || Le32(b, p) != 0x02014b50)
      return InvalidInput("{}: corrupt zip directory entry {}", what, e);
    const uint16_t method = Le16(b, p + 10);
    uint64_t csize = Le32(b, p + 20), usize = Le32(b, p + 24);
    const uint16_t name_len = Le16(b, p + 28), extra_len = Le16(b, p + 30), comment_len = Le16(b, p + 32);
    uint64_t local = Le32(b, p + 42);
    if (b.size() - p - 46 < static_cast<size_t>(name_len) + extra_len + comment_len)
      return InvalidInput("{}: corrupt zip directory entry {}", what, e);
    std::string name(b.substr(p + 46, name_len));
    // Zip64 extended information: fields present only for values stored as 0xFFFFFFFF.
    size_t x = p + 46 + name_len;
    const size_t xend = x + extra_len;
    while (x + 4 <= xend) {
      const uint16_t id = Le16(b, x), len = Le16(b, x + 2);
      if (x + 4 + len > xend) break;
      if (id == 0x0001) {
        size_t f = x + 4;
        if (usize == 0xFFFFFFFF && f + 8 <= x + 4 + len) usize = Le64(b, f), f += 8;
        if (csize == 0xFFFFFFFF && f + 8 <= x + 4 + len) csize = Le64(b, f), f += 8;
        if (local == 0xFFFFFFFF && f + 8 <= x + 4 + len) local = Le64(b, f), f += 8;
      }
      x += 4 + len;
    }
    p += 46 + name_len + extra_len + comment_len;
    if (local > b.size() || b.size() - local < 30 || Le32(b, local) != 0x04034b50)
      return InvalidInput("{}: corrupt zip entry '{}'", what, name);
    const uint64_t data = local + 30 + Le16(b, local + 26) + Le16(b, local + 28);
    if (data > b.size() || b.size() - data < csize) return InvalidInput("{}: zip entry '{}' is truncated", what, name);
    if (local < previous_end)
      return InvalidInput("{}: zip entry '{}' overlaps the entry before it (entries must follow each other)", what,
                          name);
    previous_end = data + csize;
    const std::string entry_what = what + " entry '" + name + "'";
    std::string_view raw(b.data() + data, csize);
    std::string inflated;
    if (method == 8) {
      SQ_ASSIGN_OR_RETURN(inflated, Inflate(raw, usize, entry_what));
      raw = inflated;
    } else if (method != 0) {
      return Unsupported("{}: compression method {} is not supported", entry_what, method);
    }
    SQ_ASSIGN_OR_RETURN(Tensor t, ParseNpy(raw, entry_what));
    if (name.size() > 4 && name.ends_with(".npy")) name.resize(name.size() - 4);
    out.emplace_back(std::move(name), std::move(t));
  }
  if (out.empty()) return InvalidInput("{}: the archive holds no arrays", what);
  return out;
}

std::string SerializeNpy(const Tensor& t) {
  // Python tuple syntax: (), (n,), (a, b, c)
  std::string shape = t.rank() == 1 ? fmt::format("({},)", t.dim(0)) : fmt::format("({})", fmt::join(t.dims(), ", "));
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", DescrOf(t.dtype()), shape);
  // Format 1.0 has a 2-byte header length; a longer header (thousands of dims) needs 2.0 and
  // its 4-byte length, as numpy does it.
  const size_t len_bytes = header.size() + 1 + 64 <= 0xFFFF ? 2 : 4;
  // Pad so that magic(6) + version(2) + length + header + '\n' is a multiple of 64.
  const size_t total = 8 + len_bytes + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(len_bytes == 2 ? 1 : 2);
  out += '\0';
  for (size_t i = 0; i < len_bytes; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  out += header;
  out.append(static_cast<const char*>(t.raw()), t.bytes());
  return out;
}

Status WriteNpy(const std::string& path, const Tensor& t) { return WriteFileAtomic(path, SerializeNpy(t)); }

}  // namespace squint::ir

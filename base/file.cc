#include "base/file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace squint {

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return InvalidInput("'{}': no such file", path);
  if (std::filesystem::is_directory(status)) return InvalidInput("'{}': is a directory, expected a file", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidInput("'{}': cannot open: {}", path, std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) return InvalidInput("'{}': cannot determine the file size", path);
  if (static_cast<uint64_t>(size) > max_bytes)
    return InvalidInput("'{}': file has {} bytes, more than the {} allowed here", path, size, max_bytes);
  in.seekg(0);
  std::string bytes(static_cast<size_t>(size), '\0');
  if (size > 0 && !in.read(bytes.data(), size)) return InvalidInput("'{}': read failed", path);
  return bytes;
}

Status CheckWritable(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (path.empty() || !target.has_filename()) return InvalidInput("cannot write '{}': not a file name", path);
  if (!fs::is_directory(dir, ec))
    return InvalidInput("cannot write '{}': folder '{}' does not exist", path, dir.string());
  if (fs::is_directory(target, ec)) return InvalidInput("cannot write '{}': is a directory", path);
  if (::access(dir.c_str(), W_OK) != 0)
    return InvalidInput("cannot write '{}': folder '{}': {}", path, dir.string(), std::strerror(errno));
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  SQ_RETURN_IF_ERROR(CheckWritable(path));
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = mkstemp(tmp.data());
  if (fd < 0) return InvalidInput("cannot write '{}': {}", path, std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return InvalidInput("cannot write '{}': {}", path, std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return InvalidInput("cannot write '{}': {}", path, std::strerror(errno));
  }
  ::chmod(tmp.c_str(), 0644);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return InvalidInput("cannot write '{}': {}", path, std::strerror(err));
  }
  return Status::Ok();
}

}  // namespace squint

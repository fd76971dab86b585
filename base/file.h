// Whole-file reads and atomic writes.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace squint {

// Reads a whole file; error names the file (missing, unreadable, a directory).
// Files larger than max_bytes are refused before reading.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = size_t{1} << 40);

// Whether `path` can be written now (its folder exists and is writable, it is not a folder):
// lets a command refuse a bad output path before long work. The error names the path.
Status CheckWritable(const std::string& path);

// Writes `bytes` to `path` atomically: a temporary file beside it, then rename, so a
// failed or interrupted write never leaves a partial file under the final name.
Status WriteFileAtomic(const std::string& path, std::string_view bytes);

}  // namespace squint

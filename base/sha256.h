// SHA-256 of bytes or of a file, as lowercase hex (OpenSSL's libcrypto).
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace squint {

std::string Sha256Hex(std::string_view bytes);
// Streams the file; error names it when it cannot be read.
Result<std::string> Sha256File(const std::string& path);

}  // namespace squint

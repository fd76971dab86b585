#include "cli/parse.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "quant/wush.h"

namespace squint::cli {

Result<std::pair<int64_t, int64_t>> ParseImageSize(const std::string& text) {
  long long h = 0, w = 0;
  char x = 0, rest = 0;
  if (std::sscanf(text.c_str(), "%lld%c%lld%c", &h, &x, &w, &rest) != 3 || x != 'x' || h <= 0 || w <= 0 ||
      h > 65536 || w > 65536)
    return InvalidInput("--size '{}': expected HxW with positive sizes, e.g. 224x224", text);
  return std::pair<int64_t, int64_t>{h, w};
}

InputArg ParseInputArg(const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq != std::string::npos) return {InputArg::Kind::kNamed, spec.substr(0, eq), spec.substr(eq + 1)};
  if (spec.ends_with(".npz")) return {InputArg::Kind::kNpz, "", spec};
  return {InputArg::Kind::kSingle, "", spec};
}

}  // namespace squint::cli

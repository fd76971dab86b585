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

Status CheckTransforms(const std::vector<std::string>& transforms, int64_t wush_block) {
  auto wants = [&](const char* t) { return std::find(transforms.begin(), transforms.end(), t) != transforms.end(); };
  if (wants("none") && transforms.size() > 1)
    return InvalidInput("--transform none cannot be combined with other transforms (got {})", fmt::join(transforms, ","));
  for (size_t i = 0; i < transforms.size(); ++i)
    if (std::count(transforms.begin(), transforms.end(), transforms[i]) > 1)
      return InvalidInput("--transform {} is given twice (each transform applies once)", transforms[i]);
  if (wants("smooth") && wants("rotate"))
    return InvalidInput("--transform smooth,rotate: rotate folds every LayerNorm's scale into the Linear weights, "
                        "which undoes smoothing's scales; use one of them");
  if (wants("wush")) {
    quant::WushOptions wo;
    wo.block = wush_block;
    SQ_RETURN_IF_ERROR(quant::CheckWushOptions(wo));
  }
  if (wants("wush") && wants("hadamard"))
    return InvalidInput("--transform wush cannot be combined with hadamard: both rotate the inputs of the same "
                        "Linear layers, and WUSH already ends in a Hadamard rotation per block");
  return Status::Ok();
}

std::vector<std::string> SoftmaxQuantNames() {
  std::vector<std::string> names = {"uniform"};
  for (fb::SoftmaxGrid k : fb::EnumValuesSoftmaxGrid()) names.push_back(rt::SoftmaxGridName(k));
  return names;
}

Result<fb::SoftmaxGrid> SoftmaxGridOf(const std::string& name) {
  for (fb::SoftmaxGrid k : fb::EnumValuesSoftmaxGrid())
    if (name == rt::SoftmaxGridName(k)) return k;
  const std::vector<std::string> names = SoftmaxQuantNames();
  return InvalidInput("--softmax-quant {}: not a log grid (expected one of {})", name,
                      fmt::join(names.begin() + 1, names.end(), ", "));
}

}  // namespace squint::cli

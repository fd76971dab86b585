// Parsers and checks of the CLI's option strings that need no model or file: split out of the
// subcommands so that tests and fuzz/cli_parsers_fuzz.cc can call them. Their errors are the
// messages the CLI prints. (--input-shape is ir::eval::ParseInputShape; --mean/--std lists
// are parsed by CLI11 and checked by quant::CheckNormalization.)
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "quant/pipeline.h"
#include "runtime/model.h"

namespace squint::cli {

// --size HxW: two positive sizes of at most 65536, e.g. "224x224"; returns {H, W}.
Result<std::pair<int64_t, int64_t>> ParseImageSize(const std::string& text);

// One --input spec of `squint run`: "NAME=FILE" (split at the first '='), else "FILE.npz" (every
// input by name), else a bare "FILE" for a single-input model. Every string is one of these.
struct InputArg {
  enum class Kind { kNamed, kNpz, kSingle };
  Kind kind = Kind::kSingle;
  std::string name;  // kNamed only
  std::string path;
};
InputArg ParseInputArg(const std::string& spec);

// --transform lists and --softmax-quant names: quant/pipeline.h (the pipeline checks them too).
using quant::CheckTransforms;
using quant::SoftmaxGridOf;
using quant::SoftmaxQuantNames;

}  // namespace squint::cli

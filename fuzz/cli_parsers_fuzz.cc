// libFuzzer target: the CLI's option parsers on arbitrary strings. The first byte picks the
// parser, the rest is its text:
//   0 --input-shape NAME=DIMS (ir::eval::ParseInputShape): a parse prints back to itself
//   1 --size HxW (ParseImageSize): sizes in 1..65536, "HxW" parses to the same sizes
//   2 --input specs (ParseInputArg): the parts put back together are the spec
//   3 --transform names split at commas as CLI11 does (CheckTransforms)
//   4 --softmax-quant names (SoftmaxGridOf): a known grid's name maps back to it
//   5 --mean / --std lists through CLI11 (AddImageFlags) then quant::CheckNormalization
//   6 a whole command line (lines = arguments) through the real `squint` command line (cli/options.h):
//     parse only, the chosen action is never run; --help, --version and usage errors end the parse
//     with an exit code, and no exception may escape it.
// Seeds: fuzz/corpus/cli_parsers (fuzz/make_corpus_seeds.py).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "cli/input_data.h"
#include "cli/options.h"
#include "cli/parse.h"
#include "fuzz/fuzz_check.h"
#include "ir/eval/shape_inference.h"
#include "quant/image_folder.h"

namespace {

using namespace squint;
using fuzz::Check;

// An error must be bad input (exit code 2), never an internal error.
void CheckBadInput(const Status& s) {
  if (!s.ok() && s.code() != StatusCode::kInvalidInput && s.code() != StatusCode::kUnsupported) {
    std::fprintf(stderr, "unexpected status: %s\n", s.message().c_str());
    std::abort();
  }
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t begin = 0;
  for (size_t i = 0; i <= text.size(); ++i)
    if (i == text.size() || text[i] == sep) {
      out.push_back(text.substr(begin, i - begin));
      begin = i + 1;
    }
  return out;
}

void InputShape(const std::string& text) {
  auto r = ir::eval::ParseInputShape(text);
  CheckBadInput(r.status());
  if (!r.ok()) return;
  Check(!r->first.empty() && !r->second.empty(), "a parsed shape has a name and dims");
  for (int64_t d : r->second) Check(d >= 0, "dims are non-negative");
  const std::string again = fmt::format("{}={}", r->first, fmt::join(r->second, "x"));
  auto back = ir::eval::ParseInputShape(again);
  Check(back.ok() && back->first == r->first && back->second == r->second, "a parsed shape round-trips");
}

void ImageSize(const std::string& text) {
  auto r = cli::ParseImageSize(text);
  CheckBadInput(r.status());
  if (!r.ok()) return;
  Check(r->first >= 1 && r->first <= 65536 && r->second >= 1 && r->second <= 65536, "sizes in 1..65536");
  auto back = cli::ParseImageSize(fmt::format("{}x{}", r->first, r->second));
  Check(back.ok() && *back == *r, "a parsed size round-trips");
}

void InputArg(const std::string& text) {
  const cli::InputArg a = cli::ParseInputArg(text);
  switch (a.kind) {
    case cli::InputArg::Kind::kNamed:
      Check(a.name.find('=') == std::string::npos && a.name + "=" + a.path == text, "NAME=FILE splits at the first =");
      break;
    case cli::InputArg::Kind::kNpz:
      Check(a.path == text && text.ends_with(".npz") && text.find('=') == std::string::npos, "FILE.npz");
      break;
    case cli::InputArg::Kind::kSingle:
      Check(a.path == text && !text.ends_with(".npz") && text.find('=') == std::string::npos, "bare FILE");
      break;
  }
}

void Transforms(const std::string& text) {
  const std::vector<std::string> names = Split(text, ',');
  const Status s = cli::CheckTransforms(names, 32);
  CheckBadInput(s);
  if (!s.ok()) return;
  for (size_t i = 0; i < names.size(); ++i)
    for (size_t j = i + 1; j < names.size(); ++j) Check(names[i] != names[j], "accepted transforms are distinct");
  // Another order of the same set is accepted too (they are applied in a fixed order).
  std::vector<std::string> reversed(names.rbegin(), names.rend());
  Check(cli::CheckTransforms(reversed, 32).ok(), "the order of transforms does not matter");
}

void SoftmaxQuant(const std::string& text) {
  auto r = cli::SoftmaxGridOf(text);
  CheckBadInput(r.status());
  const std::vector<std::string> names = cli::SoftmaxQuantNames();
  const bool known = text != "uniform" && std::find(names.begin(), names.end(), text) != names.end();
  Check(r.ok() == known, "exactly the listed log grids are known");
  if (r.ok()) Check(text == rt::SoftmaxGridName(*r), "a grid's name maps back to it");
}

// Parses the arguments as `program args...` would be; false when the parse stops the program
// (--help, --version or a usage error: what cli/main_lib.cc returns with, nothing escapes).
bool Parse(cli::CommandLine& line, const std::vector<std::string>& args) {
  std::vector<const char*> argv = {"squint"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  return !line.Parse(static_cast<int>(argv.size()), argv.data(), /*print=*/false).has_value();
}

void MeanStd(const std::string& text) {
  cli::CommandLine line("squint", "squint");
  cli::ImageFlags flags;
  cli::Command root = line.Root();
  cli::AddImageFlags(root, flags);
  if (!Parse(line, Split(text, '\n'))) return;
  for (int64_t channels : {1, 3}) {
    quant::ImageOptions o;
    o.mean = flags.mean;
    o.std = flags.std;
    const Status s = quant::CheckNormalization(o, channels);
    CheckBadInput(s);
    if (!s.ok()) continue;
    Check(!o.mean.empty() && !o.std.empty(), "accepted lists are not empty");
    for (float v : o.std) Check(std::isfinite(v) && v != 0.0f, "accepted std values are finite and non-zero");
  }
}

void CommandLine(const std::string& text) {
  cli::CommandLine line("squint", "squint");
  line.RequireSubcommand();
  line.SetVersion("squint fuzz");
  cli::Action action;
  cli::Command root = line.Root();
  cli::AddQuantize(root, action);
  cli::AddInspect(root, action);
  cli::AddRun(root, action);
  cli::AddReport(root, action);
  cli::AddExport(root, action);
  if (!Parse(line, Split(text, '\n'))) return;
  Check(static_cast<bool>(action), "a parsed command line chose an action");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
    case 0: InputShape(text); break;
    case 1: ImageSize(text); break;
    case 2: InputArg(text); break;
    case 3: Transforms(text); break;
    case 4: SoftmaxQuant(text); break;
    case 5: MeanStd(text); break;
    case 6: CommandLine(text); break;
  }
  return 0;
}

// Conformance against ONNX's own backend node tests (libonnx-testdata): each test folder holds
// model.onnx and test_data_set_*/{input,output}_*.pb. For each test: import (kUnsupported ->
// skipped, with the reason), run ir::eval::Evaluator on every data set, compare with ONNX's
// backend-test tolerances (rtol 1e-3, atol 1e-7; integers and bools exact; NaN equals NaN).
// Every test that imports must pass.
//
// Tests written for an opset below 11 (squint reads 11 to 21) are run at opset 11 when every
// op in them has the same definition (ONNX schema since_version) at both opsets: the model is
// the same model then. They are counted as passed "(opset-upgraded)".
//
// The tests run in a forked child, each with a time limit, so a crashing or hanging kernel is
// reported as that test's failure instead of ending the run (the rest go on in a new child).
//
// Environment:
//   SQUINT_WRITE_CONFORMANCE_DOC=1   write docs/conformance.md (counts per op, skips by reason)
//   SQUINT_CONFORMANCE_FILTER=text   only tests whose folder name contains text
//   SQUINT_CONFORMANCE_NO_FORK=1     run in-process (for debugging a single test)
//   SQUINT_ONNX_NODE_TESTS=dir       another test folder (default /usr/share/libonnx-testdata/data/node)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include "importers/onnx/onnx_importer.h"
#include "ir/eval/evaluator.h"

namespace squint {
namespace {

namespace fs = std::filesystem;

constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;
constexpr unsigned kTimeoutSeconds = 120;

enum class Kind : char { kPass = 'P', kFail = 'F', kSkip = 'S' };

struct Outcome {
  Kind kind = Kind::kFail;
  std::string detail;            // first error (fail) or reason (skip)
  std::vector<std::string> ops;  // op types of the imported graph
  bool upgraded = false;         // run at opset 11 instead of the model's older opset
};

Outcome Fail(std::string d) { return {Kind::kFail, std::move(d), {}}; }
Outcome Skip(std::string d) { return {Kind::kSkip, std::move(d), {}}; }

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// The numbered files prefix_0.pb, prefix_1.pb, ... of a data set, in order.
std::vector<fs::path> NumberedFiles(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (int i = 0;; ++i) {
    fs::path p = dir / fmt::format("{}_{}.pb", prefix, i);
    if (!fs::exists(p)) break;
    files.push_back(p);
  }
  return files;
}

double ValueAt(const ir::Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case ir::DType::kFloat32: return t.data<float>()[i];
    case ir::DType::kFloat64: return t.data<double>()[i];
    case ir::DType::kUInt8: return t.data<uint8_t>()[i];
    case ir::DType::kInt8: return t.data<int8_t>()[i];
    case ir::DType::kInt16: return t.data<int16_t>()[i];
    case ir::DType::kInt32: return t.data<int32_t>()[i];
    case ir::DType::kInt64: return static_cast<double>(t.data<int64_t>()[i]);
    case ir::DType::kBool: return t.data<bool>()[i] ? 1 : 0;
    case ir::DType::kUndefined: break;
  }
  return 0;
}

// Empty when equal within tolerance; otherwise the first difference.
std::string Compare(const ir::Tensor& got, const ir::Tensor& want, const std::string& what) {
  if (got.dtype() != want.dtype())
    return fmt::format("{}: dtype {}, expected {}", what, ir::DTypeName(got.dtype()), ir::DTypeName(want.dtype()));
  if (got.dims() != want.dims())
    return fmt::format("{}: shape {}, expected {}", what, ir::DimsToString(got.dims()), ir::DimsToString(want.dims()));
  const bool exact = got.dtype() != ir::DType::kFloat32 && got.dtype() != ir::DType::kFloat64;
  if (got.dtype() == ir::DType::kInt64) {  // exact beyond 2^53
    for (int64_t i = 0; i < got.size(); ++i)
      if (got.data<int64_t>()[i] != want.data<int64_t>()[i])
        return fmt::format("{}[{}]: {}, expected {}", what, i, got.data<int64_t>()[i], want.data<int64_t>()[i]);
    return {};
  }
  for (int64_t i = 0; i < got.size(); ++i) {
    const double a = ValueAt(got, i), b = ValueAt(want, i);
    if (std::isnan(a) && std::isnan(b)) continue;
    if (a == b) continue;  // also equal infinities
    const bool ok = !exact && std::isfinite(a) && std::isfinite(b) && std::fabs(a - b) <= kAtol + kRtol * std::fabs(b);
    if (!ok)
      return fmt::format("{}[{}]: {}, expected {} ({}; {} values)", what, i, a, b,
                         exact ? "exact" : "rtol 1e-3, atol 1e-7", got.size());
  }
  return {};
}

// The model re-declared at opset kMinOpset (11) when all its ops are defined identically at its
// opset and at 11 (so it means the same); nullopt otherwise.
std::optional<std::string> UpgradedToMinOpset(const fs::path& model_path) {
  std::ifstream f(model_path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  onnx::ModelProto m;
  if (!m.ParseFromString(bytes)) return std::nullopt;
  onnx::OperatorSetIdProto* def = nullptr;
  for (auto& o : *m.mutable_opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") def = &o;
  if (!def || def->version() >= importers::kMinOpset) return std::nullopt;
  for (const auto& n : m.graph().node()) {
    if (!n.domain().empty() && n.domain() != "ai.onnx") return std::nullopt;
    const auto* old_schema = onnx::OpSchemaRegistry::Schema(n.op_type(), static_cast<int>(def->version()), "");
    const auto* new_schema = onnx::OpSchemaRegistry::Schema(n.op_type(), static_cast<int>(importers::kMinOpset), "");
    if (!old_schema || !new_schema || old_schema->since_version() != new_schema->since_version()) return std::nullopt;
  }
  def->set_version(importers::kMinOpset);
  if (m.ir_version() < 7) m.set_ir_version(7);  // IR version 7 reads every opset from 11 to 13
  return m.SerializeAsString();
}

Outcome RunOne(const fs::path& dir) {
  auto g = importers::ImportOnnxFile((dir / "model.onnx").string());
  bool upgraded = false;
  if (!g.ok() && g.status().code() == StatusCode::kUnsupported &&
      g.status().message().find("is not supported (squint reads opsets") != std::string::npos) {
    if (auto bytes = UpgradedToMinOpset(dir / "model.onnx")) {
      g = importers::ImportOnnxBytes(*bytes, {}, dir.string());
      upgraded = true;
    }
  }
  if (!g.ok()) {
    if (g.status().code() == StatusCode::kUnsupported) return Skip(g.status().message());
    return Fail("import: " + g.status().message());
  }
  Outcome out;
  out.upgraded = upgraded;
  std::set<std::string> ops;
  for (const ir::Node& n : g->nodes) ops.insert(std::string(ir::OpName(n.op)));
  out.ops.assign(ops.begin(), ops.end());

  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return Fail("no test_data_set_* folder");

  ir::eval::Evaluator ev(*g);
  for (const fs::path& set : sets) {
    const std::string sname = set.filename().string();
    std::vector<ir::Tensor> inputs, expected;
    for (const fs::path& p : NumberedFiles(set, "input")) {
      auto t = importers::LoadTensorProtoFile(p.string());
      if (!t.ok())
        return t.status().code() == StatusCode::kUnsupported ? Skip(t.status().message())
                                                              : Fail(sname + ": " + t.status().message());
      inputs.push_back(std::move(t).value());
    }
    for (const fs::path& p : NumberedFiles(set, "output")) {
      auto t = importers::LoadTensorProtoFile(p.string());
      if (!t.ok())
        return t.status().code() == StatusCode::kUnsupported ? Skip(t.status().message())
                                                              : Fail(sname + ": " + t.status().message());
      expected.push_back(std::move(t).value());
    }
    if (inputs.size() != g->inputs.size())
      return Fail(fmt::format("{}: {} input files for {} graph inputs", sname, inputs.size(), g->inputs.size()));
    if (expected.size() != g->outputs.size())
      return Fail(fmt::format("{}: {} output files for {} graph outputs", sname, expected.size(), g->outputs.size()));
    auto got = ev.Run(inputs);
    if (!got.ok()) {
      if (got.status().code() == StatusCode::kUnsupported) return Skip(got.status().message());
      return Fail(fmt::format("{}: run: {}", sname, got.status().message()));
    }
    for (size_t o = 0; o < expected.size(); ++o) {
      std::string diff = Compare((*got)[o], expected[o],
                                 fmt::format("{}: output {} '{}'", sname, o, g->value(g->outputs[o]).name));
      if (!diff.empty()) return Fail(diff);
    }
  }
  out.kind = Kind::kPass;
  return out;
}

// An outcome as one line of text through the pipe: kind, upgraded flag, ops joined by ',', then
// after a newline the detail; the whole message length-prefixed.
std::string Encode(const Outcome& o) {
  std::string msg = fmt::format("{}{}{}\n{}", static_cast<char>(o.kind), o.upgraded ? 'U' : '-',
                                fmt::join(o.ops, ","), o.detail);
  const uint64_t size = msg.size();
  return std::string(reinterpret_cast<const char*>(&size), sizeof size) + msg;
}

Outcome Decode(const std::string& msg) {
  if (msg.size() < 2) return Fail("child sent a malformed result");
  Outcome o;
  o.kind = static_cast<Kind>(msg[0]);
  o.upgraded = msg[1] == 'U';
  const size_t nl = msg.find('\n');
  std::string ops = msg.substr(2, nl == std::string::npos ? std::string::npos : nl - 2);
  o.detail = nl == std::string::npos ? "" : msg.substr(nl + 1);
  for (size_t start = 0; start < ops.size();) {
    size_t end = ops.find(',', start);
    if (end == std::string::npos) end = ops.size();
    o.ops.push_back(ops.substr(start, end - start));
    start = end + 1;
  }
  return o;
}

// Runs tests[first..] in one child process, each with a time limit, until one crashes or hangs:
// returns the outcomes received, and that test's failure last if the child died. One child for
// the whole list rather than one per test: a fork is ~17 ms in a sanitized process (its shadow
// mappings), 23 s for ONNX's 1300 tests.
std::vector<Outcome> RunInChild(const std::vector<fs::path>& tests, size_t first) {
  int fds[2];
  if (::pipe(fds) != 0) return {Fail("pipe() failed")};
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return {Fail("fork() failed")};
  if (pid == 0) {
    ::close(fds[0]);
    for (size_t i = first; i < tests.size(); ++i) {
      ::alarm(kTimeoutSeconds);
      const std::string msg = Encode(RunOne(tests[i]));
      size_t done = 0;
      while (done < msg.size()) {
        ssize_t n = ::write(fds[1], msg.data() + done, msg.size() - done);
        if (n <= 0) ::_exit(1);
        done += static_cast<size_t>(n);
      }
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string bytes;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::vector<Outcome> out;
  size_t at = 0;
  while (bytes.size() - at >= sizeof(uint64_t)) {
    uint64_t size = 0;
    std::memcpy(&size, bytes.data() + at, sizeof size);
    if (bytes.size() - at - sizeof size < size) break;  // cut short by the child's death
    out.push_back(Decode(bytes.substr(at + sizeof size, size)));
    at += sizeof size + size;
  }
  if (first + out.size() < tests.size()) {  // the child died in the next test
    if (WIFSIGNALED(status)) {
      const int sig = WTERMSIG(status);
      out.push_back(sig == SIGALRM ? Fail(fmt::format("timed out after {} s", kTimeoutSeconds))
                                   : Fail(fmt::format("crashed with signal {} ({})", sig, strsignal(sig))));
    } else {
      out.push_back(Fail(fmt::format("child exited with status {} and no result", WEXITSTATUS(status))));
    }
  }
  return out;
}

// Every test's outcome, in order: crashes and hangs are failures of their test, and the tests
// after one go on in a new child.
std::vector<Outcome> RunIsolated(const std::vector<fs::path>& tests) {
  std::vector<Outcome> all;
  while (all.size() < tests.size()) {
    std::vector<Outcome> part = RunInChild(tests, all.size());
    all.insert(all.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return all;
}

// A skip message without node, tensor and file names, so that tests group by reason:
// "'/x/model.onnx': unsupported ops (opset 17): TopK ('topk')" -> "unsupported ops: TopK".
std::string Reason(std::string m) {
  static const std::regex kFile(R"(^'[^']*model\.onnx': )");
  static const std::regex kNameList(R"( \('[^)]*\))");
  static const std::regex kOpset(R"( \(opset \d+\))");
  static const std::regex kQuoted(R"( ?'[^']*')");
  m = std::regex_replace(m, kFile, "");
  if (m.rfind("unsupported ops", 0) == 0) {
    m = std::regex_replace(m, kNameList, "");
    return std::regex_replace(m, kOpset, "");
  }
  return std::regex_replace(m, kQuoted, "");
}

struct Summary {
  std::vector<std::pair<std::string, std::string>> failed;     // test, first error
  std::map<std::string, std::vector<std::string>> skipped;      // reason -> tests
  std::map<std::string, int> passing_per_op;
  int passed = 0, passed_upgraded = 0, skipped_count = 0, total = 0;
};

void WriteDoc(const Summary& s, const fs::path& data_dir) {
  const fs::path path = fs::path(SQUINT_SOURCE_DIR) / "docs" / "conformance.md";
  fs::create_directories(path.parent_path());
  std::ofstream f(path);
  ASSERT_TRUE(f) << "cannot write " << path;
  f << "# ONNX conformance\n\n"
    << "Generated by `SQUINT_WRITE_CONFORMANCE_DOC=1 <build>/tests/ir/ir_conformance_test` (tests/ir/conformance_test.cc)\n"
    << "from ONNX's backend node tests in `" << data_dir.string() << "` (Debian libonnx-testdata 1.12).\n"
    << "Do not edit by hand. Each test imports `model.onnx` and runs squint's float evaluator on every\n"
    << "`test_data_set_*`, compared with ONNX's tolerances (rtol 1e-3, atol 1e-7; integers and bools exact).\n"
    << "A test is skipped when the importer or the evaluator reports it unsupported (kUnsupported).\n"
    << "Tests written for an opset below 11 run at opset 11 when all their ops are defined identically\n"
    << "at both opsets (\"opset-upgraded\").\n\n"
    << fmt::format("**{} tests: {} passed ({} of them opset-upgraded), {} failed, {} skipped-unsupported.**\n\n",
                   s.total, s.passed, s.passed_upgraded, s.failed.size(), s.skipped_count)
    << "## Passing tests per supported op\n\n| op | passing tests |\n|---|---|\n";
  for (ir::OpType op : ir::kAllOpTypes) {
    if (!ir::OpDomain(op).empty()) continue;  // squint's fused ops have no ONNX tests
    auto it = s.passing_per_op.find(std::string(ir::OpName(op)));
    f << "| " << ir::OpName(op) << " | " << (it == s.passing_per_op.end() ? 0 : it->second) << " |\n";
  }
  if (!s.failed.empty()) {
    f << "\n## Failing tests\n\n";
    for (const auto& [name, err] : s.failed) f << "- `" << name << "`: " << err << "\n";
  }
  f << "\n## Skipped tests, by reason\n";
  std::vector<std::pair<std::string, std::vector<std::string>>> groups(s.skipped.begin(), s.skipped.end());
  std::stable_sort(groups.begin(), groups.end(),
                   [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  for (const auto& [reason, tests] : groups) {
    f << "\n### " << reason << " (" << tests.size() << ")\n\n";
    for (size_t i = 0; i < tests.size(); ++i) f << (i ? ", " : "") << "`" << tests[i] << "`";
    f << "\n";
  }
  f.close();
  ASSERT_TRUE(f) << "cannot write " << path;
  std::printf("wrote %s\n", path.c_str());
}

// The comparison itself: tolerances, NaN, exact integers, dtype and shape.
TEST(OnnxConformance, CompareFollowsOnnxTolerances) {
  auto f = [](std::vector<float> v) { return ir::Tensor::FromVector<float>({static_cast<int64_t>(v.size())}, v); };
  const float nan = std::nanf("");
  EXPECT_EQ(Compare(f({1.0f, nan, 100.0f}), f({1.0f, nan, 100.09f}), "y"), "");
  EXPECT_NE(Compare(f({1.0f}), f({1.002f}), "y"), "");
  EXPECT_NE(Compare(f({nan}), f({1.0f}), "y"), "");
  EXPECT_NE(Compare(f({INFINITY}), f({-INFINITY}), "y"), "");
  EXPECT_EQ(Compare(f({0.0f}), f({5e-8f}), "y"), "");
  EXPECT_NE(Compare(f({0.0f}), f({2e-7f}), "y"), "");
  EXPECT_NE(Compare(f({1, 2}), f({1}), "y"), "");
  auto i = [](std::vector<int64_t> v) { return ir::Tensor::FromVector<int64_t>({static_cast<int64_t>(v.size())}, v); };
  EXPECT_EQ(Compare(i({int64_t{1} << 60}), i({int64_t{1} << 60}), "y"), "");
  EXPECT_NE(Compare(i({(int64_t{1} << 60) + 1}), i({int64_t{1} << 60}), "y"), "");
  EXPECT_NE(Compare(ir::Tensor::FromVector<int32_t>({1}, {1}), ir::Tensor::FromVector<int32_t>({1}, {2}), "y"), "");
  EXPECT_NE(Compare(i({1}), f({1.0f}), "y"), "");
}

TEST(OnnxConformance, NodeTests) {
  const fs::path data_dir = Env("SQUINT_ONNX_NODE_TESTS") ? Env("SQUINT_ONNX_NODE_TESTS")
                                                           : "/usr/share/libonnx-testdata/data/node";
  ASSERT_TRUE(fs::is_directory(data_dir)) << data_dir << " not found: install libonnx-testdata (scripts/setup.sh does)";
  const char* filter = Env("SQUINT_CONFORMANCE_FILTER");
  const bool no_fork = Env("SQUINT_CONFORMANCE_NO_FORK") != nullptr;
  std::vector<fs::path> tests;
  for (const auto& e : fs::directory_iterator(data_dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || !fs::exists(e.path() / "model.onnx")) continue;
    if (filter && name.find(filter) == std::string::npos) continue;
    tests.push_back(e.path());
  }
  std::sort(tests.begin(), tests.end());
  ASSERT_FALSE(tests.empty()) << "no tests in " << data_dir;

  std::vector<Outcome> outcomes;
  if (no_fork)
    for (const fs::path& t : tests) outcomes.push_back(RunOne(t));
  else
    outcomes = RunIsolated(tests);
  Summary s;
  for (size_t i = 0; i < tests.size(); ++i) {
    const std::string name = tests[i].filename().string();
    Outcome& o = outcomes[i];
    ++s.total;
    switch (o.kind) {
      case Kind::kPass:
        ++s.passed;
        s.passed_upgraded += o.upgraded;
        for (const auto& op : o.ops) ++s.passing_per_op[op];
        break;
      case Kind::kSkip:
        ++s.skipped_count;
        s.skipped[Reason(o.detail)].push_back(name);
        break;
      default: s.failed.emplace_back(name, o.detail); break;
    }
  }
  std::printf("ONNX node tests: %d total, %d passed (%d opset-upgraded), %zu failed, %d skipped-unsupported\n",
              s.total, s.passed, s.passed_upgraded, s.failed.size(), s.skipped_count);
  if (Env("SQUINT_WRITE_CONFORMANCE_DOC")) WriteDoc(s, data_dir);
  if (!s.failed.empty()) {
    std::string list;
    for (const auto& [name, err] : s.failed) list += fmt::format("\n  {}: {}", name, err);
    ADD_FAILURE() << s.failed.size() << " conformance tests fail:" << list;
  }
}

}  // namespace
}  // namespace squint

// The command line's options, declared without CLI11's header: CLI11 is header-only and every
// translation unit that includes it spends about 5 s compiling it (7 s sanitized), so only
// cli/options.cc includes it and the subcommands register their options through these classes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace squint::cli {

// One registered option; the setters return *this to chain, as CLI11's do.
class Option {
 public:
  explicit Option(CLI::Option* o) : o_(o) {}
  Option& Required();
  Option& ShowDefault();  // "[default]" after the help text: the value the option starts with
  Option& OneOf(const std::vector<std::string>& names);
  Option& Delimiter(char c);  // a list option also splits each value at c
  Option& Positive();
  Option& NonNegative();
  Option& Range(int lo, int hi);
  bool Given() const;  // whether the parsed command line set it
  std::string Name() const;

 private:
  CLI::Option* o_;
};

// A (sub)command: its options, and what to do when the command line chooses it.
class Command {
 public:
  explicit Command(CLI::App* app) : app_(app) {}
  // names as CLI11 takes them: "model" (positional), "--flag", "-o,--output".
  // T: std::string, int, int64_t, uint32_t, std::optional<double>, std::vector<std::string>,
  // std::vector<float> (cli/options.cc instantiates exactly these; a bool is a Flag).
  template <typename T>
  Option Add(const std::string& names, T& value, const std::string& help);
  Option Flag(const std::string& names, bool& value, const std::string& help);
  Command Subcommand(const std::string& name, const std::string& description);
  void OnChosen(std::function<void()> callback);

 private:
  CLI::App* app_;
};

// The whole command line of a program: its subcommands and the parse.
class CommandLine {
 public:
  CommandLine(const std::string& description, const std::string& name);
  ~CommandLine();
  Command Root() { return Command(app_.get()); }
  void RequireSubcommand();
  void SetVersion(const std::string& text);  // printed by --version
  // Parses argv (argv[0], the program's name, is skipped). Returns nothing when the parse chose what
  // to run; otherwise the exit code: 0 after --help or --version (printed on stdout), 2 after a
  // usage error (printed on stderr with the help hint). print = false prints nothing (fuzzing).
  std::optional<int> Parse(int argc, const char* const* argv, bool print = true);

 private:
  std::unique_ptr<CLI::App> app_;
};

}  // namespace squint::cli

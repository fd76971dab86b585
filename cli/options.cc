// The one translation unit that compiles CLI11 (cli/options.h says why).
#include "cli/options.h"

#include <CLI/CLI.hpp>

namespace squint::cli {

Option& Option::Required() {
  o_->required();
  return *this;
}
Option& Option::ShowDefault() {
  o_->capture_default_str();
  return *this;
}
Option& Option::OneOf(const std::vector<std::string>& names) {
  o_->check(CLI::IsMember(names));
  return *this;
}
Option& Option::Delimiter(char c) {
  o_->delimiter(c);
  return *this;
}
Option& Option::Positive() {
  o_->check(CLI::PositiveNumber);
  return *this;
}
Option& Option::NonNegative() {
  o_->check(CLI::NonNegativeNumber);
  return *this;
}
Option& Option::Range(int lo, int hi) {
  o_->check(CLI::Range(lo, hi));
  return *this;
}
bool Option::Given() const { return o_->count() > 0; }
std::string Option::Name() const { return o_->get_name(); }

template <typename T>
Option Command::Add(const std::string& names, T& value, const std::string& help) {
  return Option(app_->add_option(names, value, help));
}
template Option Command::Add(const std::string&, std::string&, const std::string&);
template Option Command::Add(const std::string&, int&, const std::string&);
template Option Command::Add(const std::string&, int64_t&, const std::string&);
template Option Command::Add(const std::string&, uint32_t&, const std::string&);
template Option Command::Add(const std::string&, std::optional<double>&, const std::string&);
template Option Command::Add(const std::string&, std::vector<std::string>&, const std::string&);
template Option Command::Add(const std::string&, std::vector<float>&, const std::string&);

Option Command::Flag(const std::string& names, bool& value, const std::string& help) {
  return Option(app_->add_flag(names, value, help));
}

Command Command::Subcommand(const std::string& name, const std::string& description) {
  return Command(app_->add_subcommand(name, description));
}

void Command::OnChosen(std::function<void()> callback) { app_->callback(std::move(callback)); }

CommandLine::CommandLine(const std::string& description, const std::string& name)
    : app_(std::make_unique<CLI::App>(description, name)) {}
CommandLine::~CommandLine() = default;

void CommandLine::RequireSubcommand() { app_->require_subcommand(1); }
void CommandLine::SetVersion(const std::string& text) { app_->set_version_flag("--version", text); }

std::optional<int> CommandLine::Parse(int argc, const char* const* argv, bool print) {
  try {
    app_->parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return print ? app_->exit(e) : 0;
  } catch (const CLI::ParseError& e) {
    if (print) app_->exit(e);
    return 2;
  }
  return std::nullopt;
}

}  // namespace squint::cli

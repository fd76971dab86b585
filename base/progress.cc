#include "base/progress.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include <unistd.h>

#include <fmt/format.h>

namespace squint {
namespace {

constexpr double kLineSeconds = 2.0;  // kLines: at least one line this often
constexpr double kBarSeconds = 0.1;   // kBar: redraw at most this often
constexpr int kBarWidth = 30;

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

ProgressStyle ProgressStyleFor(bool quiet, FILE* stream) {
  if (quiet) return ProgressStyle::kNone;
  return isatty(fileno(stream)) ? ProgressStyle::kBar : ProgressStyle::kLines;
}

std::string FormatSeconds(double seconds) {
  seconds = std::max(seconds, 0.0);
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const int64_t s = std::llround(seconds);
  if (s < 3600) return fmt::format("{} min {:02} s", s / 60, s % 60);
  return fmt::format("{} h {:02} min", s / 3600, s % 3600 / 60);
}

Progress::Progress(std::string what, std::string unit, int64_t total, ProgressStyle style, FILE* out, Clock clock)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(std::max<int64_t>(total, 1)),
      style_(style),
      out_(out),
      clock_(clock ? std::move(clock) : Clock(SteadySeconds)) {
  start_ = last_print_ = clock_();
}

Progress::~Progress() {
  if (bar_open_) fmt::print(out_, "\n");
}

std::function<void(int64_t, int64_t)> Progress::Callback() {
  return [this](int64_t done, int64_t total) {
    total_ = std::max<int64_t>(total, 1);
    Update(done);
  };
}

void Progress::Update(int64_t done) {
  if (style_ == ProgressStyle::kNone || finished_) return;
  done = std::clamp<int64_t>(done, 0, total_);
  const double now = clock_();
  if (done == 0) {
    if (!printed_) start_ = last_print_ = now;
    return;
  }
  if (style_ == ProgressStyle::kLines)
    Line(done, now);
  else
    Bar(done, now);
  finished_ = done == total_;
}

void Progress::Line(int64_t done, double now) {
  const double elapsed = now - start_;
  if (done == total_) {
    fmt::print(out_, "{}: {}/{} {} (100%) in {}\n", what_, done, total_, unit_, FormatSeconds(elapsed));
    std::fflush(out_);
    return;
  }
  const int64_t tenth = done * 10 / total_;
  if (tenth <= last_tenth_ && now - last_print_ < kLineSeconds) return;
  last_tenth_ = tenth;
  last_print_ = now;
  printed_ = true;
  std::string left;
  if (done > 0)
    left = fmt::format(", about {} left",
                       FormatSeconds(elapsed / static_cast<double>(done) * static_cast<double>(total_ - done)));
  fmt::print(out_, "{}: {}/{} {} ({}%), {} elapsed{}\n", what_, done, total_, unit_, done * 100 / total_,
             FormatSeconds(elapsed), left);
  std::fflush(out_);
}

void Progress::Bar(int64_t done, double now) {
  if (done != total_ && bar_open_ && now - last_print_ < kBarSeconds) return;
  last_print_ = now;
  printed_ = true;
  const double elapsed = now - start_;
  const int filled = static_cast<int>(done * kBarWidth / total_);
  std::string bar = std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kBarWidth - filled), '.');
  std::string tail;
  if (done == total_)
    tail = fmt::format("in {}", FormatSeconds(elapsed));
  else if (done > 0)
    tail = fmt::format("{} left",
                       FormatSeconds(elapsed / static_cast<double>(done) * static_cast<double>(total_ - done)));
  // \r back to the line start, \x1b[K clears what a longer previous line left behind.
  fmt::print(out_, "\r{} [{}] {}/{} {} {:3}%  {}\x1b[K", what_, bar, done, total_, unit_, done * 100 / total_, tail);
  bar_open_ = true;
  if (done == total_) {
    fmt::print(out_, "\n");
    bar_open_ = false;
  }
  std::fflush(out_);
}

}  // namespace squint

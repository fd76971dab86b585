// Progress of long work (calibration, the accuracy check, per-layer isolation) on stderr.
// Three styles, chosen once from the stream and --quiet (ProgressStyleFor):
//   kBar    a terminal: one line redrawn in place, "calibration [#####.....] 64/128 samples  50%  3 s left",
//           at most ten times a second, ended with a newline when the work is done;
//   kLines  a file or pipe (CI logs): a plain line at each tenth of the work or every 2 s, whichever
//           comes first, and at the end:
//             "calibration: 64/128 samples (50%), 3.1 s elapsed, about 3.1 s left"
//             "calibration: 128/128 samples (100%) in 6.2 s"
//   kNone   --quiet: nothing.
// Progress only ever goes to that stream: the files a command writes do not depend on it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace squint {

enum class ProgressStyle { kNone, kLines, kBar };

// kNone when quiet, else kBar when `stream` is a terminal, else kLines.
ProgressStyle ProgressStyleFor(bool quiet, FILE* stream);

// "0.4 s", "12.3 s", "2 min 05 s": a duration for a progress line.
std::string FormatSeconds(double seconds);

class Progress {
 public:
  using Clock = std::function<double()>;  // monotonic seconds; default: std::chrono::steady_clock

  // `what`: the work ("calibration"), `unit`: what is counted ("samples"), `total` > 0.
  Progress(std::string what, std::string unit, int64_t total, ProgressStyle style, FILE* out = stderr,
           Clock clock = {});
  ~Progress();  // a bar left unfinished (an error) still ends its line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` items of `total` are finished (non-decreasing; done == total ends the report). Update(0)
  // before anything is printed restarts the clock: the work begins now, not at construction.
  void Update(int64_t done);
  // The (done, total) callback the pipeline and the accuracy check take: the callback's total
  // replaces the one given at construction, then Update(done).
  std::function<void(int64_t, int64_t)> Callback();

 private:
  void Line(int64_t done, double now);
  void Bar(int64_t done, double now);

  std::string what_, unit_;
  int64_t total_;
  ProgressStyle style_;
  FILE* out_;
  Clock clock_;
  double start_ = 0, last_print_ = 0;
  int64_t last_tenth_ = 0;
  bool finished_ = false, bar_open_ = false, printed_ = false;
};

}  // namespace squint

#include "report/html_charts.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "report/html_svg.h"

namespace squint::report::html {
namespace {

constexpr double kWide = 1000, kHalf = 560;


// One <path> of short vertical strokes at the x positions (a grid's levels along the top).
std::string Rug(const Plot& p, const std::vector<double>& xs, const char* cls) {
  std::string d;
  double first = INFINITY;
  for (double x : xs) {
    d += fmt::format("M{} {}v6", Px(p.X(x)), Px(p.top()));
    first = std::min(first, p.X(x));
  }
  if (d.empty()) return "";
  return fmt::format("<path class=\"{}\" d=\"{}\"/><text class=\"rug-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">"
                     "grid levels</text>",
                     cls, d, Px(std::max(first - 4, p.left() + 60)), Px(p.top() + 7));
}

// "none", "12.5%", "4 values (0.00031%)".
std::string Share(int64_t part, int64_t whole) {
  if (part == 0 || whole == 0) return "none";
  const double pct = 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  if (pct >= 0.1) return fmt::format("{:.3g}%", pct);
  return fmt::format("{} value{} ({:.2g}%)", part, part == 1 ? "" : "s", pct);
}

// Bins of h merged by a power of two so that the values' span holds at most ~kDrawn bars.
std::vector<std::pair<double, int64_t>> DrawnBins(const Histogram& h, double* width) {
  constexpr double kDrawn = 120;
  int merge = 1;
  while ((h.max - h.min) / (h.bin_width() * merge) > kDrawn && merge < Histogram::kBins) merge *= 2;
  *width = h.bin_width() * merge;
  std::vector<std::pair<double, int64_t>> bins;
  for (size_t i = 0; i < h.counts.size(); i += static_cast<size_t>(merge)) {
    int64_t c = 0;
    for (size_t k = i; k < i + static_cast<size_t>(merge) && k < h.counts.size(); ++k) c += h.counts[k];
    if (c > 0) bins.push_back({h.lo + h.bin_width() * static_cast<double>(i), c});
  }
  return bins;
}

}  // namespace

std::string SqnrChart(const AccuracyReport& r, const std::vector<size_t>& marked) {
  const size_t n = r.layers.size();
  double lo = INFINITY, hi = -INFINITY;
  bool infinite = false;
  for (const TensorError& t : r.layers)
    for (double v : {t.accumulated.sqnr_db, t.isolated ? t.isolated->sqnr_db : NAN}) {
      if (std::isinf(v)) infinite = infinite || v > 0;
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, std::floor((v - 1) / 5) * 5);  // at least 1 dB of room to the frame
      hi = std::max(hi, std::ceil((v + 1) / 5) * 5);
    }
  if (lo > hi) lo = 0, hi = 10;  // no finite value
  if (hi - lo < 10) hi = lo + 10;
  if (infinite) hi += 10;  // a band at the top for exact layers
  Axis x{-0.5, static_cast<double>(n) - 0.5, "layer in execution order (op # in the .sqnt)"};
  const size_t step = std::max<size_t>(1, static_cast<size_t>(std::ceil(static_cast<double>(n) / 20.0)));
  for (size_t i = 0; i < n; i += step) x.ticks.push_back({static_cast<double>(i), std::to_string(r.layers[i].index)});
  Axis y{lo, hi, "SQNR (dB, higher is better)"};
  if (infinite) {
    for (double v : NiceTicks(lo, hi - 10, 6)) y.ticks.push_back({v, Num(v)});
    y.ticks.push_back({hi, "exact"});
  }
  Plot p("sqnr-chart", "SQNR of every layer: end to end (errors of earlier layers included) and alone", kWide, 360, x,
         y);
  auto yv = [&](double v) { return p.Y(std::isinf(v) ? (v > 0 ? hi : lo) : v); };
  auto tip = [](const TensorError& t) {
    return Escape(fmt::format("#{} {} {}\nend to end {} dB, alone {} dB", t.index, t.op, t.node,
                              Num(t.accumulated.sqnr_db), t.isolated ? Num(t.isolated->sqnr_db) : "not measured"));
  };
  std::string line;
  for (size_t i = 0; i < n; ++i)
    line += fmt::format("{}{} {}", i ? " L" : "M", Px(p.X(static_cast<double>(i))), Px(yv(r.layers[i].accumulated.sqnr_db)));
  p.Add(fmt::format("<path class=\"e2e-line\" d=\"{}\"/>", line));
  int marks = 0;
  for (size_t i = 0; i < n; ++i) {
    const TensorError& t = r.layers[i];
    const std::string cx = Px(p.X(static_cast<double>(i)));
    p.Add(fmt::format("<circle class=\"mark e2e\" cx=\"{}\" cy=\"{}\" r=\"3\"><title>{}</title></circle>", cx,
                      Px(yv(t.accumulated.sqnr_db)), tip(t)));
    ++marks;
    if (!t.isolated) continue;
    p.Add(fmt::format("<rect class=\"mark alone\" x=\"{}\" y=\"{}\" width=\"6\" height=\"6\"><title>{}</title></rect>",
                      Px(p.X(static_cast<double>(i)) - 3), Px(yv(t.isolated->sqnr_db) - 3), tip(t)));
    ++marks;
  }
  for (size_t k = 0; k < marked.size(); ++k) {
    const TensorError& t = r.layers[marked[k]];
    const double v = t.isolated ? t.isolated->sqnr_db : t.accumulated.sqnr_db;
    const double cx = p.X(static_cast<double>(marked[k])), cy = yv(v);
    p.Add(fmt::format("<a href=\"#layer-{}\"><circle class=\"worst\" cx=\"{}\" cy=\"{}\" r=\"8\"><title>{}</title></circle>"
                      "<text class=\"worst-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></a>",
                      marked[k], Px(cx), Px(cy), tip(t), Px(cx), Px(cy + 22), k + 1));
  }
  // Legend: top right, above the plot area (where it hides no mark).
  const double lx = p.right() - 330, ly = 3;
  p.Add(fmt::format(
      "<rect class=\"legend-bg\" x=\"{0}\" y=\"{1}\" width=\"326\" height=\"22\"/>"
      "<circle class=\"e2e\" cx=\"{2}\" cy=\"{3}\" r=\"3\"/><text class=\"tl\" x=\"{4}\" y=\"{5}\">end to end</text>"
      "<rect class=\"alone\" x=\"{6}\" y=\"{7}\" width=\"6\" height=\"6\"/><text class=\"tl\" x=\"{8}\" y=\"{5}\">alone</text>"
      "<circle class=\"worst\" cx=\"{9}\" cy=\"{3}\" r=\"6\"/><text class=\"tl\" x=\"{10}\" y=\"{5}\">worst alone (n = rank)</text>",
      Px(lx), Px(ly), Px(lx + 10), Px(ly + 11), Px(lx + 18), Px(ly + 15), Px(lx + 92), Px(ly + 8), Px(lx + 103),
      Px(lx + 160), Px(lx + 172)));
  return p.Finish(marks);
}

std::string ValueHistogram(const std::string& id, const TensorError& t) {
  const Distribution& d = *t.distribution;
  const Histogram& h = d.values;
  if (h.counts.empty()) return "<p class=\"note\">No finite float values were seen for this layer.</p>";
  const bool affine = d.grid.kind == "affine";
  double xlo = h.min, xhi = h.max;
  if (affine) {
    xlo = std::min(xlo, d.grid.lo);
    xhi = std::max(xhi, d.grid.hi);
  }
  const double pad = xhi > xlo ? (xhi - xlo) * 0.04 : std::max(std::fabs(xlo) * 0.1, 1e-6);
  xlo -= pad;
  xhi += pad;
  double w = 0;
  const std::vector<std::pair<double, int64_t>> bins = DrawnBins(h, &w);
  int64_t peak = 1;
  for (const auto& b : bins) peak = std::max(peak, b.second);
  Plot p(id, "float values of the output, with the integer grid", kHalf, 300,
         Axis{xlo, xhi, "float value (the tensor's own units)"},
         Axis{0.5, std::max(10.0, static_cast<double>(peak) * 2), "values per bin (log scale)", true});
  if (affine) {
    p.Add(fmt::format("<rect class=\"clip\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>", Px(p.left()), Px(p.top()),
                      Px(p.X(d.grid.lo) - p.left()), Px(p.bottom() - p.top())));
    p.Add(fmt::format("<rect class=\"clip\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>", Px(p.X(d.grid.hi)),
                      Px(p.top()), Px(p.right() - p.X(d.grid.hi)), Px(p.bottom() - p.top())));
  }
  int marks = 0;
  for (const auto& [a, count] : bins) {
    const double b = a + w;
    const double x0 = p.X(a), x1 = std::max(p.X(b), x0 + 0.8), y = p.Y(static_cast<double>(count));
    p.Add(fmt::format("<rect class=\"mark bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>[{}, {}): {} values</title></rect>",
                      Px(x0), Px(y), Px(x1 - x0), Px(p.bottom() - y), Num(a), Num(b), count));
    ++marks;
  }
  std::string grid_text;
  if (affine) {
    for (double v : {d.grid.lo, d.grid.hi})
      p.Add(fmt::format("<line class=\"clip-line\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/>", Px(p.X(v)), Px(p.top()),
                        Px(p.bottom())));
    // Inside the grid's range, pointing out to the clipped side (which may be too narrow for text).
    p.Add(fmt::format("<text class=\"clip-label\" x=\"{}\" y=\"{}\">◀ clip</text>", Px(p.X(d.grid.lo) + 3),
                      Px(p.top() + 22)));
    p.Add(fmt::format("<text class=\"clip-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">clip ▶</text>",
                      Px(p.X(d.grid.hi) - 3), Px(p.top() + 22)));
    if (0 >= xlo && 0 <= xhi)
      p.Add(fmt::format("<line class=\"zero\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/>"
                        "<text class=\"zero-label\" x=\"{3}\" y=\"{4}\">0 = zero point (code {5})</text>",
                        Px(p.X(0)), Px(p.top()), Px(p.bottom()), Px(p.X(0) + 3), Px(p.top() + 38), d.grid.zero_point));
    p.Add(Rug(p, d.grid.levels, "rug"));
    const double used_lo = std::max(h.min, d.grid.lo), used_hi = std::min(h.max, d.grid.hi);
    const double codes = used_hi >= used_lo ? (used_hi - used_lo) / d.grid.scale + 1 : 0;
    const double all = (d.grid.hi - d.grid.lo) / d.grid.scale + 1;
    grid_text = fmt::format(
        "Grid {} scale {} zero point {}: codes stand for [{}, {}] in steps of {} (ticks along the top{}). The values "
        "span {} of its {} codes; clipped (beyond half a step past either end): {} below, {} above the range.",
        d.grid.type, Num(d.grid.scale), d.grid.zero_point, Num(d.grid.lo), Num(d.grid.hi), Num(d.grid.scale),
        d.grid.levels.empty() ? ": too many to draw" : "", Num(std::floor(codes), 6), Num(all, 6),
        Share(h.below_clip, h.total), Share(h.above_clip, h.total));
  } else if (d.grid.kind == "log") {
    grid_text = "Log grid: its levels are drawn on the probability histogram (log2 axis).";
  }
  return p.Finish(marks) +
         fmt::format("<p class=\"caption\">{} float values from {} to {}{}. {}</p>", h.total, Num(h.min), Num(h.max),
                     h.non_finite ? fmt::format(" ({} not finite, left out)", h.non_finite) : "", Escape(grid_text));
}

std::string ProbabilityHistogram(const std::string& id, const TensorError& t) {
  const Distribution& d = *t.distribution;
  const LogHistogram& h = *d.probabilities;
  constexpr int kO = LogHistogram::kOctaves, kB = LogHistogram::kBinsPerOctave;
  // Left of 2^-24, one bar [-26, -25) holds the probabilities that are 0 or below 2^-24 (masked ones).
  constexpr double kZeroBar = -kO - 2;
  Axis x{kZeroBar, 0, "probability (log2 scale; the bar left of 2^-24: 0 and below)"};
  x.ticks.push_back({kZeroBar + 0.5, "0"});
  for (int e = -kO; e <= 0; e += 4) x.ticks.push_back({e, e == 0 ? "1" : fmt::format("2^{}", e)});
  const int64_t peak = std::max<int64_t>({int64_t{1}, h.zeros + h.tiny, *std::max_element(h.counts.begin(), h.counts.end())});
  Plot p(id, "softmax probabilities (log2 axis), with the integer grid", kHalf, 300, x,
         Axis{0.5, std::max(10.0, static_cast<double>(peak) * 2), "probabilities per bin (log scale)", true});
  // Probabilities that round to 0 on an affine (uniform) grid: below half its first step.
  std::vector<double> levels;
  double smallest = INFINITY;
  for (double v : d.grid.levels)
    if (v > 0) {
      levels.push_back(std::log2(v));
      smallest = std::min(smallest, v);
    }
  const bool uniform = d.grid.kind == "affine";
  int64_t to_zero = h.tiny;
  const double zero_below = uniform ? smallest / 2 : d.grid.zero_below;
  if (std::isfinite(zero_below) && zero_below > 0) {
    const double cut = std::max(std::log2(zero_below), static_cast<double>(-kO));
    p.Add(fmt::format("<rect class=\"clip\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>"
                      "<text class=\"clip-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">rounds to 0 ◀</text>",
                      Px(p.left()), Px(p.top()), Px(p.X(cut) - p.left()), Px(p.bottom() - p.top()), Px(p.X(cut) - 3),
                      Px(p.top() + 22)));
    for (size_t i = 0; i < h.counts.size(); ++i)
      if (static_cast<double>(i + 1) / kB - kO <= cut) to_zero += h.counts[i];
  }
  int marks = 0;
  if (h.zeros + h.tiny > 0) {
    const double y = p.Y(static_cast<double>(h.zeros + h.tiny));
    p.Add(fmt::format("<rect class=\"mark bar zero-bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>p = 0: {}, "
                      "0 &lt; p &lt; 2^-{}: {}</title></rect>",
                      Px(p.X(kZeroBar)), Px(y), Px(p.X(kZeroBar + 1) - p.X(kZeroBar)), Px(p.bottom() - y), h.zeros, kO,
                      h.tiny));
    ++marks;
  }
  for (size_t i = 0; i < h.counts.size(); ++i) {
    if (h.counts[i] == 0) continue;
    const double a = static_cast<double>(i) / kB - kO, b = a + 1.0 / kB;
    const double y = p.Y(static_cast<double>(h.counts[i]));
    p.Add(fmt::format("<rect class=\"mark bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>p in [2^{}, 2^{}): {}</title></rect>",
                      Px(p.X(a)), Px(y), Px(p.X(b) - p.X(a)), Px(p.bottom() - y), Num(a), Num(b), h.counts[i]));
    ++marks;
  }
  p.Add(Rug(p, levels, "rug"));
  std::string grid_text =
      uniform ? fmt::format("Uniform grid {}: {} levels in steps of {}; {} of the probabilities (about, by bin) are "
                            "below half a step and become 0.",
                            d.grid.type, d.grid.levels.size(), Num(d.grid.scale), Share(to_zero, h.total))
              : fmt::format("Log grid: {} levels from {} to {} (ticks along the top), and 0; {} of the probabilities "
                            "(about, by bin) are below {} and become 0.",
                            levels.size(), Num(smallest), Num(d.grid.hi), Share(to_zero, h.total), Num(zero_below));
  return p.Finish(marks) +
         fmt::format("<p class=\"caption\">{} probabilities: {} exactly 0 (masked), {} between 0 and 2^-{}. {}</p>",
                     h.total, h.zeros, h.tiny, kO, Escape(grid_text));
}

std::string WeightRangesChart(const std::string& id, const WeightRanges& w) {
  const size_t n = w.min.size();
  double reach = 0, widest = 0, narrowest = INFINITY;
  for (size_t c = 0; c < n; ++c) {
    reach = std::max({reach, static_cast<double>(w.reach[c]), std::fabs(static_cast<double>(w.min[c])),
                      std::fabs(static_cast<double>(w.max[c]))});
    const double span = std::max(std::fabs(static_cast<double>(w.min[c])), std::fabs(static_cast<double>(w.max[c])));
    widest = std::max(widest, span);
    narrowest = std::min(narrowest, span);
  }
  reach = reach > 0 ? reach * 1.08 : 1;
  Plot p(id, fmt::format("weight range per output channel ({} {})", w.type, w.shape), kHalf, 300,
         Axis{-0.5, static_cast<double>(n) - 0.5, fmt::format("output channel (axis {})", w.axis)},
         Axis{-reach, reach, "weight value (dequantized)"});
  std::string reach_path;
  int marks = 0;
  for (size_t c = 0; c < n; ++c) {
    const double x = p.X(static_cast<double>(c));
    p.Add(fmt::format("<line class=\"mark wr\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"><title>channel {3}: [{4}, {5}], "
                      "grid ±{6}</title></line>",
                      Px(x), Px(p.Y(w.min[c])), Px(p.Y(w.max[c])), c, Num(w.min[c]), Num(w.max[c]), Num(w.reach[c])));
    ++marks;
    reach_path += fmt::format("M{} {}h2M{} {}h2", Px(x - 1), Px(p.Y(w.reach[c])), Px(x - 1), Px(p.Y(-w.reach[c])));
  }
  p.Add(fmt::format("<path class=\"reach\" d=\"{}\"/>", reach_path));
  return p.Finish(marks) +
         fmt::format("<p class=\"caption\">Weights <code>{}</code>, {} channels; bars: min to max of each channel's weights, ticks: the grid's "
                     "reach ±{}·scale. Largest |w| per channel from {} to {} (ratio {}){}.</p>",
                     Escape(w.tensor), n, w.code_max, Num(narrowest), Num(widest),
                     narrowest > 0 ? Num(widest / narrowest, 3) : "∞", w.note.empty() ? "" : "; " + Escape(w.note));
}

}  // namespace squint::report::html

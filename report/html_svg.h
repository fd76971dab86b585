// Small building blocks of the HTML report's inline SVG charts: escaping, compact numbers, nice
// tick values and a plot frame with axes, ticks, labels and a title. Every chart is plain SVG
// text (no script needed to draw it); marks carry class "mark" so a test can count them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace squint::report::html {

// Text for HTML element content and attribute values (& < > " ').
std::string Escape(std::string_view s);

// A number for labels and tables: 4 significant digits, no exponent for ordinary magnitudes,
// "∞" / "−∞" for infinities. Deterministic (the same value gives the same text).
std::string Num(double v, int significant = 4);
// A coordinate in SVG user units: one decimal.
std::string Px(double v);

// About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten).
std::vector<double> NiceTicks(double lo, double hi, int count);

struct Axis {
  Axis(double lo_, double hi_, std::string label_, bool log10_ = false)
      : lo(lo_), hi(hi_), label(std::move(label_)), log10(log10_) {}
  double lo = 0, hi = 1;
  std::string label;     // with the unit, e.g. "SQNR (dB)"
  bool log10 = false;    // logarithmic: lo, hi > 0, ticks at powers of ten
  std::vector<std::pair<double, std::string>> ticks;  // explicit ticks (value, text); empty: nice ticks
};

class Plot {
 public:
  static constexpr double kLeft = 64, kRight = 16, kTop = 30, kBottom = 46;

  Plot(std::string id, std::string title, double width, double height, Axis x, Axis y);
  double X(double v) const;  // data → SVG x (clamped to the plot area)
  double Y(double v) const;
  double left() const { return kLeft; }
  double right() const { return width_ - kRight; }
  double top() const { return kTop; }
  double bottom() const { return height_ - kBottom; }

  // Appends SVG elements drawn inside the plot area (after the grid lines, before the axes).
  void Add(std::string_view svg) { body_ += svg; }
  // The finished <svg>: data-marks says how many elements of class "mark" it holds (the page's
  // self-check and the browser test compare the two).
  std::string Finish(int marks) const;

 private:
  std::string XTicks() const;
  std::string YTicks() const;

  std::string id_, title_;
  double width_, height_;
  Axis x_, y_;
  std::string body_;
};

}  // namespace squint::report::html

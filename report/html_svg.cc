#include "report/html_svg.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace squint::report::html {

std::string Escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Num(double v, int significant) {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return v > 0 ? "∞" : "−∞";
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e-3 && a < 1e6) {
    const int digits = std::max(0, significant - 1 - static_cast<int>(std::floor(std::log10(a))));
    std::string s = fmt::format("{:.{}f}", v, digits);
    if (s.find('.') != std::string::npos) {  // no trailing zeros
      while (s.back() == '0') s.pop_back();
      if (s.back() == '.') s.pop_back();
    }
    return s == "-0" ? "0" : s;
  }
  return fmt::format("{:.{}e}", v, std::max(0, significant - 1));
}

std::string Px(double v) { return fmt::format("{:.1f}", v); }

std::vector<double> NiceTicks(double lo, double hi, int count) {
  std::vector<double> t;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {lo};
  const double raw = (hi - lo) / std::max(count, 1);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / p < 1.5 ? p : raw / p < 3 ? 2 * p : raw / p < 7 ? 5 * p : 10 * p;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

Plot::Plot(std::string id, std::string title, double width, double height, Axis x, Axis y)
    : id_(std::move(id)), title_(std::move(title)), width_(width), height_(height), x_(std::move(x)), y_(std::move(y)) {}

namespace {

double Frac(const Axis& a, double v) {
  if (a.log10) return (std::log10(std::max(v, a.lo)) - std::log10(a.lo)) / (std::log10(a.hi) - std::log10(a.lo));
  return a.hi > a.lo ? (v - a.lo) / (a.hi - a.lo) : 0.5;
}

// 1, 10, 100, 1000, then 10⁴, 10⁵, ... (and 10⁻¹, ... below 1).
std::string PowerOfTen(int e) {
  if (e >= 0 && e <= 3) return Num(std::pow(10.0, e));
  static const char* const kSuper[] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  std::string s = e < 0 ? "10⁻" : "10";
  for (char c : std::to_string(std::abs(e))) s += kSuper[c - '0'];
  return s;
}

std::vector<std::pair<double, std::string>> TicksOf(const Axis& a, int count) {
  if (!a.ticks.empty()) return a.ticks;
  std::vector<std::pair<double, std::string>> t;
  if (a.log10) {
    for (double e = std::ceil(std::log10(a.lo)); e <= std::log10(a.hi) + 1e-9; ++e)
      t.push_back({std::pow(10.0, e), PowerOfTen(static_cast<int>(e))});
    return t;
  }
  for (double v : NiceTicks(a.lo, a.hi, count)) t.push_back({v, Num(v)});
  return t;
}

}  // namespace

double Plot::X(double v) const { return left() + std::clamp(Frac(x_, v), 0.0, 1.0) * (right() - left()); }
double Plot::Y(double v) const { return bottom() - std::clamp(Frac(y_, v), 0.0, 1.0) * (bottom() - top()); }

std::string Plot::XTicks() const {
  std::string s;
  for (const auto& [v, text] : TicksOf(x_, std::max(2, static_cast<int>((right() - left()) / 80)))) {
    if (v < std::min(x_.lo, x_.hi) || v > std::max(x_.lo, x_.hi)) continue;
    const std::string x = Px(X(v));
    s += fmt::format("<line class=\"tick\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/>", x, Px(bottom()), Px(bottom() + 5));
    s += fmt::format("<text class=\"tl\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>", x, Px(bottom() + 17),
                     Escape(text));
  }
  return s;
}

std::string Plot::YTicks() const {
  std::string s;
  for (const auto& [v, text] : TicksOf(y_, std::max(2, static_cast<int>((bottom() - top()) / 40)))) {
    if (v < std::min(y_.lo, y_.hi) || v > std::max(y_.lo, y_.hi)) continue;
    const std::string y = Px(Y(v));
    s += fmt::format("<line class=\"grid\" x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\"/>", Px(left()), Px(right()), y);
    s += fmt::format("<text class=\"tl\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", Px(left() - 6),
                     Px(Y(v) + 4), Escape(text));
  }
  return s;
}

std::string Plot::Finish(int marks) const {
  std::string s = fmt::format(
      "<svg id=\"{}\" class=\"chart\" data-marks=\"{}\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" "
      "role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
      Escape(id_), marks, Px(width_), Px(height_), Px(width_), Px(height_), Escape(title_));
  s += fmt::format("<text class=\"title\" x=\"{}\" y=\"18\">{}</text>", Px(left()), Escape(title_));
  s += YTicks();
  s += body_;
  s += fmt::format("<line class=\"axis\" x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\"/>", Px(left()), Px(right()),
                   Px(bottom()));
  s += fmt::format("<line class=\"axis\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/>", Px(left()), Px(top()),
                   Px(bottom()));
  s += XTicks();
  s += fmt::format("<text class=\"al\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>", Px((left() + right()) / 2),
                   Px(height_ - 8), Escape(x_.label));
  s += fmt::format("<text class=\"al\" transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
                   Px((top() + bottom()) / 2), Escape(y_.label));
  s += "</svg>";
  return s;
}

}  // namespace squint::report::html

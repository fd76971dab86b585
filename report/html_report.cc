#include "report/html_report.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "report/html_charts.h"
#include "report/html_svg.h"

namespace squint::report {
namespace {

using html::Escape;
using html::Num;

constexpr const char* kStyle = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#1d2330;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
.sub{color:#5b6475;margin:0 0 16px}.headline{background:#fff6e5;border-left:4px solid #e69500;padding:8px 12px;margin:12px 0}
table.kv td{padding:2px 12px 2px 0;vertical-align:top}table.kv td:first-child{color:#5b6475;white-space:nowrap}
.chart{display:block;max-width:100%;height:auto;background:#fff}.chart text{font-size:11px;fill:#333}
.chart .title{font-size:12.5px;font-weight:600}.chart .al{font-size:12px;fill:#222}
.axis{stroke:#333;stroke-width:1}.tick{stroke:#333}.grid{stroke:#e6e8ec}
.e2e-line{fill:none;stroke:#2f6fd0;stroke-width:1.2;opacity:.6}.e2e{fill:#2f6fd0}.alone{fill:#e07b00}
.worst{fill:none;stroke:#d0021b;stroke-width:2}.worst-label{font-weight:700;fill:#d0021b!important}
.legend-bg{fill:#fff;stroke:#d8dce3}.bar{fill:#4a7fc9}.zero-bar{fill:#8a94a6}.clip{fill:#d0021b;opacity:.08}
.clip-line{stroke:#d0021b;stroke-dasharray:4 3}.clip-label{fill:#b0001a!important}.zero{stroke:#1a8f3c;stroke-dasharray:2 3}
.zero-label{fill:#1a8f3c!important}.rug{stroke:#555;stroke-width:.5}.rug-label{font-size:10px!important;fill:#555!important}
.chart-head{font-weight:600;margin:10px 0 0;font-size:13px}.wr{stroke:#4a7fc9;stroke-width:2}.reach{stroke:#d0021b;stroke-width:1.2}
.caption{color:#3b4252;margin:4px 0 14px;max-width:1000px}.note{color:#5b6475}
.pair{display:flex;flex-wrap:wrap;gap:8px 24px}.pair>div{flex:1 1 520px;min-width:0}
table.layers{border-collapse:collapse;width:100%;font-size:12.5px}
table.layers th,table.layers td{padding:3px 6px;border-bottom:1px solid #eceef2;text-align:right;white-space:nowrap}
table.layers th{background:#f3f5f8;cursor:pointer;position:sticky;top:0;user-select:none}
table.layers th.sorted-asc::after{content:" ▲"}table.layers th.sorted-desc::after{content:" ▼"}
table.layers td.t,table.layers th.t{text-align:left}table.layers td.t{max-width:340px;overflow:hidden;text-overflow:ellipsis}
tr.bad td{background:#fff0f0}td.low,td.loss{color:#b0001a;font-weight:600}td.gain{color:#1a7f37;font-weight:600}
table.fixes th{cursor:default}table.fixes td,table.fixes th{white-space:normal}table.fixes td.t{max-width:none}
table.fixes code{white-space:nowrap}
#js-errors{color:#b0001a;white-space:pre-wrap}
.clip-label,.zero-label,.rug-label,.worst-label{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
)";

// Sorting of the layer table, and a self-check that writes its verdict into the page
// (body data-ok="1" when every check passed; any error lands in #js-errors): every chart holds
// as many marks as it declares, the table as many rows, and a sort round trip works.
constexpr const char* kScript = R"(
(function () {
  var errors = [];
  function fail(m) {
    errors.push(String(m));
    var p = document.getElementById('js-errors');
    p.textContent = 'Page check failed: ' + errors.join('; ');
    p.hidden = false;
    document.body.dataset.ok = '0';
  }
  window.addEventListener('error', function (e) { fail(e.message); });
  function sortBy(table, col, dir) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var numeric = table.tHead.rows[0].cells[col].dataset.type === 'num';
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      var c = numeric ? parseFloat(x) - parseFloat(y) : (x < y ? -1 : x > y ? 1 : 0);
      return (c || (parseFloat(a.dataset.pos) - parseFloat(b.dataset.pos))) * dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h, i) {
      h.className = h.className.replace(/ ?sorted-(asc|desc)/, '') + (i === col ? (dir > 0 ? ' sorted-asc' : ' sorted-desc') : '');
    });
  }
  try {
    var table = document.getElementById('layers');
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h, i) {
      h.title = 'sort by ' + h.textContent;
      h.addEventListener('click', function () { sortBy(table, i, h.classList.contains('sorted-asc') ? -1 : 1); });
    });
    var charts = document.querySelectorAll('svg.chart'), marks = 0;
    Array.prototype.forEach.call(charts, function (s) {
      var want = parseInt(s.dataset.marks, 10), got = s.querySelectorAll('.mark').length;
      if (want !== got) fail(s.id + ': ' + got + ' marks, expected ' + want);
      marks += got;
    });
    var rows = table.tBodies[0].rows.length;
    if (rows !== parseInt(table.dataset.rows, 10)) fail('table: ' + rows + ' rows, expected ' + table.dataset.rows);
    var col = parseInt(table.dataset.checkColumn, 10);
    sortBy(table, col, 1);
    var prev = -Infinity;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
      var v = parseFloat(r.cells[col].dataset.v);
      if (v < prev) fail('sorting the table by column ' + col + ' left ' + v + ' after ' + prev);
      prev = v;
    });
    sortBy(table, 0, 1);
    window.addEventListener('load', function () {
      document.body.dataset.loadMs = String(Math.round(performance.now()));  // since navigation start
    });
    if (!errors.length) {
      document.body.dataset.charts = String(charts.length);
      document.body.dataset.marks = String(marks);
      document.body.dataset.ok = '1';
    }
  } catch (e) { fail(e && e.stack ? e.stack : e); }
})();
)";

double Loss(const TensorError& t) { return t.isolated ? t.isolated->sqnr_db : t.accumulated.sqnr_db; }

// A sortable number for data-v: infinities as ±1e9.
std::string SortValue(double v) {
  if (std::isnan(v)) return "1e9";
  if (std::isinf(v)) return v > 0 ? "1e9" : "-1e9";
  return fmt::format("{:.9g}", v);
}

std::string Cells(const std::optional<ErrorStats>& e, double low_db) {
  if (!e) return "<td data-v=\"1e9\">–</td><td data-v=\"1e9\">–</td><td data-v=\"-1\">–</td><td data-v=\"-1\">–</td>";
  return fmt::format("<td data-v=\"{}\"{}>{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td>",
                     SortValue(e->sqnr_db), e->sqnr_db < low_db ? " class=\"low\"" : "", Num(e->sqnr_db, 3),
                     SortValue(e->cosine), fmt::format("{:.5f}", e->cosine), SortValue(e->max_abs), Num(e->max_abs, 3),
                     SortValue(e->rel_l2), Num(e->rel_l2, 3));
}

std::string LayerTable(const AccuracyReport& r, const std::set<size_t>& detailed, const std::set<size_t>& worst) {
  std::string s = fmt::format(
      "<table id=\"layers\" class=\"layers\" data-rows=\"{}\" data-check-column=\"8\"><thead><tr>"
      "<th data-type=\"num\">#</th><th class=\"t\" data-type=\"text\">op</th><th class=\"t\" data-type=\"text\">layer</th>"
      "<th data-type=\"num\">SQNR dB<br>end to end</th><th data-type=\"num\">cosine</th>"
      "<th data-type=\"num\">max |err|</th><th data-type=\"num\">rel L2</th>"
      "<th data-type=\"num\">SQNR dB<br>alone</th><th data-type=\"num\">cosine</th>"
      "<th data-type=\"num\">max |err|</th><th data-type=\"num\">rel L2</th></tr></thead><tbody>",
      r.layers.size());
  const double low_db = 20;  // highlighted: below 20 dB (a tenth of the signal's RMS)
  for (size_t i = 0; i < r.layers.size(); ++i) {
    const TensorError& t = r.layers[i];
    const std::string name = detailed.count(i) ? fmt::format("<a href=\"#layer-{}\">{}</a>", i, Escape(t.node))
                                               : Escape(t.node);
    s += fmt::format("<tr data-pos=\"{}\"{}><td data-v=\"{}\">{}</td><td class=\"t\" data-v=\"{}\">{}</td>"
                     "<td class=\"t\" data-v=\"{}\" title=\"tensor {}\">{}</td>{}{}</tr>",
                     i, worst.count(i) ? " class=\"bad\"" : "", t.index, t.index, Escape(t.op), Escape(t.op),
                     Escape(t.node), Escape(t.name), name, Cells(t.accumulated, low_db), Cells(t.isolated, low_db));
  }
  return s + "</tbody></table>";
}

std::string Summary(const AccuracyReport& r, const HtmlReportInfo& info, const std::vector<size_t>& worst) {
  std::string kv;
  auto row = [&](const std::string& k, const std::string& v) { kv += fmt::format("<tr><td>{}</td><td>{}</td></tr>", k, v); };
  row("float model", "<code>" + Escape(info.model) + "</code>");
  row("integer model", fmt::format("<code>{}</code> ({} bytes{})", Escape(info.sqnt), info.sqnt_bytes,
                                   info.squint_version.empty() ? "" : ", written by squint " + Escape(info.squint_version)));
  row("quantize options", "<code>" + Escape(info.quantize_options.empty() ? "(not recorded)" : info.quantize_options) + "</code>");
  row("data", fmt::format("<code>{}</code>{}, {} samples", Escape(info.data),
                          info.labels.empty() ? "" : ", labels <code>" + Escape(info.labels) + "</code>", r.samples));
  row("top-1 agreement", Num(r.top1_agreement, 4) + "% of predictions (arg-max of the first output) equal float's");
  row("row cosine", Num(r.row_cosine, 5) +
                        " mean cosine between the float and integer rows of the first output (the measure for "
                        "embeddings)");
  if (r.int_accuracy)
    row("accuracy", fmt::format("{}% integer, {}% float ({:+.2f} points)", Num(*r.int_accuracy, 4),
                                Num(*r.float_accuracy, 4), *r.int_accuracy - *r.float_accuracy));
  if (r.int_bits_per_char)
    row("bits per char", fmt::format("{} integer, {} float ({:+.2f}%)", Num(*r.int_bits_per_char, 5),
                                     Num(*r.float_bits_per_char, 5),
                                     100.0 * (*r.int_bits_per_char / *r.float_bits_per_char - 1.0)));
  for (const TensorError& o : r.outputs)
    row(fmt::format("output <code>{}</code>", Escape(o.name)),
        fmt::format("SQNR {} dB, cosine {:.5f}, max |error| {}", Num(o.accumulated.sqnr_db, 3), o.accumulated.cosine,
                    Num(o.accumulated.max_abs, 3)));
  std::string head;
  if (!worst.empty()) {
    const TensorError& t = r.layers[worst[0]];
    head = fmt::format(
        "<p class=\"headline\">The layer that loses most{}: <a href=\"#layer-{}\"><b>{}</b></a> ({}), {} dB alone, {} dB "
        "end to end. SQNR = 10·log10(Σ float² / Σ (float − integer)²): 20 dB is an error a tenth of the signal, 40 dB "
        "a hundredth.</p>",
        t.isolated ? " on its own" : " end to end", worst[0], Escape(t.node), Escape(t.op),
        t.isolated ? Num(t.isolated->sqnr_db, 3) : "–", Num(t.accumulated.sqnr_db, 3));
  }
  return head + "<table class=\"kv\">" + kv + "</table>";
}

std::string Anchor(size_t i) { return fmt::format("layer-{}", i); }

std::string FixesSection(const FixReport& f, const AccuracyReport& r) {
  const MeasuredFix& b = f.base;
  std::string s = fmt::format(
      "<h2>Suggested fixes, measured</h2><p class=\"note\">Each fix alone, on top of the .sqnt's own options "
      "(<code>{}</code>), quantized again with the calibration data <code>{}</code> and run on the integer runtime over "
      "the same {} samples. Gains are in output SQNR; bytes are the .sqnt's size. Each fix's latency is on the terminal "
      "output only (a time would make this page differ from run to run).{}</p>",
      Escape(b.flags.empty() ? "the defaults" : b.flags), Escape(f.calib), f.samples,
      f.base_reproduced ? " Quantized again, the base gives the .sqnt byte for byte."
                        : " Quantized again, the base differs from the .sqnt (other calibration data?): the gains are "
                          "against the base as made again.");
  const bool acc = b.accuracy.has_value(), bpc = b.bits_per_char.has_value();
  s += fmt::format("<table class=\"layers fixes\" id=\"fixes\"><thead><tr><th>gain dB</th><th class=\"t\">fix</th>"
                   "<th class=\"t\">flag to add</th><th>output SQNR dB</th><th>top-1 agreement</th>{}<th>bytes</th>"
                   "<th>layer SQNR dB<br>end to end, before → after</th></tr></thead><tbody>",
                   acc ? "<th>accuracy</th>" : bpc ? "<th>bits/char</th>" : "");
  auto quality = [&](const MeasuredFix& m) {
    std::string q;
    if (acc && m.accuracy) q = fmt::format("<td>{}% ({:+.2f} pt)</td>", Num(*m.accuracy, 4), *m.accuracy - *b.accuracy);
    if (bpc && m.bits_per_char)
      q = fmt::format("<td>{} ({:+.2f}%)</td>", Num(*m.bits_per_char, 5), 100.0 * (*m.bits_per_char / *b.bits_per_char - 1));
    return q;
  };
  s += fmt::format("<tr><td>base</td><td class=\"t\">the .sqnt's options</td><td class=\"t\"></td><td>{}</td><td>{}%</td>"
                   "{}<td>{}</td><td></td></tr>",
                   Num(b.output_sqnr_db, 4), Num(b.top1_agreement, 4), quality(b), b.bytes);
  for (const MeasuredFix& m : f.fixes) {
    if (!m.error.empty()) {
      s += fmt::format("<tr><td>n/a</td><td class=\"t\">{}</td><td class=\"t\"><code>{}</code></td><td colspan=\"5\" "
                       "class=\"t note\">{}</td></tr>",
                       Escape(m.what), Escape(m.flag), Escape(m.error));
      continue;
    }
    std::string layer;
    if (m.layer_sqnr_db)
      for (const TensorError& t : r.layers)
        if (t.node == m.layer) {
          layer = fmt::format("{} → {} <span class=\"note\">{}</span>", Num(t.accumulated.sqnr_db, 3),
                              Num(*m.layer_sqnr_db, 3), Escape(m.layer));
          break;
        }
    const double gain = m.output_sqnr_db - b.output_sqnr_db;
    s += fmt::format("<tr><td class=\"{}\">{:+.2f}</td><td class=\"t\">{}</td><td class=\"t\"><code>{}</code></td>"
                     "<td>{}</td><td>{}%</td>{}<td>{} ({:+})</td><td class=\"t\">{}</td></tr>",
                     gain >= 0.005 ? "gain" : gain <= -0.005 ? "loss" : "", gain, Escape(m.what), Escape(m.flag), Num(m.output_sqnr_db, 4),
                     Num(m.top1_agreement, 4), quality(m), m.bytes, m.bytes - b.bytes, layer);
  }
  return s + "</tbody></table>";
}

}  // namespace

Result<std::vector<size_t>> ChosenLayers(const AccuracyReport& r, const std::vector<std::string>& names, int worst) {
  std::vector<size_t> chosen;
  auto add = [&](size_t i) {
    if (std::find(chosen.begin(), chosen.end(), i) == chosen.end()) chosen.push_back(i);
  };
  for (const std::string& name : names) {
    bool found = false;
    for (size_t i = 0; i < r.layers.size(); ++i)
      if (r.layers[i].node == name || r.layers[i].name == name) {
        add(i);
        found = true;
      }
    if (!found)
      return InvalidInput("--layer '{}': no layer of the report has this node or tensor name (squint inspect on the "
                          ".sqnt lists them)",
                          name);
  }
  std::vector<size_t> order(r.layers.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return Loss(r.layers[a]) < Loss(r.layers[b]); });
  for (size_t k = 0; k < order.size() && k < static_cast<size_t>(std::max(worst, 0)); ++k) add(order[k]);
  return chosen;
}

Result<std::string> HtmlReport(const AccuracyReport& r, const HtmlReportInfo& info) {
  SQ_ASSIGN_OR_RETURN(std::vector<size_t> chosen, ChosenLayers(r, info.layers, info.worst));
  SQ_ASSIGN_OR_RETURN(std::vector<size_t> worst, ChosenLayers(r, {}, info.worst));
  auto has_weights = [&](size_t i) { return r.layers[i].distribution && !r.layers[i].distribution->weights.empty(); };
  if (std::none_of(chosen.begin(), chosen.end(), has_weights)) {  // show weights of one layer at least
    SQ_ASSIGN_OR_RETURN(std::vector<size_t> all, ChosenLayers(r, {}, static_cast<int>(r.layers.size())));
    if (auto it = std::find_if(all.begin(), all.end(), has_weights); it != all.end()) chosen.push_back(*it);
  }
  const std::set<size_t> detailed(chosen.begin(), chosen.end()), worst_set(worst.begin(), worst.end());

  std::string s = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  s += fmt::format("<title>squint report: {}</title><style>{}</style></head><body>\n", Escape(info.sqnt), kStyle);
  s += fmt::format("<h1>squint report: <code>{}</code></h1><p class=\"sub\">float <code>{}</code> against integer "
                   "<code>{}</code>, computed on the integer runtime's own kernels.</p>",
                   Escape(info.sqnt), Escape(info.model), Escape(info.sqnt));
  s += "<pre id=\"js-errors\" hidden></pre>";
  s += "<h2>Summary</h2>" + Summary(r, info, worst);

  s += "<h2>Where the error comes from: SQNR per layer</h2>";
  s += html::SqnrChart(r, worst);
  s += "<p class=\"caption\"><b>End to end</b>: the integer model run whole, so a layer carries the error of every "
       "layer before it. <b>Alone</b>: the layer fed the float model's own inputs, quantized to its input grids, so "
       "only its own loss shows. A layer low alone is a cause; a drop end to end that recovers alone is inherited. "
       "Hover a mark for the layer's name; click a ringed one for its details.</p>";

  if (info.fixes) s += FixesSection(*info.fixes, r);

  s += "<h2>Layers in detail</h2><p class=\"note\">The layers chosen with <code>--layer</code>, then the " +
       std::to_string(info.worst) +
       " that lose most alone (and, if none of those has weights, the worst layer that has).</p>";
  for (size_t i : chosen) {
    const TensorError& t = r.layers[i];
    s += fmt::format("<h3 id=\"{}\">#{} {} <code>{}</code> — {} dB alone, {} dB end to end</h3>", Anchor(i), t.index,
                     Escape(t.op), Escape(t.node), t.isolated ? Num(t.isolated->sqnr_db, 3) : "–",
                     Num(t.accumulated.sqnr_db, 3));
    if (!t.distribution) {
      s += "<p class=\"note\">No float values were recorded for this layer.</p>";
      continue;
    }
    s += "<div class=\"pair\"><div>" + html::ValueHistogram(Anchor(i) + "-values", t) + "</div>";
    const auto& weights = t.distribution->weights;
    for (size_t k = 0; k < weights.size(); ++k)
      s += "<div>" + html::WeightRangesChart(fmt::format("{}-weights-{}", Anchor(i), k), weights[k]) + "</div>";
    if (t.distribution->probabilities)
      s += "<div>" + html::ProbabilityHistogram(Anchor(i) + "-detail-probabilities", t) + "</div>";
    else if (weights.empty())
      s += "<div><p class=\"note\">This op has no quantized weights.</p></div>";
    s += "</div>";
  }

  std::string softmax;
  for (size_t i = 0; i < r.layers.size(); ++i) {
    const TensorError& t = r.layers[i];
    if (!t.distribution || !t.distribution->probabilities) continue;
    softmax += fmt::format("<div><p class=\"chart-head\">#{} {} <code>{}</code></p>", t.index, Escape(t.op),
                           Escape(t.node)) +
               html::ProbabilityHistogram(Anchor(i) + "-probabilities", t) + "</div>";
  }
  if (!softmax.empty())
    s += "<h2>Softmax probabilities</h2><p class=\"note\">Every softmax's float probabilities on a log2 axis, with the "
         "levels its integer grid can hold (ticks along the top): a uniform grid has no level below its first step, a "
         "log grid spreads its levels over the octaves.</p><div class=\"pair\">" + softmax + "</div>";

  s += "<h2>Every layer</h2><p class=\"note\">Click a column to sort (again to reverse). Red rows: the worst layers; "
       "red figures: SQNR below 20 dB.</p>";
  s += LayerTable(r, detailed, worst_set);
  s += fmt::format("<script>{}</script></body></html>\n", kScript);
  return s;
}

}  // namespace squint::report

// `squint report --html`: one self-contained HTML page (inline SVG, CSS and a little JavaScript
// for sorting and a self-check; nothing loaded from the network) that shows where a quantized
// model loses accuracy and why:
//   - a summary: model, .sqnt, data, the quantize options (the .sqnt provenance), agreement,
//     accuracy, output SQNR;
//   - SQNR of every layer end to end and alone, in graph order, the worst layers marked;
//   - for the chosen layers (--layer, then the worst): the float values' histogram with the
//     integer grid, clipping range and zero point drawn over it, and per-channel weight ranges;
//   - every softmax: its probabilities on a log2 axis with the grid (uniform or log);
//   - a sortable table of every layer.
// The page is a function of its inputs only (no clock, no randomness): the same report gives
// the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "report/accuracy.h"
#include "report/fixes.h"

namespace squint::report {

struct HtmlReportInfo {
  std::string model, sqnt, data, labels;  // as the user named them
  int64_t sqnt_bytes = 0;
  std::string quantize_options;           // the .sqnt provenance's options line
  std::string squint_version;             // the version that wrote the .sqnt
  std::vector<std::string> layers;        // --layer: node or tensor names shown in detail first
  int worst = 5;                          // then this many of the worst layers
  const FixReport* fixes = nullptr;       // --fixes: shown when given
};

// The layers (indices into r.layers) shown in detail: every layer named in info.layers (a node
// name stands for all its outputs), then the `worst` that lose most (alone when measured, else
// end to end), each once. An unknown name is an error naming it.
Result<std::vector<size_t>> ChosenLayers(const AccuracyReport& r, const std::vector<std::string>& names, int worst);

// The page; r must come from CompareFloatAndInteger with distributions on.
Result<std::string> HtmlReport(const AccuracyReport& r, const HtmlReportInfo& info);

}  // namespace squint::report

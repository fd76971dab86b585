// The HTML report's charts, each one inline <svg> built on html_svg.h's Plot, with its caption.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "report/accuracy.h"

namespace squint::report::html {

// SQNR of every layer (r.layers, graph order) end to end and alone; the layers at `marked`
// (indices into r.layers, worst first) ringed and numbered 1, 2, ...
std::string SqnrChart(const AccuracyReport& r, const std::vector<size_t>& marked);

// A layer's float values (log-count histogram) with its grid: the codes' values along the top,
// the clipping range, the zero point; and a caption with the figures. `id` names the chart.
std::string ValueHistogram(const std::string& id, const TensorError& t);

// A softmax layer's probabilities on a log2 axis with the grid's levels.
std::string ProbabilityHistogram(const std::string& id, const TensorError& t);

// Per output channel, the dequantized weights' min to max, and the grid's reach.
std::string WeightRangesChart(const std::string& id, const WeightRanges& w);

}  // namespace squint::report::html

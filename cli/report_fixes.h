// `squint report --fixes`: quantizes the model again for each suggested fix and measures it.
#pragma once

#include <string>
#include <vector>

#include "base/progress.h"
#include "base/status.h"
#include "ir/graph.h"
#include "quant/calib_data.h"
#include "report/accuracy.h"
#include "report/fixes.h"

namespace squint::cli {

struct FixSearch {
  const ir::Graph* graph = nullptr;  // the float model as the report loaded it
  std::string model, model_sha256;   // its path and SHA-256 (the provenance of each model made)
  std::string sqnt_bytes;            // the .sqnt under report
  std::string provenance_options;    // its options line
  const quant::CalibData* calib = nullptr;
  std::string calib_name;
  const std::vector<ir::Tensor>* val = nullptr;  // validation data ([N, ...] per input)
  const ir::Tensor* labels = nullptr;
  int64_t samples = 0;
  std::vector<std::string> layers;  // the nodes to find fixes for (worst first)
  ProgressStyle progress = ProgressStyle::kNone;
};

Result<report::FixReport> MeasureFixes(const FixSearch& s);

}  // namespace squint::cli

// Helpers of the lowering tests that run the runtime: random calibration data, and a graph
// calibrated, lowered, serialized and compared with its float model.
#pragma once

#include <memory>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "export/sqnt_writer.h"
#include "quant/calibrate.h"
#include "quant/lower.h"
#include "report/accuracy.h"
#include "tests/passes/pass_test_util.h"

namespace squint::quant::testing {

// One float32 input "x" of per-sample dims `sample`, `samples` samples uniform in [−2, 2].
inline CalibData RandomCalib(const ir::Dims& sample, int64_t samples, uint32_t seed) {
  CalibData data;
  data.inputs.push_back({"x", ir::DType::kFloat32, sample});
  ir::Dims all = {samples};
  all.insert(all.end(), sample.begin(), sample.end());
  std::mt19937 rng(seed);
  data.tensors.push_back(passes::testing::RandomTensor(all, rng));
  data.num_samples = samples;
  return data;
}

struct Quantized {
  std::string bytes;
  std::unique_ptr<fb::ModelT> model;
  double output_sqnr = 0;  // output 0 of the integer model against g's, dB
};

// g calibrated on data (default options), lowered, serialized, and run on the runtime beside g.
inline Quantized QuantizeAndCompare(const ir::Graph& g, const CalibData& data) {
  Quantized q;
  auto cal = Calibrate(g, data, CalibrationOptions{});
  EXPECT_TRUE(cal.ok()) << cal.status().message();
  if (!cal.ok()) return q;
  auto lowered = Lower(g, *cal, LowerOptions{});
  EXPECT_TRUE(lowered.ok()) << lowered.status().message();
  if (!lowered.ok()) return q;
  q.bytes = exporter::SerializeSqnt(*lowered->model);
  q.model = std::move(lowered->model);
  auto rep = report::CompareFloatAndInteger(g, q.bytes, data.tensors, nullptr, 0, data.num_samples);
  EXPECT_TRUE(rep.ok()) << rep.status().message();
  if (rep.ok()) q.output_sqnr = rep->outputs[0].accumulated.sqnr_db;
  return q;
}

}  // namespace squint::quant::testing

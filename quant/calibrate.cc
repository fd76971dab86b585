#include "quant/calibrate.h"

#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "ir/eval/evaluator.h"

namespace squint::quant {

Result<Calibration> Calibrate(const ir::Graph& g, const CalibData& data, const CalibrationOptions& options,
                              const ProgressFn& progress) {
  // One observer per float activation (graph inputs and node outputs, not constants).
  std::vector<char> feeds_softmax(g.values.size(), 0);
  for (const ir::Node& n : g.nodes)
    if (n.op == ir::OpType::kSoftmax && n.input(0) != ir::kNoValue) feeds_softmax[static_cast<size_t>(n.input(0))] = 1;
  std::vector<std::unique_ptr<Observer>> observers(g.values.size());
  auto make = [&](ir::ValueId id) -> Status {
    const ir::Value& v = g.value(id);
    if (v.constant || v.dtype != ir::DType::kFloat32) return Status::Ok();
    ObserverOptions o = options.observer_options;
    if (feeds_softmax[static_cast<size_t>(id)]) o.ignore_below = options.softmax_mask_below;
    SQ_ASSIGN_OR_RETURN(observers[static_cast<size_t>(id)], MakeObserver(options.observer, o));
    return Status::Ok();
  };
  for (ir::ValueId id : g.inputs) SQ_RETURN_IF_ERROR(make(id));
  for (const ir::Node& n : g.nodes)
    for (ir::ValueId id : n.outputs)
      if (id != ir::kNoValue) SQ_RETURN_IF_ERROR(make(id));

  ir::eval::Evaluator evaluator(g);
  const int64_t total = options.max_samples > 0 ? std::min(options.max_samples, data.num_samples) : data.num_samples;
  auto hook = [&](const ir::Node& node, std::span<const ir::Tensor> outs) {
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const ir::ValueId id = node.outputs[i];
      if (id == ir::kNoValue || !observers[static_cast<size_t>(id)]) continue;
      observers[static_cast<size_t>(id)]->Observe(outs[i].span<float>());
    }
  };
  auto observe_inputs = [&](const std::vector<ir::Tensor>& inputs) {
    for (size_t i = 0; i < inputs.size() && i < g.inputs.size(); ++i)
      if (auto& obs = observers[static_cast<size_t>(g.inputs[i])]; obs) obs->Observe(inputs[i].span<float>());
  };
  // Two samples at a time where the machine has two cores: sample s evaluated here with the
  // observers fed as it runs, sample s + 1 on a second thread whose hook only records the
  // observed outputs (in node order); the record is fed to the observers after sample s. The
  // observers see every sample's tensors in the sequential order, so the ranges and the output
  // file are the same whatever the number of cores. Evaluator::Run is const and its kernels keep
  // no state between calls.
  const bool pair = std::thread::hardware_concurrency() >= 2;
  struct Recorded {
    std::vector<ir::ValueId> ids;
    std::vector<std::vector<float>> values;
  };
  auto record = [&](Recorded* r) {
    return [&observers, r](const ir::Node& node, std::span<const ir::Tensor> outs) {
      for (size_t i = 0; i < node.outputs.size(); ++i) {
        const ir::ValueId id = node.outputs[i];
        if (id == ir::kNoValue || !observers[static_cast<size_t>(id)]) continue;
        const std::span<const float> v = outs[i].span<float>();
        r->ids.push_back(id);
        r->values.emplace_back(v.begin(), v.end());
      }
    };
  };
  if (progress) progress(0, total);
  for (int64_t s = 0; s < total; s += pair ? 2 : 1) {
    SQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> inputs, data.Samples(s, 1));
    const bool second = pair && s + 1 < total;
    std::vector<ir::Tensor> next_inputs;
    if (second) {
      SQ_ASSIGN_OR_RETURN(next_inputs, data.Samples(s + 1, 1));
    }
    Recorded next;
    Status next_status = Status::Ok();
    std::thread worker;
    if (second)
      worker = std::thread([&] {
        const ir::eval::NodeHook next_hook = record(&next);
        auto r = evaluator.Run(next_inputs, next_hook);
        if (!r.ok()) next_status = r.status();
      });
    observe_inputs(inputs);
    auto run = evaluator.Run(inputs, hook);
    if (worker.joinable()) worker.join();
    if (!run.ok()) return run.status().WithContext(fmt::format("calibration sample {}", s));
    if (progress) progress(s + 1, total);
    if (!second) continue;
    if (!next_status.ok()) return next_status.WithContext(fmt::format("calibration sample {}", s + 1));
    observe_inputs(next_inputs);
    for (size_t i = 0; i < next.ids.size(); ++i)
      observers[static_cast<size_t>(next.ids[i])]->Observe(std::span<const float>(next.values[i]));
    if (progress) progress(s + 2, total);
  }

  Calibration cal;
  cal.samples = total;
  cal.observer = options.observer;
  cal.ranges.resize(g.values.size());
  for (size_t id = 0; id < observers.size(); ++id) {
    if (!observers[id]) continue;
    const ObserverStats& st = observers[id]->stats();
    if (st.non_finite() > 0)
      return InvalidInput("tensor '{}': {} NaN/Inf values during calibration (the model overflows on the data?)",
                          g.values[id].name, st.non_finite());
    auto r = observers[id]->ComputeRange();
    if (!r.ok()) return r.status().WithContext(fmt::format("tensor '{}'", g.values[id].name));
    cal.ranges[id] = *r;
  }
  return cal;
}

}  // namespace squint::quant

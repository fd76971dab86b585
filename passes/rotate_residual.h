// `--transform rotate`: residual-stream rotation (QuaRot steps 1–2, docs/algorithms.md §6.2) for
// pre-LayerNorm transformers, found on the graph rather than assumed.
//
// A *stream* is the set of values connected to a LayerNormalization's input through Add nodes
// and channel-preserving data movement (Reshape, Transpose, Pad with zeros, Gather/Slice/Concat on
// another axis), each with its channel axis (d channels). Its *writers* put values into it:
// Linear (W [K, d]), Conv (W [d, ..]: channel axis 1 of its output), Gather from a constant
// table [V, d] (an embedding), and constants added or concatenated to it (positions, a class
// token). Its LayerNorms read it;
// their outputs reach Linear *readers* (W [d, N]), possibly through Reshape/Transpose/Gather/
// Slice. Any other producer or reader (or a graph input/output on the stream) leaves the stream
// as it is, with the reason in the report. For an accepted stream, with Q an orthogonal d×d
// matrix (a randomized Hadamard when d = k·2^m has one, else a seeded random orthogonal):
//   1. mean baking: every writer's output and every added constant is centered over the channels
//      (W ← W − mean over its d outputs, b ← b − mean(b), table rows centered): the stream then
//      has zero channel mean, so each LayerNorm equals an RMSNorm (no mean subtraction);
//   2. each LayerNorm(γ, β) becomes squint.RMSNorm (same epsilon), γ and β move into its readers:
//      W ← diag(γ)·W, b ← b + β·W;
//   3. rotation: writers' outputs and constants ← ·Q, readers' W ← Qᵀ·W. RMSNorm(x·Q) =
//      RMSNorm(x)·Q (‖x·Q‖ = ‖x‖), so the graph's outputs are unchanged up to rounding.
// Stream and normalized values hold different numbers now: they are renamed "<name>_rotated"
// (reports match layers to the float model by name). Constants may be shared: new ones are made.
// Not a canonicalization: it runs only when asked.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"

namespace squint::passes {

struct RotateResidualOptions {
  uint32_t seed = 0x5157;  // std::mt19937 seed of Q's signs (or of the random orthogonal matrix)
};

struct RotateResidualReport {
  struct Stream {
    std::string first;       // the first LayerNormalization reading the stream (its label)
    int64_t channels = 0;    // d
    std::string rotation;    // "hadamard" (randomized, d = k·2^m) or "orthogonal" (random)
    int norms = 0, writers = 0, constants = 0, readers = 0;
  };
  std::vector<Stream> rotated;
  std::vector<std::string> rejected;  // one line per stream left alone: where and why
};

// Rewrites every accepted stream of g as above. A graph with no LayerNormalization, or with
// none whose stream qualifies, is left untouched (rotated empty; rejected says why).
Result<RotateResidualReport> RotateResidual(ir::Graph& g, const RotateResidualOptions& opts = {});

}  // namespace squint::passes

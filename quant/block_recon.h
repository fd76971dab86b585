// `--reconstruct block`: block reconstruction (BRECQ, Li et al. 2021; the reconstruction stage of
// I&S-ViT) for an integer-only runtime. The graph is cut into blocks, each from one residual-stream
// tensor to the next; block by block, in order, the clipping of every activation grid inside the
// block is chosen so that the block's output, computed by the runtime's own integer kernels on the
// quantized output of the blocks already reconstructed, is closest (mean squared error) to the
// float model's block output on calibration samples.
//
// How the error is measured: the block is lowered as a graph of its own (Lower with the whole
// graph's ActivationTypes, so every tensor has the type and grid it has in the whole model),
// serialized and run on the runtime (rt::Interpreter): the prediction is the runtime, bit for bit.
// The block's inputs are the codes the previous block's chosen model wrote, so the prediction of
// every block output equals the whole model's codes at that tensor.
//
// What is searched: per activation value v produced in the block, a clipping ratio r of its
// calibrated range [lo, hi] -> [r·lo, r·hi] from a small grid (1, 0.9, ..., 0.4), by coordinate
// search: values in graph order, each ratio tried with the others fixed, a change kept only when it
// lowers the block's error; at most `passes` sweeps. A coordinate search instead of gradient
// descent with a straight-through estimator (BRECQ's, on fake quantization in float): the
// objective here is the exact integer result (fixed-point requantization, lookup-table GELU, the
// integer softmax and LayerNorm), which has no gradient; an STE would optimize a float
// approximation of it and need a backward pass for every op. A few ratios per grid are enough to
// move 3- and 4-bit grids from max-range to MSE-optimal clipping, and the search is deterministic.
// Any chosen grid is one the runtime's requantization expresses (it is a calibrated range like any
// other: multipliers and shifts are derived from the scales as usual).
//
// With a log√2 or SULQ softmax grid (--softmax-quant logsqrt2|sulq), each Softmax inside the block is
// one more coordinate of the same search: its candidate grids (softmax_grid.h GridCandidates: Δ or η
// and the range they imply), starting from the one fitted on the probabilities alone, are tried on
// the block's output like the clipping ratios. log2 has no free parameter, the uniform grid none
// that the runtime takes (its step is 2^−bits).
//
// Weights keep the --weight-rounding codes on their scales (GPTQ/AdaRound codes are recomputed
// only when a new input grid moves a weight scale floor; LowerOptions::weight_cache).
//
// Cost: evaluations per block = 1 + passes·(values·(ratios − 1) + softmaxes·(grids − 1)) at most, each one lowering of the
// block plus `samples` runs of it on the runtime; linear in depth, and per block linear in the
// block's size and the samples.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/calib_data.h"
#include "quant/calibrate.h"
#include "quant/lower.h"
#include "quant/softmax_grid.h"

namespace squint::quant {

// A block: the nodes [begin, end) of the graph (topological order), the values it reads that are
// produced before it (the residual-stream tensor, graph inputs, integer side inputs such as
// attention masks) and the values it produces that later nodes or the graph outputs read.
struct Block {
  size_t begin = 0, end = 0;
  std::vector<ir::ValueId> inputs;
  std::vector<ir::ValueId> outputs;
};

// The blocks of g, found on the graph (no names): a cut between two nodes is a point where exactly
// one float activation is live (produced before, read after), and which does not separate a ReLU
// or a softmax mask from the op it folds into. When some cut values are written by an Add or Sub of
// two activations (a residual connection), the blocks run from one such cut to the next; in a
// graph without residual connections, every cut starts a block. One block for a graph without cuts.
std::vector<Block> FindBlocks(const ir::Graph& g);

struct BlockReconOptions {
  int64_t samples = 32;  // the first calibration samples used
  std::vector<double> ratios = {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4};  // the first is the start
  int passes = 2;
  // Per Softmax node name: the grids tried (the first is the start, the one LowerOptions has);
  // Softmaxes with one candidate or none keep LowerOptions' grid.
  std::map<std::string, std::vector<LogGridTables>> softmax_grids;
  bool keep_codes = false;  // fill BlockReconReport::codes (tests)
};

struct BlockResult {
  Block block;
  std::string first, last;             // names of its first and last node
  double mse_before = 0, mse_after = 0;  // block output vs float, on the samples
  std::vector<std::pair<ir::ValueId, double>> clipped;  // values whose ratio is not 1, in graph order
  std::vector<std::pair<std::string, size_t>> softmax_grids;  // Softmaxes whose grid is not the first candidate
  int64_t evaluations = 0;
  double seconds = 0;
};

struct BlockReconReport {
  std::vector<BlockResult> blocks;
  int64_t samples = 0;
  double seconds = 0;
  // Per Softmax with a log grid: the grid chosen (LowerOptions::softmax_grids for the whole model).
  std::map<std::string, LogGridTables> softmax_grids;
  // keep_codes: per block output value (float activations), per sample, the codes the runtime
  // wrote for it in the chosen block models (the tensor's type: int8 or int16).
  std::map<ir::ValueId, std::vector<std::vector<int32_t>>> codes;
};

// Reconstructs g's blocks on the first o.samples samples of `calib` and narrows cal->ranges to the
// chosen clipping; the report's softmax_grids are the grids chosen. `lo` are the options the whole model will be lowered with (its weight_cache,
// when set, keeps the GPTQ/AdaRound codes for that lowering). `info` gets one line per block.
Result<BlockReconReport> ReconstructBlocks(const ir::Graph& g, const CalibData& calib, const LowerOptions& lo,
                                           Calibration* cal, const BlockReconOptions& o,
                                           const std::function<void(const std::string&)>& info = {});

}  // namespace squint::quant

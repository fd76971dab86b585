// A graph rewrite: one named pass that applies every rewrite of its kind it finds.
//
// Contract of Run():
//   - returns the number of rewrites made (0 means the graph is unchanged in meaning,
//     although value ids may have been renumbered);
//   - keeps the graph valid: nodes in topological order, graph input and output values
//     (and their names) untouched, every value it creates typed;
//   - never mutates a constant tensor in place (tensors share storage between graph
//     copies): a changed weight is a new constant value;
//   - a pattern it cannot handle is left alone, not an error; an error Status means the
//     graph is broken (a bug, or a model that fails verification).
// Passes separate matching (a pure function of the graph returning a Match struct)
// from rewriting (which applies one Match).
#pragma once

#include <memory>
#include <string_view>

#include "base/status.h"
#include "ir/graph.h"

namespace squint::passes {

class Pass {
 public:
  virtual ~Pass() = default;
  // snake_case name used in reports ("fuse_layer_norm").
  virtual std::string_view name() const = 0;
  // Applies every rewrite; returns how many were made.
  virtual Result<int> Run(ir::Graph& g) = 0;
};

// The canonicalization passes (one per file in passes/). See each file's header for the
// pattern and the formula.
std::unique_ptr<Pass> MakeConstantFolding();        // constant_folding.cc
std::unique_ptr<Pass> MakeDeadCodeElimination();    // dead_code_elimination.cc
std::unique_ptr<Pass> MakeRemoveIdentity();         // remove_identity.cc
std::unique_ptr<Pass> MakeFoldBatchNorm();          // fold_batch_norm.cc
std::unique_ptr<Pass> MakeFoldConvBias();           // fold_conv_bias.cc
std::unique_ptr<Pass> MakeFuseLayerNorm();          // fuse_layer_norm.cc
std::unique_ptr<Pass> MakeFuseGelu();               // fuse_gelu.cc
std::unique_ptr<Pass> MakeFuseClippedSoftmax();     // fuse_clipped_softmax.cc
std::unique_ptr<Pass> MakeFuseAttentionMask();      // fuse_attention_mask.cc
std::unique_ptr<Pass> MakeFuseMaskedMean();         // fuse_masked_mean.cc
std::unique_ptr<Pass> MakeFuseL2Normalize();        // fuse_l2_normalize.cc
std::unique_ptr<Pass> MakeFuseLinear();             // fuse_linear.cc
std::unique_ptr<Pass> MakeSoftmaxLastAxis();        // softmax_last_axis.cc
std::unique_ptr<Pass> MakeExpandLstm();             // expand_lstm.cc
std::unique_ptr<Pass> MakeConv1dAs2d();             // conv1d_as_2d.cc

}  // namespace squint::passes

#include "passes/pipeline.h"

#include "ir/eval/shape_inference.h"

namespace squint::passes {

std::vector<std::unique_ptr<Pass>> CanonicalPasses() {
  std::vector<std::unique_ptr<Pass>> p;
  p.push_back(MakeConstantFolding());
  p.push_back(MakeRemoveIdentity());
  p.push_back(MakeDeadCodeElimination());
  p.push_back(MakeFoldConvBias());
  p.push_back(MakeFoldBatchNorm());
  p.push_back(MakeConv1dAs2d());  // after the folds, which then see the 1-D conv and its Add / BatchNorm
  p.push_back(MakeFuseLayerNorm());
  p.push_back(MakeFuseGelu());
  p.push_back(MakeFuseClippedSoftmax());
  p.push_back(MakeFuseAttentionMask());
  p.push_back(MakeFuseMaskedMean());
  p.push_back(MakeFuseL2Normalize());
  p.push_back(MakeExpandLstm());
  p.push_back(MakeFuseLinear());
  p.push_back(MakeSoftmaxLastAxis());
  return p;
}

Result<PipelineReport> RunPasses(ir::Graph& g, std::span<const std::unique_ptr<Pass>> passes) {
  SQ_RETURN_IF_ERROR(ir::Verify(g).WithContext("before canonicalization"));
  (void)ir::eval::InferShapes(g);  // best effort: values inferred before a failure keep their types
  std::vector<int> counts(passes.size(), 0);
  PipelineReport report;
  report.converged = false;
  while (report.rounds < kMaxRounds) {
    ++report.rounds;
    bool changed = false;
    for (size_t p = 0; p < passes.size(); ++p) {
      Result<int> n = passes[p]->Run(g);
      if (!n.ok()) return n.status().WithContext(fmt::format("pass {}", passes[p]->name()));
      if (*n == 0) continue;  // the graph is as valid as before (ids may be renumbered; verified at the end)
      if (Status s = ir::Verify(g); !s.ok())
        return Internal("pass {} left an invalid graph: {}", passes[p]->name(), s.message());
      counts[p] += *n;
      changed = changed || *n > 0;
    }
    if (!changed) {
      report.converged = true;
      break;
    }
    // Folding may have made shapes static (a Reshape target became constant): refresh
    // them so the next round's matchers see them.
    (void)ir::eval::InferShapes(g);
  }
  if (Status s = ir::Verify(g); !s.ok()) return Internal("canonicalization left an invalid graph: {}", s.message());
  SQ_RETURN_IF_ERROR(ir::eval::InferShapes(g).WithContext("after canonicalization"));
  for (size_t p = 0; p < passes.size(); ++p)
    if (counts[p] > 0) report.fired.emplace_back(std::string(passes[p]->name()), counts[p]);
  return report;
}

Result<PipelineReport> Canonicalize(ir::Graph& g) {
  const std::vector<std::unique_ptr<Pass>> passes = CanonicalPasses();
  return RunPasses(g, passes);
}

}  // namespace squint::passes

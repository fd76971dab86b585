// expand_lstm: an LSTM with constant weights and a known number of steps becomes Gather, Linear,
// Slice, Sigmoid/Tanh, Mul and Add per step, equal in float to the LSTM kernel (ir/eval/ops/recurrent.cc)
// on every output (Y, Y_h, Y_c), every direction, with and without bias and initial states.
#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

struct Case {
  const char* direction;
  bool bias, states;
};

TEST(ExpandLstm, UnrolledStepsEqualTheLstm) {
  const int64_t seq = 4, batch = 2, in = 3, h = 5;
  for (const Case& c : {Case{"forward", true, false}, Case{"reverse", false, true}, Case{"bidirectional", true, true}}) {
    const int64_t d = std::string(c.direction) == "bidirectional" ? 2 : 1;
    GraphBuilder b;
    const ValueId x = b.Input("x", {seq, batch, in});
    std::vector<ValueId> inputs = {x, b.Random("W", {d, 4 * h, in}), b.Random("R", {d, 4 * h, h})};
    inputs.push_back(c.bias ? b.Random("B", {d, 8 * h}) : ir::kNoValue);
    inputs.push_back(ir::kNoValue);  // sequence_lens
    if (c.states) {
      inputs.push_back(b.Input("h0", {d, batch, h}));
      inputs.push_back(b.Input("c0", {d, batch, h}));
    }
    const std::vector<ValueId> outs =
        b.OpN(OpType::kLSTM, inputs, Attrs({{"hidden_size", h}, {"direction", std::string(c.direction)}}), 3);
    for (ValueId o : outs) b.Output(o);
    Graph g = b.Finish();
    const Graph before = g;
    auto pass = MakeExpandLstm();
    EXPECT_EQ(RunPass(*pass, g), 1) << c.direction;
    EXPECT_EQ(CountOps(g, OpType::kLSTM), 0);
    // Per direction and step: one input Linear, and a hidden Linear once h is known.
    EXPECT_EQ(CountOps(g, OpType::kLinear), d * (2 * seq - (c.states ? 0 : 1))) << c.direction;
    EXPECT_EQ(CountOps(g, OpType::kSigmoid), 3 * d * seq);
    EXPECT_EQ(g.outputs, before.outputs);
    ExpectEquivalent(before, g);
  }
}

TEST(ExpandLstm, UnknownStepsOrRunTimeWeightsAreLeftAlone) {
  GraphBuilder b;
  const ValueId x = b.Input("x", {3, 1, 2});
  const ValueId w = b.Input("w", {1, 8, 2});  // weights computed at run time: no FULLY_CONNECTED
  b.Output(b.Op(OpType::kLSTM, {x, w, b.Random("R", {1, 8, 2})}, Attrs({{"hidden_size", int64_t{2}}})));
  Graph g = b.Finish();
  auto pass = MakeExpandLstm();
  EXPECT_EQ(RunPass(*pass, g), 0);
}

}  // namespace
}  // namespace squint::passes::testing

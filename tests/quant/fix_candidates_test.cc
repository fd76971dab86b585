#include "quant/fix_candidates.h"

#include <gtest/gtest.h>

namespace squint::quant {
namespace {

TEST(PipelineOptionsFromProvenance, ReadsWhatThePipelineWrites) {
  auto o = PipelineOptionsFromProvenance(
      "observer=percentile weights=per-tensor weight_bits=4 act_bits=8 softmax_bits=6 softmax_quant=log2 "
      "calib_samples=512 a16=LayerNormalization,/blocks.0/attn/Softmax clip_softmax=0.5 group_size=32 "
      "weight_rounding=gptq transform=smooth,hadamard transform_seed=7");
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->observer, "percentile");
  EXPECT_TRUE(o->per_tensor);
  EXPECT_EQ(o->weight_bits, 4);
  EXPECT_EQ(o->softmax_bits, 6);
  EXPECT_EQ(o->softmax_quant, "log2");
  EXPECT_EQ(o->calib_samples, 512);
  EXPECT_EQ(o->a16, (std::vector<std::string>{"LayerNormalization", "/blocks.0/attn/Softmax"}));
  ASSERT_TRUE(o->clip_softmax.has_value());
  EXPECT_EQ(*o->clip_softmax, 0.5);
  EXPECT_EQ(o->group_size, 32);
  EXPECT_EQ(o->weight_rounding, "gptq");
  EXPECT_EQ(o->transforms, (std::vector<std::string>{"smooth", "hadamard"}));
  EXPECT_EQ(o->transform_seed, 7u);
  EXPECT_EQ(QuantizeFlags(*o),
            "--observer percentile --a16 LayerNormalization --a16 /blocks.0/attn/Softmax --per-tensor --weight-bits 4 "
            "--group-size 32 --weight-rounding gptq --softmax-bits 6 --softmax-quant log2 --clip-softmax 0.5 --transform smooth,hadamard "
            "--transform-seed 7");
}

TEST(PipelineOptionsFromProvenance, ErrorsNameTheOption) {
  auto bad = PipelineOptionsFromProvenance("observer=minmax weight_bits=eight");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("weight_bits=eight"), std::string::npos);
  auto unknown = PipelineOptionsFromProvenance("observer=minmax future_knob=1");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("future_knob"), std::string::npos);
  auto wush = PipelineOptionsFromProvenance("transform=wush");
  ASSERT_FALSE(wush.ok());
  EXPECT_NE(wush.status().message().find("WUSH"), std::string::npos);
  EXPECT_EQ(QuantizeFlags(*PipelineOptionsFromProvenance("observer=minmax weights=per-channel")), "");
}

}  // namespace
}  // namespace squint::quant

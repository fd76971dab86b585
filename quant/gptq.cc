// GPTQ (gptq.h): input Hessians from TapValues, the column-by-column rounding with the upper
// Cholesky factor of H⁻¹ (Eigen, double), in blocks of kBlock columns.
#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <Eigen/Cholesky>

#include "ir/eval/ops/window.h"
#include "passes/graph_edit.h"
#include "quant/affine.h"
#include "quant/value_tap.h"

namespace squint::quant {
namespace {

using Mat = Eigen::MatrixXd;
using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr int64_t kBlock = 128;

}  // namespace

namespace {

// A Conv GPTQ can round: 2-D (4-D input), constant 4-D weight, float activation input.
bool IsRoundableConv(const ir::Graph& g, const ir::Node& n) {
  if (n.op != ir::OpType::kConv || n.inputs.size() < 2) return false;
  const ir::Tensor* w = g.constant(n.input(1));
  if (w == nullptr || w->rank() != 4 || g.constant(n.input(0)) != nullptr) return false;
  const ir::Value& x = g.value(n.input(0));
  return x.dtype == ir::DType::kFloat32 && x.shape && x.shape->size() == 4;
}

// One Conv's Hessians (one per group) from its input tensors.
struct ConvHessians {
  const ir::Node* node = nullptr;
  std::vector<std::shared_ptr<InputHessian>> groups;
};

Status AddConvRows(const ir::Graph& g, const ir::Tensor& x, ConvHessians& c) {
  const ir::Node& n = *c.node;
  const ir::Tensor& w = *g.constant(n.input(1));
  const int64_t group = static_cast<int64_t>(c.groups.size());
  if (x.rank() != 4 || x.dim(1) != w.dim(1) * group)
    return Internal("GPTQ: {} input of {} dims, channel dim {} for {} groups of {}", n.Label(), x.rank(),
                    x.rank() > 1 ? x.dim(1) : 0, group, w.dim(1));
  SQ_ASSIGN_OR_RETURN(const ir::eval::Geometry3 geo, ir::eval::ConvGeometry(n, x.dims(), w.dims()));
  const int64_t cg = w.dim(1), depth = cg * geo.kernel_size(), lout = geo.out_size(), lin = geo.in_size();
  std::vector<float> col(static_cast<size_t>(depth * lout));
  for (int64_t i = 0; i < x.dim(0); ++i)
    for (int64_t k = 0; k < group; ++k) {
      ir::eval::Im2Col<float>(x.data<float>() + (i * x.dim(1) + k * cg) * lin, cg, geo, col.data());
      const Mat p = Eigen::Map<const RowMajorF>(col.data(), depth, lout).cast<double>();
      c.groups[static_cast<size_t>(k)]->h.selfadjointView<Eigen::Lower>().rankUpdate(p);
      c.groups[static_cast<size_t>(k)]->rows += lout;
    }
  return Status::Ok();
}

}  // namespace

Result<GptqHessians> ComputeGptqHessians(const ir::Graph& g, const CalibData& calib, const GptqOptions& options) {
  // One Hessian per Linear input value, shared by the layers reading it (Q, K and V read one
  // value); one set per Conv.
  std::map<ir::ValueId, std::shared_ptr<InputHessian>> by_value;
  std::vector<std::pair<std::string, ir::ValueId>> layers;
  std::vector<ConvHessians> convs;
  for (const ir::Node& n : g.nodes) {
    if (IsRoundableConv(g, n)) {
      const ir::Tensor& w = *g.constant(n.input(1));
      const int64_t group = n.attrs.GetInt("group", 1);
      if (group < 1 || w.dim(0) % group != 0) continue;  // the lowering reports it
      ConvHessians c{&n, {}};
      const int64_t depth = w.dim(1) * w.dim(2) * w.dim(3);
      for (int64_t k = 0; k < group; ++k) {
        c.groups.push_back(std::make_shared<InputHessian>());
        c.groups.back()->h = Mat::Zero(depth, depth);
      }
      convs.push_back(std::move(c));
      continue;
    }
    if (n.op != ir::OpType::kLinear || !passes::DenseLinearIssue(g, n).empty() || g.constant(n.input(0)) != nullptr)
      continue;
    const ir::Value& x = g.value(n.input(0));
    if (x.dtype != ir::DType::kFloat32) continue;
    const int64_t depth = g.constant(n.input(1))->dim(0);
    auto [it, added] = by_value.emplace(n.input(0), nullptr);
    if (added) {
      it->second = std::make_shared<InputHessian>();
      it->second->h = Mat::Zero(depth, depth);
    }
    layers.emplace_back(n.name, n.input(0));
  }
  GptqHessians out;
  if (layers.empty() && convs.empty()) return out;
  std::vector<ir::ValueId> wanted;
  for (const auto& [id, h] : by_value) wanted.push_back(id);
  for (const ConvHessians& c : convs) wanted.push_back(c.node->input(0));
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  SQ_RETURN_IF_ERROR(TapValues(g, calib, options.max_samples, wanted, [&](const std::map<ir::ValueId, ir::Tensor>& v) {
    for (auto& [id, h] : by_value) {
      const ir::Tensor& t = v.at(id);
      const int64_t depth = h->h.rows();
      if (depth == 0 || t.size() % depth != 0)
        return Internal("GPTQ: value '{}' of {} elements is not rows of {}", g.value(id).name, t.size(), depth);
      const int64_t rows = t.size() / depth;
      const Mat x = Eigen::Map<const RowMajorF>(t.data<float>(), rows, depth).cast<double>();
      h->h.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
      h->rows += rows;
    }
    for (ConvHessians& c : convs) SQ_RETURN_IF_ERROR(AddConvRows(g, v.at(c.node->input(0)), c));
    return Status::Ok();
  }));
  auto finish = [&](InputHessian& h, const std::string& what) -> Status {
    if (h.rows == 0) return InvalidInput("GPTQ: layer input '{}' has no calibration rows", what);
    h.h = Mat(h.h.selfadjointView<Eigen::Lower>());
    return Status::Ok();
  };
  for (auto& [id, h] : by_value) SQ_RETURN_IF_ERROR(finish(*h, g.value(id).name));
  for (const auto& [name, id] : layers) out[name] = {by_value.at(id)};
  for (ConvHessians& c : convs) {
    LayerHessians& hs = out[c.node->name];
    for (auto& h : c.groups) {
      SQ_RETURN_IF_ERROR(finish(*h, g.value(c.node->input(0)).name));
      hs.push_back(h);
    }
  }
  return out;
}

Result<int64_t> CheckRoundingShapes(const char* method, const std::string& name, const std::vector<float>& w,
                                    int64_t units, int64_t depth, const std::vector<float>& scales,
                                    const InputHessian& hessian) {
  if (units < 0 || depth < 0 || static_cast<int64_t>(w.size()) != units * depth)
    return Internal("{} '{}': {} weights are not {} x {}", method, name, w.size(), units, depth);
  if (hessian.h.rows() != depth || hessian.h.cols() != depth)
    return Internal("{} '{}': a Hessian of {} x {} for depth {}", method, name, hessian.h.rows(), hessian.h.cols(),
                    depth);
  const int64_t num_scales = static_cast<int64_t>(scales.size());
  if (num_scales == 1) return depth;
  if (units == 0 || num_scales % units != 0 || depth % (num_scales / units) != 0)
    return Internal("{} '{}': {} scales for {} units of depth {}", method, name, num_scales, units, depth);
  return depth / (num_scales / units);
}

Result<std::vector<int8_t>> GptqRound(const std::string& name, const std::vector<float>& w, int64_t units,
                                      int64_t depth, const std::vector<float>& scales, int bits,
                                      const InputHessian& hessian, const GptqOptions& options) {
  SQ_ASSIGN_OR_RETURN(const int64_t group, CheckRoundingShapes("GPTQ", name, w, units, depth, scales, hessian));
  const bool per_tensor = scales.size() == 1;
  const int32_t qmax = IntType{bits, true}.qmax(/*symmetric=*/true);
  std::vector<int8_t> codes(w.size(), 0);
  if (units == 0 || depth == 0) return codes;

  // Columns in processing order; a dead input (no energy) keeps weight 0.
  Mat h = hessian.h;
  std::vector<int64_t> order(static_cast<size_t>(depth));
  std::iota(order.begin(), order.end(), 0);
  if (options.act_order)
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return h(a, a) > h(b, b); });
  Mat wp(units, depth);  // the working weights, columns permuted
  for (int64_t r = 0; r < units; ++r)
    for (int64_t j = 0; j < depth; ++j) wp(r, j) = w[static_cast<size_t>(r * depth + order[static_cast<size_t>(j)])];
  Mat hp(depth, depth);
  for (int64_t a = 0; a < depth; ++a)
    for (int64_t b = 0; b < depth; ++b) hp(a, b) = h(order[static_cast<size_t>(a)], order[static_cast<size_t>(b)]);
  for (int64_t j = 0; j < depth; ++j) {
    if (hp(j, j) == 0) {
      hp(j, j) = 1;
      wp.col(j).setZero();
    }
  }
  const double mean_diag = hp.diagonal().mean();
  // H⁻¹ = Uᵀ U: the inverse from H's Cholesky factor, then the upper factor of the inverse. More
  // damping is tried when either factorization fails (a near-singular H from few rows).
  Mat u;
  double damp = options.damp;
  for (int attempt = 0;; ++attempt) {
    Mat hd = hp;
    hd.diagonal().array() += damp * mean_diag;
    Eigen::LLT<Mat> llt(hd);
    if (llt.info() == Eigen::Success) {
      const Mat inv = llt.solve(Mat::Identity(depth, depth));
      Eigen::LLT<Mat> llt_inv(inv);
      if (llt_inv.info() == Eigen::Success) {
        u = llt_inv.matrixU();
        break;
      }
    }
    if (attempt == 5)
      return InvalidInput("GPTQ '{}': the input Hessian is not positive definite even with damping {}", name, damp);
    damp *= 10;
  }

  auto scale_of = [&](int64_t r, int64_t j_orig) {
    return per_tensor ? scales[0] : scales[static_cast<size_t>(r * (depth / group) + j_orig / group)];
  };
  Mat err(units, kBlock);
  for (int64_t i1 = 0; i1 < depth; i1 += kBlock) {
    const int64_t count = std::min(kBlock, depth - i1);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t j = i1 + i, j_orig = order[static_cast<size_t>(j)];
      const double d = u(j, j);
      for (int64_t r = 0; r < units; ++r) {
        const float s = scale_of(r, j_orig);
        // As AffineParams::Quantize (round half to even, saturating) on the float value.
        const float x = static_cast<float>(wp(r, j));
        const double q = std::clamp(std::nearbyint(static_cast<double>(x / s)), -static_cast<double>(qmax), static_cast<double>(qmax));
        codes[static_cast<size_t>(r * depth + j_orig)] = static_cast<int8_t>(q);
        err(r, i) = (wp(r, j) - q * s) / d;
      }
      // The error moves to the block's later columns now, to the columns after the block below.
      const int64_t rest = count - i - 1;
      if (rest > 0) wp.middleCols(j + 1, rest).noalias() -= err.col(i) * u.row(j).segment(j + 1, rest);
    }
    const int64_t after = depth - i1 - count;
    if (after > 0)
      wp.rightCols(after).noalias() -= err.leftCols(count) * u.block(i1, i1 + count, count, after);
  }
  return codes;
}

Result<std::vector<int8_t>> RoundByGroups(const std::string& name, const std::vector<float>& w, int64_t units,
                                          int64_t depth, const std::vector<float>& scales,
                                          const LayerHessians& hessians, const RoundFn& round) {
  const int64_t groups = static_cast<int64_t>(hessians.size());
  if (groups == 1) return round(w, units, scales, *hessians[0]);
  if (groups < 1 || units % groups != 0 || static_cast<int64_t>(w.size()) != units * depth)
    return Internal("'{}': {} Hessians for {} units of depth {} ({} weights)", name, groups, units, depth, w.size());
  const bool per_tensor = scales.size() == 1;
  if (!per_tensor && scales.size() % static_cast<size_t>(units) != 0)
    return Internal("'{}': {} scales for {} units", name, scales.size(), units);
  const int64_t per_unit = per_tensor ? 0 : static_cast<int64_t>(scales.size()) / units, run = units / groups;
  std::vector<int8_t> codes;
  codes.reserve(w.size());
  for (int64_t k = 0; k < groups; ++k) {
    const std::vector<float> wk(w.begin() + k * run * depth, w.begin() + (k + 1) * run * depth);
    const std::vector<float> sk = per_tensor ? scales
                                             : std::vector<float>(scales.begin() + k * run * per_unit,
                                                                  scales.begin() + (k + 1) * run * per_unit);
    SQ_ASSIGN_OR_RETURN(std::vector<int8_t> ck, round(wk, run, sk, *hessians[static_cast<size_t>(k)]));
    codes.insert(codes.end(), ck.begin(), ck.end());
  }
  return codes;
}

}  // namespace squint::quant

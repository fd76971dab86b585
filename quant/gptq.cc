// GPTQ (gptq.h): input Hessians from TapValues, the column-by-column rounding with the upper
// Cholesky factor of H⁻¹ (Eigen, double), in blocks of kBlock columns.
#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <Eigen/Cholesky>

#include "passes/graph_edit.h"
#include "quant/affine.h"
#include "quant/value_tap.h"

namespace squint::quant {
namespace {

using Mat = Eigen::MatrixXd;
using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr int64_t kBlock = 128;

}  // namespace

Result<GptqHessians> ComputeGptqHessians(const ir::Graph& g, const CalibData& calib, const GptqOptions& options) {
  // One Hessian per input value, shared by the layers reading it (Q, K and V read one value).
  std::map<ir::ValueId, std::shared_ptr<InputHessian>> by_value;
  std::vector<std::pair<std::string, ir::ValueId>> layers;
  for (const ir::Node& n : g.nodes) {
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
  if (layers.empty()) return out;
  std::vector<ir::ValueId> wanted;
  for (const auto& [id, h] : by_value) wanted.push_back(id);
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
    return Status::Ok();
  }));
  for (auto& [id, h] : by_value) {
    if (h->rows == 0) return InvalidInput("GPTQ: layer input '{}' has no calibration rows", g.value(id).name);
    h->h = Mat(h->h.selfadjointView<Eigen::Lower>());
  }
  for (const auto& [name, id] : layers) out[name] = by_value.at(id);
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

}  // namespace squint::quant

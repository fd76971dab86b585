// WushGraph (wush.h): second moments from TapValues, the closed form per block (Eigen, double),
// the graph edit.
#include "quant/wush.h"

#include <cmath>
#include <map>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/SVD>

#include "ir/eval/hadamard.h"
#include "passes/graph_edit.h"
#include "quant/value_tap.h"

namespace squint::quant {
namespace {

using ir::Graph;
using ir::Node;
using ir::Tensor;
using ir::ValueId;
using Mat = Eigen::MatrixXd;
using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// One value x with its eligible Linear readers (indices into g.nodes, node order).
struct Site {
  ValueId x = ir::kNoValue;
  std::vector<int32_t> linears;
  int64_t channels = 0;
  Mat sigma;          // Σ x xᵀ over the rows seen (divided by rows at the fit)
  int64_t rows = 0;
};

// The orthonormal Sylvester Hadamard H_B (symmetric): the rotation of ir/eval/hadamard.h
// applied to the rows of the identity.
Mat HadamardMatrix(int64_t b) {
  Tensor eye(ir::DType::kFloat64, {b, b}), h(ir::DType::kFloat64, {b, b});
  for (int64_t i = 0; i < b; ++i) eye.data<double>()[i * b + i] = 1.0;
  ir::eval::ApplyHadamard(eye, b, {}, h);
  using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  return Eigen::Map<const RowMajorD>(h.data<double>(), b, b);
}

// W = [W_1 | W_2 | ...] [K, N] of the site's Linears, in double.
Mat ConcatenatedWeights(const Graph& g, const Site& site) {
  int64_t n = 0;
  for (int32_t li : site.linears) n += g.constant(g.nodes[static_cast<size_t>(li)].input(1))->dim(1);
  Mat w(site.channels, n);
  int64_t col = 0;
  for (int32_t li : site.linears) {
    const Tensor& t = *g.constant(g.nodes[static_cast<size_t>(li)].input(1));
    w.middleCols(col, t.dim(1)) =
        Eigen::Map<const RowMajorF>(t.data<float>(), t.dim(0), t.dim(1)).cast<double>();
    col += t.dim(1);
  }
  return w;
}

// The per-block transforms T_b (stacked: rows b·B.. of `t`, [K, B]) and T_b^{−ᵀ}·W_b (rows
// b·B.. of `w_new`, [K, N]) as in wush.h. Error when Σ is not positive definite after damping.
Status Fit(const std::string& label, const Mat& sigma_in, const Mat& w, const WushOptions& opts, Mat* t, Mat* w_new) {
  const int64_t k = w.rows(), n = w.cols(), b = opts.block;
  Mat sigma = sigma_in;
  const double mean_diag = sigma.diagonal().mean();
  if (!(mean_diag > 0) || !std::isfinite(mean_diag))
    return InvalidInput("{}: mean of E[x²] over the channels is {}, expected > 0 and finite", label, mean_diag);
  sigma.diagonal().array() += opts.damp * mean_diag;
  const Eigen::LLT<Mat> llt(sigma);
  if (llt.info() != Eigen::Success)
    return InvalidInput("{}: the damped second moment E[x xᵀ] has no Cholesky factor", label);
  const Mat r = llt.matrixU();
  const Mat h = HadamardMatrix(b);
  t->resize(k, b);
  w_new->resize(k, n);
  for (int64_t blk = 0; blk < k; blk += b) {
    const Mat r_bb = r.block(blk, blk, b, b);
    const Mat y = r_bb * w.middleRows(blk, b);
    const Eigen::JacobiSVD<Mat> svd(y, Eigen::ComputeFullU);
    const Mat& v = svd.matrixU();  // Y = V·diag(σ)·Uᵀ in §6.4's letters
    Eigen::VectorXd s = Eigen::VectorXd::Zero(b);
    s.head(svd.singularValues().size()) = svd.singularValues() / std::sqrt(static_cast<double>(n));
    const double mean_s = s.mean();
    if (mean_s > 0)
      s.array() += 0.01 * mean_s;
    else
      s.setOnes();  // W_b = 0: any invertible T keeps the product; no weight to balance against
    // Vᵀ·R_bb^{−ᵀ} = (R_bb^{−1}·V)ᵀ, R_bb upper triangular with a positive diagonal.
    const Mat z = r_bb.triangularView<Eigen::Upper>().solve(v);
    t->middleRows(blk, b) = h * s.array().sqrt().matrix().asDiagonal() * z.transpose();
    w_new->middleRows(blk, b) = h * s.array().rsqrt().matrix().asDiagonal() * v.transpose() * y;
  }
  return Status::Ok();
}

}  // namespace

int WushReport::linears() const {
  int n = 0;
  for (const Site& s : transformed) n += static_cast<int>(s.linears.size());
  return n;
}

Status CheckWushOptions(const WushOptions& opts) {
  if (opts.block < 16 || opts.block > 64 || (opts.block & (opts.block - 1)) != 0)
    return InvalidInput("WUSH block {}: expected 16, 32 or 64 (a power of two from 16 to 64 channels)", opts.block);
  if (!(opts.damp > 0) || !std::isfinite(opts.damp))
    return InvalidInput("WUSH damping {}: expected a finite value > 0", opts.damp);
  return Status::Ok();
}

Result<WushReport> WushGraph(Graph& g, const CalibData& calib, const WushOptions& opts) {
  SQ_RETURN_IF_ERROR(CheckWushOptions(opts));
  WushReport report;
  std::vector<Site> sites;
  std::map<ValueId, size_t> site_of;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.op != ir::OpType::kLinear) continue;
    std::string why = passes::DenseLinearIssue(g, n);
    const int64_t k = why.empty() ? g.constant(n.input(1))->dim(0) : 0;
    if (why.empty() && g.constant(n.input(0)) != nullptr) why = "X is a constant";
    if (why.empty() && k % opts.block != 0)
      why = fmt::format("K = {} is not a multiple of the WUSH block {}", k, opts.block);
    if (!why.empty()) {
      report.skipped.push_back({n.name, std::move(why)});
      continue;
    }
    auto [it, added] = site_of.emplace(n.input(0), sites.size());
    if (added) sites.push_back({n.input(0), {}, k, Mat::Zero(k, k), 0});
    sites[it->second].linears.push_back(static_cast<int32_t>(i));
  }
  if (sites.empty()) return report;

  std::vector<ValueId> wanted;
  for (const Site& s : sites) wanted.push_back(s.x);
  SQ_RETURN_IF_ERROR(TapValues(g, calib, opts.max_samples, wanted, [&](const std::map<ValueId, Tensor>& values) {
    for (Site& s : sites) {
      const Tensor& t = values.at(s.x);
      const int64_t rows = t.size() / s.channels;
      const Mat x = Eigen::Map<const RowMajorF>(t.data<float>(), rows, s.channels).cast<double>();
      s.sigma.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
      s.rows += rows;
    }
    return Status::Ok();
  }));

  const std::vector<int32_t> producers = g.Producers();
  std::map<int32_t, std::vector<Node>> after;  // producer index (-1: graph input) -> new nodes
  ir::ValueNames names(g);
  for (Site& site : sites) {
    const std::string name = g.value(site.x).name;
    if (site.rows == 0) return InvalidInput("WUSH: value '{}' has no calibration rows", name);
    const Mat sigma = Mat(site.sigma.selfadjointView<Eigen::Lower>()) / static_cast<double>(site.rows);
    const Mat w = ConcatenatedWeights(g, site);
    Mat t, w_new;
    SQ_RETURN_IF_ERROR(Fit(fmt::format("WUSH on '{}'", name), sigma, w, opts, &t, &w_new));
    const int64_t k = site.channels, b = opts.block;
    Tensor wt(ir::DType::kFloat32, {b, k});  // W_T[i, blk + r] = T_b[r, i]
    for (int64_t row = 0; row < k; ++row)
      for (int64_t i = 0; i < b; ++i) wt.data<float>()[i * k + row] = static_cast<float>(t(row, i));
    ir::Value xv = g.value(site.x);
    xv.name = names.Make(name + "_wush");
    xv.constant.reset();
    xv.quant.reset();
    Node lin;
    lin.op = ir::OpType::kLinear;
    lin.name = xv.name;
    lin.inputs = {site.x, passes::AddConstant(g, names, xv.name + "_t", std::move(wt))};
    lin.attrs.set("groups", k / b);
    const ValueId transformed = g.AddValue(std::move(xv));
    lin.outputs = {transformed};
    WushReport::Site out{name, {}, k, b, site.rows};
    int64_t col = 0;
    for (int32_t li : site.linears) {
      Node& reader = g.nodes[static_cast<size_t>(li)];
      const int64_t n = g.constant(reader.input(1))->dim(1);
      Tensor wj(ir::DType::kFloat32, {k, n});
      Eigen::Map<RowMajorF>(wj.data<float>(), k, n) = w_new.middleCols(col, n).cast<float>();
      col += n;
      reader.inputs[1] = passes::AddConstant(g, names, g.value(reader.input(1)).name + "_wush", std::move(wj));
      reader.inputs[0] = transformed;
      out.linears.push_back(reader.name);
    }
    after[producers[static_cast<size_t>(site.x)]].push_back(std::move(lin));
    report.transformed.push_back(std::move(out));
  }
  // Each transform right after the producer of x (first for graph inputs): before its readers.
  passes::InsertAfterProducers(g, std::move(after));
  return report;
}

}  // namespace squint::quant

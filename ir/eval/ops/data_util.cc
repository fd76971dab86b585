#include "ir/eval/ops/data_util.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace squint::ir::eval {
namespace {

// A copy problem after dropping size-1 dims and merging dims that are contiguous in
// both source and destination.
struct CopyPlan {
  Dims dims;
  std::vector<int64_t> ds, ss;
};

CopyPlan Simplify(const Dims& dims, std::span<const int64_t> ds, std::span<const int64_t> ss) {
  CopyPlan p;
  for (size_t k = 0; k < dims.size(); ++k) {
    if (dims[k] == 1) continue;
    if (!p.dims.empty() && p.ds.back() == ds[k] * dims[k] && p.ss.back() == ss[k] * dims[k]) {
      p.dims.back() *= dims[k];
      p.ds.back() = ds[k];
      p.ss.back() = ss[k];
      continue;
    }
    p.dims.push_back(dims[k]);
    p.ds.push_back(ds[k]);
    p.ss.push_back(ss[k]);
  }
  return p;
}

// Calls body(dst_offset, src_offset) for every index of the dims listed in `outer`.
template <typename F>
void ForEachOuter(const CopyPlan& p, const std::vector<size_t>& outer, F&& body) {
  std::vector<int64_t> idx(outer.size(), 0);
  int64_t doff = 0, soff = 0;
  while (true) {
    body(doff, soff);
    size_t k = outer.size();
    for (; k-- > 0;) {
      const size_t d = outer[k];
      if (++idx[k] < p.dims[d]) {
        doff += p.ds[d];
        soff += p.ss[d];
        break;
      }
      doff -= p.ds[d] * (p.dims[d] - 1);
      soff -= p.ss[d] * (p.dims[d] - 1);
      idx[k] = 0;
    }
    if (k == static_cast<size_t>(-1)) return;
  }
}

template <size_t N>
struct Bytes {
  unsigned char b[N];
};

template <typename T>
void CopyTyped(T* dst, const T* src, const CopyPlan& p) {
  const size_t r = p.dims.size();
  if (r == 0) {
    *dst = *src;
    return;
  }
  const size_t last = r - 1;
  // Transpose-like: the source's unit-stride dim is not innermost; copy 2-D tiles of
  // (that dim, innermost dim) so both sides stay in cache.
  if (p.ds[last] == 1 && p.ss[last] != 1 && p.ss[last] != 0) {
    for (size_t j = 0; j < last; ++j) {
      if (p.ss[j] != 1) continue;
      std::vector<size_t> outer;
      for (size_t k = 0; k < last; ++k)
        if (k != j) outer.push_back(k);
      const int64_t nj = p.dims[j], nl = p.dims[last], dsj = p.ds[j], ssl = p.ss[last];
      constexpr int64_t kTile = 32;
      ForEachOuter(p, outer, [&](int64_t doff, int64_t soff) {
        for (int64_t j0 = 0; j0 < nj; j0 += kTile) {
          const int64_t j1 = std::min(nj, j0 + kTile);
          for (int64_t l0 = 0; l0 < nl; l0 += kTile) {
            const int64_t l1 = std::min(nl, l0 + kTile);
            for (int64_t jj = j0; jj < j1; ++jj) {
              T* d = dst + doff + jj * dsj;
              const T* s = src + soff + jj;
              for (int64_t l = l0; l < l1; ++l) d[l] = s[l * ssl];
            }
          }
        }
      });
      return;
    }
  }
  std::vector<size_t> outer(last);
  for (size_t k = 0; k < last; ++k) outer[k] = k;
  const int64_t n = p.dims[last], dstep = p.ds[last], sstep = p.ss[last];
  ForEachOuter(p, outer, [&](int64_t doff, int64_t soff) {
    T* d = dst + doff;
    const T* s = src + soff;
    if (dstep == 1 && sstep == 1) {
      std::memcpy(d, s, static_cast<size_t>(n) * sizeof(T));
    } else if (sstep == 0) {
      const T v = *s;
      for (int64_t i = 0; i < n; ++i) d[i * dstep] = v;
    } else {
      for (int64_t i = 0; i < n; ++i) d[i * dstep] = s[i * sstep];
    }
  });
}

}  // namespace

void StridedCopy(void* dst, const void* src, size_t elem_size, const Dims& dims,
                 std::span<const int64_t> dst_strides, std::span<const int64_t> src_strides) {
  for (int64_t d : dims)
    if (d == 0) return;
  const CopyPlan p = Simplify(dims, dst_strides, src_strides);
  switch (elem_size) {
    case 1: return CopyTyped(static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src), p);
    case 2: return CopyTyped(static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(src), p);
    case 4: return CopyTyped(static_cast<uint32_t*>(dst), static_cast<const uint32_t*>(src), p);
    case 8: return CopyTyped(static_cast<uint64_t*>(dst), static_cast<const uint64_t*>(src), p);
    default: break;
  }
  // No squint dtype has another size; kept for completeness with a byte-wise copy.
  Dims bdims = dims;
  std::vector<int64_t> bds(dst_strides.begin(), dst_strides.end()), bss(src_strides.begin(), src_strides.end());
  for (auto& s : bds) s *= static_cast<int64_t>(elem_size);
  for (auto& s : bss) s *= static_cast<int64_t>(elem_size);
  bdims.push_back(static_cast<int64_t>(elem_size));
  bds.push_back(1);
  bss.push_back(1);
  CopyTyped(static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src), Simplify(bdims, bds, bss));
}

void BroadcastCopy(void* dst, const Dims& dst_dims, const void* src, const Dims& src_dims, size_t elem_size) {
  const size_t r = dst_dims.size();
  std::vector<int64_t> ss(r, 0);
  const std::vector<int64_t> src_strides = Strides(src_dims);
  for (size_t i = 0; i < src_dims.size(); ++i) {
    const size_t k = r - src_dims.size() + i;
    ss[k] = src_dims[i] == 1 ? 0 : src_strides[i];
  }
  StridedCopy(dst, src, elem_size, dst_dims, Strides(dst_dims), ss);
}

void FillElements(void* dst, const void* value, size_t elem_size, int64_t count) {
  auto* d = static_cast<unsigned char*>(dst);
  if (count <= 0) return;
  std::memcpy(d, value, elem_size);
  // Doubling copies: log(count) memcpy calls.
  int64_t done = 1;
  while (done < count) {
    const int64_t n = std::min(done, count - done);
    std::memcpy(d + done * elem_size, d, static_cast<size_t>(n) * elem_size);
    done += n;
  }
}

void IndexMapCopy(void* dst, const void* src, size_t elem_size, const Dims& out_dims,
                  const std::vector<std::vector<int64_t>>& maps, const void* fill) {
  for (int64_t d : out_dims)
    if (d == 0) return;
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  const size_t r = out_dims.size();
  if (r == 0) {
    std::memcpy(d, s, elem_size);
    return;
  }
  const std::vector<int64_t>& inner = maps[r - 1];
  const int64_t n = out_dims[r - 1];
  std::vector<int64_t> idx(r - 1, 0);
  while (true) {
    int64_t base = 0;
    for (size_t k = 0; k + 1 < r; ++k) {
      const int64_t m = maps[k][static_cast<size_t>(idx[k])];
      if (m < 0 || base < 0) {
        base = -1;
      } else {
        base += m;
      }
    }
    for (int64_t i = 0; i < n; ++i, d += elem_size) {
      const int64_t off = inner[static_cast<size_t>(i)];
      if (base < 0 || off < 0)
        std::memcpy(d, fill, elem_size);
      else
        std::memcpy(d, s + (base + off) * static_cast<int64_t>(elem_size), elem_size);
    }
    size_t k = r - 1;
    for (; k-- > 0;) {
      if (++idx[k] < out_dims[k]) break;
      idx[k] = 0;
    }
    if (k == static_cast<size_t>(-1)) return;
  }
}

Result<std::optional<std::vector<int64_t>>> IntsInput(const InferContext& ctx, size_t i, const char* what) {
  const InputInfo& in = ctx.in(i);
  if (!in.present) return std::optional<std::vector<int64_t>>();
  if (in.dtype != DType::kInt64 && in.dtype != DType::kInt32)
    return InvalidInput("{}: input {} ({}) must be int64, got {}", ctx.node.Label(), i, what, DTypeName(in.dtype));
  if (in.shape && in.shape->size() > 1)
    return InvalidInput("{}: input {} ({}) must be 1-D, got shape {}", ctx.node.Label(), i, what,
                        ShapeToString(*in.shape));
  if (!in.value) return std::optional<std::vector<int64_t>>();
  if (in.value->rank() > 1)
    return InvalidInput("{}: input {} ({}) must be 1-D, got shape {}", ctx.node.Label(), i, what,
                        DimsToString(in.value->dims()));
  return std::optional<std::vector<int64_t>>(in.value->ToInt64Vector());
}

std::optional<int64_t> KnownLength(const InferContext& ctx, size_t i) {
  const InputInfo& in = ctx.in(i);
  if (!in.present) return std::nullopt;
  if (in.value) return in.value->size();
  if (in.shape && in.shape->size() == 1 && (*in.shape)[0].known()) return (*in.shape)[0].value;
  if (in.shape && in.shape->empty()) return 1;
  return std::nullopt;
}

std::vector<int64_t> IntsOf(const Tensor* t) { return t ? t->ToInt64Vector() : std::vector<int64_t>{}; }

Dim ProductDim(std::span<const Dim> dims) {
  int64_t known = 1;
  const Dim* unknown = nullptr;
  int unknowns = 0;
  for (const Dim& d : dims) {
    if (d.known()) {
      if (d.value != 0 && known > kMaxElements / d.value) return Dim::Unknown();
      known *= d.value;
    } else {
      unknown = &d;
      ++unknowns;
    }
  }
  if (unknowns == 0) return Dim::Known(known);
  if (known == 0) return Dim::Known(0);
  if (unknowns == 1 && known == 1) return *unknown;
  return Dim::Unknown();
}

Result<int64_t> KnownProduct(const Node& node, std::span<const Dim> dims) {
  int64_t n = 1;
  for (const Dim& d : dims) {
    if (!d.known()) continue;
    if (d.value != 0 && n > kMaxElements / d.value)
      return InvalidInput("{}: shape {} has more than 2^34 elements", node.Label(),
                          ShapeToString(Shape(dims.begin(), dims.end())));
    n *= d.value;
  }
  return n;
}

std::string IntsToString(std::span<const int64_t> v) { return fmt::format("[{}]", fmt::join(v, ", ")); }

}  // namespace squint::ir::eval

#include "runtime/interpreter.h"

#include <algorithm>
#include <new>

#include "runtime/planner.h"

namespace squint::rt {

// Kernels read FlatBuffers int32/int16 vectors in place (zero copy).
static_assert(FLATBUFFERS_LITTLEENDIAN, "the runtime reads FlatBuffers vectors in place: little-endian only");

// Every RunFn may read in[0..2] (an absent optional bias is a null pointer), so each op gets at
// least this many input slots.
constexpr size_t kMinInputSlots = 3;

Status Interpreter::Prepare(const Model* model, Isa isa, int32_t threads) {
  if (model_ != nullptr) return Status::Error(StatusCode::kFailedPrecondition, "interpreter already prepared");
  if (model == nullptr || !model->loaded())
    return Status::Error(StatusCode::kInvalidArgument, "model is null or not loaded");
  Isa resolved = Isa::kReference;
  SQUINT_RT_RETURN_IF_ERROR(ResolveIsa(isa, &resolved));
  if (threads < 1 || threads > ThreadPool::kMaxThreads)
    return Status::Error(StatusCode::kInvalidArgument, "thread count %d, expected in [1, %d]", threads,
                         ThreadPool::kMaxThreads);
  pool_.reset();
  if (threads > 1) {
    pool_.reset(new (std::nothrow) ThreadPool());
    if (pool_ == nullptr) return Status::Error(StatusCode::kOutOfMemory, "cannot allocate the thread pool");
    SQUINT_RT_RETURN_IF_ERROR(pool_->Start(threads));
  }
  const int32_t n = model->num_operators();
  ops_.assign(static_cast<size_t>(n), PreparedOp());
  in_at_.assign(static_cast<size_t>(n), 0);
  out_at_.assign(static_cast<size_t>(n), 0);
  view_at_.assign(static_cast<size_t>(n), 0);
  pools_ = PreparePools();
  pools_.isa = resolved;
  pools_.threads = threads;
  in_ptrs_.clear();
  out_ptrs_.clear();
  views_.clear();
  size_t num_in = 0, num_out = 0;  // final sizes: no growth (a heapless arena would keep every old copy)
  for (int32_t i = 0; i < n; ++i) {
    num_in += std::max<size_t>(model->op(i)->inputs()->size(), kMinInputSlots);
    num_out += model->op(i)->outputs()->size();
  }
  in_ptrs_.reserve(num_in);
  out_ptrs_.reserve(num_out);
  views_.reserve(num_out);
  for (int32_t i = 0; i < n; ++i) {
    Status s;
    {
      TempScope temp;  // an op's temporaries (a reordered weight copy) end with its prepare
      s = PrepareOp(*model, i, &pools_, &ops_[i]);
    }
    if (s.ok() && ops_[i].run == nullptr)
      s = Status::Error(StatusCode::kInvalidModel, "op %d '%s' (%s): no kernel for its element types", i,
                        model->op_name(i), OpCodeName(model->op(i)->opcode()));
    if (!s.ok()) {
      ops_.clear();
      return s;
    }
    const fb::Operator* op = model->op(i);
    in_at_[i] = in_ptrs_.size();
    in_ptrs_.resize(in_ptrs_.size() + std::max<size_t>(op->inputs()->size(), kMinInputSlots), nullptr);
    out_at_[i] = out_ptrs_.size();
    out_ptrs_.resize(out_ptrs_.size() + op->outputs()->size(), nullptr);
    view_at_[i] = views_.size();
    for (uint32_t k = 0; k < op->outputs()->size(); ++k) {
      TensorView v;
      v.index = op->outputs()->Get(k);
      v.desc = &model->tensor(v.index);
      views_.push_back(v);
    }
  }
  pools_.scratch.assign(pools_.scratch_words, 0);
#if defined(SQUINT_FAST_KERNELS)
  auto Parallel = [this] {
    portable::Qs8Parallel par;
    if (pool_ != nullptr) {
      par.run = &ThreadPool::RunOn;
      par.pool = pool_.get();
      par.threads = pool_->threads();
    }
    return par;
  };
  auto BindFastFc = [this, &Parallel](FastFcState* f) {
    portable::BindQs8Gemm(*f->kernel, f->problem, pools_.packed_bytes(f->packed_at), &f->gemm);
    f->gemm.scratch = pools_.scratch.data();
    f->gemm.parallel = Parallel();
  };
#endif
  // The pools are final: point the per-op states at their arrays.
  for (PreparedOp& op : ops_) {
    if (auto* c = std::get_if<ConcatState>(&op.params)) {
      c->axis_sizes = pools_.ints.data() + c->sizes_at;
      c->rescale = c->has_rescale ? pools_.rescales.data() + c->rescale_at : nullptr;
      if (c->tables_at != SIZE_MAX) {
        c->tables = pools_.packed_bytes(c->tables_at);
        c->identity = reinterpret_cast<const bool*>(pools_.packed_bytes(c->tables_at) + 256 * size_t(c->num_inputs));
      }
    } else if (auto* sp = std::get_if<SplitState>(&op.params)) {
      sp->sizes = pools_.ints.data() + sp->sizes_at;
    } else if (auto* h = std::get_if<HadamardState>(&op.params)) {
      h->p.scratch = pools_.scratch.data();
    }
#if defined(SQUINT_FAST_KERNELS)
    else if (auto* f = std::get_if<FastFcState>(&op.params)) {
      BindFastFc(f);
    } else if (auto* c = std::get_if<FastConvState>(&op.params)) {
      BindFastFc(&c->fc);
    } else if (auto* ct = std::get_if<FastConvTransposeState>(&op.params)) {
      BindFastFc(&ct->fc);
    } else if (auto* gc = std::get_if<FastGroupedConvState>(&op.params)) {
      gc->states = pools_.fc_states.data() + gc->first_state;
      for (int32_t g = 0; g < gc->p.groups; ++g) BindFastFc(&gc->states[g]);
    } else if (auto* gf = std::get_if<FastGroupedFcState>(&op.params)) {
      gf->states = pools_.fc_states.data() + gf->first_state;
      for (int32_t g = 0; g < gf->p.groups; ++g) BindFastFc(&gf->states[g]);
      gf->scratch = reinterpret_cast<int8_t*>(pools_.scratch.data());
    } else if (auto* bm = std::get_if<FastBatchMatMulState>(&op.params)) {
      portable::BindQs8Gemm(*bm->kernel, bm->problem, pools_.packed_bytes(bm->packed_at), &bm->gemm);
      bm->gemm.depth = bm->p.k;  // the block was packed without weights (depth 0)
      bm->gemm.scratch = pools_.scratch.data();
      bm->gemm.parallel = Parallel();
    } else if (auto* fb = std::get_if<FastBinaryState>(&op.params)) {
      fb->table = reinterpret_cast<const int8_t*>(pools_.packed_bytes(fb->table_at));
    } else if (auto* dw = std::get_if<FastDepthwiseState>(&op.params)) {
      dw->scratch = reinterpret_cast<int16_t*>(pools_.scratch.data());
      if (dw->weights_at != SIZE_MAX) dw->weights = reinterpret_cast<const int8_t*>(pools_.packed_bytes(dw->weights_at));
    } else if (auto* fl = std::get_if<FastLutState>(&op.params)) {
      fl->table = reinterpret_cast<const int8_t*>(pools_.packed_bytes(fl->table_at));
    } else if (auto* gs = std::get_if<FastGroupScaledState>(&op.params)) {
      gs->weights = reinterpret_cast<const int8_t*>(pools_.packed_bytes(gs->weights_at));
      gs->scratch = pools_.scratch.data();
    } else if (auto* lg = std::get_if<FastLogGridMatMulState>(&op.params)) {
      lg->coefficients = reinterpret_cast<const double*>(pools_.packed_bytes(lg->coefficients_at));
      lg->scratch = reinterpret_cast<double*>(pools_.scratch.data());
    } else if (auto* rs = std::get_if<FastResizeState>(&op.params)) {
      rs->rows = reinterpret_cast<const int32_t*>(pools_.packed_bytes(rs->indices_at));
      rs->cols = rs->rows + rs->p.out_h;
      if (rs->table_at != SIZE_MAX) rs->table = pools_.packed_bytes(rs->table_at);
    } else if (auto* rq = std::get_if<FastRequantizeState>(&op.params)) {
      if (rq->table_at != SIZE_MAX) rq->table = pools_.packed_bytes(rq->table_at);
    } else if (auto* fc16 = std::get_if<FastInt16FcState>(&op.params)) {
      fc16->folded_bias = reinterpret_cast<const int64_t*>(pools_.packed_bytes(fc16->folded_bias_at));
      if (fc16->weights_at != SIZE_MAX) fc16->weights = reinterpret_cast<const int8_t*>(pools_.packed_bytes(fc16->weights_at));
      fc16->scratch = pools_.scratch.data();
    } else if (auto* sm = std::get_if<FastSoftmaxMaskedState>(&op.params)) {
      sm->keep = reinterpret_cast<uint8_t*>(pools_.scratch.data());
    }
#endif
  }
  model_ = model;
  arena_ = nullptr;
  return Status::Ok();
}

Status Interpreter::SetArena(void* arena, size_t size) {
  if (model_ == nullptr) return Status::Error(StatusCode::kFailedPrecondition, "SetArena before Prepare");
  if (arena == nullptr && model_->arena_size() > 0)
    return Status::Error(StatusCode::kInvalidArgument, "arena is null");
  if (reinterpret_cast<uintptr_t>(arena) % kArenaAlignment != 0)
    return Status::Error(StatusCode::kInvalidArgument, "arena address is not %lld-byte aligned",
                         static_cast<long long>(kArenaAlignment));
  if (static_cast<uint64_t>(size) < model_->arena_size())
    return Status::Error(StatusCode::kInvalidArgument, "arena of %zu bytes is smaller than the model's %llu", size,
                         static_cast<unsigned long long>(model_->arena_size()));
  arena_ = static_cast<uint8_t*>(arena);
  for (int32_t i = 0; i < model_->num_operators(); ++i) {
    const fb::Operator* op = model_->op(i);
    for (uint32_t k = 0; k < op->inputs()->size(); ++k) {
      const int32_t t = op->inputs()->Get(k);
      in_ptrs_[in_at_[i] + k] = t < 0 ? nullptr : tensor_data(t);
    }
    for (uint32_t k = 0; k < op->outputs()->size(); ++k) {
      out_ptrs_[out_at_[i] + k] = mutable_tensor_data(op->outputs()->Get(k));
      views_[view_at_[i] + k].data = out_ptrs_[out_at_[i] + k];
    }
  }
  return Status::Ok();
}

const void* Interpreter::tensor_data(int32_t t) const {
  if (model_ == nullptr || t < 0 || t >= model_->num_tensors()) return nullptr;
  const TensorDesc& d = model_->tensor(t);
  if (d.is_constant) return d.data;
  if (arena_ == nullptr || d.arena_offset < 0) return nullptr;
  return arena_ + d.arena_offset;
}

void* Interpreter::mutable_tensor_data(int32_t t) const {
  if (model_ == nullptr || t < 0 || t >= model_->num_tensors() || model_->tensor(t).is_constant) return nullptr;
  return const_cast<void*>(tensor_data(t));
}

Status Interpreter::CheckReady(const char* what) const {
  if (model_ == nullptr) return Status::Error(StatusCode::kFailedPrecondition, "%s before Prepare", what);
  if (arena_ == nullptr && model_->arena_size() > 0)
    return Status::Error(StatusCode::kFailedPrecondition, "%s before SetArena", what);
  return Status::Ok();
}

namespace {
// One thread's share of an op's items: `parts` equal ranges, each starting at a multiple of
// 64 output bytes' worth of items (so that no two threads write one cache line).
struct ItemsTask {
  const PreparedOp* op;
  const void* const* in;
  void* const* out;
  int64_t granules, granule;
  int32_t parts;
};
void ItemsPart(void* ctx, int32_t part) {
  const ItemsTask& t = *static_cast<const ItemsTask*>(ctx);
  const int64_t first = t.granules * part / t.parts * t.granule;
  const int64_t last = std::min(t.op->items, t.granules * (part + 1) / t.parts * t.granule);
  if (first < last) t.op->run_items(*t.op, t.in, t.out, first, last, part);
}
}  // namespace

void Interpreter::RunOp(size_t i) const {
  const PreparedOp& op = ops_[i];
  const void* const* in = in_ptrs_.data() + in_at_[i];
  void* const* out = out_ptrs_.data() + out_at_[i];
  if (pool_ != nullptr && op.run_items != nullptr && op.item_bytes > 0) {
    int64_t work = 0;
    if (__builtin_mul_overflow(op.items, op.item_ps, &work)) work = INT64_MAX;
    const int64_t parts = std::min<int64_t>(pool_->threads(), work / kMinPartPicoseconds);
    if (parts > 1) {
      const int64_t granule = std::max<int64_t>(1, (64 + op.item_bytes - 1) / op.item_bytes);
      ItemsTask t{&op, in, out, (op.items + granule - 1) / granule, granule, static_cast<int32_t>(parts)};
      pool_->Run(&ItemsPart, &t, t.parts);
      return;
    }
  }
  op.run(op, in, out);
}

Status Interpreter::Invoke() {
  SQUINT_RT_RETURN_IF_ERROR(CheckReady("Invoke"));
  for (size_t i = 0; i < ops_.size(); ++i) {
    RunOp(i);
    if (observer_ != nullptr)
      observer_(observer_user_, static_cast<int32_t>(i), views_.data() + view_at_[i],
                static_cast<int32_t>(model_->op(static_cast<int32_t>(i))->outputs()->size()));
  }
  return Status::Ok();
}

Status Interpreter::InvokeOp(int32_t op_index) {
  SQUINT_RT_RETURN_IF_ERROR(CheckReady("InvokeOp"));
  if (op_index < 0 || static_cast<size_t>(op_index) >= ops_.size())
    return Status::Error(StatusCode::kInvalidArgument, "op index %d out of range [0, %zu)", op_index, ops_.size());
  RunOp(static_cast<size_t>(op_index));
  return Status::Ok();
}

}  // namespace squint::rt

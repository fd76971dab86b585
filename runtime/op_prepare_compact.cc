// Prepare of what a compact (schema 1.1) file leaves out or stores narrower: requantization pairs
// derived from the scales (requant_derive.h), 8-bit shifts, int8 LUT tables, 1-bit masks and
// softmax exp tables without their trailing zeros widened to the kernels' arrays in PreparePools::owned*. The kernels' parameter structs are the
// same for either layout.
#include "runtime/op_prepare_util.h"
#include "runtime/requant_derive.h"

namespace squint::rt::prep {

namespace {
// A new owned array of n int32 (its data stays put when more arrays are added).
int32_t* Own(PreparePools* pools, size_t n) {
  pools->owned.emplace_back(n == 0 ? 1 : n, 0);
  return pools->owned.back().data();
}
}  // namespace

Status RequantArrays(const Ctx& ctx, const fb::Requantization* r, const char* what, const int32_t** multiplier,
                     const int32_t** shift, uint32_t* n) {
  const auto *m = r->multiplier(), *s32 = r->shift();
  const auto* s8 = r->shift8();
  if (m == nullptr && s32 == nullptr && s8 == nullptr) {  // derived
    const int32_t slot = RequantSlot(*ctx.op, r);
    TempVec<QuantizedMultiplier> pairs;  // PrepareOp's TempScope gives it back
    OP_CHECK(slot >= 0 && DeriveRequant(ctx.m, ctx.index, slot, &pairs) && !pairs.empty(),
             "%s requantization stores no multipliers and none can be derived for this op and its tensors", what);
    int32_t* mult = Own(ctx.pools, 2 * pairs.size());
    for (size_t i = 0; i < pairs.size(); ++i) {
      mult[i] = pairs[i].multiplier;
      mult[pairs.size() + i] = pairs[i].shift;
    }
    *multiplier = mult;
    *shift = mult + pairs.size();
    *n = static_cast<uint32_t>(pairs.size());
    return Status::Ok();
  }
  OP_CHECK(m != nullptr && (s32 != nullptr) != (s8 != nullptr),
           "%s requantization needs multiplier and exactly one of shift / shift8 (or none of the three: derived)",
           what);
  *n = m->size();
  const uint32_t num_shifts = s32 != nullptr ? s32->size() : s8->size();
  OP_CHECK(*n == num_shifts, "%s requantization has %u multipliers but %u shifts", what, *n, num_shifts);
  *multiplier = m->data();
  if (s32 != nullptr) {
    *shift = s32->data();
  } else {
    int32_t* wide = Own(ctx.pools, *n);
    for (uint32_t i = 0; i < *n; ++i) wide[i] = s8->Get(i);
    *shift = wide;
  }
  return Status::Ok();
}

const int16_t* LutTable(const Ctx& ctx, const fb::LutOptions& o, uint32_t* n) {
  if (o.table() != nullptr) {
    *n = o.table()->size();
    return o.table()->data();
  }
  if (o.table8() == nullptr) {
    *n = 0;
    return nullptr;
  }
  *n = o.table8()->size();
  ctx.pools->owned16.emplace_back(o.table8()->begin(), o.table8()->end());
  return ctx.pools->owned16.back().data();
}

const uint8_t* UnpackBits(const Ctx& ctx, const TensorDesc& bits) {
  Vec<uint8_t> bytes(static_cast<size_t>(bits.num_elements));
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = (bits.data[i / 8] >> (i % 8)) & 1;
  ctx.pools->owned8.push_back(std::move(bytes));
  return ctx.pools->owned8.back().data();
}

const int32_t* PadExpTable(const Ctx& ctx, const flatbuffers::Vector<int32_t>& table, uint32_t size) {
  int32_t* full = Own(ctx.pools, size);  // zeros
  for (uint32_t i = 0; i < table.size() && i < size; ++i) full[i] = table.Get(i);
  return full;
}

}  // namespace squint::rt::prep

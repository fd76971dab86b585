#include "export/sqnt_writer.h"

#include "base/aligned.h"
#include "base/file.h"

namespace squint::exporter {
std::string SerializeSqnt(const fb::ModelT& model, SqntVersion version) {
  const bool compact = version == SqntVersion::k1_1;
  std::string bytes = PackModel(model, compact ? 16 : 64);
  // The runtime's view of the model as given, for the derivation rules' scales.
  const AlignedBytes aligned = AlignedCopy(bytes);
  if (!aligned) return bytes;
  rt::Model loaded;
  if (!loaded.Load(aligned.get(), bytes.size()).ok()) return bytes;
  fb::ModelT copy(model);
  if (compact) CompactModel(loaded, &copy);
  else ExpandModel(loaded, &copy);
  return PackModel(copy, compact ? 16 : 64);
}

void StripNames(fb::ModelT* model) {
  std::vector<bool> io(model->tensors.size(), false);
  for (const std::vector<int32_t>* list : {&model->inputs, &model->outputs})
    for (int32_t t : *list)
      if (t >= 0 && static_cast<size_t>(t) < io.size()) io[static_cast<size_t>(t)] = true;
  for (size_t t = 0; t < model->tensors.size(); ++t)
    if (!io[t]) model->tensors[t]->name.clear();
  for (auto& op : model->operators) op->name.clear();
}

Status WriteSqnt(const std::string& path, const fb::ModelT& model, SqntVersion version) {
  return WriteFileAtomic(path, SerializeSqnt(model, version));
}

}  // namespace squint::exporter

#include "export/sqnt_writer.h"

#include "base/file.h"

namespace squint::exporter {

std::string SerializeSqnt(const fb::ModelT& model) {
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  fbb.ForceDefaults(false);
  fb::FinishModelBuffer(fbb, fb::Model::Pack(fbb, &model));
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
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

Status WriteSqnt(const std::string& path, const fb::ModelT& model) {
  return WriteFileAtomic(path, SerializeSqnt(model));
}

}  // namespace squint::exporter

#include "export/sqnt_writer.h"

#include "base/file.h"

namespace squint::exporter {

std::string SerializeSqnt(const fb::ModelT& model) {
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  fbb.ForceDefaults(false);
  fb::FinishModelBuffer(fbb, fb::Model::Pack(fbb, &model));
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

Status WriteSqnt(const std::string& path, const fb::ModelT& model) {
  return WriteFileAtomic(path, SerializeSqnt(model));
}

}  // namespace squint::exporter

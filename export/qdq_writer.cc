#include "export/qdq_writer.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "base/file.h"
#include "export/qdq_builder.h"

namespace squint::exporter {

Result<std::string> SerializeQdq(const fb::ModelT& model) {
  qdq::Builder builder(model);
  SQ_ASSIGN_OR_RETURN(onnx::ModelProto proto, builder.Build());
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!proto.SerializeToCodedStream(&coded)) return Internal("the ONNX model does not serialize (over 2 GB?)");
  }
  return bytes;
}

Status WriteQdq(const std::string& path, const fb::ModelT& model) {
  SQ_ASSIGN_OR_RETURN(std::string bytes, SerializeQdq(model));
  return WriteFileAtomic(path, bytes);
}

}  // namespace squint::exporter

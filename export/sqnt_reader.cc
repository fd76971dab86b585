#include "export/sqnt_reader.h"

#include "base/aligned.h"
#include "base/file.h"
#include "export/sqnt_compact.h"
#include "runtime/interpreter.h"
#include "runtime/model.h"

namespace squint::exporter {
Result<std::unique_ptr<fb::ModelT>> ParseSqnt(const std::string& bytes, const std::string& what) {
  // The loader keeps pointers into an aligned buffer; the copy lives until the model is unpacked.
  const AlignedBytes buffer = AlignedCopy(bytes);
  if (!buffer) return Internal("out of memory reading '{}'", what);
  rt::Model model;
  if (const rt::Status s = model.Load(buffer.get(), bytes.size()); !s.ok())
    return InvalidInput("{}: {}", what, s.message());
  rt::Interpreter interp;
  if (const rt::Status s = interp.Prepare(&model, rt::Isa::kReference); !s.ok())
    return InvalidInput("{}: {}", what, s.message());
  // The writers read every parameter as stored in 1.0: derived requantization filled in.
  std::unique_ptr<fb::ModelT> m(model.fb()->UnPack());
  ExpandModel(model, m.get());
  return m;
}

Result<std::unique_ptr<fb::ModelT>> ReadSqnt(const std::string& path) {
  SQ_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return ParseSqnt(bytes, path);
}

}  // namespace squint::exporter

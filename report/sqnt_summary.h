// What `squint inspect` shows for an integer .sqnt model: tensors with their quantization,
// the op list, buffer bytes by kind, the arena plan and the provenance. The file is loaded
// (and so fully verified) by the runtime before anything is read from it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace squint::report {

struct SqntTensor {
  std::string name, type, shape;  // shape "1x3x28x28"
  std::string role;               // "input", "output", "constant" or "activation"
  std::string quant;              // "scale 0.0123 zp -3", "per-channel axis 0: 16 scales in [a, b]", "none"
  int64_t bytes = 0;
  int64_t arena_offset = -1;
};

struct SqntOp {
  std::string opcode, name;
  std::vector<std::string> inputs, outputs;  // tensor names
  std::string attrs;                         // options worth showing ("groups=4"), empty when none
};

struct SqntSummary {
  int64_t file_bytes = 0;
  int schema_major = 0, schema_minor = 0;
  std::vector<SqntTensor> tensors;
  std::vector<SqntOp> ops;
  // Bytes by kind: int8/int16 constants (weights), int32 constants (biases and integer
  // constants), lookup tables in op options (LUT tables, softmax exp tables), and the rest of
  // the file (structure, names, quantization parameters, stored multipliers: metadata).
  int64_t weight_bytes = 0, bias_bytes = 0, table_bytes = 0, metadata_bytes = 0;
  // Requantization (multiplier, shift) pairs stored in the file, and requantizations whose pairs
  // the runtime derives from the scales at load (schema 1.1).
  int64_t requant_pairs_stored = 0, requant_derived = 0;
  uint64_t arena_size = 0, arena_lower_bound = 0;
  int32_t batch = 0;  // samples per run when inputs and outputs lead with a batch; 0: fixed shapes
  std::string source_sha256, squint_version, options, calibration;
};

// `bytes` is the whole .sqnt file; `path` names it in errors.
Result<SqntSummary> SummarizeSqnt(const std::string& path, const std::string& bytes);

std::string FormatText(const SqntSummary& s);
nlohmann::json ToJson(const SqntSummary& s);

}  // namespace squint::report

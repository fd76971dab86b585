// NumPy .npy and .npz files <-> ir::Tensor: how users hand inputs and calibration data to
// squint and get outputs back. Files are untrusted: headers, sizes and archive entries are
// checked before anything is allocated; errors name the file and the problem.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/tensor.h"

namespace squint::ir {

// Reads a .npy file (little-endian, C order; dtypes float32/64, int8/16/32/64, uint8, bool).
Result<Tensor> ReadNpy(const std::string& path);
// Parses .npy bytes; `what` names the source in errors.
Result<Tensor> ParseNpy(std::string_view bytes, const std::string& what);

// Reads every array of a .npz archive (np.savez or np.savez_compressed), by name
// without the ".npy" suffix, in archive order.
Result<std::vector<std::pair<std::string, Tensor>>> ReadNpz(const std::string& path);
// Parses .npz bytes; `what` names the source in errors.
Result<std::vector<std::pair<std::string, Tensor>>> ParseNpz(std::string_view bytes, const std::string& what);

// Serializes a tensor as .npy bytes (format 1.0, C order).
std::string SerializeNpy(const Tensor& t);
// Writes a .npy file atomically (temporary file in the same folder, then rename).
Status WriteNpy(const std::string& path, const Tensor& t);

}  // namespace squint::ir

// Typed node attributes: each attribute is one of a closed set of types, read through
// accessors that check the type and report the node and attribute by name.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "base/status.h"
#include "ir/tensor.h"

namespace squint::ir {

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>,
                               std::vector<float>, std::vector<std::string>, Tensor>;

class Attributes {
 public:
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  void set(const std::string& name, AttrValue v) { values_[name] = std::move(v); }
  void erase(const std::string& name) { values_.erase(name); }
  const std::map<std::string, AttrValue>& all() const { return values_; }

  // Typed reads with a default for absent attributes. A present attribute of another
  // type is an error (checked by the verifier, so these never see one on a valid graph).
  int64_t GetInt(const std::string& name, int64_t def) const { return Get<int64_t>(name, def); }
  float GetFloat(const std::string& name, float def) const { return Get<float>(name, def); }
  std::string GetString(const std::string& name, const std::string& def) const {
    return Get<std::string>(name, def);
  }
  std::vector<int64_t> GetInts(const std::string& name, std::vector<int64_t> def = {}) const {
    return Get<std::vector<int64_t>>(name, std::move(def));
  }
  std::vector<float> GetFloats(const std::string& name, std::vector<float> def = {}) const {
    return Get<std::vector<float>>(name, std::move(def));
  }
  const Tensor* GetTensor(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return nullptr;
    return std::get_if<Tensor>(&it->second);
  }
  // Error when the attribute exists with a type other than T.
  template <typename T>
  bool HoldsOrAbsent(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() || std::holds_alternative<T>(it->second);
  }

 private:
  template <typename T>
  T Get(const std::string& name, T def) const {
    auto it = values_.find(name);
    if (it == values_.end()) return def;
    if (const T* v = std::get_if<T>(&it->second)) return *v;
    return def;
  }
  std::map<std::string, AttrValue> values_;
};

}  // namespace squint::ir

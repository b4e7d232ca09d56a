// SPDX-License-Identifier: Apache-2.0
// Typed reads of YAML for the daemon config and the policy files. yaml-cpp
// converts by throwing, and an exception that escapes ends the daemon with
// SIGABRT, so nothing outside this file converts a node: every read here
// checks the node's type (and range) first and returns an error value that
// reads "file:line:col: field: what". Stateless apart from the file name;
// any thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace nbw {

// Parses one YAML document. A syntax error, a key given twice in one
// mapping, a second document, and aliases that would expand the document
// past a few times its size are errors naming file:line:col.
Result<YAML::Node> ParseYaml(const std::string& yaml, const std::string& origin);
// "file:line:col" of a node (the file alone when the node has no position).
std::string YamlWhere(const std::string& origin, const YAML::Node& n);

class YamlReader {
 public:
  explicit YamlReader(std::string origin) : origin_(std::move(origin)) {}

  const std::string& origin() const { return origin_; }
  std::string Where(const YAML::Node& n) const { return YamlWhere(origin_, n); }
  // "file:line:col: field: what"; without "field: " when field is empty.
  Status Error(const YAML::Node& at, std::string_view field, std::string_view what) const;

  // The node is a mapping (or a list); `n[key]` is safe on it after.
  Status Map(const YAML::Node& n, std::string_view field) const;
  Status List(const YAML::Node& n, std::string_view field) const;
  // A mapping whose keys are strings from `known`; the error names the
  // first other key ("field.key: unknown key (a, b)").
  Status KnownKeys(const YAML::Node& map, std::string_view field,
                   std::initializer_list<std::string_view> known) const;
  // A mapping key: a string, not a list or mapping.
  Result<std::string> Key(const YAML::Node& key, std::string_view field) const;

  // A string (a YAML scalar: `1` and `true` are strings too); not a list,
  // a mapping or null.
  Result<std::string> Str(const YAML::Node& n, std::string_view field) const;
  // true/false (yes/no, on/off as YAML 1.1 says).
  Result<bool> Bool(const YAML::Node& n, std::string_view field) const;
  // A decimal whole number from lo to hi.
  Result<uint64_t> U64InRange(const YAML::Node& n, std::string_view field, uint64_t lo,
                              uint64_t hi) const;
  Result<int64_t> I64(const YAML::Node& n, std::string_view field) const;
  // A list of strings.
  Result<std::vector<std::string>> StrList(const YAML::Node& n, std::string_view field) const;
  // One string or a list of them.
  Result<std::vector<std::string>> StrOrList(const YAML::Node& n, std::string_view field) const;

 private:
  const std::string origin_;
};

}  // namespace nbw

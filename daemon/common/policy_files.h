// SPDX-License-Identifier: Apache-2.0
// Finding and reading policy files: every *.yaml/*.yml under a directory
// (recursively, in name order), or one file; each read with a size bound.
// Shared by the target selectors and the rules so both see the same files.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace nbw {

struct PolicyFile {
  std::string path;
  std::string text;
};

Result<std::vector<PolicyFile>> ReadPolicyFiles(const std::string& path);
// Parses YAML; a syntax error names file:line:col.
Result<YAML::Node> ParseYaml(const std::string& yaml, const std::string& origin);
// "file:line:col" of a YAML node, for error messages.
std::string YamlWhere(const std::string& origin, const YAML::Node& n);

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// Finding and reading policy files: every *.yaml/*.yml under a directory
// (recursively, in name order), or one file; each read with a size bound.
// Shared by the target selectors and the rules so both see the same files.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/yaml_reader.h"  // ParseYaml, YamlWhere

namespace nbw {

struct PolicyFile {
  std::string path;
  std::string text;
};

Result<std::vector<PolicyFile>> ReadPolicyFiles(const std::string& path);

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// ModelGuardPolicy: the `model_guard:` section of the policy files
// (policies/model-guard.yaml). What counts as a model file for the runtime
// window (extensions; content magic is fixed), how long the window outlives
// the file's close, and the scanner's judgement of pickle globals:
//   1. a global equal to a `safe_globals` entry without wildcards is clean;
//   2. one matching `dangerous_globals` is malicious;
//   3. so is one with a dangerous dotted tail ("sklearn" + "utils.os.system"
//      reaches os.system by attribute walk);
//   4. one matching a `safe_globals` pattern is clean;
//   5. anything else is suspicious.
// Patterns are shell globs over "module.name". Files whose sha256 is in
// `trusted_sha256` are reported but judged clean. Immutable after load.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/policy_files.h"
#include "common/status.h"
#include "scan/report.h"

namespace nbw {

class ModelGuardPolicy {
 public:
  // Every policy file under `path` (a directory or one file); sections in
  // several files are merged. Errors name file:line:col.
  static Result<ModelGuardPolicy> LoadPath(const std::string& path);
  static Result<ModelGuardPolicy> LoadFiles(const std::vector<PolicyFile>& files);
  static Result<ModelGuardPolicy> LoadString(const std::string& yaml, const std::string& origin);

  struct Judgement {
    Verdict verdict;
    std::string_view why;  // "dangerous", "safe", "unknown", ...
  };
  // `module` and `name` as the pickle names them (Python 2 module names are
  // mapped as the unpickler does).
  Judgement JudgeGlobal(std::string_view module, std::string_view name) const;
  bool Trusted(const std::string& sha256_hex) const { return trusted_.count(sha256_hex) > 0; }

  // Lower-case extensions with the dot (".pt").
  const std::vector<std::string>& extensions() const { return extensions_; }
  std::chrono::milliseconds grace() const { return grace_; }

 private:
  ModelGuardPolicy() = default;
  Status Add(const std::string& yaml_text, const std::string& origin);

  std::vector<std::string> safe_, safe_exact_, dangerous_;
  std::set<std::string> trusted_;
  std::vector<std::string> extensions_;
  std::chrono::milliseconds grace_{2000};
};

// The Python 2 -> 3 module renames the unpickler applies (fix_imports).
std::string_view MapPython2Module(std::string_view module);

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// PolicyBundle: one load of the policy tree. Its files are read once, and the
// version, the target selectors, the rules and the model-guard policy all
// come from those bytes: they describe the same tree even when it changes on
// disk during the load. Validated whole: Load returns an error naming
// file:line:col, or a bundle whose every part is good. Immutable once loaded.
//
// CompileKernelPolicy turns a bundle into what the kernel's maps hold
// (sensor/kernel_policy.h); Sensor::ApplyPolicy puts that in force.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/policy_files.h"
#include "common/status.h"
#include "policy/rules.h"
#include "policy/targets.h"
#include "scan/scan_policy.h"
#include "sensor/kernel_policy.h"

namespace nbw {

struct PolicyBundle {
  static Result<PolicyBundle> Load(const std::string& path);
  // From files already read (tests; `path` names the tree in messages).
  static Result<PolicyBundle> FromFiles(const std::vector<PolicyFile>& files,
                                        const std::string& path);

  std::string path;
  std::string version;  // sha256 prefix over the files' relative names and text
  TargetSet targets;
  RuleSet rules;
  ModelGuardPolicy model_guard;
};

// The version of a policy tree read from `root`: the first 8 bytes of a
// sha256 over each file's name (relative to root) and text, in hex.
std::string PolicyVersion(const std::vector<PolicyFile>& files, const std::string& root);

// Role names to the ids the kernel's tracked map carries (enforcement keys on
// them). An id, once given, is stable for the object's lifetime: processes
// tracked under an old policy keep meaning the same role.
class RoleIds {
 public:
  uint32_t Id(const std::string& role);

 private:
  std::map<std::string, uint32_t> ids_;
};

// What the kernel enforces for `bundle`: kill-on-exec and deny-connect
// entries per role, model-window enforcement, model extensions and grace,
// and the exec prefilter's comm prefixes. Fails, naming the file and rule or
// value, on anything the kernel's keys cannot hold.
Result<KernelPolicy> CompileKernelPolicy(const PolicyBundle& bundle, RoleIds& roles);
// The same from a bundle's parts (the agent keeps them apart once in force).
Result<KernelPolicy> CompileKernelPolicy(const TargetSet& targets, const RuleSet& rules,
                                         const ModelGuardPolicy& model_guard, RoleIds& roles);

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// Target selectors: which processes the sensor watches, and in which role.
// Loaded from the `targets:` section of the policy YAML files. A selector
// names comm prefixes (compiled into the kernel's exec prefilter) and
// optional exe/argv regexes judged in userspace. Immutable once loaded;
// safe to share across threads.
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "common/policy_files.h"
#include "common/status.h"

namespace nbw {

struct TargetSelector {
  std::string name;                        // e.g. "jupyter-ipykernel"
  std::string role;                        // e.g. "notebook-kernel"
  std::vector<std::string> comm_prefixes;  // "python"; a trailing '$' means exact
  std::optional<std::regex> exe_regex;
  std::optional<std::regex> argv_regex;  // matched against argv joined by ' '
  std::string source;                    // "file:line" for messages
};

struct TargetMatch {
  const TargetSelector* selector;
};

class TargetSet {
 public:
  // Loads every *.yaml/*.yml in `dir` (or one file). Errors name file:line:col.
  static Result<TargetSet> LoadPath(const std::string& path);
  // The same from files already read (PolicyBundle reads the tree once).
  static Result<TargetSet> LoadFiles(const std::vector<PolicyFile>& files, const std::string& path);
  static Result<TargetSet> LoadString(const std::string& yaml, const std::string& origin);

  // First selector that matches, in file order. comm is the kernel's comm.
  std::optional<TargetMatch> Match(std::string_view comm, std::string_view exe,
                                   const std::vector<std::string>& argv) const;
  // Every comm prefix, deduplicated, for the kernel prefilter.
  std::vector<std::string> CommPrefixes() const;
  const std::vector<TargetSelector>& selectors() const { return selectors_; }

 private:
  Status Add(const std::string& yaml, const std::string& origin);
  std::vector<TargetSelector> selectors_;
};

// Roles nbwarden gives without a selector; no role-scoped rule names them,
// so only the rules for every role apply to them.
inline constexpr std::string_view kRoleManual = "manual";    // --track-pid
inline constexpr std::string_view kRoleUnknown = "unknown";  // adopted, ancestry unseen

// Whether a target whose role is `current` may take `candidate` (a selector
// matched inside the target): only a role known to be stricter. A
// descendant of a target so keeps the strictest role of its ancestry, in
// userspace and in the kernel's enforcement. The order is in targets.cc.
bool RoleIsStricter(std::string_view candidate, std::string_view current);

}  // namespace nbw

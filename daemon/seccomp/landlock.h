// SPDX-License-Identifier: Apache-2.0
// Landlock rules for nbwarden-exec --landlock: keep a sandboxed process out
// of credential paths and container-runtime state, restrict the TCP ports
// it may bind or connect to, and scope its signals and abstract UNIX
// sockets to itself. Rules files are YAML (policies/landlock/); every error
// names file:line:col and the field.
//
// Landlock only grants: a ruleset forbids what it handles unless a rule
// allows it beneath a path. "Deny P" is therefore built as its complement:
// every directory on the way from / to P is a "walked" directory whose
// entries, other than the way on and P itself, are granted everything.
// Rules bind to the inodes present at launch, so a file created (or
// replaced by rename) directly in a walked directory afterwards is out of
// reach until the process restarts (docs/seccomp.md: Landlock).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace nbw {

struct LandlockRules {
  std::vector<std::string> deny;                  // paths or globs
  std::optional<std::vector<uint16_t>> bind_tcp;  // absent = any port
  std::optional<std::vector<uint16_t>> connect_tcp;
  bool scope_signal = false;         // no signals out of the sandbox
  bool scope_abstract_unix = false;  // no abstract UNIX sockets out of it
  std::string extends;               // another rules file's NAME, merged in
  std::string origin;

  // Parse reads one file; Load also merges what it extends (deny lists
  // add up; ports and scopes not set here come from the extended file).
  // `read` gets a file's text by path: from disk, or from the policy built
  // into nbwarden-exec (common/bundled_policy.h).
  using Reader = std::function<Result<std::string>(const std::string& path)>;
  static Result<LandlockRules> Parse(const std::string& yaml, const std::string& origin);
  static Result<LandlockRules> Load(const std::string& path);
  static Result<LandlockRules> Load(const std::string& path, const Reader& read);
};

struct LandlockReport {
  int abi = 0;                          // 0: the kernel has no Landlock
  size_t path_rules = 0;                // path_beneath rules added
  std::vector<std::string> denied;      // paths protected (globs expanded)
  std::vector<std::string> unenforced;  // what this kernel's ABI cannot do
};

// The running kernel's Landlock ABI version; 0 if it has none.
int LandlockAbi();

// Builds the ruleset and restricts the calling thread (and what it execs).
// no_new_privs must be set already. On a kernel without Landlock nothing is
// applied and report.abi is 0: the caller says so.
Result<LandlockReport> ApplyLandlock(const LandlockRules& rules);

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// KernelPolicy: everything the kernel's policy maps hold (bpf/maps.h), as a
// plain value. policy/policy_bundle.h compiles a PolicyBundle into one;
// Sensor::ApplyPolicy puts one in force as a whole (a fresh generation of
// maps and one flip), so the kernel never holds half of a policy. Built and
// compared without BPF.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "events.h"

namespace nbw {

struct KernelPolicy {
  // Roles are the ids the tracked map carries; kAnyRole applies to all.
  static constexpr uint32_t kAnyRole = NBW_ROLE_ANY;

  struct KillExec {
    uint32_t role;
    std::string comm;  // after exec, at most NBW_COMM_LEN - 1 bytes
    auto operator<=>(const KillExec&) const = default;
  };
  struct DenyConnect {
    uint32_t role;
    int family;                 // AF_INET or AF_INET6
    std::vector<uint8_t> addr;  // network order, 4 or 16 bytes
    uint16_t port;              // host order, 0 = any
    auto operator<=>(const DenyConnect&) const = default;
  };

  // Each entry -> the number (1-based, in file order) of the rule that put
  // it there; a later rule with the same key wins.
  std::map<KillExec, uint32_t> kill_exec;
  std::map<DenyConnect, uint32_t> deny_connect;
  // role -> NBW_MODEL_* what the kernel stops inside a model-load window.
  std::map<uint32_t, uint32_t> model_enforce;
  // Model extensions, lower case with the dot (".pt").
  std::set<std::string> model_exts;
  std::chrono::nanoseconds model_grace{0};
  // The exec prefilter: comm prefixes, a trailing '$' meaning exact.
  std::set<std::string> candidate_comms;
  // "file:line:col: rule ID" of the first rule that needs the cgroup connect
  // hooks (deny), or empty: applying fails where the hooks did not attach.
  std::string needs_connect_hooks;

  bool operator==(const KernelPolicy&) const = default;
};

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
#include "seccomp/export.h"

#include <errno.h>

#include <algorithm>
#include <bit>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace nbw {
namespace {

using ojson = nlohmann::ordered_json;

ojson Strings(const std::vector<std::string>& v) {
  ojson a = ojson::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

ojson Rule(const SeccompRule& r, bool docker) {
  ojson j;
  j["names"] = Strings(r.names);
  j["action"] = r.action;
  if (r.errno_ret) j["errnoRet"] = *r.errno_ret;
  if (!r.args.empty()) {
    ojson args = ojson::array();
    for (const auto& a : r.args) {
      args.push_back(
          {{"index", a.index}, {"value", a.value}, {"valueTwo", a.value_two}, {"op", a.op}});
    }
    j["args"] = std::move(args);
  }
  if (docker) {
    auto filter = [](const std::vector<std::string>& arches, const std::vector<std::string>& caps,
                     const std::optional<KernelVersion>& min_kernel) {
      ojson f = ojson::object();
      if (!caps.empty()) f["caps"] = Strings(caps);
      if (!arches.empty()) f["arches"] = Strings(arches);
      if (min_kernel) f["minKernel"] = min_kernel->ToString();
      return f;
    };
    if (!r.include_arches.empty() || !r.include_caps.empty() || r.include_min_kernel) {
      j["includes"] = filter(r.include_arches, r.include_caps, r.include_min_kernel);
    }
    if (!r.exclude_arches.empty() || !r.exclude_caps.empty() || r.exclude_min_kernel) {
      j["excludes"] = filter(r.exclude_arches, r.exclude_caps, r.exclude_min_kernel);
    }
    if (!r.comment.empty()) j["comment"] = r.comment;
  }
  return j;
}

// The runtime-spec object (and the SPO spec, which has the same fields).
ojson Body(const SeccompProfile& p, bool docker, const ExportOptions& o) {
  ojson j;
  j["defaultAction"] = p.default_action;
  if (p.default_errno_ret) j["defaultErrnoRet"] = *p.default_errno_ret;
  const std::string arch = o.arch.empty() ? NativeArchName() : CanonicalArch(o.arch).value_or("");
  if (docker && !p.arch_map.empty()) {
    // As written: Docker picks the host's entry when it starts a container.
    ojson map = ojson::array();
    for (const auto& m : p.arch_map) {
      map.push_back({{"architecture", m.arch}, {"subArchitectures", Strings(m.sub_arches)}});
    }
    j["archMap"] = std::move(map);
  } else {
    // runc and crun read only `architectures`: resolved for the host here.
    j["architectures"] = Strings(docker ? p.architectures : ProfileArchitectures(p, arch));
  }
  ojson rules = ojson::array();
  const KernelVersion kernel = o.kernel.value_or(RunningKernel());
  for (const auto& r : p.syscalls) {
    if (!docker && !RuleAppliesTo(r, arch, o.caps, kernel)) continue;
    rules.push_back(Rule(r, docker));
  }
  j["syscalls"] = std::move(rules);
  return j;
}

bool Refuses(const std::string& action) {
  return action != "SCMP_ACT_ALLOW" && action != "SCMP_ACT_LOG";
}

// The condition under which none of `rules` (all refusing, all conditional)
// matches, as one rule's comparisons; nullopt when that is not one rule.
// Handles what profiles use: single-bit flag tests (MASKED_EQ m, m: "flag
// set") on one argument, combined into "none of these flags", and a single
// comparison, inverted.
std::optional<std::vector<SeccompArg>> Complement(const std::vector<const SeccompRule*>& rules) {
  static const std::map<std::string, std::string> kInverse = {
      {"SCMP_CMP_EQ", "SCMP_CMP_NE"}, {"SCMP_CMP_NE", "SCMP_CMP_EQ"},
      {"SCMP_CMP_LT", "SCMP_CMP_GE"}, {"SCMP_CMP_GE", "SCMP_CMP_LT"},
      {"SCMP_CMP_LE", "SCMP_CMP_GT"}, {"SCMP_CMP_GT", "SCMP_CMP_LE"}};
  if (rules.size() == 1 && rules[0]->args.size() == 1 && kInverse.count(rules[0]->args[0].op)) {
    SeccompArg a = rules[0]->args[0];
    a.op = kInverse.at(a.op);
    return std::vector<SeccompArg>{a};
  }
  uint64_t flags = 0;
  for (const SeccompRule* r : rules) {
    if (r->args.size() != 1) return std::nullopt;
    const SeccompArg& a = r->args[0];
    if (a.op != "SCMP_CMP_MASKED_EQ" || a.index != rules[0]->args[0].index ||
        a.value != a.value_two || std::popcount(a.value) != 1) {
      return std::nullopt;
    }
    flags |= a.value;
  }
  SeccompArg none;
  none.index = rules[0]->args[0].index;
  none.op = "SCMP_CMP_MASKED_EQ";
  none.value = flags;
  none.value_two = 0;
  return std::vector<SeccompArg>{none};
}

}  // namespace

std::optional<ProfileFormat> ParseProfileFormat(std::string_view name) {
  if (name == "docker") return ProfileFormat::kDocker;
  if (name == "oci") return ProfileFormat::kOci;
  if (name == "k8s" || name == "kubernetes") return ProfileFormat::kK8s;
  return std::nullopt;
}

std::string RenderProfile(const SeccompProfile& p, ProfileFormat f, const ExportOptions& o) {
  ojson j;
  switch (f) {
    case ProfileFormat::kDocker: j = Body(p, true, o); break;
    case ProfileFormat::kOci: j = Body(p, false, o); break;
    case ProfileFormat::kK8s:
      j["apiVersion"] = "security-profiles-operator.x-k8s.io/v1beta1";
      j["kind"] = "SeccompProfile";
      j["metadata"] = {{"name", o.name.empty() ? "nbwarden-profile" : o.name},
                       {"annotations", {{"nbwarden.io/source", p.origin}}}};
      j["spec"] = Body(p, false, o);
      break;
  }
  return j.dump(2) + "\n";
}

SeccompProfile ProfileFromRecording(const std::vector<std::string>& syscalls,
                                    const SeccompProfile* base, RecordingMerge* merge) {
  RecordingMerge local;
  RecordingMerge& m = merge ? *merge : local;
  SeccompProfile out;
  out.origin = "recording";
  out.default_action = "SCMP_ACT_ERRNO";
  out.default_errno_ret = EPERM;
  out.architectures = {NativeArchName()};
  std::map<std::string, std::vector<const SeccompRule*>> named;
  if (base) {
    if (Refuses(base->default_action)) {
      out.default_action = base->default_action;
      out.default_errno_ret = base->default_errno_ret;
    }
    if (auto arches = ProfileArchitectures(*base, NativeArchName()); !arches.empty()) {
      out.architectures = std::move(arches);
    }
    out.syscalls = base->syscalls;
    for (const auto& r : base->syscalls) {
      for (const auto& n : r.names) named[n].push_back(&r);
    }
  }
  std::set<std::string> recorded(syscalls.begin(), syscalls.end());
  SeccompRule allow;
  allow.action = "SCMP_ACT_ALLOW";
  allow.comment = "recorded by nbwarden seccomp record";
  std::vector<SeccompRule> complements;
  for (const auto& s : recorded) {
    auto it = named.find(s);
    if (it == named.end()) {
      allow.names.push_back(s);
      m.added.push_back(s);
      continue;
    }
    // The base names it. Where its rules only refuse some calls (flags,
    // values) and the base allowed the rest by default, that default is
    // gone: allow the rest explicitly, if one rule can say so.
    const auto& rules = it->second;
    bool all_conditional_refusals = !Refuses(base->default_action);
    for (const SeccompRule* r : rules) {
      all_conditional_refusals &= Refuses(r->action) && !r->args.empty();
    }
    std::optional<std::vector<SeccompArg>> rest;
    if (all_conditional_refusals) rest = Complement(rules);
    if (rest) {
      SeccompRule c;
      c.names = {s};
      c.action = "SCMP_ACT_ALLOW";
      c.args = *rest;
      c.comment = "recorded; calls the base profile does not refuse";
      complements.push_back(std::move(c));
      m.added.push_back(s);
      continue;
    }
    bool refused = false;
    for (const SeccompRule* r : rules) refused |= Refuses(r->action) && r->args.empty();
    (refused || all_conditional_refusals ? m.refused_by_base : m.kept_by_base).push_back(s);
  }
  if (!allow.names.empty()) out.syscalls.push_back(std::move(allow));
  for (auto& c : complements) out.syscalls.push_back(std::move(c));
  // What the kernel, not the program, makes happen: returning from a
  // signal handler and restarting an interrupted syscall. Whether a run
  // exercises them is timing; a profile without them kills a process at
  // random. Kept apart from the recorded rule, and only if not named.
  SeccompRule always;
  always.action = "SCMP_ACT_ALLOW";
  always.comment = "always allowed: signal return and syscall restart, which a run may miss";
  for (const char* n : {"rt_sigreturn", "restart_syscall", "exit", "exit_group"}) {
    if (!recorded.count(n) && !named.count(n)) always.names.push_back(n);
  }
  if (!always.names.empty()) out.syscalls.push_back(std::move(always));
  return out;
}

}  // namespace nbw

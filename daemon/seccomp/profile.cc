// SPDX-License-Identifier: Apache-2.0
#include "seccomp/profile.h"

#include <errno.h>
#include <fmt/format.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "process/proc_fs.h"

namespace nbw {
namespace {

using nlohmann::json;

// nlohmann reports a byte offset; people read line:col.
std::string LineCol(const std::string& text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < byte && i < text.size(); i++) {
    if (text[i] == '\n') {
      line++, col = 1;
    } else {
      col++;
    }
  }
  return fmt::format("{}:{}", line, col);
}

const std::map<std::string, scmp_compare>& Ops() {
  static const std::map<std::string, scmp_compare> k = {{"SCMP_CMP_NE", SCMP_CMP_NE},
                                                        {"SCMP_CMP_LT", SCMP_CMP_LT},
                                                        {"SCMP_CMP_LE", SCMP_CMP_LE},
                                                        {"SCMP_CMP_EQ", SCMP_CMP_EQ},
                                                        {"SCMP_CMP_GE", SCMP_CMP_GE},
                                                        {"SCMP_CMP_GT", SCMP_CMP_GT},
                                                        {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  return k;
}

// Every capability by number (linux/capability.h), as profiles name them.
// clang-format off
constexpr std::array<std::string_view, 41> kCapNames = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE"};
// clang-format on

int CapNumber(std::string_view name) {
  auto it = std::find(kCapNames.begin(), kCapNames.end(), name);
  return it == kCapNames.end() ? -1 : static_cast<int>(it - kCapNames.begin());
}

// The capabilities in effect for this process: includes/excludes.caps are
// judged against them (Docker judges a container's bounding set, which a
// root container also has in effect).
std::vector<std::string> EffectiveCaps() {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2] = {};
  std::vector<std::string> out;
  if (syscall(SYS_capget, &h, d) != 0) return out;
  for (size_t cap = 0; cap < kCapNames.size(); cap++) {
    if (d[cap / 32].effective & (1u << (cap % 32))) out.emplace_back(kCapNames[cap]);
  }
  return out;
}

// Parsing with the path of the field in hand for every error.
class Parser {
 public:
  explicit Parser(const std::string& origin) : origin_(origin) {}

  Status Err(const std::string& where, const std::string& what) const {
    return Status::Error(origin_, where + ": " + what);
  }

  Status Strings(const json& j, const std::string& where, std::vector<std::string>& out) const {
    if (!j.is_array()) return Err(where, "must be a list of strings");
    for (size_t i = 0; i < j.size(); i++) {
      if (!j[i].is_string() || j[i].get<std::string>().empty()) {
        return Err(fmt::format("{}[{}]", where, i), "must be a non-empty string");
      }
      out.push_back(j[i].get<std::string>());
    }
    return Status::Ok();
  }

  Status Errno(const json& j, const std::string& where, std::optional<uint32_t>& out) const {
    if (!j.is_number_unsigned() || j.get<uint64_t>() > 4095) {
      return Err(where, "must be an errno number from 0 to 4095");
    }
    out = j.get<uint32_t>();
    return Status::Ok();
  }

  Status Action(const json& j, const std::string& where, std::string& out) const {
    if (!j.is_string() || !SeccompAction(j.get<std::string>(), 1)) {
      return Err(where,
                 "must be one of SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, "
                 "SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_LOG, "
                 "SCMP_ACT_TRACE, SCMP_ACT_NOTIFY");
    }
    out = j.get<std::string>();
    return Status::Ok();
  }

  Status Arg(const json& j, const std::string& where, SeccompArg& a) const {
    if (!j.is_object()) return Err(where, "must be an object");
    for (const auto& [k, v] : j.items()) {
      if (k != "index" && k != "value" && k != "valueTwo" && k != "op") {
        return Err(where, fmt::format("unknown key '{}' (index, value, valueTwo, op)", k));
      }
    }
    if (!j.contains("index") || !j["index"].is_number_unsigned() || j["index"].get<uint64_t>() > 5)
      return Err(where + ".index", "must be an argument number from 0 to 5");
    a.index = j["index"].get<unsigned>();
    for (const char* k : {"value", "valueTwo"}) {
      if (j.contains(k) && !j[k].is_number_unsigned()) {
        return Err(where + "." + k, "must be an unsigned integer");
      }
    }
    if (!j.contains("value")) return Err(where, "needs 'value'");
    a.value = j["value"].get<uint64_t>();
    a.value_two = j.value("valueTwo", uint64_t{0});
    if (!j.contains("op") || !j["op"].is_string() || !Ops().count(j["op"].get<std::string>())) {
      return Err(where + ".op",
                 "must be one of SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, "
                 "SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ");
    }
    a.op = j["op"].get<std::string>();
    return Status::Ok();
  }

  Status Filter(const json& j, const std::string& where, std::vector<std::string>& arches,
                std::vector<std::string>& caps, std::optional<KernelVersion>& min_kernel) const {
    if (!j.is_object()) return Err(where, "must be an object");
    for (const auto& [k, v] : j.items()) {
      if (k == "arches") {
        if (Status s = Strings(v, where + ".arches", arches); !s.ok()) return s;
        for (size_t i = 0; i < arches.size(); i++) {
          if (!CanonicalArch(arches[i])) {
            return Err(fmt::format("{}.arches[{}]", where, i),
                       fmt::format("'{}' is not an architecture (Docker's names: amd64, x86, "
                                   "x32, arm64, arm, ppc64le, s390x, riscv64, ...; Go's: 386, "
                                   "...; or SCMP_ARCH_*)",
                                   arches[i]));
          }
        }
      } else if (k == "caps") {
        if (Status s = Strings(v, where + ".caps", caps); !s.ok()) return s;
        for (size_t i = 0; i < caps.size(); i++) {
          if (CapNumber(caps[i]) < 0) {
            return Err(fmt::format("{}.caps[{}]", where, i),
                       fmt::format("'{}' is not a capability (CAP_SYS_ADMIN, ...)", caps[i]));
          }
        }
      } else if (k == "minKernel") {
        // Docker writes "" for "no condition".
        if (!v.is_string()) return Err(where + ".minKernel", "must be a string like \"4.8\"");
        if (v.get<std::string>().empty()) continue;
        min_kernel = ParseMinKernel(v.get<std::string>());
        if (!min_kernel) {
          return Err(where + ".minKernel",
                     fmt::format("'{}' is not a kernel version \"<kernel>.<major>\" (\"4.8\")",
                                 v.get<std::string>()));
        }
      } else {
        return Err(where, fmt::format("unknown key '{}' (arches, caps, minKernel)", k));
      }
    }
    return Status::Ok();
  }

  Status ArchMap(const json& j, std::vector<SeccompArchMap>& out) const {
    if (!j.is_array()) return Err("archMap", "must be a list");
    for (size_t i = 0; i < j.size(); i++) {
      const std::string where = fmt::format("archMap[{}]", i);
      if (!j[i].is_object()) return Err(where, "must be an object");
      SeccompArchMap m;
      for (const auto& [k, v] : j[i].items()) {
        if (k == "architecture") {
          if (!v.is_string() || v.get<std::string>().rfind("SCMP_ARCH_", 0) != 0) {
            return Err(where + ".architecture", "must be an SCMP_ARCH_* name");
          }
          m.arch = v.get<std::string>();
        } else if (k == "subArchitectures") {
          if (v.is_null()) continue;
          if (Status s = Strings(v, where + ".subArchitectures", m.sub_arches); !s.ok()) return s;
          for (size_t n = 0; n < m.sub_arches.size(); n++) {
            if (m.sub_arches[n].rfind("SCMP_ARCH_", 0) != 0) {
              return Err(fmt::format("{}.subArchitectures[{}]", where, n),
                         "must be an SCMP_ARCH_* name");
            }
          }
        } else {
          return Err(where, fmt::format("unknown key '{}' (architecture, subArchitectures)", k));
        }
      }
      if (m.arch.empty()) return Err(where, "needs 'architecture'");
      out.push_back(std::move(m));
    }
    return Status::Ok();
  }

  Status Rule(const json& j, const std::string& where, SeccompRule& r) const {
    if (!j.is_object()) return Err(where, "must be an object");
    for (const auto& [k, v] : j.items()) {
      Status s;
      if (k == "names") {
        s = Strings(v, where + ".names", r.names);
      } else if (k == "name") {  // the older single-name form
        if (!v.is_string()) return Err(where + ".name", "must be a string");
        r.names.push_back(v.get<std::string>());
      } else if (k == "action") {
        s = Action(v, where + ".action", r.action);
      } else if (k == "errnoRet") {
        s = Errno(v, where + ".errnoRet", r.errno_ret);
      } else if (k == "args") {
        if (v.is_null()) continue;
        if (!v.is_array()) return Err(where + ".args", "must be a list");
        for (size_t i = 0; i < v.size(); i++) {
          SeccompArg a;
          s = Arg(v[i], fmt::format("{}.args[{}]", where, i), a);
          if (!s.ok()) return s;
          r.args.push_back(a);
        }
      } else if (k == "includes") {
        s = Filter(v, where + ".includes", r.include_arches, r.include_caps, r.include_min_kernel);
      } else if (k == "excludes") {
        s = Filter(v, where + ".excludes", r.exclude_arches, r.exclude_caps, r.exclude_min_kernel);
      } else if (k == "comment") {
        if (!v.is_string()) return Err(where + ".comment", "must be a string");
        r.comment = v.get<std::string>();
      } else {
        return Err(where, fmt::format("unknown key '{}' (names, action, errnoRet, args, "
                                      "includes, excludes, comment)",
                                      k));
      }
      if (!s.ok()) return s;
    }
    if (r.names.empty()) return Err(where, "needs 'names'");
    if (r.action.empty()) return Err(where, "needs 'action'");
    return Status::Ok();
  }

 private:
  const std::string& origin_;
};

}  // namespace

std::string ResolveProfilePath(const std::string& name_or_file, const std::string& dir) {
  const bool is_file = name_or_file.find('/') != std::string::npos ||
                       (name_or_file.size() > 5 && name_or_file.ends_with(".json"));
  return is_file ? name_or_file : dir + "/" + name_or_file + ".json";
}

std::vector<std::string> ProfileArchitectures(const SeccompProfile& p, const std::string& arch) {
  if (!p.architectures.empty()) return p.architectures;
  for (const auto& m : p.arch_map) {
    if (m.arch != arch) continue;
    std::vector<std::string> out = {m.arch};
    out.insert(out.end(), m.sub_arches.begin(), m.sub_arches.end());
    return out;
  }
  return {};
}

bool RuleAppliesTo(const SeccompRule& r, const std::string& arch,
                   const std::vector<std::string>& caps, KernelVersion kernel) {
  // As moby's setupSeccomp: the host's architecture only (not its
  // sub-architectures), every included capability, none excluded.
  const std::optional<std::string> host = CanonicalArch(arch);
  auto names_host = [&](const std::vector<std::string>& arches) {
    return std::any_of(arches.begin(), arches.end(),
                       [&](const std::string& a) { return host && CanonicalArch(a) == host; });
  };
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  if (names_host(r.exclude_arches)) return false;
  for (const auto& c : r.exclude_caps) {
    if (has(caps, c)) return false;
  }
  if (r.exclude_min_kernel && kernel >= *r.exclude_min_kernel) return false;
  if (!r.include_arches.empty() && !names_host(r.include_arches)) return false;
  for (const auto& c : r.include_caps) {
    if (!has(caps, c)) return false;
  }
  if (r.include_min_kernel && kernel < *r.include_min_kernel) return false;
  return true;
}

std::optional<uint32_t> SeccompAction(const std::string& name, std::optional<uint32_t> errno_ret) {
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(errno_ret.value_or(EPERM));
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(errno_ret.value_or(0));
  if (name == "SCMP_ACT_NOTIFY") return SCMP_ACT_NOTIFY;
  return std::nullopt;
}

Result<SeccompProfile> SeccompProfile::Parse(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return Status::Error(fmt::format("{}:{}", origin, LineCol(text, e.byte ? e.byte - 1 : 0)),
                         "not JSON");
  }
  Parser p(origin);
  SeccompProfile prof;
  prof.origin = origin;
  if (!j.is_object()) return p.Err("profile", "must be a JSON object");
  for (const auto& [k, v] : j.items()) {
    Status s;
    if (k == "defaultAction") {
      s = p.Action(v, k, prof.default_action);
    } else if (k == "defaultErrnoRet") {
      s = p.Errno(v, k, prof.default_errno_ret);
    } else if (k == "architectures") {
      s = p.Strings(v, k, prof.architectures);
      for (const auto& a : prof.architectures) {
        std::string lower = a.rfind("SCMP_ARCH_", 0) == 0 ? a.substr(10) : a;
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        if (seccomp_arch_resolve_name(lower.c_str()) == 0) {
          return p.Err(k, fmt::format("'{}' is not an architecture libseccomp knows", a));
        }
      }
    } else if (k == "archMap") {
      s = p.ArchMap(v, prof.arch_map);
    } else if (k == "flags" || k == "listenerPath" || k == "listenerMetadata") {
      // OCI fields for the runtime; nothing for nbwarden to do.
    } else if (k == "syscalls") {
      if (!v.is_array()) return p.Err(k, "must be a list");
      for (size_t i = 0; i < v.size(); i++) {
        SeccompRule r;
        s = p.Rule(v[i], fmt::format("syscalls[{}]", i), r);
        if (!s.ok()) return s;
        prof.syscalls.push_back(std::move(r));
      }
    } else if (k == "comment" || k == "$schema") {
    } else {
      return p.Err(k, "unknown key (defaultAction, defaultErrnoRet, architectures, syscalls)");
    }
    if (!s.ok()) return s;
  }
  if (prof.default_action.empty()) return p.Err("profile", "needs 'defaultAction'");
  if (!prof.architectures.empty() && !prof.arch_map.empty()) {
    return p.Err("profile", "'architectures' and 'archMap' exclude each other (as in Docker)");
  }
  return prof;
}

std::optional<int> SeccompProfile::ExecFd() const {
  for (const auto& r : syscalls) {
    if (std::find(r.names.begin(), r.names.end(), "execveat") == r.names.end()) continue;
    if (r.args.size() != 1 || r.args[0].index != 0 || r.args[0].value < 3 ||
        r.args[0].value > (1u << 30)) {
      continue;
    }
    const bool allow = r.action == "SCMP_ACT_ALLOW" || r.action == "SCMP_ACT_LOG";
    if ((allow && r.args[0].op == "SCMP_CMP_EQ") || (!allow && r.args[0].op == "SCMP_CMP_NE")) {
      return static_cast<int>(r.args[0].value);
    }
  }
  return std::nullopt;
}

Result<SeccompProfile> SeccompProfile::Load(const std::string& path) {
  auto text = ReadFileBounded(path, 4 << 20);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

Result<SeccompFilter> CompileProfile(const SeccompProfile& p, CompileReport* report) {
  CompileReport local;
  CompileReport& rep = report ? *report : local;
  const uint32_t def = *SeccompAction(p.default_action, p.default_errno_ret);
  SeccompFilter f(seccomp_init(def));
  if (!f) return Status::Error(p.origin, "seccomp_init failed");
  // A binary tree over syscall numbers instead of a linear chain: every
  // syscall of the workload walks the filter, so its depth is the cost.
  (void)seccomp_attr_set(f.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  // The filter is built for the running architecture only (the native one
  // seccomp_init added); other listed architectures matter to runtimes that
  // run foreign binaries, which nbwarden-exec does not.
  const std::string arch = NativeArchName();
  const std::vector<std::string> caps = EffectiveCaps();
  const KernelVersion kernel = RunningKernel();
  for (size_t i = 0; i < p.syscalls.size(); i++) {
    const SeccompRule& r = p.syscalls[i];
    if (!RuleAppliesTo(r, arch, caps, kernel)) continue;
    const uint32_t act = *SeccompAction(r.action, r.errno_ret);
    if (act == def) continue;  // libseccomp refuses rules that repeat the default
    // libseccomp takes one comparison per argument per rule: repeated
    // indexes become one rule each (OR), as Docker does.
    std::set<unsigned> seen;
    bool repeated = false;
    for (const auto& a : r.args) repeated |= !seen.insert(a.index).second;
    std::vector<std::vector<scmp_arg_cmp>> sets;
    if (repeated) {
      for (const auto& a : r.args) {
        sets.push_back({{a.index, Ops().at(a.op), a.value, a.value_two}});
      }
    } else {
      sets.emplace_back();
      for (const auto& a : r.args) {
        sets.back().push_back({a.index, Ops().at(a.op), a.value, a.value_two});
      }
    }
    for (const auto& name : r.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) {
        rep.unknown.push_back(name);
        continue;
      }
      for (const auto& cmp : sets) {
        int err = seccomp_rule_add_array(f.get(), act, nr, cmp.size(), cmp.data());
        if (err) {
          return Status::FromErrno(
              fmt::format("{}: syscalls[{}]: '{}' ({})", p.origin, i, name, r.action), err);
        }
        rep.rules++;
      }
    }
  }
  return f;
}

}  // namespace nbw

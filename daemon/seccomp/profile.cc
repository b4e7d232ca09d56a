// SPDX-License-Identifier: Apache-2.0
#include "seccomp/profile.h"

#include <errno.h>
#include <fmt/format.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/file.h"

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
                std::vector<std::string>& caps) const {
    if (!j.is_object()) return Err(where, "must be an object");
    for (const auto& [k, v] : j.items()) {
      if (k == "arches") {
        if (Status s = Strings(v, where + ".arches", arches); !s.ok()) return s;
      } else if (k == "caps") {
        if (Status s = Strings(v, where + ".caps", caps); !s.ok()) return s;
      } else if (k == "minKernel") {
        // Docker: a kernel-version condition; nbwarden applies the rule always.
      } else {
        return Err(where, fmt::format("unknown key '{}' (arches, caps, minKernel)", k));
      }
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
        s = Filter(v, where + ".includes", r.include_arches, r.include_caps);
      } else if (k == "excludes") {
        s = Filter(v, where + ".excludes", r.exclude_arches, r.exclude_caps);
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

// The capabilities profiles condition rules on that this process has.
std::vector<std::string> EffectiveCaps() {
  static const std::map<std::string, int> kCaps = {{"CAP_SYS_ADMIN", CAP_SYS_ADMIN},
                                                   {"CAP_SYS_PTRACE", CAP_SYS_PTRACE},
                                                   {"CAP_SYS_MODULE", CAP_SYS_MODULE},
                                                   {"CAP_SYS_BOOT", CAP_SYS_BOOT},
                                                   {"CAP_SYS_TIME", CAP_SYS_TIME},
                                                   {"CAP_SYS_NICE", CAP_SYS_NICE},
                                                   {"CAP_SYS_RAWIO", CAP_SYS_RAWIO},
                                                   {"CAP_SYSLOG", CAP_SYSLOG},
                                                   {"CAP_BPF", CAP_BPF},
                                                   {"CAP_PERFMON", CAP_PERFMON},
                                                   {"CAP_SYS_PACCT", CAP_SYS_PACCT},
                                                   {"CAP_SYS_TTY_CONFIG", CAP_SYS_TTY_CONFIG},
                                                   {"CAP_SYS_CHROOT", CAP_SYS_CHROOT},
                                                   {"CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH},
                                                   {"CAP_SYS_RESOURCE", CAP_SYS_RESOURCE}};
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2] = {};
  std::vector<std::string> out;
  if (syscall(SYS_capget, &h, d) != 0) return out;
  for (const auto& [name, cap] : kCaps) {
    if (d[cap / 32].effective & (1u << (cap % 32))) out.push_back(name);
  }
  return out;
}

}  // namespace

std::string ResolveProfilePath(const std::string& name_or_file, const std::string& dir) {
  const bool is_file = name_or_file.find('/') != std::string::npos ||
                       (name_or_file.size() > 5 && name_or_file.ends_with(".json"));
  return is_file ? name_or_file : dir + "/" + name_or_file + ".json";
}

std::string NativeArchName() {
  // libseccomp's name for the running architecture, as OCI spells it.
  switch (seccomp_arch_native()) {
    case SCMP_ARCH_X86_64: return "SCMP_ARCH_X86_64";
    case SCMP_ARCH_X86: return "SCMP_ARCH_X86";
    case SCMP_ARCH_AARCH64: return "SCMP_ARCH_AARCH64";
    case SCMP_ARCH_ARM: return "SCMP_ARCH_ARM";
    default: return "";
  }
}

bool RuleAppliesTo(const SeccompRule& r, const std::string& arch,
                   const std::vector<std::string>& caps) {
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  if (!r.include_arches.empty() && !has(r.include_arches, arch)) return false;
  if (has(r.exclude_arches, arch)) return false;
  for (const auto& c : r.include_caps) {
    if (!has(caps, c)) return false;
  }
  for (const auto& c : r.exclude_caps) {
    if (has(caps, c)) return false;
  }
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
      // Docker's per-arch sub-architectures; the running architecture is
      // what the filter is built for.
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
  for (size_t i = 0; i < p.syscalls.size(); i++) {
    const SeccompRule& r = p.syscalls[i];
    if (!RuleAppliesTo(r, arch, caps)) continue;
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

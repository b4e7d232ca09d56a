// SPDX-License-Identifier: Apache-2.0
#include "seccomp/landlock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <glob.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <set>

#include "common/unique_fd.h"
#include "policy/policy_files.h"
#include "process/proc_fs.h"

namespace nbw {
namespace {

// Debian 12's headers stop at ABI 2; the rest of the ABI, as the kernel
// defines it (include/uapi/linux/landlock.h).
constexpr uint64_t kFsTruncate = 1ULL << 14;  // ABI 3
constexpr uint64_t kNetBindTcp = 1ULL << 0;   // ABI 4
constexpr uint64_t kNetConnectTcp = 1ULL << 1;
constexpr uint64_t kScopeAbstractUnix = 1ULL << 0;  // ABI 6
constexpr uint64_t kScopeSignal = 1ULL << 1;
constexpr int kRuleNetPort = 2;

struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

struct __attribute__((packed)) PathBeneath {
  uint64_t allowed_access;
  int32_t parent_fd;
};

struct NetPort {
  uint64_t allowed_access;
  uint64_t port;
};

// Rights that apply to a file (not a directory) beneath a rule.
constexpr uint64_t kFileRights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                 LANDLOCK_ACCESS_FS_READ_FILE | kFsTruncate;

// Everything but READ_DIR: listing stays possible everywhere (a rule that
// allowed listing a walked directory would allow it beneath, into the
// denied path too, so handling it would only break `ls /`).
uint64_t HandledFs(int abi) {
  uint64_t fs = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2) fs |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) fs |= kFsTruncate;
  return fs;
}

Status Ports(const YAML::Node& n, const YamlReader& yr, const char* key,
             std::optional<std::vector<uint16_t>>& out) {
  const std::string field = std::string("landlock.") + key;
  if (n.IsScalar() && n.Scalar() == "any") return Status::Ok();
  if (!n.IsSequence()) return yr.Error(n, field, "must be 'any' or a list of TCP ports");
  out.emplace();
  for (size_t i = 0; i < n.size(); i++) {
    auto v = yr.U64InRange(n[i], field + "[" + std::to_string(i) + "]", 0, 65535);
    if (!v.ok()) return v.status();
    out->push_back(static_cast<uint16_t>(*v));
  }
  return Status::Ok();
}

// The complement of the denied paths: each walked directory's other entries.
class Complement {
 public:
  Complement(int ruleset, uint64_t handled) : ruleset_(ruleset), handled_(handled) {}

  Status Build(const std::vector<std::string>& denied, size_t& rules) {
    std::set<std::string> walked;
    for (const auto& d : denied) {
      for (size_t pos = d.find('/', 1); pos != std::string::npos; pos = d.find('/', pos + 1)) {
        walked.insert(d.substr(0, pos));
      }
      walked.insert("/");
    }
    const std::set<std::string> deny(denied.begin(), denied.end());
    for (const auto& dir : walked) {
      UniqueFd dfd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
      if (!dfd.valid()) return Status::FromErrno("landlock: " + dir, errno);
      DIR* d = fdopendir(dup(dfd.get()));
      if (!d) return Status::FromErrno("landlock: " + dir, errno);
      while (struct dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        const std::string path = (dir == "/" ? "" : dir) + "/" + name;
        if (deny.count(path) || walked.count(path)) continue;
        if (Status s = Grant(dfd.get(), name, path, rules); !s.ok()) {
          closedir(d);
          return s;
        }
      }
      closedir(d);
    }
    return Status::Ok();
  }

 private:
  Status Grant(int dirfd, const std::string& name, const std::string& path, size_t& rules) {
    UniqueFd fd(openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return Status::Ok();  // gone since readdir: nothing to grant
    struct stat st = {};
    if (fstat(fd.get(), &st) != 0 || S_ISLNK(st.st_mode)) {
      return Status::Ok();  // a symlink is judged where it points
    }
    PathBeneath pb = {S_ISDIR(st.st_mode) ? handled_ : (handled_ & kFileRights), fd.get()};
    if (syscall(SYS_landlock_add_rule, ruleset_, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0) {
      return Status::FromErrno("landlock: rule for " + path, errno);
    }
    rules++;
    return Status::Ok();
  }

  int ruleset_;
  uint64_t handled_;
};

}  // namespace

Result<LandlockRules> LandlockRules::Parse(const std::string& yaml, const std::string& origin) {
  auto doc = ParseYaml(yaml, origin);
  if (!doc.ok()) return doc.status();
  LandlockRules r;
  r.origin = origin;
  const YAML::Node root = *doc;
  if (!root.IsMap() || !root["landlock"] || !root["landlock"].IsMap()) {
    return Status::Error(origin, "needs a 'landlock' mapping");
  }
  const YamlReader yr(origin);
  for (const auto& kv : root["landlock"]) {
    auto k = yr.Key(kv.first, "landlock");
    if (!k.ok()) return k.status();
    const std::string key = std::move(k).value();
    const YAML::Node& v = kv.second;
    const std::string where = YamlWhere(origin, v) + ": landlock." + key;
    if (key == "deny") {
      if (!v.IsSequence()) return Status::Error(where, "must be a list of absolute paths");
      for (size_t i = 0; i < v.size(); i++) {
        std::string p = v[i].IsScalar() ? v[i].Scalar() : "";
        if (p.empty() || p[0] != '/' || p.find("/../") != std::string::npos || p.ends_with("/..")) {
          return Status::Error(
              YamlWhere(origin, v[i]) + ": landlock.deny[" + std::to_string(i) + "]",
              "must be an absolute path without '..'");
        }
        r.deny.push_back(p);
      }
    } else if (key == "extends") {
      r.extends = v.IsScalar() ? v.Scalar() : "";
      if (r.extends.empty() || r.extends.find('/') != std::string::npos || r.extends[0] == '.') {
        return Status::Error(where, "must be the NAME of a rules file in the same directory");
      }
    } else if (key == "bind_tcp") {
      if (Status s = Ports(v, yr, "bind_tcp", r.bind_tcp); !s.ok()) return s;
    } else if (key == "connect_tcp") {
      if (Status s = Ports(v, yr, "connect_tcp", r.connect_tcp); !s.ok()) return s;
    } else if (key == "scope") {
      if (!v.IsSequence()) return Status::Error(where, "must be a list (signal, abstract_unix)");
      for (size_t i = 0; i < v.size(); i++) {
        const std::string s = v[i].IsScalar() ? v[i].Scalar() : "";
        if (s == "signal") {
          r.scope_signal = true;
        } else if (s == "abstract_unix") {
          r.scope_abstract_unix = true;
        } else {
          return Status::Error(
              YamlWhere(origin, v[i]) + ": landlock.scope[" + std::to_string(i) + "]",
              fmt::format("'{}' is not a scope (signal, abstract_unix)", s));
        }
      }
    } else {
      return Status::Error(where, "unknown key (extends, deny, bind_tcp, connect_tcp, scope)");
    }
  }
  return r;
}

Result<LandlockRules> LandlockRules::Load(const std::string& path) {
  return Load(path, [](const std::string& p) { return ReadFileBounded(p, 1 << 20); });
}

Result<LandlockRules> LandlockRules::Load(const std::string& path, const Reader& read) {
  auto text = read(path);
  if (!text.ok()) return text.status();
  auto r = Parse(*text, path);
  if (!r.ok()) return r;
  std::string from = path;
  std::set<std::string> seen = {path};
  for (std::string next = r->extends; !next.empty();) {
    const std::string file = from.substr(0, from.rfind('/') + 1) + next + ".yaml";
    if (!seen.insert(file).second) {
      return Status::Error(from, "landlock.extends: '" + next + "' extends itself");
    }
    auto t = read(file);
    if (!t.ok()) return Status::Error(from, "landlock.extends: " + t.status().message());
    auto base = Parse(*t, file);
    if (!base.ok()) return base.status();
    r->deny.insert(r->deny.begin(), base->deny.begin(), base->deny.end());
    if (!r->bind_tcp) r->bind_tcp = base->bind_tcp;
    if (!r->connect_tcp) r->connect_tcp = base->connect_tcp;
    r->scope_signal |= base->scope_signal;
    r->scope_abstract_unix |= base->scope_abstract_unix;
    from = file;
    next = base->extends;
  }
  return r;
}

int LandlockAbi() {
  long v = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return v > 0 ? static_cast<int>(v) : 0;
}

Result<LandlockReport> ApplyLandlock(const LandlockRules& rules) {
  LandlockReport rep;
  rep.abi = LandlockAbi();
  if (rep.abi == 0) return rep;

  // Globs expanded and symlinks resolved now: rules bind to what is there.
  std::set<std::string> denied;
  for (const auto& pattern : rules.deny) {
    glob_t g = {};
    if (glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; i++) {
        char real[PATH_MAX];
        if (realpath(g.gl_pathv[i], real) && std::string(real) != "/") denied.insert(real);
      }
    }
    globfree(&g);
  }
  rep.denied.assign(denied.begin(), denied.end());

  RulesetAttr attr = {};
  size_t attr_size = sizeof(uint64_t);
  if (!denied.empty()) attr.handled_access_fs = HandledFs(rep.abi);
  const bool net = rules.bind_tcp || rules.connect_tcp;
  if (net && rep.abi < 4) {
    rep.unenforced.push_back("TCP port rules (Landlock ABI 4)");
  } else if (net) {
    attr.handled_access_net =
        (rules.bind_tcp ? kNetBindTcp : 0) | (rules.connect_tcp ? kNetConnectTcp : 0);
    attr_size = 2 * sizeof(uint64_t);
  }
  if ((rules.scope_signal || rules.scope_abstract_unix) && rep.abi < 6) {
    rep.unenforced.push_back("signal and abstract-socket scoping (Landlock ABI 6)");
  } else if (rules.scope_signal || rules.scope_abstract_unix) {
    attr.scoped = (rules.scope_signal ? kScopeSignal : 0) |
                  (rules.scope_abstract_unix ? kScopeAbstractUnix : 0);
    attr_size = sizeof(RulesetAttr);
  }
  if (!attr.handled_access_fs && !attr.handled_access_net && !attr.scoped) return rep;

  UniqueFd ruleset(static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0)));
  if (!ruleset.valid()) return Status::FromErrno("landlock: creating the ruleset", errno);
  if (attr.handled_access_fs) {
    Complement c(ruleset.get(), attr.handled_access_fs);
    if (Status s = c.Build(rep.denied, rep.path_rules); !s.ok()) return s;
  }
  auto add_ports = [&](const std::optional<std::vector<uint16_t>>& ports, uint64_t right) {
    if (!ports || !(attr.handled_access_net & right)) return Status::Ok();
    for (uint16_t p : *ports) {
      NetPort np = {right, p};
      if (syscall(SYS_landlock_add_rule, ruleset.get(), kRuleNetPort, &np, 0) != 0) {
        return Status::FromErrno(fmt::format("landlock: port {}", p), errno);
      }
    }
    return Status::Ok();
  };
  if (Status s = add_ports(rules.bind_tcp, kNetBindTcp); !s.ok()) return s;
  if (Status s = add_ports(rules.connect_tcp, kNetConnectTcp); !s.ok()) return s;
  if (syscall(SYS_landlock_restrict_self, ruleset.get(), 0) != 0) {
    return Status::FromErrno("landlock: restricting", errno);
  }
  return rep;
}

}  // namespace nbw

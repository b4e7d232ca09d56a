// SPDX-License-Identifier: Apache-2.0
#include "policy/targets.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <set>

#include "common/policy_files.h"
#include "common/yaml_reader.h"
#include "process/proc_fs.h"

namespace nbw {
namespace {

Result<std::regex> CompileRegex(const YamlReader& yr, const YAML::Node& n, const char* field) {
  auto text = yr.Str(n, field);
  if (!text.ok()) return text.status();
  try {
    return std::regex(*text, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& e) {
    return Status::Error(yr.Where(n),
                         fmt::format("'{}' is not a valid regex: {}", field, e.what()));
  }
}

}  // namespace

Status TargetSet::Add(const std::string& yaml, const std::string& origin) {
  auto parsed = ParseYaml(yaml, origin);
  if (!parsed.ok()) return parsed.status();
  const YAML::Node& root = *parsed;
  if (!root || root.IsNull()) return Status::Ok();
  if (!root.IsMap()) return Status::Error(YamlWhere(origin, root), "top level must be a mapping");
  const YAML::Node targets = root["targets"];
  if (!targets) return Status::Ok();  // other sections belong to other modules
  if (!targets.IsSequence()) {
    return Status::Error(YamlWhere(origin, targets), "'targets' must be a list");
  }
  const YamlReader yr(origin);
  for (const auto& t : targets) {
    if (!t.IsMap()) return Status::Error(YamlWhere(origin, t), "a target must be a mapping");
    TargetSelector sel;
    sel.source = YamlWhere(origin, t);
    for (const auto& kv : t) {
      auto key = yr.Key(kv.first, "");
      if (!key.ok()) return key.status();
      if (*key != "name" && *key != "role" && *key != "match") {
        return Status::Error(YamlWhere(origin, kv.first),
                             fmt::format("unknown target field '{}'", *key));
      }
    }
    if (!t["name"]) return Status::Error(sel.source, "target needs a 'name'");
    auto name = yr.Str(t["name"], "name");
    if (!name.ok()) return name.status();
    sel.name = std::move(name).value();
    if (!t["role"])
      return Status::Error(sel.source, fmt::format("target '{}' needs a 'role'", sel.name));
    auto role = yr.Str(t["role"], "role");
    if (!role.ok()) return role.status();
    sel.role = std::move(role).value();
    const YAML::Node m = t["match"];
    if (!m || !m.IsMap()) {
      return Status::Error(sel.source,
                           fmt::format("target '{}' needs a 'match' mapping", sel.name));
    }
    for (const auto& kv : m) {
      auto k = yr.Key(kv.first, "match");
      if (!k.ok()) return k.status();
      const std::string key = std::move(k).value();
      if (key == "comm") {
        auto l = yr.StrOrList(kv.second, "comm");
        if (!l.ok()) return l.status();
        for (auto& c : *l) {
          std::string bare = c.ends_with('$') ? c.substr(0, c.size() - 1) : c;
          if (bare.empty() || bare.size() > 15) {
            return Status::Error(YamlWhere(origin, kv.second),
                                 fmt::format("comm prefix '{}' must be 1-15 bytes", c));
          }
        }
        sel.comm_prefixes = std::move(*l);
      } else if (key == "exe") {
        auto r = CompileRegex(yr, kv.second, "exe");
        if (!r.ok()) return r.status();
        sel.exe_regex = std::move(*r);
      } else if (key == "argv") {
        auto r = CompileRegex(yr, kv.second, "argv");
        if (!r.ok()) return r.status();
        sel.argv_regex = std::move(*r);
      } else {
        return Status::Error(YamlWhere(origin, kv.first),
                             fmt::format("unknown match field '{}'", key));
      }
    }
    if (sel.comm_prefixes.empty()) {
      return Status::Error(YamlWhere(origin, m),
                           fmt::format("target '{}' needs 'match.comm': the kernel filters "
                                       "execs on it before anything else is looked at",
                                       sel.name));
    }
    selectors_.push_back(std::move(sel));
  }
  return Status::Ok();
}

Result<TargetSet> TargetSet::LoadString(const std::string& yaml, const std::string& origin) {
  TargetSet set;
  Status s = set.Add(yaml, origin);
  if (!s.ok()) return s;
  return set;
}

Result<TargetSet> TargetSet::LoadPath(const std::string& path) {
  auto files = ReadPolicyFiles(path);
  if (!files.ok()) return files.status();
  return LoadFiles(*files, path);
}

Result<TargetSet> TargetSet::LoadFiles(const std::vector<PolicyFile>& files,
                                       const std::string& path) {
  TargetSet set;
  for (const auto& f : files) {
    if (Status s = set.Add(f.text, f.path); !s.ok()) return s;
  }
  if (set.selectors_.empty()) {
    return Status::Error(path, "no targets defined: nothing would be watched");
  }
  return set;
}

static bool CommMatches(std::string_view comm, const std::string& prefix) {
  if (prefix.ends_with('$')) return comm == std::string_view(prefix).substr(0, prefix.size() - 1);
  return comm.starts_with(prefix);
}

std::optional<TargetMatch> TargetSet::Match(std::string_view comm, std::string_view exe,
                                            const std::vector<std::string>& argv) const {
  const std::string joined = JoinArgv(argv);
  for (const auto& s : selectors_) {
    if (std::none_of(s.comm_prefixes.begin(), s.comm_prefixes.end(),
                     [&](const std::string& p) { return CommMatches(comm, p); })) {
      continue;
    }
    if (s.exe_regex && !std::regex_search(exe.begin(), exe.end(), *s.exe_regex)) continue;
    if (s.argv_regex && !std::regex_search(joined, *s.argv_regex)) continue;
    return TargetMatch{&s};
  }
  return std::nullopt;
}

std::vector<std::string> TargetSet::CommPrefixes() const {
  std::set<std::string> all;
  for (const auto& s : selectors_) all.insert(s.comm_prefixes.begin(), s.comm_prefixes.end());
  return {all.begin(), all.end()};
}

// Role strictness, laxest first. The rule-less roles (kRoleManual,
// kRoleUnknown) get only the every-role rules; notebook-kernel adds a few
// notices (a kernel runs shells and pip); model-server forbids shells,
// network tools, interpreters and credentials (policies/rules/*.yaml).
// A role of the policy's own has no known place here: it ranks above the
// rule-less roles and is exchanged for no other role, in either direction,
// since its rules may be stricter or laxer than anyone's. Unknown order
// never lowers a role: it keeps the one the target had.
namespace {
constexpr std::array<std::string_view, 2> kRoleOrder = {"notebook-kernel", "model-server"};

bool RuleLess(std::string_view role) {
  return role.empty() || role == kRoleManual || role == kRoleUnknown;
}
}  // namespace

bool RoleIsStricter(std::string_view candidate, std::string_view current) {
  if (candidate == current || RuleLess(candidate)) return false;
  if (RuleLess(current)) return true;
  auto rank = [](std::string_view role) {
    return std::find(kRoleOrder.begin(), kRoleOrder.end(), role) - kRoleOrder.begin();
  };
  const auto c = rank(candidate), r = rank(current);
  const auto unranked = static_cast<decltype(c)>(kRoleOrder.size());
  return c != unranked && r != unranked && c > r;
}

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
#include "scan/scan_policy.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>

#include "common/policy_files.h"
#include "common/yaml_reader.h"

namespace nbw {

std::string_view MapPython2Module(std::string_view m) {
  // From CPython's Lib/_compat_pickle.py IMPORT_MAPPING: the ones a gadget
  // could use to hide a dangerous module under its old name.
  static constexpr std::pair<std::string_view, std::string_view> kMap[] = {
      {"__builtin__", "builtins"},   {"copy_reg", "copyreg"},    {"exceptions", "builtins"},
      {"cPickle", "pickle"},         {"commands", "subprocess"}, {"UserDict", "collections"},
      {"urllib2", "urllib.request"}, {"httplib", "http.client"}, {"SocketServer", "socketserver"},
      {"cStringIO", "io"},           {"StringIO", "io"},
  };
  for (const auto& [from, to] : kMap) {
    if (m == from) return to;
  }
  return m;
}

namespace {

bool AnyMatch(const std::vector<std::string>& patterns, const std::string& s) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return fnmatch(p.c_str(), s.c_str(), 0) == 0; });
}

Status StringList(const YAML::Node& n, const YamlReader& yr, std::string_view key,
                  std::vector<std::string>& out) {
  auto v = yr.StrList(n, key);
  if (!v.ok()) return v.status();
  for (size_t i = 0; i < v->size(); i++) {
    if ((*v)[i].empty()) return yr.Error(n[i], fmt::format("{}[{}]", key, i), "must not be empty");
  }
  out.insert(out.end(), v->begin(), v->end());
  return Status::Ok();
}

}  // namespace

ModelGuardPolicy::Judgement ModelGuardPolicy::JudgeGlobal(std::string_view module,
                                                          std::string_view name) const {
  std::string full(MapPython2Module(module));
  full += '.';
  full += name;
  if (std::find(safe_exact_.begin(), safe_exact_.end(), full) != safe_exact_.end()) {
    return {Verdict::kClean, "safe"};
  }
  if (AnyMatch(dangerous_, full)) return {Verdict::kMalicious, "dangerous"};
  // Every dotted tail: find_class walks attributes through dotted names, so
  // "sklearn" + "utils.os.system" is os.system. Only an exact safe entry
  // vouches for a name; a safe pattern does not vouch for its tails.
  for (size_t dot = full.find('.'); dot != std::string::npos; dot = full.find('.', dot + 1)) {
    if (AnyMatch(dangerous_, full.substr(dot + 1))) {
      return {Verdict::kMalicious, "reaches a dangerous global by attribute"};
    }
  }
  if (AnyMatch(safe_, full)) return {Verdict::kClean, "safe"};
  return {Verdict::kSuspicious, "not on the safe list"};
}

Status ModelGuardPolicy::Add(const std::string& text, const std::string& origin) {
  auto root = ParseYaml(text, origin);
  if (!root.ok()) return root.status();
  if (!root->IsMap() || !(*root)["model_guard"]) return Status::Ok();
  const YAML::Node mg = (*root)["model_guard"];
  if (!mg.IsMap()) return Status::Error(YamlWhere(origin, mg), "'model_guard' must be a mapping");
  const YamlReader yr(origin);
  for (const auto& kv : mg) {
    auto k = yr.Key(kv.first, "model_guard");
    if (!k.ok()) return k.status();
    const std::string key = std::move(k).value();
    Status s;
    if (key == "safe_globals") {
      s = StringList(kv.second, yr, key, safe_);
      for (const auto& g : safe_) {
        if (g.find_first_of("*?[") == std::string::npos) safe_exact_.push_back(g);
      }
    } else if (key == "dangerous_globals") {
      s = StringList(kv.second, yr, key, dangerous_);
    } else if (key == "trusted_sha256") {
      std::vector<std::string> v;
      s = StringList(kv.second, yr, key, v);
      for (auto& h : v) {
        std::transform(h.begin(), h.end(), h.begin(), ::tolower);
        if (h.size() != 64 || h.find_first_not_of("0123456789abcdef") != std::string::npos) {
          return Status::Error(YamlWhere(origin, kv.second),
                               fmt::format("trusted_sha256: '{}' is not a sha256 in hex", h));
        }
        trusted_.insert(h);
      }
    } else if (key == "extensions") {
      std::vector<std::string> v;
      s = StringList(kv.second, yr, key, v);
      for (auto& e : v) {
        std::transform(e.begin(), e.end(), e.begin(), ::tolower);
        if (e[0] != '.' || e.size() < 2 || e.size() > 12 || e.find('.', 1) != std::string::npos) {
          return Status::Error(
              YamlWhere(origin, kv.second),
              fmt::format("extensions: '{}' must be one '.suffix' of at most 11 characters", e));
        }
        extensions_.push_back(e);
      }
    } else if (key == "grace_ms") {
      auto ms = yr.U64InRange(kv.second, key, 0, 600000);
      if (!ms.ok()) return ms.status();
      grace_ = std::chrono::milliseconds(*ms);
    } else {
      return Status::Error(YamlWhere(origin, kv.first),
                           fmt::format("unknown model_guard key '{}' (safe_globals, "
                                       "dangerous_globals, trusted_sha256, extensions, grace_ms)",
                                       key));
    }
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Result<ModelGuardPolicy> ModelGuardPolicy::LoadString(const std::string& yaml,
                                                      const std::string& origin) {
  ModelGuardPolicy p;
  if (Status s = p.Add(yaml, origin); !s.ok()) return s;
  return p;
}

Result<ModelGuardPolicy> ModelGuardPolicy::LoadPath(const std::string& path) {
  auto files = ReadPolicyFiles(path);
  if (!files.ok()) return files.status();
  return LoadFiles(*files);
}

Result<ModelGuardPolicy> ModelGuardPolicy::LoadFiles(const std::vector<PolicyFile>& files) {
  ModelGuardPolicy p;
  for (const auto& f : files) {
    if (Status s = p.Add(f.text, f.path); !s.ok()) return s;
  }
  return p;
}

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
#include "common/yaml_reader.h"

#include <fmt/format.h>

#include <charconv>
#include <map>

namespace nbw {
namespace {

std::string LineCol(const YAML::Mark& m) {
  return fmt::format("{}:{}", m.line + 1, m.column + 1);
}

// Walks every node (an alias as often as it is used) and refuses a key
// given twice in a mapping: yaml-cpp keeps both and `n[key]` sees only the
// first, so the second would be dropped without a word. The walk is
// bounded: aliases can make a small file a huge (or cyclic) tree.
Status CheckTree(const YAML::Node& root, const std::string& origin, size_t max_nodes) {
  std::vector<YAML::Node> todo = {root};
  size_t seen = 0;
  while (!todo.empty()) {
    const YAML::Node n = todo.back();
    todo.pop_back();
    if (++seen > max_nodes) {
      return Status::Error(YamlWhere(origin, n),
                           fmt::format("aliases expand the document past {} nodes", max_nodes));
    }
    if (n.IsSequence()) {
      for (const auto& e : n) todo.push_back(e);
    } else if (n.IsMap()) {
      std::map<std::string_view, YAML::Mark> keys;
      for (const auto& kv : n) {
        if (kv.first.IsScalar()) {
          auto [it, fresh] = keys.emplace(kv.first.Scalar(), kv.first.Mark());
          if (!fresh) {
            return Status::Error(YamlWhere(origin, kv.first),
                                 fmt::format("'{}' is given twice in this mapping (first at {})",
                                             kv.first.Scalar(), LineCol(it->second)));
          }
        }
        todo.push_back(kv.first);
        todo.push_back(kv.second);
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<YAML::Node> ParseYaml(const std::string& yaml, const std::string& origin) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(yaml);
  } catch (const YAML::Exception& e) {
    return Status::Error(fmt::format("{}:{}:{}", origin, e.mark.line + 1, e.mark.column + 1),
                         e.msg);
  }
  if (docs.empty()) return YAML::Node();
  if (docs.size() > 1) {
    return Status::Error(YamlWhere(origin, docs[1]),
                         "a second YAML document ('---'): one file holds one document");
  }
  // Without aliases a node takes at least a byte or two of text.
  if (Status s = CheckTree(docs[0], origin, 4 * yaml.size() + 1024); !s.ok()) return s;
  return docs[0];
}

std::string YamlWhere(const std::string& origin, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.line < 0) return origin;
  return fmt::format("{}:{}", origin, LineCol(m));
}

Status YamlReader::Error(const YAML::Node& at, std::string_view field,
                         std::string_view what) const {
  std::string where = Where(at);
  if (!field.empty()) {
    where += ": ";
    where += field;
  }
  return Status::Error(where, what);
}

Status YamlReader::Map(const YAML::Node& n, std::string_view field) const {
  return n.IsMap() ? Status::Ok() : Error(n, field, "must be a mapping");
}

Status YamlReader::List(const YAML::Node& n, std::string_view field) const {
  return n.IsSequence() ? Status::Ok() : Error(n, field, "must be a list");
}

Status YamlReader::KnownKeys(const YAML::Node& map, std::string_view field,
                             std::initializer_list<std::string_view> known) const {
  if (Status s = Map(map, field); !s.ok()) return s;
  for (const auto& kv : map) {
    auto key = Key(kv.first, field);
    if (!key.ok()) return key.status();
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == *key;
    if (!ok) {
      const std::string path = field.empty() ? *key : fmt::format("{}.{}", field, *key);
      return Error(kv.first, path, fmt::format("unknown key ({})", fmt::join(known, ", ")));
    }
  }
  return Status::Ok();
}

Result<std::string> YamlReader::Key(const YAML::Node& key, std::string_view field) const {
  if (!key.IsScalar()) return Error(key, field, "a key must be a string, not a list or mapping");
  if (key.Scalar().find('\0') != std::string::npos) {
    return Error(key, field, "a key must not hold a NUL character");
  }
  return key.Scalar();
}

Result<std::string> YamlReader::Str(const YAML::Node& n, std::string_view field) const {
  // A NUL ("\0" in double quotes) would cut the string short wherever it
  // becomes a path or a C string.
  if (n.IsScalar() && n.Scalar().find('\0') != std::string::npos) {
    return Error(n, field, "must not hold a NUL character");
  }
  if (n.IsScalar()) return n.Scalar();
  if (n.IsSequence()) return Error(n, field, "must be a string, not a list");
  if (n.IsMap()) return Error(n, field, "must be a string, not a mapping");
  return Error(n, field, "must be a string");
}

Result<bool> YamlReader::Bool(const YAML::Node& n, std::string_view field) const {
  bool b = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) {
    return Error(n, field, "must be true or false");
  }
  return b;
}

Result<uint64_t> YamlReader::U64InRange(const YAML::Node& n, std::string_view field, uint64_t lo,
                                        uint64_t hi) const {
  uint64_t v = 0;
  const std::string& s = n.IsScalar() ? n.Scalar() : std::string();
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || v < lo || v > hi) {
    return Error(n, field, fmt::format("must be a whole number from {} to {}", lo, hi));
  }
  return v;
}

Result<int64_t> YamlReader::I64(const YAML::Node& n, std::string_view field) const {
  int64_t v = 0;
  const std::string& s = n.IsScalar() ? n.Scalar() : std::string();
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) {
    return Error(n, field, "must be a whole number");
  }
  return v;
}

Result<std::vector<std::string>> YamlReader::StrList(const YAML::Node& n,
                                                     std::string_view field) const {
  if (!n.IsSequence()) return Error(n, field, "must be a list of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); i++) {
    auto s = Str(n[i], fmt::format("{}[{}]", field, i));
    if (!s.ok()) return s.status();
    out.push_back(std::move(s).value());
  }
  return out;
}

Result<std::vector<std::string>> YamlReader::StrOrList(const YAML::Node& n,
                                                       std::string_view field) const {
  if (!n.IsScalar() && !n.IsSequence()) {
    return Error(n, field, "must be a string or a list of strings");
  }
  if (n.IsSequence()) return StrList(n, field);
  auto s = Str(n, field);
  if (!s.ok()) return s.status();
  return std::vector<std::string>{std::move(s).value()};
}

}  // namespace nbw

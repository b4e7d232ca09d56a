// SPDX-License-Identifier: Apache-2.0
#include "policy/rules.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "common/policy_files.h"
#include "common/yaml_reader.h"
#include "process/proc_fs.h"

namespace nbw {
namespace {

// Calls pred on the value, or on each element of a list value; strings are
// passed without copying (this runs for every rule on every event).
template <typename Pred>
bool AnyString(const FieldValue& v, Pred pred) {
  if (const auto* s = std::get_if<std::string>(&v)) return pred(*s);
  if (std::holds_alternative<std::monostate>(v)) return false;
  if (const auto* l = std::get_if<std::vector<std::string>>(&v)) {
    return std::any_of(l->begin(), l->end(), [&](const std::string& s) { return pred(s); });
  }
  return pred(FieldToString(v));
}

// The longest run of a glob without wildcards: a value that lacks it cannot
// match, which a substring search tells far faster than fnmatch().
std::string GlobLiteral(const std::string& glob) {
  std::string best, cur;
  for (char c : glob) {
    if (c == '*' || c == '?' || c == '[' || c == '\\') {
      if (cur.size() > best.size()) best = cur;
      cur.clear();
    } else {
      cur += c;
    }
  }
  return cur.size() > best.size() ? cur : best;
}

class StringsMatcher : public Matcher {
 public:
  enum class Op { kIn, kPrefix, kSuffix, kContains, kGlob };
  StringsMatcher(Op op, std::vector<std::string> values) : op_(op), values_(std::move(values)) {
    if (op_ == Op::kGlob) {
      for (const auto& g : values_) literals_.push_back(GlobLiteral(g));
    }
  }
  const std::vector<std::string>* InValues() const override {
    return op_ == Op::kIn ? &values_ : nullptr;
  }
  bool Match(const FieldValue& v) const override {
    return AnyString(v, [&](const std::string& s) {
      for (const auto& w : values_) {
        switch (op_) {
          case Op::kIn:
            if (s == w) return true;
            break;
          case Op::kPrefix:
            if (s.starts_with(w)) return true;
            break;
          case Op::kSuffix:
            if (s.ends_with(w)) return true;
            break;
          case Op::kContains:
            if (s.find(w) != std::string::npos) return true;
            break;
          case Op::kGlob: {
            const std::string& lit = literals_[static_cast<size_t>(&w - values_.data())];
            if (s.find(lit) != std::string::npos && fnmatch(w.c_str(), s.c_str(), 0) == 0) {
              return true;
            }
            break;
          }
        }
      }
      return false;
    });
  }

 private:
  const Op op_;
  const std::vector<std::string> values_;
  std::vector<std::string> literals_;  // per glob, see GlobLiteral
};

class RegexMatcher : public Matcher {
 public:
  explicit RegexMatcher(std::regex re) : re_(std::move(re)) {}
  bool Match(const FieldValue& v) const override {
    return AnyString(v, [&](const std::string& s) { return std::regex_search(s, re_); });
  }

 private:
  const std::regex re_;
};

class CompareMatcher : public Matcher {
 public:
  enum class Op { kGt, kGe, kLt, kLe };
  CompareMatcher(Op op, int64_t n) : op_(op), n_(n) {}
  bool Match(const FieldValue& v) const override {
    const auto* i = std::get_if<int64_t>(&v);
    if (!i) return false;
    switch (op_) {
      case Op::kGt: return *i > n_;
      case Op::kGe: return *i >= n_;
      case Op::kLt: return *i < n_;
      case Op::kLe: return *i <= n_;
    }
    return false;
  }

 private:
  const Op op_;
  const int64_t n_;
};

class BoolMatcher : public Matcher {
 public:
  explicit BoolMatcher(bool b) : b_(b), as_values_{b ? "true" : "false"} {}
  bool Match(const FieldValue& v) const override {
    const auto* b = std::get_if<bool>(&v);
    return b && *b == b_;
  }
  const std::vector<std::string>* InValues() const override { return &as_values_; }

 private:
  const bool b_;
  const std::vector<std::string> as_values_;
};

class NotMatcher : public Matcher {
 public:
  explicit NotMatcher(std::unique_ptr<Matcher> m) : m_(std::move(m)) {}
  bool Match(const FieldValue& v) const override { return !m_->Match(v); }

 private:
  const std::unique_ptr<Matcher> m_;
};

// Lists name lists, so a few lines can ask for any number of values
// (l2: [$l1, $l1], l3: [$l2, $l2], ...): what one list or test expands to,
// and what a whole policy does, is bounded.
constexpr size_t kMaxValues = 10000;
constexpr size_t kMaxExpandedBytes = 16 << 20;

class Compiler {
 public:
  Compiler(const YamlReader& yr, const std::map<std::string, std::vector<std::string>>& lists,
           size_t& expanded_bytes)
      : yr_(yr), origin_(yr.origin()), lists_(lists), expanded_bytes_(expanded_bytes) {}

  // Scalars and sequences of scalars; "$name" is a list from `lists:`.
  // `what` names the list or test in an error.
  Result<std::vector<std::string>> Values(const YAML::Node& n, std::string_view what) {
    std::vector<std::string> out;
    auto add = [&](const YAML::Node& e) -> Status {
      if (!e.IsScalar())
        return Status::Error(YamlWhere(origin_, e), "expected a string or a number");
      auto v = yr_.Str(e, what);
      if (!v.ok()) return v.status();
      std::string s = std::move(v).value();
      const std::vector<std::string>* values = nullptr;
      std::vector<std::string> one;
      if (s.starts_with("$")) {
        auto it = lists_.find(s.substr(1));
        if (it == lists_.end())
          return Status::Error(YamlWhere(origin_, e), fmt::format("unknown list '{}'", s));
        values = &it->second;
      } else {
        one.push_back(std::move(s));
        values = &one;
      }
      if (out.size() + values->size() > kMaxValues) {
        return Status::Error(
            YamlWhere(origin_, n),
            fmt::format("{}: expands to more than {} values (a list that names lists holds all "
                        "of their values)",
                        what, kMaxValues));
      }
      for (const auto& x : *values) expanded_bytes_ += sizeof(std::string) + x.size();
      if (expanded_bytes_ > kMaxExpandedBytes) {
        return Status::Error(YamlWhere(origin_, n),
                             fmt::format("{}: the policy's lists and tests expand to more than "
                                         "{} MiB in all",
                                         what, kMaxExpandedBytes >> 20));
      }
      out.insert(out.end(), values->begin(), values->end());
      return Status::Ok();
    };
    if (n.IsSequence()) {
      for (const auto& e : n) {
        if (Status s = add(e); !s.ok()) return s;
      }
    } else if (Status s = add(n); !s.ok()) {
      return s;
    }
    return out;
  }

  Result<std::unique_ptr<Matcher>> CompileMatcher(const YAML::Node& n, const std::string& field) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "true" || s == "false")
        return std::unique_ptr<Matcher>(new BoolMatcher(s == "true"));
      auto v = Values(n, field);
      if (!v.ok()) return v.status();
      return std::unique_ptr<Matcher>(new StringsMatcher(StringsMatcher::Op::kIn, *v));
    }
    if (n.IsSequence()) {
      auto v = Values(n, field);
      if (!v.ok()) return v.status();
      return std::unique_ptr<Matcher>(new StringsMatcher(StringsMatcher::Op::kIn, *v));
    }
    if (!n.IsMap() || n.size() != 1) {
      return Status::Error(YamlWhere(origin_, n),
                           "a test is a value, a list, or one operator: "
                           "{in|prefix|suffix|contains|glob|regex|gt|ge|lt|le|not: ...}");
    }
    const auto kv = *n.begin();
    auto key = yr_.Key(kv.first, field);
    if (!key.ok()) return key.status();
    const std::string op = std::move(key).value();
    const YAML::Node arg = kv.second;
    static const std::map<std::string, StringsMatcher::Op> kStrOps = {
        {"in", StringsMatcher::Op::kIn},
        {"eq", StringsMatcher::Op::kIn},
        {"prefix", StringsMatcher::Op::kPrefix},
        {"suffix", StringsMatcher::Op::kSuffix},
        {"contains", StringsMatcher::Op::kContains},
        {"glob", StringsMatcher::Op::kGlob}};
    static const std::map<std::string, CompareMatcher::Op> kCmpOps = {
        {"gt", CompareMatcher::Op::kGt},
        {"ge", CompareMatcher::Op::kGe},
        {"lt", CompareMatcher::Op::kLt},
        {"le", CompareMatcher::Op::kLe}};
    if (auto it = kStrOps.find(op); it != kStrOps.end()) {
      auto v = Values(arg, field);
      if (!v.ok()) return v.status();
      return std::unique_ptr<Matcher>(new StringsMatcher(it->second, *v));
    }
    if (auto it = kCmpOps.find(op); it != kCmpOps.end()) {
      auto x = yr_.I64(arg, fmt::format("{}.{}", field, op));
      if (!x.ok()) return x.status();
      return std::unique_ptr<Matcher>(new CompareMatcher(it->second, *x));
    }
    if (op == "regex") {
      if (!arg.IsScalar()) return Status::Error(YamlWhere(origin_, arg), "'regex' needs a string");
      try {
        return std::unique_ptr<Matcher>(new RegexMatcher(
            std::regex(arg.Scalar(), std::regex::ECMAScript | std::regex::optimize)));
      } catch (const std::regex_error& e) {
        return Status::Error(YamlWhere(origin_, arg),
                             fmt::format("not a valid regex: {}", e.what()));
      }
    }
    if (op == "not") {
      auto inner = CompileMatcher(arg, field);
      if (!inner.ok()) return inner.status();
      return std::unique_ptr<Matcher>(new NotMatcher(std::move(inner).value()));
    }
    return Status::Error(YamlWhere(origin_, kv.first), fmt::format("unknown operator '{}'", op));
  }

  Result<Condition> CompileCondition(const YAML::Node& n) {
    if (!n.IsMap())
      return Status::Error(YamlWhere(origin_, n), "a condition is a mapping of field: test");
    Condition c;
    for (const auto& kv : n) {
      auto k = yr_.Key(kv.first, "");
      if (!k.ok()) return k.status();
      const std::string key = std::move(k).value();
      if (key == "any" || key == "not") {
        std::vector<YAML::Node> subs;
        if (kv.second.IsSequence()) {
          for (const auto& e : kv.second) subs.push_back(e);
        } else {
          subs.push_back(kv.second);
        }
        for (const auto& sub : subs) {
          auto cc = CompileCondition(sub);
          if (!cc.ok()) return cc.status();
          (key == "any" ? c.any : c.none).push_back(std::move(cc).value());
        }
        continue;
      }
      auto field = ResolveField(key);
      if (!field) {
        return Status::Error(YamlWhere(origin_, kv.first),
                             fmt::format("unknown field '{}' (see docs/policy.md)", key));
      }
      auto m = CompileMatcher(kv.second, key);
      if (!m.ok()) return m.status();
      c.tests.push_back({std::move(*field), std::move(m).value()});
    }
    return c;
  }

 private:
  const YamlReader& yr_;
  const std::string& origin_;
  const std::map<std::string, std::vector<std::string>>& lists_;
  size_t& expanded_bytes_;
};

std::optional<EventKind> ParseKind(std::string_view s) {
  for (int k = NBW_EV_EXEC; k < NBW_EV_KIND_MAX; k++) {
    if (EventKindName(static_cast<EventKind>(k)) == s) return static_cast<EventKind>(k);
  }
  return std::nullopt;
}

}  // namespace

Status CompileKernelPart(Rule& rule, const std::string& where);

std::string_view SeverityName(Severity s) {
  static const char* kNames[] = {"emergency", "alert",  "critical",      "error",
                                 "warning",   "notice", "informational", "debug"};
  return kNames[static_cast<int>(s)];
}

std::optional<Severity> ParseSeverity(std::string_view s) {
  for (int i = 0; i <= static_cast<int>(Severity::kDebug); i++) {
    if (SeverityName(static_cast<Severity>(i)) == s) return static_cast<Severity>(i);
  }
  return std::nullopt;
}

std::string_view RuleActionName(RuleAction a) {
  switch (a) {
    case RuleAction::kAlert: return "alert";
    case RuleAction::kKill: return "kill";
    case RuleAction::kDeny: return "deny";
  }
  return "alert";
}

bool Condition::Eval(const EvalContext& c) const {
  FieldValue scratch;
  for (const auto& t : tests) {
    if (!t.matcher->Match(t.field.ReadRef(c, scratch))) return false;
  }
  if (!any.empty() &&
      std::none_of(any.begin(), any.end(), [&](const Condition& x) { return x.Eval(c); })) {
    return false;
  }
  return std::none_of(none.begin(), none.end(), [&](const Condition& x) { return x.Eval(c); });
}

bool Rule::Matches(const EvalContext& c) const {
  if (!events.count(c.ev.kind)) return false;
  if (!roles.empty() && (!c.proc || !roles.count(c.proc->role))) return false;
  if (!when.Eval(c)) return false;
  return std::none_of(except.begin(), except.end(), [&](const Condition& x) { return x.Eval(c); });
}

std::string Rule::Summarize(const EvalContext& c) const {
  std::string out;
  size_t i = 0;
  while (i < summary.size()) {
    size_t open = summary.find('{', i);
    if (open == std::string::npos) break;
    size_t close = summary.find('}', open);
    if (close == std::string::npos) break;
    out.append(summary, i, open - i);
    auto f = ResolveField(std::string_view(summary).substr(open + 1, close - open - 1));
    out += f ? FieldToString(f->Read(c)) : summary.substr(open, close - open + 1);
    i = close + 1;
  }
  out.append(summary, std::min(i, summary.size()));
  return out;
}

Status RuleSet::AddLists(const YAML::Node& root, const std::string& origin) {
  if (!root || root.IsNull()) return Status::Ok();
  if (!root.IsMap()) return Status::Error(YamlWhere(origin, root), "top level must be a mapping");
  const YamlReader yr(origin);
  for (const auto& kv : root) {
    auto key = yr.Key(kv.first, "");
    if (!key.ok()) return key.status();
    // landlock: rules for nbwarden-exec (policies/landlock/), not the daemon's.
    if (*key != "targets" && *key != "lists" && *key != "rules" && *key != "model_guard" &&
        *key != "landlock") {
      return Status::Error(
          YamlWhere(origin, kv.first),
          fmt::format("unknown section '{}' (targets, lists, rules, model_guard, landlock)", *key));
    }
  }
  if (!root["lists"]) return Status::Ok();
  const YAML::Node lists = root["lists"];
  if (!lists.IsMap())
    return Status::Error(YamlWhere(origin, lists), "'lists' must be a mapping of name: [values]");
  for (const auto& kv : lists) {
    auto key = yr.Key(kv.first, "lists");
    if (!key.ok()) return key.status();
    const std::string name = std::move(key).value();
    if (lists_.count(name)) {
      return Status::Error(YamlWhere(origin, kv.first),
                           fmt::format("list '{}' defined twice", name));
    }
    Compiler comp(yr, lists_, expanded_bytes_);
    auto v = comp.Values(kv.second, fmt::format("list '{}'", name));
    if (!v.ok()) return v.status();
    lists_[name] = std::move(*v);
  }
  return Status::Ok();
}

namespace {

// Every {field} in a summary names a field: a typo would be printed
// literally in every alert.
Status CheckSummary(const std::string& summary, const YAML::Node& at, const YamlReader& yr) {
  for (size_t open = summary.find('{'); open != std::string::npos;
       open = summary.find('{', open + 1)) {
    const size_t close = summary.find('}', open);
    if (close == std::string::npos) break;
    const std::string_view name = std::string_view(summary).substr(open + 1, close - open - 1);
    if (!ResolveField(name)) {
      return yr.Error(at, "summary",
                      fmt::format("unknown field '{{{}}}' (see docs/policy.md)", name));
    }
  }
  return Status::Ok();
}

}  // namespace

Status RuleSet::AddRules(const YAML::Node& root, const std::string& origin) {
  if (!root || !root.IsMap() || !root["rules"]) return Status::Ok();
  const YAML::Node rules = root["rules"];
  if (!rules.IsSequence()) return Status::Error(YamlWhere(origin, rules), "'rules' must be a list");
  const YamlReader yr(origin);
  for (const auto& r : rules) {
    if (!r.IsMap()) return Status::Error(YamlWhere(origin, r), "a rule must be a mapping");
    auto rule = std::make_unique<Rule>();
    rule->source = YamlWhere(origin, r);
    for (const auto& kv : r) {
      auto key = yr.Key(kv.first, "");
      if (!key.ok()) return key.status();
      static const std::set<std::string> kKeys = {"id",    "name",   "description", "event",
                                                  "roles", "when",   "except",      "severity",
                                                  "mitre", "action", "summary",     "enabled"};
      if (!kKeys.count(*key)) {
        return Status::Error(YamlWhere(origin, kv.first),
                             fmt::format("unknown rule field '{}'", *key));
      }
    }
    auto scalar = [&](const char* key, std::string& out, bool required) -> Status {
      const YAML::Node n = r[key];
      if (!n)
        return required ? Status::Error(rule->source, fmt::format("rule needs '{}'", key))
                        : Status::Ok();
      auto v = yr.Str(n, key);
      if (!v.ok()) return v.status();
      out = std::move(v).value();
      return Status::Ok();
    };
    if (Status s = scalar("id", rule->id, true); !s.ok()) return s;
    if (Status s = scalar("name", rule->name, true); !s.ok()) return s;
    if (Status s = scalar("description", rule->description, false); !s.ok()) return s;
    if (Status s = scalar("summary", rule->summary, false); !s.ok()) return s;
    if (Status s = CheckSummary(rule->summary, r["summary"], yr); !s.ok()) return s;
    if (r["enabled"]) {
      auto enabled = yr.Bool(r["enabled"], "enabled");
      if (!enabled.ok()) return enabled.status();
      if (!*enabled) continue;
    }
    for (const auto& other : rules_) {
      if (other->id == rule->id) {
        return Status::Error(
            rule->source, fmt::format("rule id '{}' already used at {}", rule->id, other->source));
      }
    }
    Compiler comp(yr, lists_, expanded_bytes_);
    const std::string ctx = fmt::format("rule {}", rule->id);

    if (!r["event"]) return Status::Error(rule->source, ctx + " needs 'event'");
    auto kinds = comp.Values(r["event"], "event");
    if (!kinds.ok()) return kinds.status();
    for (const auto& k : *kinds) {
      auto kind = ParseKind(k);
      if (!kind) {
        return Status::Error(YamlWhere(origin, r["event"]),
                             fmt::format("{}: unknown event '{}' (exec, fork, exit, open, net, "
                                         "socket, dup, syscall, signal, model, seccomp)",
                                         ctx, k));
      }
      rule->events.insert(*kind);
    }
    if (r["roles"]) {
      auto roles = comp.Values(r["roles"], "roles");
      if (!roles.ok()) return roles.status();
      rule->roles.insert(roles->begin(), roles->end());
    }
    if (r["when"]) {
      auto c = comp.CompileCondition(r["when"]);
      if (!c.ok()) return c.status();
      rule->when = std::move(c).value();
    }
    if (r["except"]) {
      if (!r["except"].IsSequence())
        return Status::Error(YamlWhere(origin, r["except"]),
                             "'except' must be a list of conditions");
      for (const auto& e : r["except"]) {
        auto c = comp.CompileCondition(e);
        if (!c.ok()) return c.status();
        rule->except.push_back(std::move(c).value());
      }
    }
    std::string sev;
    if (Status s = scalar("severity", sev, true); !s.ok()) return s;
    auto severity = ParseSeverity(sev);
    if (!severity) {
      return Status::Error(
          YamlWhere(origin, r["severity"]),
          fmt::format("{}: severity '{}' is not one of emergency, alert, critical, "
                      "error, warning, notice, informational, debug",
                      ctx, sev));
    }
    rule->severity = *severity;
    if (r["mitre"]) {
      auto m = comp.Values(r["mitre"], "mitre");
      if (!m.ok()) return m.status();
      for (const auto& id : *m) {
        static const std::regex kAttack("^T[0-9]{4}(\\.[0-9]{3})?$");
        if (!std::regex_match(id, kAttack)) {
          return Status::Error(
              YamlWhere(origin, r["mitre"]),
              fmt::format("{}: '{}' is not an ATT&CK technique id (T1234 or T1234.001)", ctx, id));
        }
      }
      rule->mitre = std::move(*m);
    }
    std::string action = "alert";
    if (Status s = scalar("action", action, false); !s.ok()) return s;
    if (action == "alert") {
      rule->action = RuleAction::kAlert;
    } else if (action == "kill" || action == "deny") {
      rule->action = action == "kill" ? RuleAction::kKill : RuleAction::kDeny;
      if (Status s = CompileKernelPart(*rule, YamlWhere(origin, r["action"])); !s.ok()) return s;
    } else {
      return Status::Error(
          YamlWhere(origin, r["action"]),
          fmt::format("{}: action '{}' is not one of alert, kill, deny", ctx, action));
    }
    if (rule->summary.empty()) rule->summary = rule->name;
    rules_.push_back(std::move(rule));
  }
  return Status::Ok();
}

// Kill and deny happen in the kernel, which judges only simple tests. A rule
// asking for more is refused, never silently downgraded to an alert.
Status CompileKernelPart(Rule& rule, const std::string& where) {
  const bool kill = rule.action == RuleAction::kKill;
  const std::string ctx = fmt::format("rule {}: action '{}'", rule.id, kill ? "kill" : "deny");
  if (!rule.when.any.empty() || !rule.when.none.empty() || !rule.except.empty()) {
    return Status::Error(where, ctx + ": the kernel cannot judge 'any', 'not' or 'except'");
  }
  if (rule.events != std::set<EventKind>{kill ? EventKind::kExec : EventKind::kNet}) {
    return Status::Error(
        where, ctx + (kill ? " applies to 'event: exec' only" : " applies to 'event: net' only"));
  }
  for (const auto& t : rule.when.tests) {
    const std::vector<std::string>* values = t.matcher->InValues();
    const std::string& f = t.field.name;
    if (f == "model.loading") {
      if (!values || *values != std::vector<std::string>{"true"}) {
        return Status::Error(where, ctx + ": the kernel judges 'model.loading: true' only");
      }
      rule.kernel.model_window = true;
      continue;
    }
    const bool ok = values && (kill ? f == "exec.name"
                                    : f == "net.address" || f == "net.port" || f == "net.op");
    if (!ok) {
      return Status::Error(
          where, fmt::format("{}: the kernel cannot judge '{}' with this test; it judges {} "
                             "with a value or 'in' list, model.loading: true, and roles",
                             ctx, f, kill ? "exec.name" : "net.op, net.address and net.port"));
    }
    if (f == "exec.name") {
      for (const auto& n : *values) rule.kernel.exec_names.push_back(n.substr(0, 15));
    } else if (f == "net.op") {
      if (*values != std::vector<std::string>{"connect"}) {
        return Status::Error(where, ctx + ": only connects can be denied (net.op: connect)");
      }
    } else if (f == "net.port") {
      for (const auto& p : *values) {
        unsigned port = 0;
        auto r = std::from_chars(p.data(), p.data() + p.size(), port);
        if (r.ec != std::errc() || r.ptr != p.data() + p.size() || port == 0 || port > 65535) {
          return Status::Error(where, fmt::format("{}: '{}' is not a port", ctx, p));
        }
        rule.kernel.ports.push_back(static_cast<uint16_t>(port));
      }
    } else {  // net.address
      for (const auto& a : *values) {
        Rule::KernelPart::Addr addr;
        uint8_t buf[16];
        if (inet_pton(AF_INET, a.c_str(), buf) == 1) {
          addr = {AF_INET, {buf, buf + 4}};
        } else if (inet_pton(AF_INET6, a.c_str(), buf) == 1) {
          addr = {AF_INET6, {buf, buf + 16}};
        } else {
          return Status::Error(where, fmt::format("{}: '{}' is not an IP address", ctx, a));
        }
        rule.kernel.addrs.push_back(std::move(addr));
      }
    }
  }
  if (rule.kernel.model_window) {
    // Inside a model-load window the kernel stops everything of the kind:
    // a payload can run any program and dial any address.
    if (!rule.kernel.exec_names.empty() || !rule.kernel.addrs.empty() ||
        !rule.kernel.ports.empty()) {
      return Status::Error(where, ctx + (kill ? ": with model.loading the kernel kills every "
                                                "exec in the window; drop exec.name"
                                              : ": with model.loading the kernel refuses every "
                                                "connect in the window; drop net.address and "
                                                "net.port"));
    }
    return Status::Ok();
  }
  if (kill && rule.kernel.exec_names.empty()) {
    return Status::Error(where, ctx + " needs 'exec.name: {in: [...]}'");
  }
  if (!kill && rule.kernel.addrs.empty()) {
    return Status::Error(where, ctx + " needs 'net.address: {in: [...]}'");
  }
  return Status::Ok();
}

void RuleSet::Index() {
  by_kind_.clear();
  for (const auto& r : rules_) {
    for (EventKind k : r->events) by_kind_[k].push_back(r.get());
  }
}

const std::vector<const Rule*>& RuleSet::ForKind(EventKind k) const {
  static const std::vector<const Rule*> kNone;
  auto it = by_kind_.find(k);
  return it == by_kind_.end() ? kNone : it->second;
}

Result<RuleSet> RuleSet::LoadString(const std::string& yaml, const std::string& origin) {
  auto root = ParseYaml(yaml, origin);
  if (!root.ok()) return root.status();
  RuleSet set;
  if (Status s = set.AddLists(*root, origin); !s.ok()) return s;
  if (Status s = set.AddRules(*root, origin); !s.ok()) return s;
  set.Index();
  return set;
}

Result<RuleSet> RuleSet::LoadPath(const std::string& path) {
  auto files = ReadPolicyFiles(path);
  if (!files.ok()) return files.status();
  return LoadFiles(*files);
}

Result<RuleSet> RuleSet::LoadFiles(const std::vector<PolicyFile>& files) {
  std::vector<YAML::Node> roots;
  for (const auto& f : files) {
    auto root = ParseYaml(f.text, f.path);
    if (!root.ok()) return root.status();
    roots.push_back(std::move(root).value());
  }
  RuleSet set;
  // Lists first, from every file, so a rule may use a list defined anywhere.
  for (size_t i = 0; i < roots.size(); i++) {
    if (Status s = set.AddLists(roots[i], files[i].path); !s.ok()) return s;
  }
  for (size_t i = 0; i < roots.size(); i++) {
    if (Status s = set.AddRules(roots[i], files[i].path); !s.ok()) return s;
  }
  set.Index();
  return set;
}

}  // namespace nbw

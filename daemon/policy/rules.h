// SPDX-License-Identifier: Apache-2.0
// Rules: what turns an event into an alert. Loaded from the `lists:` and
// `rules:` sections of the policy YAML (docs/policy.md). A rule names the
// event types it applies to, the roles, a condition on fields, exceptions,
// a severity, MITRE ATT&CK ids and an action. Compiled once at load (field
// names resolved, regexes built, lists expanded): evaluation does no lookup
// by name. Immutable after load; safe to share.
#pragma once

#include <yaml-cpp/yaml.h>

#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "common/policy_files.h"
#include "common/status.h"
#include "policy/fields.h"

namespace nbw {

enum class Severity {
  kEmergency,
  kAlert,
  kCritical,
  kError,
  kWarning,
  kNotice,
  kInformational,
  kDebug
};
std::string_view SeverityName(Severity s);
std::optional<Severity> ParseSeverity(std::string_view s);

enum class RuleAction { kAlert, kKill, kDeny };
std::string_view RuleActionName(RuleAction a);

// One test on a field value.
class Matcher {
 public:
  virtual ~Matcher() = default;
  virtual bool Match(const FieldValue& v) const = 0;
  // For an "in" (or plain value) test, its values; else null. Used to
  // compile kill/deny rules into kernel maps.
  virtual const std::vector<std::string>* InValues() const { return nullptr; }
};

// All of `tests` hold, any of `any` holds (if present), none of `none` do.
struct Condition {
  struct Test {
    FieldRef field;
    std::unique_ptr<Matcher> matcher;
  };
  std::vector<Test> tests;
  std::vector<Condition> any;
  std::vector<Condition> none;
  bool Eval(const EvalContext& c) const;
};

struct Rule {
  std::string id;
  std::string name;
  std::string description;
  std::set<EventKind> events;
  std::set<std::string> roles;  // empty: every role
  Condition when;
  std::vector<Condition> except;
  Severity severity = Severity::kWarning;
  std::vector<std::string> mitre;
  RuleAction action = RuleAction::kAlert;
  std::string summary;  // "{proc.name} read {open.path}": fields in braces
  // What the kernel enforces for kill/deny rules (compiled at load).
  struct KernelPart {
    std::vector<std::string> exec_names;  // kill: comm after exec (first 15 bytes)
    struct Addr {
      int family;                  // AF_INET or AF_INET6
      std::vector<uint8_t> bytes;  // network order, 4 or 16
    };
    std::vector<Addr> addrs;      // deny: connect destinations
    std::vector<uint16_t> ports;  // deny: empty = any port
    bool model_window = false;    // model.loading: every exec/connect inside a window
  } kernel;
  std::string source;  // file:line:col

  // The whole rule: event type, role, condition, no exception.
  bool Matches(const EvalContext& c) const;
  std::string Summarize(const EvalContext& c) const;
};

class RuleSet {
 public:
  static Result<RuleSet> LoadPath(const std::string& path);
  static Result<RuleSet> LoadFiles(const std::vector<PolicyFile>& files);
  static Result<RuleSet> LoadString(const std::string& yaml, const std::string& origin);
  RuleSet(RuleSet&&) = default;
  RuleSet& operator=(RuleSet&&) = default;

  const std::vector<std::unique_ptr<Rule>>& rules() const { return rules_; }
  // The rules that apply to an event kind, in file order.
  const std::vector<const Rule*>& ForKind(EventKind k) const;

 private:
  RuleSet() = default;
  Status AddLists(const YAML::Node& root, const std::string& origin);
  Status AddRules(const YAML::Node& root, const std::string& origin);
  void Index();

  std::map<std::string, std::vector<std::string>> lists_;
  std::vector<std::unique_ptr<Rule>> rules_;
  std::map<EventKind, std::vector<const Rule*>> by_kind_;
  size_t expanded_bytes_ = 0;  // what lists and tests expand to, bounded (rules.cc)
};

}  // namespace nbw

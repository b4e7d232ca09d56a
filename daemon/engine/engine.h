// SPDX-License-Identifier: Apache-2.0
// Engine: runs the rules that apply to an event's kind and reports each
// match. Holds the compiled RuleSet; swapped whole on reload. io_context
// thread only.
#pragma once

#include <cstdint>
#include <functional>

#include "policy/rules.h"

namespace nbw {

struct EngineCounters {
  uint64_t evaluated = 0;  // events that had at least one candidate rule
  uint64_t matches = 0;
};

class Engine {
 public:
  explicit Engine(RuleSet rules) : rules_(std::move(rules)) {}
  using OnMatch = std::function<void(const Rule&, const EvalContext&)>;

  void Evaluate(const EvalContext& ctx, const OnMatch& on_match);
  void Replace(RuleSet rules) { rules_ = std::move(rules); }
  const RuleSet& rules() const { return rules_; }
  const EngineCounters& counters() const { return counters_; }

 private:
  RuleSet rules_;
  EngineCounters counters_;
};

}  // namespace nbw

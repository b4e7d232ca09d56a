// SPDX-License-Identifier: Apache-2.0
// AlertLimiter: deduplication and rate limiting per rule and target. Within
// a window (from a (rule, target)'s first alert), an alert whose summary was
// already raised is a duplicate, and alerts past `burst` are over the rate:
// both are folded, not emitted, and counted. When the window ends, what was
// folded is reported (one alert per (rule, target), at the rule's severity)
// so a flood still says how big it was. One thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "policy/rules.h"

namespace nbw {

struct LimiterConfig {
  bool enabled = false;
  std::chrono::seconds window{60};
  uint32_t burst = 20;  // alerts per (rule, target) per window
  bool dedup = true;    // fold repeats of the same summary
};

struct FoldReport {
  std::string rule_id, rule_name;
  Severity severity = Severity::kWarning;
  uint32_t target = 0;
  uint64_t duplicates = 0, over_rate = 0;
  std::string last_summary;
};

class AlertLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit AlertLimiter(LimiterConfig c) : cfg_(c) {}

  // True: emit it. False: folded (and counted).
  bool Admit(const std::string& rule_id, const std::string& rule_name, Severity sev,
             uint32_t target, const std::string& summary, Clock::time_point now);
  // Windows that ended by `now` and folded something; they are forgotten.
  std::vector<FoldReport> Expire(Clock::time_point now);
  uint64_t folded() const { return folded_; }

 private:
  struct Window {
    Clock::time_point start;
    uint32_t emitted = 0;
    std::set<size_t> summaries;  // hashes, bounded
    FoldReport report;
  };
  LimiterConfig cfg_;
  std::map<std::pair<std::string, uint32_t>, Window> windows_;
  std::vector<FoldReport> pending_;  // ended windows seen by Admit
  uint64_t folded_ = 0;
};

}  // namespace nbw

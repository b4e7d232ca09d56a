// SPDX-License-Identifier: Apache-2.0
#include "alert/limiter.h"

#include <functional>

namespace nbw {

namespace {
constexpr size_t kMaxSummaries = 1024;  // per window: past this, only the rate limit
constexpr size_t kMaxWindows = 65536;   // (rule, target) pairs at once
}  // namespace

bool AlertLimiter::Admit(const std::string& rule_id, const std::string& rule_name, Severity sev,
                         uint32_t target, const std::string& summary, Clock::time_point now) {
  if (!cfg_.enabled) return true;
  auto key = std::make_pair(rule_id, target);
  auto it = windows_.find(key);
  if (it != windows_.end() && now - it->second.start >= cfg_.window) {
    // Ended: its folds are reported by the next Expire; start afresh.
    if (it->second.report.duplicates || it->second.report.over_rate) {
      pending_.push_back(std::move(it->second.report));
    }
    windows_.erase(it);
    it = windows_.end();
  }
  if (it == windows_.end()) {
    if (windows_.size() >= kMaxWindows) return true;  // never fold blindly
    Window w;
    w.start = now;
    w.report.rule_id = rule_id;
    w.report.rule_name = rule_name;
    w.report.severity = sev;
    w.report.target = target;
    it = windows_.emplace(key, std::move(w)).first;
  }
  Window& w = it->second;
  const size_t h = std::hash<std::string>{}(summary);
  if (cfg_.dedup && w.summaries.count(h)) {
    w.report.duplicates++;
    w.report.last_summary = summary;
    folded_++;
    return false;
  }
  // Known from now on, emitted or not: its repeats are repeats.
  if (w.summaries.size() < kMaxSummaries) w.summaries.insert(h);
  if (w.emitted >= cfg_.burst) {
    w.report.over_rate++;
    w.report.last_summary = summary;
    folded_++;
    return false;
  }
  w.emitted++;
  return true;
}

std::vector<FoldReport> AlertLimiter::Expire(Clock::time_point now) {
  std::vector<FoldReport> out = std::move(pending_);
  pending_.clear();
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (now - it->second.start < cfg_.window) {
      ++it;
      continue;
    }
    if (it->second.report.duplicates || it->second.report.over_rate) {
      out.push_back(std::move(it->second.report));
    }
    it = windows_.erase(it);
  }
  return out;
}

}  // namespace nbw

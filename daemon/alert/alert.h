// SPDX-License-Identifier: Apache-2.0
// Alert: what a rule concluded about an event, rendered as one JSON line
// (schema "nbwarden.alert/v1", docs/alert.schema.json). Alerts are data for
// the SOC, never log lines. Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/rules.h"
#include "process/process_table.h"
#include "scan/model_load.h"
#include "sensor/event.h"

namespace nbw {

struct AlertRuleRef {
  std::string id;
  std::string name;
  Severity severity = Severity::kWarning;
  std::vector<std::string> mitre;
};

// Appends the alert line (no newline). `event` is the event's rendered JSON
// (RenderEvent), embedded as is; empty for alerts about nbwarden itself.
// `action` is what was done: "alert" (reported only), "killed", "denied".
// `model`: the model-load window the event happened in (or opened): path,
// sha256, scan verdict and findings go in a "model" object.
void RenderAlert(const AlertRuleRef& rule, std::string_view action, std::string_view summary,
                 uint64_t time_ns, std::string_view host, const ProcessInfo* proc,
                 const std::vector<AncestorRef>& ancestry, std::string_view event, std::string& out,
                 const ModelLoad* model = nullptr);

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// Rendering events as JSON lines (schema "nbwarden.event/v1", documented in
// docs/events.md). Pure functions of the event and what the process table
// knows; syscall arguments and names come from the typed view
// (sensor/describe.h) that rules read too. Any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/json_writer.h"
#include "process/process_table.h"
#include "sensor/event.h"

namespace nbw {

// RFC 3339 with nanoseconds, UTC.
std::string FormatTime(uint64_t realtime_ns);

// Appends the event as one JSON line (no newline) to `out`. `proc` may be
// null (process unknown to the table). Invalid UTF-8 becomes U+FFFD.
void RenderEvent(const Event& ev, const ProcessInfo* proc, std::string_view host, std::string& out);
// The "target" object: role, selector, Jupyter identity, container.
void WriteTarget(JsonWriter& w, const ProcessInfo& p);
// RenderEvent parsed back: for tests and tools, not the hot path.
nlohmann::json EventToJson(const Event& ev, const ProcessInfo* proc, std::string_view host);

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// Rendering events as JSON lines (schema "nbwarden.event/v1", documented in
// docs/events.md). Pure functions of the event and what the process table
// knows; any thread.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "process/process_table.h"
#include "sensor/event.h"

namespace nbw {

std::string_view SyscallName(int nr);
// RFC 3339 with nanoseconds, UTC.
std::string FormatTime(uint64_t realtime_ns);
// Names of the bits set in flags, from a table; unknown bits as hex.
std::string ErrnoName(int err);

// `proc` may be null (process unknown to the table).
nlohmann::json EventToJson(const Event& ev, const ProcessInfo* proc, std::string_view host);
nlohmann::json TargetJson(const ProcessInfo& p);
// One line, no trailing newline; invalid UTF-8 replaced, never thrown on.
std::string DumpLine(const nlohmann::json& j);

}  // namespace nbw

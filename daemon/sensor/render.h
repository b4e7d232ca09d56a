// SPDX-License-Identifier: Apache-2.0
// Rendering events as JSON lines (schema "nbwarden.event/v1", documented in
// docs/events.md). Pure functions of the event and what the process table
// knows; any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/json_writer.h"
#include "process/process_table.h"
#include "sensor/event.h"

namespace nbw {

std::string_view SyscallName(int nr);
// The event's syscall named in the ABI it was made in: an i386 syscall
// (int 0x80; NBW_F_SYSCALL_I386) or an x32 one (number | 0x40000000) is not
// the x86_64 syscall of that number. SyscallArch: libseccomp's name of the
// ABI: "x86_64", "x86" (i386), "x32".
std::string_view EventSyscallName(const Event& ev);
std::string_view SyscallArch(const Event& ev);
// A seccomp event's action: "errno", "trap", "kill_thread", "kill_process".
std::string_view SeccompActionName(const Event& ev);
// RFC 3339 with nanoseconds, UTC.
std::string FormatTime(uint64_t realtime_ns);
// The absolute path an open or exec event names: the kernel's path of the
// file, or for a failed call the caller's path joined to its base dir.
std::string EventPath(const Event& ev);
// "ENOENT" for 2; the number if unknown.
std::string ErrnoName(int err);

// Appends the event as one JSON line (no newline) to `out`. `proc` may be
// null (process unknown to the table). Invalid UTF-8 becomes U+FFFD.
void RenderEvent(const Event& ev, const ProcessInfo* proc, std::string_view host, std::string& out);
// The "target" object: role, selector, Jupyter identity, container.
void WriteTarget(JsonWriter& w, const ProcessInfo& p);
// RenderEvent parsed back: for tests and tools, not the hot path.
nlohmann::json EventToJson(const Event& ev, const ProcessInfo* proc, std::string_view host);

}  // namespace nbw

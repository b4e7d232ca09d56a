// SPDX-License-Identifier: Apache-2.0
// The typed view of an event: names for the numbers the kernel sends, and
// each syscall event's named arguments (docs/events.md, "args"). The event
// renderer writes exactly these values and rules (args.*, syscall, errno,
// fork.namespaces) test exactly these values: nothing is rendered to text and
// parsed back. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sensor/event.h"

namespace nbw {

// "openat" for 257; empty if this architecture has no such syscall.
std::string_view SyscallName(int nr);
// The event's syscall named in the ABI it was made in: an i386 syscall
// (int 0x80; NBW_F_SYSCALL_I386) or an x32 one (number | 0x40000000) is not
// the x86_64 syscall of that number. SyscallArch: libseccomp's name of the
// ABI: "x86_64", "x86" (i386), "x32".
std::string_view EventSyscallName(const Event& ev);
std::string_view SyscallArch(const Event& ev);
// A seccomp event's action: "errno", "trap", "kill_thread", "kill_process".
std::string_view SeccompActionName(const Event& ev);
// "ENOENT" for 2; the number if unknown.
std::string ErrnoName(int err);
// The absolute path an open or exec event names: the kernel's path of the
// file, or for a failed call the caller's path joined to its base dir.
std::string EventPath(const Event& ev);
// The namespaces CLONE_NEW* bits name ("mnt", "user", ...), in a fixed
// order; bits that name none are one "0x..." entry at the end.
std::vector<std::string> NamespaceNames(uint64_t flags);
// The namespaces a clone created: only the namespace bits of its flags.
std::vector<std::string> CloneNamespaces(uint64_t clone_flags);

// One named argument of a syscall event. Signed values (pids, fds, uids as
// the caller passed them) are int64_t, flags and sizes uint64_t.
using ArgValue = std::variant<std::string, int64_t, uint64_t, std::vector<std::string>>;
struct NamedArg {
  std::string_view name;  // static storage: "namespaces", "request", ...
  ArgValue value;
};

// A kSyscall event's arguments, in the order docs/events.md lists them;
// empty for other kinds and for syscalls without named arguments.
std::vector<NamedArg> SyscallArgs(const Event& ev);

}  // namespace nbw

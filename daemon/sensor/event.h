// SPDX-License-Identifier: Apache-2.0
// Event: one thing the sensor saw, decoded and validated from a ring-buffer
// record (bpf/events.h). Plain value type; owned by whoever holds it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" {
#include <linux/types.h>

#include "events.h"
}

#include "sensor/exec_env.h"

namespace nbw {

enum class EventKind : uint16_t {
  kExec = NBW_EV_EXEC,
  kFork = NBW_EV_FORK,
  kExit = NBW_EV_EXIT,
  kOpen = NBW_EV_OPEN,
  kNet = NBW_EV_NET,
  kSocket = NBW_EV_SOCKET,
  kDup = NBW_EV_DUP,
  kSyscall = NBW_EV_SYSCALL,
  kSignal = NBW_EV_SIGNAL,
  kModel = NBW_EV_MODEL,
  kSeccomp = NBW_EV_SECCOMP,
};

std::string_view EventKindName(EventKind k);

struct Event {
  EventKind kind{};
  uint64_t boot_ns = 0;      // kernel timestamp (CLOCK_BOOTTIME)
  uint64_t realtime_ns = 0;  // boot_ns converted to wall clock by the sensor
  uint32_t pid = 0, tgid = 0, ppid = 0;
  uint32_t uid = 0, euid = 0;
  uint32_t flags = 0;
  uint32_t mnt_ns = 0, pid_ns = 0, net_ns = 0;
  int32_t syscall = -1;
  int64_t ret = 0;
  std::string comm;
  std::array<uint64_t, 6> args{};
  // Blobs as sent; strings without their trailing NUL. present[i] tells an
  // empty blob from an absent one.
  std::array<std::string, NBW_NSTR> str;
  std::array<bool, NBW_NSTR> present{};
  // exec: the variables of sensor/exec_env.h the new program's environment
  // sets, from blob 4. Never rendered; rules read them as exec.env.<NAME>.
  EnvVars env;

  bool candidate() const { return flags & NBW_F_CANDIDATE; }
  bool truncated() const { return flags & NBW_F_TRUNCATED; }
  // exec: the environment scan hit a bound (bpf/events.h: NBW_ENV_*), so a
  // variable may be missing from `env` or cut.
  bool env_truncated() const { return flags & NBW_F_ENV_CUT; }
  // exec: a captured variable's value, empty if unset.
  std::string_view EnvValue(std::string_view name) const {
    auto it = env.find(name);
    return it == env.end() ? std::string_view() : std::string_view(it->second);
  }
};

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
#include "sensor/decode.h"

#include <fmt/format.h>
#include <sys/syscall.h>

#include <cstring>

#include "sensor/exec_env.h"

namespace nbw {

// The ABI in bpf/events.h, pinned: a layout change must come with a version
// bump and these numbers changed on purpose.
static_assert(NBW_ABI_VERSION == 5);
static_assert(sizeof(struct nbw_model_window) == 32);
static_assert(sizeof(struct nbw_model_cfg) == 16);
static_assert(sizeof(struct nbw_hdr) == 80);
static_assert(offsetof(struct nbw_hdr, ts_boot_ns) == 8);
static_assert(offsetof(struct nbw_hdr, ret) == 56);
static_assert(offsetof(struct nbw_hdr, comm) == 64);
static_assert(sizeof(struct nbw_event) == 144);
static_assert(sizeof(struct nbw_env_key) == NBW_ENV_NAME_MAX);
static_assert(NBW_ENV_ENTRY_MAX <= NBW_STR_MAX && NBW_ENV_SCAN_MAX > 10000);
static_assert(offsetof(struct nbw_event, str_len) == 128);

std::string_view EventKindName(EventKind k) {
  switch (k) {
    case EventKind::kExec: return "exec";
    case EventKind::kFork: return "fork";
    case EventKind::kExit: return "exit";
    case EventKind::kOpen: return "open";
    case EventKind::kNet: return "net";
    case EventKind::kSocket: return "socket";
    case EventKind::kDup: return "dup";
    case EventKind::kSyscall: return "syscall";
    case EventKind::kSignal: return "signal";
    case EventKind::kModel: return "model";
    case EventKind::kSeccomp: return "seccomp";
  }
  return "unknown";
}

// Blobs that are C strings (the rest are binary: argv, sockaddrs, structs).
static bool BlobIsString(const struct nbw_event& ev, int i) {
  switch (ev.hdr.kind) {
    case NBW_EV_EXEC:  // 1: argv, 4: environment variables
      return (i != 1 && i != 4) || (ev.hdr.flags & NBW_F_PATH_RAW);
    case NBW_EV_OPEN:
    case NBW_EV_MODEL: return true;
    case NBW_EV_SYSCALL:
      // BL_UBYTES blobs in bpf/priv.bpf.h are raw structs.
      return ev.hdr.syscall != SYS_capset && ev.hdr.syscall != SYS_perf_event_open &&
             ev.hdr.syscall != SYS_io_uring_setup;
    default: return false;
  }
}

// Blob 4 of an exec: "NAME=value" entries, each NUL terminated, of the
// names the sensor asked for (sensor/exec_env.h) and no others.
static Status DecodeExecEnv(std::string_view blob, EnvVars& env) {
  if (!blob.empty() && blob.back() != '\0') {
    return Status::Error("sensor record", "exec environment does not end with a NUL");
  }
  while (!blob.empty()) {
    const std::string_view entry = blob.substr(0, blob.find('\0'));
    blob.remove_prefix(entry.size() + 1);
    const size_t eq = entry.find('=');
    const std::string_view name = entry.substr(0, eq);
    if (eq == std::string_view::npos || !IsExecEnvName(name)) {
      return Status::Error("sensor record",
                           fmt::format("exec environment entry '{}' is not a requested variable",
                                       entry.substr(0, NBW_ENV_NAME_MAX)));
    }
    const std::string_view value = entry.substr(eq + 1);
    auto [it, fresh] = env.try_emplace(std::string(name), value);
    if (!fresh) it->second.append(":").append(value);
  }
  return Status::Ok();
}

Result<Event> DecodeEvent(std::span<const std::byte> rec, int64_t realtime_offset_ns) {
  struct nbw_event ev;
  if (rec.size() < sizeof ev) {
    return Status::Error("sensor record", fmt::format("{} bytes, shorter than the fixed part ({})",
                                                      rec.size(), sizeof ev));
  }
  std::memcpy(&ev, rec.data(), sizeof ev);
  if (ev.hdr.abi != NBW_ABI_VERSION) {
    return Status::Error("sensor record",
                         fmt::format("ABI version {}, expected {}", ev.hdr.abi, NBW_ABI_VERSION));
  }
  if (ev.hdr.kind == 0 || ev.hdr.kind >= NBW_EV_KIND_MAX) {
    return Status::Error("sensor record", fmt::format("unknown kind {}", ev.hdr.kind));
  }
  // The ring buffer rounds records up to 8 bytes; the header has the real size.
  if (ev.hdr.size < sizeof ev || ev.hdr.size > rec.size()) {
    return Status::Error("sensor record", fmt::format("size field {} but record is {} bytes",
                                                      ev.hdr.size, rec.size()));
  }
  size_t total = 0;
  for (int i = 0; i < NBW_NSTR; i++) {
    if (ev.str_len[i] > NBW_STR_MAX) {
      return Status::Error("sensor record", fmt::format("blob {} length {} over bound {}", i,
                                                        ev.str_len[i], NBW_STR_MAX));
    }
    total += ev.str_len[i];
  }
  if (total != ev.hdr.size - sizeof ev) {
    return Status::Error("sensor record", fmt::format("blob lengths add to {}, record has {}",
                                                      total, ev.hdr.size - sizeof ev));
  }

  Event out;
  out.kind = static_cast<EventKind>(ev.hdr.kind);
  out.boot_ns = ev.hdr.ts_boot_ns;
  out.realtime_ns =
      static_cast<uint64_t>(static_cast<int64_t>(ev.hdr.ts_boot_ns) + realtime_offset_ns);
  out.pid = ev.hdr.pid;
  out.tgid = ev.hdr.tgid;
  out.ppid = ev.hdr.ppid;
  out.uid = ev.hdr.uid;
  out.euid = ev.hdr.euid;
  out.flags = ev.hdr.flags;
  out.mnt_ns = ev.hdr.mnt_ns;
  out.pid_ns = ev.hdr.pid_ns;
  out.net_ns = ev.hdr.net_ns;
  out.syscall = ev.hdr.syscall;
  out.ret = ev.hdr.ret;
  out.comm.assign(ev.hdr.comm, strnlen(ev.hdr.comm, sizeof ev.hdr.comm));
  std::memcpy(out.args.data(), ev.args, sizeof ev.args);

  const char* p = reinterpret_cast<const char*>(rec.data()) + sizeof ev;
  for (int i = 0; i < NBW_NSTR; i++) {
    size_t n = ev.str_len[i];
    if (n == 0) continue;
    out.present[i] = true;
    if (BlobIsString(ev, i)) {
      out.str[i].assign(p, strnlen(p, n));  // stop at the first NUL, never past n
    } else {
      out.str[i].assign(p, n);
    }
    p += n;
  }
  if (out.kind == EventKind::kExec && !(out.flags & NBW_F_PATH_RAW) && out.present[4]) {
    if (Status s = DecodeExecEnv(out.str[4], out.env); !s.ok()) return s;
    out.str[4].clear();  // private: only the variables decoded above are kept
  }
  return out;
}

}  // namespace nbw

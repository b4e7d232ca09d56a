// SPDX-License-Identifier: Apache-2.0
// Sensor: the loaded BPF programs, their maps and the ring buffer. Owns every
// kernel object it creates (RAII); destroying it detaches everything.
// Not thread-safe: the agent's io_context thread calls it. Poll() delivers
// decoded events to the callback in ring-buffer order.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "sensor/event.h"
#include "sensor/kernel_policy.h"

struct sensor_bpf;
struct ring_buffer;

namespace nbw {

struct SensorOptions {
  size_t ringbuf_bytes = 16 << 20;  // power of two, >= page size
  uint32_t max_tracked = 65536;
  uint32_t self_tgid = 0;  // the daemon's pid as the kernel numbers it (0: getpid())
};

struct SensorCounters {
  uint64_t events = 0;          // submitted by the kernel
  uint64_t ringbuf_full = 0;    // lost: no room in the ring buffer
  uint64_t inflight_full = 0;   // lost: enter/exit pairing map full
  uint64_t tracked_full = 0;    // children not tracked: map full
  uint64_t path_truncated = 0;  // paths cut at the depth/length bound
  uint64_t decode_errors = 0;   // records userspace refused (userspace count)
  uint64_t killed = 0;          // execs killed in the kernel
  uint64_t denied = 0;          // connects refused in the kernel
  uint64_t model_windows = 0;   // model-load windows opened
  uint64_t window_full = 0;     // windows not opened: map full
  uint64_t seccomp_full = 0;    // filtered threads not watched for refusals: map full
  uint64_t Dropped() const {
    return ringbuf_full + inflight_full + tracked_full + decode_errors + window_full + seccomp_full;
  }
};

enum class KernelTrack : uint32_t { kTarget = 1, kCandidate = 2 };

class Sensor {
 public:
  using EventFn = std::function<void(Event&&)>;

  // Opens, loads and attaches. Errors are one line, e.g.
  // "loading BPF program nbw_sys_exit: Permission denied (verifier: ...)".
  static Result<std::unique_ptr<Sensor>> Start(const SensorOptions& opts, EventFn on_event);
  ~Sensor();
  Sensor(const Sensor&) = delete;
  Sensor& operator=(const Sensor&) = delete;

  // fd that becomes readable when events are waiting (epoll fd of the ring).
  int poll_fd() const;
  // Consumes what is available now, at most kMaxBatch records; returns the
  // number of records (kMaxBatch: more may be waiting), or a negative errno.
  static constexpr int kMaxBatch = 16384;
  int Poll();

  // role: the target's role id (in-kernel enforcement keys on it).
  Status Track(uint32_t tgid, KernelTrack state, uint32_t role = 0, bool only_if_present = false);
  Status Untrack(uint32_t tgid);
  bool IsTracked(uint32_t tgid) const;

  // In-kernel enforcement. Roles are ids; kAnyRole applies to all.
  static constexpr uint32_t kAnyRole = NBW_ROLE_ANY;
  // Attaches the cgroup connect4/connect6 hooks at the cgroup v2 root.
  Status AttachConnectHooks();
  bool connect_hooks_attached() const { return connect_hooks_; }
  // Puts `policy` in force as a whole (bpf/maps.h: two generations): fresh
  // maps for the generation not in use are filled completely, then one
  // update flips the generation the programs read. On error nothing the
  // kernel reads has changed: the running policy stays fully in force.
  // Fails if the policy has deny rules and the connect hooks did not attach.
  [[nodiscard]] Status ApplyPolicy(const KernelPolicy& policy);
  // Deletes enter/exit pairing entries of threads no longer tracked (left
  // behind when a process is untracked mid-syscall). Returns how many.
  size_t SweepInflight();
  SensorCounters Counters() const;
  // CLOCK_REALTIME - CLOCK_BOOTTIME; refreshed by RefreshClock().
  int64_t realtime_offset_ns() const { return realtime_offset_ns_; }
  void RefreshClock();

 private:
  Sensor(EventFn fn) : on_event_(std::move(fn)) {}
  static int OnRecord(void* ctx, void* data, size_t size);

  struct SkelDeleter {
    void operator()(sensor_bpf* s) const;
  };
  struct RingDeleter {
    void operator()(ring_buffer* r) const;
  };

  EventFn on_event_;
  std::unique_ptr<sensor_bpf, SkelDeleter> skel_;
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  // The kernel's tracked_bits array, mmapped: one bit per pid.
  struct BitsUnmapper {
    size_t len;
    void operator()(uint64_t* p) const;
  };
  std::unique_ptr<uint64_t, BitsUnmapper> bits_{nullptr, BitsUnmapper{0}};
  size_t bits_words_ = 0;
  bool connect_hooks_ = false;
  // The policy maps of bpf/maps.h with two generations, and the shape of
  // their inner maps (libbpf frees its templates at load: kept from open).
  enum PolicyMap { kCandidateComms, kKillExec, kDenyConnect, kModelEnforce, kModelExts, kMaps };
  struct MapShape {
    uint32_t type = 0, key_size = 0, value_size = 0, max_entries = 0, flags = 0;
  };
  std::array<MapShape, kMaps> policy_shapes_{};
  uint32_t policy_slot_ = 0;  // the generation in force (policy_gen)
  int64_t realtime_offset_ns_ = 0;
  uint64_t decode_errors_ = 0;
  int batch_ = 0;
  uint64_t decode_errors_logged_ = 0;
};

}  // namespace nbw

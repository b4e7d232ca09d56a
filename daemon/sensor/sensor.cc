// SPDX-License-Identifier: Apache-2.0
#include "sensor/sensor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstring>
#include <ctime>
#include <mutex>
#include <span>
#include <vector>

#include "common/clock.h"
#include "common/libbpf_log.h"
#include "common/unique_fd.h"
#include "sensor.skel.h"
#include "sensor/decode.h"
#include "sensor/exec_env.h"

namespace nbw {

// The keys and values userspace writes into the maps (bpf/events.h), pinned
// like the records in decode.cc: the kernel reads them byte for byte.
static_assert(sizeof(struct nbw_comm_key) == 20 && offsetof(struct nbw_comm_key, comm) == 4);
static_assert(sizeof(struct nbw_kill_key) == 20 && offsetof(struct nbw_kill_key, comm) == 4);
static_assert(sizeof(struct nbw_deny_key) == 24 && offsetof(struct nbw_deny_key, addr) == 8);
static_assert(sizeof(struct nbw_model_ext_key) == 12);

namespace {}  // namespace

void Sensor::SkelDeleter::operator()(sensor_bpf* s) const {
  sensor_bpf__destroy(s);
}
void Sensor::BitsUnmapper::operator()(uint64_t* p) const {
  munmap(p, len);
}
void Sensor::RingDeleter::operator()(ring_buffer* r) const {
  ring_buffer__free(r);
}

Result<std::unique_ptr<Sensor>> Sensor::Start(const SensorOptions& opts, EventFn on_event) {
  InstallLibbpfLogger();
  if (geteuid() != 0) {
    return Status::Error("nbwarden sensor", "must run as root (needs CAP_BPF and CAP_PERFMON)");
  }
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    return Status::Error("nbwarden sensor",
                         "kernel has no BTF (/sys/kernel/btf/vmlinux): CO-RE needs "
                         "CONFIG_DEBUG_INFO_BTF=y");
  }
  std::unique_ptr<Sensor> s(new Sensor(std::move(on_event)));
  s->RefreshClock();
  ClearLibbpfError();

  s->skel_.reset(sensor_bpf__open());
  if (!s->skel_) return LibbpfError("opening BPF object", errno);
  s->skel_->rodata->nbw_self_tgid =
      opts.self_tgid ? opts.self_tgid : static_cast<uint32_t>(getpid());
  if (int err = bpf_map__set_max_entries(s->skel_->maps.events,
                                         static_cast<uint32_t>(opts.ringbuf_bytes));
      err) {
    return LibbpfError("sizing ring buffer", err);
  }
  if (int err = bpf_map__set_max_entries(s->skel_->maps.tracked, opts.max_tracked); err) {
    return LibbpfError("sizing tracked map", err);
  }
  // The cgroup hooks need a cgroup fd: attached by AttachConnectHooks().
  bpf_program__set_autoattach(s->skel_->progs.nbw_connect4, false);
  bpf_program__set_autoattach(s->skel_->progs.nbw_connect6, false);
  if (int err = sensor_bpf__load(s->skel_.get()); err) {
    return LibbpfError("loading BPF programs", err);
  }
  // Before attaching, so that no exec is scanned for nothing.
  for (std::string_view name : kExecEnvNames) {
    struct nbw_env_key key = {};
    static_assert(kExecEnvNames.size() <= 64, "maps.h: env_names max_entries");
    static_assert(std::ranges::all_of(kExecEnvNames, [](std::string_view n) {
      return !n.empty() && n.size() < NBW_ENV_NAME_MAX;
    }));
    std::memcpy(key.name, name.data(), name.size());
    uint32_t one = 1;
    if (int err = bpf_map__update_elem(s->skel_->maps.env_names, &key, sizeof key, &one, sizeof one,
                                       BPF_ANY)) {
      return LibbpfError(fmt::format("environment variable name '{}'", name), err);
    }
  }
  if (int err = sensor_bpf__attach(s->skel_.get()); err) {
    return LibbpfError("attaching BPF programs", err);
  }
  {
    const struct bpf_map* m = s->skel_->maps.tracked_bits;
    s->bits_words_ = bpf_map__max_entries(m);
    const size_t len = s->bits_words_ * sizeof(uint64_t);
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);
    if (p == MAP_FAILED) return Status::FromErrno("mapping tracked_bits", errno);
    s->bits_ =
        std::unique_ptr<uint64_t, BitsUnmapper>(static_cast<uint64_t*>(p), BitsUnmapper{len});
  }
  s->ring_.reset(
      ring_buffer__new(bpf_map__fd(s->skel_->maps.events), &Sensor::OnRecord, s.get(), nullptr));
  if (!s->ring_) return LibbpfError("creating ring buffer", errno);
  spdlog::info(
      "sensor: attached raw_tp sys_enter/sys_exit, sched_process_exec/fork/exit "
      "ringbuf={}KiB",
      opts.ringbuf_bytes >> 10);
  return s;
}

Sensor::~Sensor() = default;  // ring first, then skeleton (declaration order reversed)

int Sensor::poll_fd() const {
  return ring_buffer__epoll_fd(ring_.get());
}

// A callback's negative return stops libbpf's consume loop after the current
// record (which is consumed); this value marks "batch full, more waiting".
constexpr int kBatchFull = -ECANCELED;

int Sensor::Poll() {
  batch_ = 0;
  int n = ring_buffer__consume(ring_.get());
  if (n == kBatchFull) return kMaxBatch;
  return n;
}

int Sensor::OnRecord(void* ctx, void* data, size_t size) {
  auto* self = static_cast<Sensor*>(ctx);
  // Under a flood the ring never empties; stop after a batch so the loop's
  // other handlers (signals, timers) still run. The fd stays readable.
  const bool last_of_batch = ++self->batch_ >= kMaxBatch;
  auto ev =
      DecodeEvent(std::span(static_cast<const std::byte*>(data), size), self->realtime_offset_ns_);
  if (!ev.ok()) {
    // Counted always; logged with back-off so a bad stream cannot flood the log.
    if (++self->decode_errors_ >= self->decode_errors_logged_ * 2) {
      spdlog::warn("sensor: dropped invalid record: {} (total {})", ev.status().message(),
                   self->decode_errors_);
      self->decode_errors_logged_ = self->decode_errors_;
    }
    return last_of_batch ? kBatchFull : 0;
  }
  self->on_event_(std::move(ev).value());
  return last_of_batch ? kBatchFull : 0;
}

// Same protocol as the kernel (bpf/task.bpf.h: nbw_mark): state before bit
// when tracking, bit before state when untracking; bits change atomically
// because the kernel flips bits of the same word at fork and exit.
Status Sensor::Track(uint32_t tgid, KernelTrack state, uint32_t role, bool only_if_present) {
  if (tgid / 64 >= bits_words_) {
    return Status::Error("tracking", fmt::format("pid {} out of range", tgid));
  }
  uint32_t v = static_cast<uint32_t>(state) | (role << 8);
  int err = bpf_map__update_elem(skel_->maps.tracked, &tgid, sizeof tgid, &v, sizeof v,
                                 only_if_present ? BPF_EXIST : BPF_ANY);
  if (err) return Status::FromErrno(fmt::format("tracking pid {}", tgid), err);
  __atomic_fetch_or(&bits_.get()[tgid / 64], uint64_t{1} << (tgid % 64), __ATOMIC_SEQ_CST);
  return Status::Ok();
}

Status Sensor::Untrack(uint32_t tgid) {
  if (tgid / 64 >= bits_words_) return Status::Ok();
  __atomic_fetch_and(&bits_.get()[tgid / 64], ~(uint64_t{1} << (tgid % 64)), __ATOMIC_SEQ_CST);
  int err = bpf_map__delete_elem(skel_->maps.tracked, &tgid, sizeof tgid, 0);
  if (err && err != -ENOENT) return Status::FromErrno(fmt::format("untracking pid {}", tgid), err);
  return Status::Ok();
}

bool Sensor::IsTracked(uint32_t tgid) const {
  if (tgid / 64 >= bits_words_) return false;
  return __atomic_load_n(&bits_.get()[tgid / 64], __ATOMIC_RELAXED) & (uint64_t{1} << (tgid % 64));
}

Status Sensor::AttachConnectHooks() {
  // The cgroup v2 hierarchy: at /sys/fs/cgroup (unified) or
  // /sys/fs/cgroup/unified (hybrid). Its root covers every process.
  const char* root = nullptr;
  for (const char* p : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
    struct statfs st;
    if (statfs(p, &st) == 0 && st.f_type == 0x63677270 /* CGROUP2_SUPER_MAGIC */) {
      root = p;
      break;
    }
  }
  if (!root) return Status::Error("connect hooks", "no cgroup v2 hierarchy mounted");
  UniqueFd fd(::open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(root, errno);
  ClearLibbpfError();
  for (auto [prog, link] : {std::pair{skel_->progs.nbw_connect4, &skel_->links.nbw_connect4},
                            std::pair{skel_->progs.nbw_connect6, &skel_->links.nbw_connect6}}) {
    struct bpf_link* l = bpf_program__attach_cgroup(prog, fd.get());
    if (!l)
      return LibbpfError(fmt::format("attaching {} to {}", bpf_program__name(prog), root), errno);
    *link = l;  // the skeleton destroys it (detaches) with everything else
  }
  connect_hooks_ = true;
  spdlog::info("sensor: connect hooks attached at {}", root);
  return Status::Ok();
}

Status Sensor::AddKillExec(uint32_t role, std::string_view comm, uint32_t rule_no) {
  struct nbw_kill_key k = {};
  k.role = role;
  std::memcpy(k.comm, comm.data(), std::min(comm.size(), sizeof k.comm - 1));
  int err =
      bpf_map__update_elem(skel_->maps.kill_exec, &k, sizeof k, &rule_no, sizeof rule_no, BPF_ANY);
  if (err) return Status::FromErrno(fmt::format("kill rule for '{}'", comm), err);
  return Status::Ok();
}

Status Sensor::AddDenyConnect(uint32_t role, int family, std::span<const uint8_t> addr,
                              uint16_t port, uint32_t rule_no) {
  struct nbw_deny_key k = {};
  k.role = role;
  k.family = static_cast<uint16_t>(family);
  k.port = port;
  std::memcpy(k.addr, addr.data(), std::min(addr.size(), sizeof k.addr));
  int err = bpf_map__update_elem(skel_->maps.deny_connect, &k, sizeof k, &rule_no, sizeof rule_no,
                                 BPF_ANY);
  if (err) return Status::FromErrno("deny rule", err);
  return Status::Ok();
}

Status Sensor::SetModelExtensions(const std::vector<std::string>& exts) {
  const struct bpf_map* m = skel_->maps.model_exts;
  struct nbw_model_ext_key k = {}, next = {};
  std::vector<nbw_model_ext_key> old;
  const void* prev = nullptr;
  while (bpf_map__get_next_key(m, prev, &next, sizeof next) == 0) {
    old.push_back(next);
    k = next;
    prev = &k;
  }
  for (const auto& o : old) bpf_map__delete_elem(m, &o, sizeof o, 0);
  for (const auto& e : exts) {
    if (e.size() < 2 || e[0] != '.' || e.size() - 1 > sizeof k.ext - 1) {
      return Status::Error("model extension", fmt::format("'{}' is not '.suffix'", e));
    }
    struct nbw_model_ext_key key = {};
    std::memcpy(key.ext, e.data() + 1, e.size() - 1);
    uint32_t one = 1;
    if (int err = bpf_map__update_elem(m, &key, sizeof key, &one, sizeof one, BPF_ANY)) {
      return Status::FromErrno(fmt::format("model extension '{}'", e), err);
    }
  }
  return Status::Ok();
}

Status Sensor::SetModelGrace(std::chrono::nanoseconds grace) {
  uint32_t zero = 0;
  // A window whose file is never closed (leaked fd) still ends.
  constexpr uint64_t kMaxOpenNs = 600'000'000'000;
  struct nbw_model_cfg cfg = {static_cast<uint64_t>(grace.count()), kMaxOpenNs};
  int err =
      bpf_map__update_elem(skel_->maps.model_cfg, &zero, sizeof zero, &cfg, sizeof cfg, BPF_ANY);
  if (err) return Status::FromErrno("model grace", err);
  return Status::Ok();
}

Status Sensor::AddModelEnforcement(uint32_t role, uint32_t what) {
  uint32_t cur = 0;
  bpf_map__lookup_elem(skel_->maps.model_enforce, &role, sizeof role, &cur, sizeof cur, 0);
  cur |= what;
  int err = bpf_map__update_elem(skel_->maps.model_enforce, &role, sizeof role, &cur, sizeof cur,
                                 BPF_ANY);
  if (err) return Status::FromErrno("model-window enforcement", err);
  return Status::Ok();
}

void Sensor::ClearEnforcement() {
  for (const struct bpf_map* m :
       {skel_->maps.kill_exec, skel_->maps.deny_connect, skel_->maps.model_enforce}) {
    const size_t ksz = bpf_map__key_size(m);
    std::vector<uint8_t> key(ksz), next(ksz);
    std::vector<std::vector<uint8_t>> keys;
    const void* prev = nullptr;
    while (bpf_map__get_next_key(m, prev, next.data(), ksz) == 0) {
      keys.push_back(next);
      key = next;
      prev = key.data();
    }
    for (const auto& k : keys) bpf_map__delete_elem(m, k.data(), ksz, 0);
  }
}

size_t Sensor::SweepInflight() {
  const struct bpf_map* m = skel_->maps.inflight;
  std::vector<uint64_t> stale;
  uint64_t key = 0, next = 0;
  const void* prev = nullptr;
  while (bpf_map__get_next_key(m, prev, &next, sizeof next) == 0) {
    if (!IsTracked(static_cast<uint32_t>(next >> 32))) stale.push_back(next);
    key = next;
    prev = &key;
  }
  for (uint64_t k : stale) bpf_map__delete_elem(m, &k, sizeof k, 0);
  return stale.size();
}

Status Sensor::AddCandidateComm(std::string_view prefix) {
  struct nbw_comm_key key = {};
  bool exact = prefix.ends_with('$');
  if (exact) prefix.remove_suffix(1);
  if (prefix.empty() || prefix.size() >= NBW_COMM_LEN) {
    return Status::Error("comm prefix", fmt::format("'{}' must be 1-15 bytes", prefix));
  }
  std::memcpy(key.comm, prefix.data(), prefix.size());
  // Exact: include the NUL that ends the kernel's comm in the prefix.
  key.prefixlen = static_cast<uint32_t>((prefix.size() + (exact ? 1 : 0)) * 8);
  uint32_t one = 1;
  int err = bpf_map__update_elem(skel_->maps.candidate_comms, &key, sizeof key, &one, sizeof one,
                                 BPF_ANY);
  if (err) return Status::FromErrno(fmt::format("adding comm prefix '{}'", prefix), err);
  return Status::Ok();
}

SensorCounters Sensor::Counters() const {
  const int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> vals(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
  auto sum = [&](uint32_t key) -> uint64_t {
    if (bpf_map__lookup_elem(skel_->maps.counters, &key, sizeof key, vals.data(),
                             vals.size() * sizeof(uint64_t), 0)) {
      return 0;
    }
    uint64_t t = 0;
    for (uint64_t v : vals) t += v;
    return t;
  };
  SensorCounters c;
  c.events = sum(NBW_CNT_EVENTS);
  c.ringbuf_full = sum(NBW_CNT_RB_FULL);
  c.inflight_full = sum(NBW_CNT_INFLIGHT_FULL);
  c.tracked_full = sum(NBW_CNT_TRACKED_FULL);
  c.path_truncated = sum(NBW_CNT_PATH_TRUNC);
  c.decode_errors = decode_errors_;
  c.killed = sum(NBW_CNT_KILLED);
  c.denied = sum(NBW_CNT_DENIED);
  c.model_windows = sum(NBW_CNT_WINDOWS);
  c.window_full = sum(NBW_CNT_WINDOW_FULL);
  c.seccomp_full = sum(NBW_CNT_SECCOMP_FULL);
  return c;
}

void Sensor::RefreshClock() {
  realtime_offset_ns_ = RealtimeMinusBoottimeNs();
}

}  // namespace nbw

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

namespace {

// A new, empty map shaped as a policy map's inner template (bpf/maps.h).
Result<UniqueFd> NewPolicyMap(uint32_t type, uint32_t key_size, uint32_t value_size,
                              uint32_t max_entries, uint32_t flags, const char* name) {
  LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);
  int fd = bpf_map_create(static_cast<enum bpf_map_type>(type), name, key_size, value_size,
                          max_entries, &o);
  if (fd < 0) return Status::FromErrno(fmt::format("creating map {}", name), errno);
  return UniqueFd(fd);
}

// One entry into a new policy map; a full map says how much it holds.
Status PutEntry(int fd, const void* key, const void* value, uint32_t max_entries,
                std::string_view what) {
  if (bpf_map_update_elem(fd, key, value, BPF_ANY) == 0) return Status::Ok();
  if (errno == E2BIG || errno == ENOSPC) {
    return Status::Error(what,
                         fmt::format("more entries than the kernel map holds ({})", max_entries));
  }
  return Status::FromErrno(what, errno);
}

}  // namespace

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
  // The policy maps' inner shapes, read before load frees libbpf's templates.
  for (auto [i, outer] : {std::pair{kCandidateComms, s->skel_->maps.candidate_comms},
                          std::pair{kKillExec, s->skel_->maps.kill_exec},
                          std::pair{kDenyConnect, s->skel_->maps.deny_connect},
                          std::pair{kModelEnforce, s->skel_->maps.model_enforce},
                          std::pair{kModelExts, s->skel_->maps.model_exts}}) {
    const struct bpf_map* t = bpf_map__inner_map(outer);
    if (!t) return Status::Error(bpf_map__name(outer), "has no inner map (bpf/maps.h)");
    s->policy_shapes_[i] = {bpf_map__type(t), bpf_map__key_size(t), bpf_map__value_size(t),
                            bpf_map__max_entries(t), bpf_map__map_flags(t)};
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

Status Sensor::ApplyPolicy(const KernelPolicy& p) {
  if (!p.needs_connect_hooks.empty() && !connect_hooks_) {
    return Status::Error(p.needs_connect_hooks,
                         "action 'deny' needs the cgroup connect hooks, which did not attach here");
  }
  static constexpr const char* kNames[kMaps] = {"nbw_cand_comms", "nbw_kill_exec", "nbw_deny_conn",
                                                "nbw_model_enf", "nbw_model_exts"};
  std::array<UniqueFd, kMaps> maps;
  for (size_t i = 0; i < kMaps; i++) {
    const MapShape& m = policy_shapes_[i];
    auto fd = NewPolicyMap(m.type, m.key_size, m.value_size, m.max_entries, m.flags, kNames[i]);
    if (!fd.ok()) return fd.status();
    maps[i] = std::move(fd).value();
  }
  auto put = [&](PolicyMap m, const void* key, const void* value, std::string_view what) {
    return PutEntry(maps[m].get(), key, value, policy_shapes_[m].max_entries, what);
  };
  for (std::string_view prefix : p.candidate_comms) {
    struct {
      uint32_t prefixlen;
      char comm[NBW_COMM_LEN];
    } key{};
    const bool exact = prefix.ends_with('$');
    if (exact) prefix.remove_suffix(1);
    if (prefix.empty() || prefix.size() >= NBW_COMM_LEN) {
      return Status::Error("comm prefix", fmt::format("'{}' must be 1-15 bytes", prefix));
    }
    std::memcpy(key.comm, prefix.data(), prefix.size());
    // Exact: include the NUL that ends the kernel's comm in the prefix.
    key.prefixlen = static_cast<uint32_t>((prefix.size() + (exact ? 1 : 0)) * 8);
    const uint32_t one = 1;
    if (Status s = put(kCandidateComms, &key, &one, fmt::format("comm prefix '{}'", prefix));
        !s.ok()) {
      return s;
    }
  }
  for (const auto& [e, rule_no] : p.kill_exec) {
    struct nbw_kill_key k = {};
    k.role = e.role;
    std::memcpy(k.comm, e.comm.data(), std::min(e.comm.size(), sizeof k.comm - 1));
    if (Status s = put(kKillExec, &k, &rule_no, fmt::format("kill rule for '{}'", e.comm));
        !s.ok()) {
      return s;
    }
  }
  for (const auto& [e, rule_no] : p.deny_connect) {
    struct nbw_deny_key k = {};
    k.role = e.role;
    k.family = static_cast<uint16_t>(e.family);
    k.port = e.port;
    if (e.addr.size() > sizeof k.addr) return Status::Error("deny rule", "address too long");
    std::memcpy(k.addr, e.addr.data(), e.addr.size());
    if (Status s = put(kDenyConnect, &k, &rule_no, "deny rule"); !s.ok()) return s;
  }
  for (const auto& [role, what] : p.model_enforce) {
    if (Status s = put(kModelEnforce, &role, &what, "model-window enforcement"); !s.ok()) {
      return s;
    }
  }
  for (const auto& e : p.model_exts) {
    struct nbw_model_ext_key k = {};
    if (e.size() < 2 || e[0] != '.' || e.size() - 1 > sizeof k.ext - 1) {
      return Status::Error("model extension", fmt::format("'{}' is not '.suffix'", e));
    }
    std::memcpy(k.ext, e.data() + 1, e.size() - 1);
    const uint32_t one = 1;
    if (Status s = put(kModelExts, &k, &one, fmt::format("model extension '{}'", e)); !s.ok()) {
      return s;
    }
  }
  const uint32_t next = policy_slot_ ^ 1u;
  // A window whose file is never closed (leaked fd) still ends.
  constexpr uint64_t kMaxOpenNs = 600'000'000'000;
  const struct nbw_model_cfg cfg = {static_cast<uint64_t>(p.model_grace.count()), kMaxOpenNs};
  if (int err = bpf_map__update_elem(skel_->maps.model_cfg, &next, sizeof next, &cfg, sizeof cfg,
                                     BPF_ANY)) {
    return Status::FromErrno("model grace", err);
  }
  // The new generation in the outer maps' unused slot, then the one flip.
  const std::array<struct bpf_map*, kMaps> outer = {
      skel_->maps.candidate_comms, skel_->maps.kill_exec, skel_->maps.deny_connect,
      skel_->maps.model_enforce, skel_->maps.model_exts};
  for (size_t i = 0; i < kMaps; i++) {
    const uint32_t fd = static_cast<uint32_t>(maps[i].get());
    if (int err = bpf_map__update_elem(outer[i], &next, sizeof next, &fd, sizeof fd, BPF_ANY)) {
      return Status::FromErrno(fmt::format("installing {}", kNames[i]), err);
    }
  }
  const uint32_t zero = 0;
  if (int err = bpf_map__update_elem(skel_->maps.policy_gen, &zero, sizeof zero, &next, sizeof next,
                                     BPF_ANY)) {
    return Status::FromErrno("switching the policy generation", err);
  }
  policy_slot_ = next;
  return Status::Ok();
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

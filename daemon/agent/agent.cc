// SPDX-License-Identifier: Apache-2.0
#include "agent/agent.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <csignal>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "alert/alert.h"
#include "alert/render.h"
#include "common/clock.h"
#include "common/file.h"

namespace nbw {
namespace {

// What was done is what the kernel did, read off the event, not assumed:
// a kill rule's exec the kernel killed, a deny rule's connect it refused,
// a syscall a seccomp filter refused, or killed its caller for (whatever
// the rule's own action).
std::string_view ActionTaken(const Rule& rule, const Event& ev) {
  if (ev.kind == EventKind::kSeccomp) return (ev.flags & NBW_F_SECCOMP_KILL) ? "killed" : "denied";
  if (rule.action == RuleAction::kKill && (ev.flags & NBW_F_KILLED)) return "killed";
  if (rule.action == RuleAction::kDeny && ev.kind == EventKind::kNet && ev.ret == -EPERM) {
    return "denied";
  }
  return "alert";
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace

Agent::Agent(boost::asio::io_context& io, AgentOptions opts, PolicyBundle policy)
    : io_(io),
      limiter_(opts.limits),  // declared before opts_: reads the parameter
      policy_version_(policy.version),
      opts_(std::move(opts)),
      procfs_(opts_.proc_root),
      self_pid_(procfs_.SelfPid()),
      own_pid_ns_([this] {
        auto ns = procfs_.NamespaceInode(self_pid_, "pid");
        return ns.ok() ? *ns : 0;
      }()),
      host_(HostName()),
      targets_(std::move(policy.targets)),
      engine_(std::move(policy.rules)),
      table_(procfs_),
      signals_(io),
      stats_timer_(io),
      drain_timer_(io),
      model_policy_(std::make_shared<const ModelGuardPolicy>(std::move(policy.model_guard))) {
  if (opts_.router) opts_.router->SetDropObserver(this);
}

Agent::~Agent() {
  // After this no worker is in OnSinkDrops or will call it again.
  if (opts_.router) opts_.router->SetDropObserver(nullptr);
}

Status Agent::Start() {
  started_ = std::chrono::steady_clock::now();
  SensorOptions so = opts_.sensor;
  so.self_tgid = self_pid_;
  auto sensor = Sensor::Start(so, [this](Event&& ev) { HandleEvent(std::move(ev)); });
  if (!sensor.ok()) return sensor.status();
  sensor_ = std::move(sensor).value();

  if (Status s = sensor_->AttachConnectHooks(); !s.ok()) {
    spdlog::warn("sensor: connect hooks unavailable, deny rules cannot load: {}", s.message());
  }
  if (Status s = ApplyKernelPolicy(targets_, engine_.rules(), *model_policy_); !s.ok()) return s;
  guard_ = std::make_unique<ModelGuard>(
      io_, model_policy_, [this](const std::shared_ptr<ModelLoad>& l) { OnModelScanned(l); },
      opts_.proc_root, [this](const std::string& what) { ReportPressure(what); });
  if (opts_.scope_pod) {
    if (own_pid_ns_ == 0) return Status::Error("--scope pod", "cannot read the own pid namespace");
    spdlog::info("agent: scope pod: only pid namespace {}", own_pid_ns_);
  }
  ScanRunningProcesses();
  for (uint32_t pid : opts_.track_pids) {
    if (Status s = TrackTree(pid, std::string(kRoleManual), "track-pid"); !s.ok()) {
      return s.Wrap(fmt::format("--track-pid {}", pid));
    }
  }

  // The ring's epoll fd, watched by asio; libbpf still owns it.
  ring_fd_.emplace(io_, ::dup(sensor_->poll_fd()));
  ArmPoll();
  ArmSignals();
  ArmStatsTimer();
  ArmDrainTimer();
  if (Status s = StartControl(); !s.ok()) return s;
  if (Status s = StartMetrics(); !s.ok()) return s;
  spdlog::info("agent: watching; selectors={} rules={} comm_prefixes={} targets={}",
               targets_.selectors().size(), engine_.rules().rules().size(),
               targets_.CommPrefixes().size(), table_.TargetCount());
  return Status::Ok();
}

void Agent::Stop() {
  if (stopping_) return;
  stopping_ = true;
  if (on_stopping_) on_stopping_();
  if (sensor_) {
    // What is already in the ring is still reported, for at most kStopDrain:
    // a flood that goes on must not keep the daemon from stopping (a bound
    // in batches was not one in time: per-event cost grows with the policy).
    const auto deadline = std::chrono::steady_clock::now() + kStopDrain;
    while (sensor_->Poll() == Sensor::kMaxBatch && std::chrono::steady_clock::now() < deadline) {
    }
  }
  ReportFolds(true);
  ReportStats(true);
  boost::system::error_code ec;
  signals_.cancel(ec);
  StopControl();
  if (metrics_) metrics_->close(ec);
  stats_timer_.cancel();
  drain_timer_.cancel();
  if (ring_fd_) ring_fd_->close(ec);
  ReleaseHeldAlerts(0, true);  // nothing held is lost at stop
  guard_.reset();
  sensor_.reset();  // detaches every program
  spdlog::info("agent: detached");
}

SensorCounters Agent::sensor_counters() const {
  return sensor_ ? sensor_->Counters() : SensorCounters{};
}

void Agent::Drain() {
  int n = sensor_->Poll();
  if (n < 0 && n != -EINTR) spdlog::error("sensor: ring buffer poll failed: {}", strerror(-n));
  std::fflush(opts_.out);
}

void Agent::ArmPoll() {
  ring_fd_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [this](const boost::system::error_code& ec) {
                         if (ec || stopping_) return;
                         Drain();
                         ArmPoll();
                       });
}

void Agent::ArmDrainTimer() {
  drain_timer_.expires_after(opts_.drain_interval);
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    Drain();
    ReleaseExpiredAlerts();
    ArmDrainTimer();
  });
}

void Agent::ArmSignals() {
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.add(SIGHUP);
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      (void)Reload();  // reported (log, NBW-SELF-001) by Reload itself
      ArmSignals();
      return;
    }
    spdlog::info("agent: signal {}, stopping", sig);
    Stop();
  });
}

void Agent::ArmStatsTimer() {
  stats_timer_.expires_after(opts_.stats_interval);
  stats_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    sensor_->RefreshClock();  // follow wall-clock steps (NTP, manual)
    // The ring drains in milliseconds; a rejection older than this has no
    // events left in flight.
    const auto cutoff = std::chrono::steady_clock::now() - std::chrono::seconds(10);
    std::erase_if(recently_rejected_, [&](const auto& kv) { return kv.second < cutoff; });
    if (size_t n = table_.ReapDead(); n > 0) {
      spdlog::info("agent: reaped {} exited process(es) whose exit event was lost", n);
    }
    if (size_t n = sensor_->SweepInflight(); n > 0) {
      spdlog::debug("sensor: swept {} enter/exit entries of untracked threads", n);
    }
    ReportFolds(false);
    CheckStreamPressure();
    ReportStats(false);
    ArmStatsTimer();
  });
}

Status Agent::Reload() {
  // The tree is read once, validated whole and compiled; the kernel half is
  // put in force with one flip, and only then the userspace half replaced:
  // a reload is all or nothing. Events wait in the ring meanwhile.
  auto fresh = PolicyBundle::Load(opts_.policy_path);
  Status s = fresh.ok() ? ApplyKernelPolicy(fresh->targets, fresh->rules, fresh->model_guard)
                        : fresh.status();
  if (!s.ok()) {
    spdlog::error("agent: reload rejected, keeping the running policy: {}", s.message());
    EmitSelfAlert("NBW-SELF-001", "Policy reload rejected", Severity::kError,
                  "the new policy was rejected and the running one stays in force: " + s.message());
    return s;
  }
  PolicyBundle& p = *fresh;
  model_policy_ = std::make_shared<const ModelGuardPolicy>(std::move(p.model_guard));
  guard_->SetPolicy(model_policy_);
  targets_ = std::move(p.targets);
  engine_.Replace(std::move(p.rules));
  policy_version_ = p.version;
  spdlog::info("agent: reloaded policy from {}: {} selectors, {} rules, version {}",
               opts_.policy_path, targets_.selectors().size(), engine_.rules().rules().size(),
               policy_version_);
  return Status::Ok();
}

Status Agent::ApplyKernelPolicy(const TargetSet& targets, const RuleSet& rules,
                                const ModelGuardPolicy& model_guard) {
  auto kernel = CompileKernelPolicy(targets, rules, model_guard, role_ids_);
  if (!kernel.ok()) return kernel.status();
  if (Status s = sensor_->ApplyPolicy(*kernel); !s.ok()) return s;
  size_t kernel_rules = 0;
  for (const auto& r : rules.rules()) kernel_rules += r->action != RuleAction::kAlert;
  spdlog::info(
      "agent: {} rules judged in userspace (alert), {} enforced in the kernel "
      "({} kill-on-exec entries, {} deny-connect entries, {} model-window roles, "
      "{} comm prefixes)",
      rules.rules().size() - kernel_rules, kernel_rules, kernel->kill_exec.size(),
      kernel->deny_connect.size(), kernel->model_enforce.size(), kernel->candidate_comms.size());
  return Status::Ok();
}

nlohmann::json Agent::StatusJson(bool final) {
  SensorCounters c = sensor_ ? sensor_->Counters() : SensorCounters{};
  const uint64_t drops = c.Dropped();
  nlohmann::json st;
  st["schema"] = "nbwarden.status/v1";
  st["pid"] = getpid();
  st["host"] = host_;
  st["policy"] = opts_.policy_path;
  st["uptime_s"] =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count();
  st["running"] = !final;
  st["sensor"] = {{"events", c.events},
                  {"killed", c.killed},
                  {"denied", c.denied},
                  {"dropped", drops},
                  {"ringbuf_full", c.ringbuf_full},
                  {"inflight_full", c.inflight_full},
                  {"tracked_full", c.tracked_full},
                  {"decode_errors", c.decode_errors},
                  {"path_truncated", c.path_truncated},
                  {"seccomp_full", c.seccomp_full}};
  st["agent"] = {{"events_emitted", counters_.events_emitted},
                 {"candidates", counters_.candidates},
                 {"candidates_rejected", counters_.candidates_rejected},
                 {"targets_found", counters_.targets_found},
                 {"alerts", counters_.alerts},
                 {"alerts_folded", counters_.alerts_folded},
                 {"candidates_out_of_scope", out_of_scope_},
                 {"rules", engine_.rules().rules().size()},
                 {"processes", table_.size()},
                 {"targets_live", table_.TargetCount()}};
  if (guard_) {
    const ModelGuardCounters& g = guard_->counters();
    st["model_guard"] = {{"windows_kernel", c.model_windows},
                         {"window_full", c.window_full},
                         {"windows", g.windows},
                         {"scans", g.scans},
                         {"cache_hits", g.cache_hits},
                         {"queue_full", g.queue_full},
                         {"open_failed", g.open_failed},
                         {"resource_waits", g.resource_waits},
                         {"alerts_held", held_.size()},
                         {"alerts_released_unscanned", alerts_released_unscanned_}};
  }
  if (opts_.router) {
    nlohmann::json sinks = nlohmann::json::array();
    for (const auto& k : opts_.router->Stats()) {
      sinks.push_back({{"name", k.name},
                       {"type", k.type},
                       {"healthy", k.healthy},
                       {"delivered", k.delivered},
                       {"pending", k.pending},
                       {"dropped", k.dropped},
                       {"failures", k.failures},
                       {"last_error", k.last_error}});
    }
    st["sinks"] = std::move(sinks);
    if (auto k = opts_.router->Stream()) {
      st["stream"] = {{"subscribers", k->subscribers},
                      {"attached", k->attached},
                      {"refused", k->refused},
                      {"refused_fds", k->refused_fds},
                      {"accept_failed", k->accept_failed},
                      {"cut_off", k->cut_off},
                      {"sent", k->sent}};
    }
  }
  st["control"] = ControlStatusJson();
  st["policy_version"] = policy_version_;
  return st;
}

void Agent::ReportStats(bool final) {
  if (!sensor_) return;
  SensorCounters c = sensor_->Counters();
  const uint64_t drops = c.Dropped();
  if (drops != last_reported_drops_) {
    spdlog::warn(
        "sensor: DROPPED events: ringbuf_full={} inflight_full={} tracked_full={} "
        "decode_errors={} (new since last report: {})",
        c.ringbuf_full, c.inflight_full, c.tracked_full, c.decode_errors,
        drops - last_reported_drops_);
    last_reported_drops_ = drops;
  }
  if (final) {
    spdlog::info(
        "sensor: stats events={} emitted={} drops={} path_truncated={} targets={} "
        "candidates={} rejected={}",
        c.events, counters_.events_emitted, drops, c.path_truncated, counters_.targets_found,
        counters_.candidates, counters_.candidates_rejected);
  }
  if (opts_.status_path.empty()) return;
  const nlohmann::json st = StatusJson(final);
  // Atomic replace: readers never see half a file.
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(opts_.status_path).parent_path(), ec);
  if (Status s = WriteFileAtomic(opts_.status_path, st.dump(2) + "\n", 0644); !s.ok()) {
    spdlog::warn("status file: {}", s.message());
  }
}

void Agent::WriteLine(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), opts_.out);
  std::fputc('\n', opts_.out);
}

// On a sink's worker thread. The Agent outlives every call: ~Agent
// unregisters, and SetDropObserver waits for a call in progress. The posted
// handler runs only inside io_.run(), which returns before the Agent is
// destroyed (as for all of its timer and socket handlers, which capture this).
void Agent::OnSinkDrops(std::string_view sink, uint64_t dropped) {
  boost::asio::post(io_, [this, sink = std::string(sink), dropped] {
    EmitSelfAlert("NBW-SELF-002", "Alerts dropped by a sink", Severity::kCritical,
                  fmt::format("sink {} dropped {} alert(s) while its receiver was down and its "
                              "spool full",
                              sink, dropped));
  });
}

void Agent::WriteAlert(const std::string& line) {
  WriteLine(line);
  std::fflush(opts_.out);
  if (opts_.router) opts_.router->Publish(line);
  counters_.alerts++;
}

void Agent::Emit(const Event& ev, const ProcessInfo* p) {
  line_is_event_ = false;
  if (!opts_.print_events) return;
  line_.clear();
  RenderEvent(ev, p, host_, line_);
  line_is_event_ = true;
  WriteLine(line_);
  counters_.events_emitted++;
}

void RecentWriteLog::Record(const std::string& path, std::string writer) {
  auto [it, inserted] =
      by_path_.insert_or_assign(path, Entry{std::move(writer), std::chrono::steady_clock::now()});
  if (inserted) order_.push_back(path);
  while (order_.size() > kMax) {
    by_path_.erase(order_.front());
    order_.pop_front();
  }
}

const std::string* RecentWriteLog::Writer(const std::string& path) const {
  auto it = by_path_.find(path);
  if (it == by_path_.end() || std::chrono::steady_clock::now() - it->second.when > kTtl) {
    return nullptr;
  }
  return &it->second.writer;
}

void Agent::Observe(const Event& ev, ProcessInfo& p) {
  if (ev.kind == EventKind::kModel) {
    OnModelEvent(ev, p);
    return;
  }
  Emit(ev, &p);
  if (ev.kind == EventKind::kOpen && ev.ret >= 0 && (ev.args[0] & (O_WRONLY | O_RDWR))) {
    writes_.Record(ev.str[0], JoinArgv(p.argv));
  }
  EvalContext ctx(ev, &p, &table_);
  ctx.writes = &writes_;
  if (ev.flags & NBW_F_MODEL_WINDOW) ctx.model = guard_->WindowOf(ev.tgid);
  engine_.Evaluate(ctx, [this](const Rule& r, const EvalContext& c) { EmitAlert(r, c); });
}

void Agent::EmitAlert(const Rule& rule, const EvalContext& ctx) {
  if (!line_is_event_) {  // not rendered for --events: render it for the alert
    line_.clear();
    RenderEvent(ctx.ev, ctx.proc, host_, line_);
    line_is_event_ = true;
  }
  alert_line_.clear();
  const std::string_view action = ActionTaken(rule, ctx.ev);
  if (ctx.model && !ctx.model->report) {
    HoldAlert(rule, action, ctx);
    return;
  }
  const std::string summary = rule.Summarize(ctx);
  // Folded alerts were still acted on (kill and deny happen in the kernel);
  // only their reporting is folded into a count.
  const uint32_t target =
      ctx.proc ? (ctx.proc->target_root ? ctx.proc->target_root : ctx.proc->tgid) : ctx.ev.tgid;
  if (!limiter_.Admit(rule.id, rule.name, rule.severity, target, summary,
                      std::chrono::steady_clock::now())) {
    counters_.alerts_folded++;
    return;
  }
  RenderAlert({rule.id, rule.name, rule.severity, rule.mitre}, action, summary, ctx.ev.realtime_ns,
              host_, ctx.proc, ctx.Ancestors(), line_, alert_line_, ctx.model);
  WriteAlert(alert_line_);
}

void Agent::ReportFolds(bool final) {
  const auto now =
      final ? std::chrono::steady_clock::time_point::max() : std::chrono::steady_clock::now();
  for (const FoldReport& f : limiter_.Expire(now)) {
    EmitSelfAlert("NBW-SELF-003", "Alerts folded", f.severity,
                  fmt::format("{} '{}' on target {}: {} repeat(s) and {} over the rate limit "
                              "folded in {}s; the last: {}",
                              f.rule_id, f.rule_name, f.target, f.duplicates, f.over_rate,
                              opts_.limits.window.count(), f.last_summary));
  }
}

void Agent::EmitSelfAlert(std::string_view id, std::string_view name, Severity sev,
                          std::string_view summary) {
  alert_line_.clear();
  RenderAlert({std::string(id), std::string(name), sev, {}}, "alert", summary, RealtimeNowNs(),
              host_, nullptr, {}, "", alert_line_);
  WriteAlert(alert_line_);
}

void Agent::EmitTarget(const ProcessInfo& p, std::string_view how) {
  spdlog::info("agent: target pid={} role={} selector={} kernel_id={} user={} exe={}", p.tgid,
               p.role, p.selector, p.jupyter.kernel_id, p.jupyter.user, p.exe);
  std::string line;
  JsonWriter j(line);
  j.BeginObject();
  j.Field("kind", "target").Field("schema", "nbwarden.target/v1");
  j.Field("time", FormatTime(p.start_ns)).Field("host", host_);
  j.Field("how", how);  // "exec", "running" (found at start-up), "track-pid"
  j.Key("proc").BeginObject();
  j.Field("pid", p.tgid).Field("ppid", p.ppid).Field("uid", p.uid).Field("comm", p.comm);
  j.Field("exe", p.exe);
  j.Key("argv").BeginArray();
  for (const auto& a : p.argv) j.String(a);
  j.EndArray();
  j.Field("cwd", p.cwd);
  j.Key("ancestry").BeginArray();
  for (const auto& a : table_.Ancestry(p.tgid)) {
    j.BeginObject().Field("pid", a.pid).Field("exe", a.exe).EndObject();
  }
  j.EndArray().EndObject();
  WriteTarget(j.Key("target"), p);
  j.EndObject();
  WriteLine(line);
  std::fflush(opts_.out);
}

void Agent::MakeTarget(ProcessInfo& p, const TargetSelector& sel, bool announce) {
  p.state = TrackState::kTarget;
  p.role = sel.role;
  p.selector = sel.name;
  table_.RefreshIdentity(p);
  table_.MakeRoot(p);
  counters_.targets_found++;
  if (announce) EmitTarget(p, "exec");
}

void Agent::HandleCandidateExec(const Event& ev) {
  counters_.candidates++;
  recently_rejected_.erase(ev.tgid);
  ProcessInfo& p = table_.Apply(ev);
  auto m = InScope(ev.pid_ns) ? targets_.Match(ev.comm, p.exe, p.argv) : std::nullopt;
  if (!InScope(ev.pid_ns)) out_of_scope_++;
  if (m) {
    // BPF_EXIST: if it already exited, do not resurrect its pid.
    if (Status s = sensor_->Track(ev.tgid, KernelTrack::kTarget, RoleId(m->selector->role),
                                  /*only_if_present=*/true);
        !s.ok()) {
      spdlog::debug("agent: {}", s.message());
    }
    MakeTarget(p, *m->selector, true);
    Observe(ev, p);
    return;
  }
  counters_.candidates_rejected++;
  (void)sensor_->Untrack(ev.tgid);
  // Untracked processes send no exit event: forget it now, and remember the
  // rejection just long enough to discard events already in the ring.
  table_.Remove(ev.tgid);
  recently_rejected_[ev.tgid] = std::chrono::steady_clock::now();
}

void Agent::HandleEvent(Event&& ev) {
  counters_.events_seen++;
  ProcessInfo* known = table_.Find(ev.tgid);

  if (ev.kind == EventKind::kExec && ev.ret == 0 && ev.candidate() &&
      !(known && known->state == TrackState::kTarget)) {
    HandleCandidateExec(ev);
    return;
  }
  const bool rejected = !known && recently_rejected_.count(ev.tgid);
  if (rejected || (ev.candidate() && (!known || known->state != TrackState::kTarget))) {
    // A rejected candidate (or its child): what it did before the kernel
    // learned of the rejection is not a target's activity.
    counters_.candidate_events_discarded++;
    if (ev.kind == EventKind::kFork) (void)sensor_->Untrack(static_cast<uint32_t>(ev.args[0]));
    if (ev.kind == EventKind::kExit) {
      table_.Remove(ev.tgid);
    } else if (!known) {
      (void)sensor_->Untrack(ev.tgid);
    }
    return;
  }

  if (ev.kind == EventKind::kFork) {
    guard_->Fork(ev.tgid, static_cast<uint32_t>(ev.args[0]), ev.flags & NBW_F_MODEL_WINDOW);
  }
  ProcessInfo& p = table_.Apply(ev);
  if (p.state != TrackState::kTarget) {
    // Tracked by the kernel but new to the table (raced start-up): adopt it.
    p.state = TrackState::kTarget;
    if (p.role.empty()) p.role = kRoleUnknown, p.selector = "inherited";
  }
  if (ev.kind == EventKind::kFork && ev.candidate()) {
    // Parent was promoted after this child inherited "candidate".
    (void)sensor_->Track(static_cast<uint32_t>(ev.args[0]), KernelTrack::kTarget, RoleId(p.role),
                         /*only_if_present=*/true);
  }
  if (ev.kind == EventKind::kExec && ev.ret == 0) {
    // A watched process exec'd something a selector names (a kernel a
    // tracked launcher starts, or a child dressed as one): it stays in its
    // tree with its root's identity, and takes the selector's role only if
    // that is stricter than the one it has, here and in the kernel.
    if (auto m = targets_.Match(ev.comm, p.exe, p.argv);
        m && RoleIsStricter(m->selector->role, p.role)) {
      p.role = m->selector->role;
      p.selector = m->selector->name;
      (void)sensor_->Track(ev.tgid, KernelTrack::kTarget, RoleId(p.role), /*only_if_present=*/true);
      EmitTarget(p, "exec");
    }
  }
  Observe(ev, p);
  if (ev.kind == EventKind::kExit) {
    table_.Remove(ev.tgid);
    guard_->Exit(ev.tgid);
  }
}

Status Agent::TrackTree(uint32_t root, const std::string& role, const std::string& selector) {
  if (root == self_pid_) {
    return Status::Error("tracking", "refusing to track the daemon itself");
  }
  if (Status s = sensor_->Track(root, KernelTrack::kTarget, RoleId(role)); !s.ok()) return s;
  auto p = table_.LoadFromProc(root);
  if (!p.ok()) {
    (void)sensor_->Untrack(root);
    return p.status();
  }
  (*p)->state = TrackState::kTarget;
  (*p)->role = role;
  (*p)->selector = selector;
  table_.MakeRoot(**p);
  counters_.targets_found++;
  EmitTarget(**p, selector == "track-pid" ? "track-pid" : "running");

  // Descendants that existed before the root was tracked; later ones
  // inherit in the kernel. One /proc snapshot after tracking the root.
  std::multimap<uint32_t, uint32_t> children;
  for (uint32_t pid : procfs_.Pids()) {
    if (auto st = procfs_.Stat(pid); st.ok()) children.emplace(st->ppid, pid);
  }
  // A descendant the start-up scan made a target first (its pid came
  // earlier) keeps its role if that is not laxer, and passes it down.
  struct Node {
    uint32_t pid;
    std::string role, selector;
  };
  std::vector<Node> todo{{root, role, selector}};
  while (!todo.empty()) {
    const Node cur = std::move(todo.back());
    todo.pop_back();
    auto [b, e] = children.equal_range(cur.pid);
    for (auto it = b; it != e; ++it) {
      Node child{it->second, cur.role, cur.selector};
      if (child.pid == self_pid_) continue;
      if (const ProcessInfo* known = table_.Find(child.pid);
          known && known->state == TrackState::kTarget &&
          !RoleIsStricter(child.role, known->role)) {
        child.role = known->role;
        child.selector = known->selector;
      }
      if (!sensor_->Track(child.pid, KernelTrack::kTarget, RoleId(child.role)).ok()) continue;
      if (auto c = table_.LoadFromProc(child.pid); c.ok()) {
        (*c)->state = TrackState::kTarget;
        (*c)->role = child.role;
        (*c)->selector = child.selector;
        (*c)->target_root = root;
        (*c)->jupyter = (*p)->jupyter;  // its own environment is only a claim
      }
      todo.push_back(std::move(child));
    }
  }
  return Status::Ok();
}

bool Agent::InScope(uint32_t pid_ns) const {
  return !opts_.scope_pod || static_cast<uint32_t>(own_pid_ns_) == pid_ns;
}

void Agent::ScanRunningProcesses() {
  const uint32_t self = self_pid_;
  size_t found = 0;
  for (uint32_t pid : procfs_.Pids()) {
    if (pid == self) continue;
    if (opts_.scope_pod) {
      auto ns = procfs_.NamespaceInode(pid, "pid");
      if (!ns.ok() || *ns != own_pid_ns_) continue;
    }
    auto st = procfs_.Stat(pid);
    if (!st.ok()) continue;  // exited meanwhile
    auto argv = procfs_.Cmdline(pid);
    if (!argv.ok() || argv->empty()) continue;  // kernel threads have no cmdline
    auto exe = procfs_.Exe(pid);
    auto m = targets_.Match(st->comm, exe.ok() ? *exe : "", *argv);
    if (!m) continue;
    // Skip children of processes already made targets in this scan.
    if (ProcessInfo* known = table_.Find(pid); known && known->state == TrackState::kTarget) {
      continue;
    }
    if (Status s = TrackTree(pid, m->selector->role, m->selector->name); !s.ok()) {
      spdlog::warn("agent: running process {} matched '{}' but could not be tracked: {}", pid,
                   m->selector->name, s.message());
      continue;
    }
    found++;
  }
  spdlog::info("agent: start-up scan found {} running target(s)", found);
}

}  // namespace nbw

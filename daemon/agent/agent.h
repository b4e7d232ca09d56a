// SPDX-License-Identifier: Apache-2.0
// Agent: the daemon's core. Owns the sensor, the process table and the
// target selectors, and runs on one boost::asio::io_context thread: ring
// buffer readiness, signals and timers are all handlers on that loop, so
// nothing here takes a lock.
//
// Flow: kernel event -> Sensor::Poll -> HandleEvent -> candidate decision /
// process table -> JSON line on the output stream (with --events).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "alert/alert.h"
#include "alert/limiter.h"
#include "engine/engine.h"
#include "guard/model_guard.h"
#include "policy/policy_bundle.h"
#include "policy/rules.h"
#include "policy/targets.h"
#include "process/process_table.h"
#include "sensor/sensor.h"
#include "sinks/router.h"

namespace nbw {

struct AgentOptions {
  std::string policy_path;
  bool print_events = false;
  std::vector<uint32_t> track_pids;
  std::string status_path = "/run/nbwarden/status.json";  // empty: none
  std::chrono::milliseconds stats_interval{5000};
  // The kernel wakes the daemon only per batch (bpf/event.bpf.h); this
  // bounds how long a lone event can wait in the ring.
  std::chrono::milliseconds drain_interval{20};
  SensorOptions sensor;
  std::FILE* out = stdout;  // JSON lines: targets, events, alerts
  // Alerts also go to the configured sinks (syslog, webhook, files), if any.
  AlertRouter* router = nullptr;
  LimiterConfig limits;  // deduplication and rate limiting of alerts
  // The control socket (`nbwarden status`, `nbwarden reload`): root, and
  // control_group if set. Empty: none.
  std::string control_path;
  std::string control_group;
  // Prometheus metrics and /healthz over HTTP, loopback only ("127.0.0.1:9464").
  std::string metrics_listen;
  // Where /proc is (a host /proc mounted into a sidecar: "/host/proc").
  std::string proc_root = "/proc";
  // Sidecar: watch only processes in the daemon's own pid namespace (its
  // pod's, with shareProcessNamespace), never another pod's.
  bool scope_pod = false;
};

struct AgentCounters {
  uint64_t events_seen = 0;     // decoded from the kernel
  uint64_t events_emitted = 0;  // written to the output
  uint64_t candidates = 0;      // execs the kernel prefilter sent for a decision
  uint64_t candidates_rejected = 0;
  uint64_t candidate_events_discarded = 0;  // events of rejected candidates (not drops)
  uint64_t targets_found = 0;
  uint64_t alerts = 0;
  uint64_t alerts_folded = 0;  // by deduplication and rate limiting
};

// Paths targets opened for writing, newest last, bounded; entries expire.
class RecentWriteLog : public RecentWrites {
 public:
  static constexpr size_t kMax = 4096;
  static constexpr std::chrono::minutes kTtl{10};
  void Record(const std::string& path, std::string writer);
  const std::string* Writer(const std::string& path) const override;

 private:
  struct Entry {
    std::string writer;
    std::chrono::steady_clock::time_point when;
  };
  std::unordered_map<std::string, Entry> by_path_;
  std::deque<std::string> order_;
};

// Registers itself as the router's drop observer for its whole life.
class Agent final : public SinkDropObserver {
 public:
  Agent(boost::asio::io_context& io, AgentOptions opts, PolicyBundle policy);
  ~Agent() override;
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Loads the sensor and starts watching. On error nothing is left attached.
  Status Start();
  // Detaches and stops the loop's work; io.run() then returns.
  void Stop();
  // Called once when stopping begins (a signal or Stop()).
  void OnStopping(std::function<void()> fn) { on_stopping_ = std::move(fn); }

  // A sink dropped alerts (its spool was full): raised as an alert of its
  // own, which every sink gets (the one that dropped, now delivering, too).
  // From the sink's worker thread: the alert is raised on the loop.
  void OnSinkDrops(std::string_view sink, uint64_t dropped) override;

  const AgentCounters& counters() const { return counters_; }
  SensorCounters sensor_counters() const;
  const ProcessTable& table() const { return table_; }

 private:
  void ArmPoll();
  void ArmSignals();
  void ArmStatsTimer();
  void ArmDrainTimer();
  void Drain();
  void HandleEvent(Event&& ev);
  void HandleCandidateExec(const Event& ev);
  void MakeTarget(ProcessInfo& p, const TargetSelector& sel, bool announce);
  Status TrackTree(uint32_t root, const std::string& role, const std::string& selector);
  void ScanRunningProcesses();
  void Emit(const Event& ev, const ProcessInfo* p);
  // Emit with --events, then run the rules: every target event goes here.
  void Observe(const Event& ev, ProcessInfo& p);
  void EmitAlert(const Rule& rule, const EvalContext& ctx);
  // The model guard's side (agent_model.cc). A MODEL event is judged by the
  // rules once its file is scanned; alerts from inside a window whose scan
  // is still running wait for it (at most kAlertHold) so they carry the
  // model's sha256 and verdict.
  void OnModelEvent(const Event& ev, ProcessInfo& p);
  void OnModelScanned(const std::shared_ptr<ModelLoad>& load);
  void HoldAlert(const Rule& rule, std::string_view action, const EvalContext& ctx);
  void ReleaseHeldAlerts(uint64_t window_id, bool timed_out);
  void ReleaseExpiredAlerts();
  static constexpr std::chrono::seconds kAlertHold{10};
  static constexpr std::chrono::seconds kStopDrain{2};
  // An alert about nbwarden itself (a rejected reload, ...).
  void EmitSelfAlert(std::string_view id, std::string_view name, Severity sev,
                     std::string_view summary);
  void EmitTarget(const ProcessInfo& p, std::string_view how);
  void WriteLine(const std::string& line);
  // An alert: to the output (flushed: alerts are not held back by
  // buffering) and to every sink.
  void WriteAlert(const std::string& line);
  // Alerts the limiter folded, once their window ends (final: all of them).
  void ReportFolds(bool final);
  void ReportStats(bool final);
  [[nodiscard]] Status Reload();
  // Puts the kernel half of a policy in force (one flip, all or nothing),
  // logging what it holds. Fails, with the running policy still in force,
  // if it does not compile or apply.
  [[nodiscard]] Status ApplyKernelPolicy(const TargetSet& targets, const RuleSet& rules,
                                         const ModelGuardPolicy& model_guard);
  // Everything `nbwarden status` shows (the status file, the control socket).
  nlohmann::json StatusJson(bool final);
  // The control socket and the metrics endpoint (agent_control.cc). Control
  // connections are capped (in all, and per peer uid but root's), must send
  // their request within kControlIdle, and are refused when fds run short.
  // The metrics endpoint takes at most kMetricsMax at once, each for 5 s.
  static constexpr size_t kControlMax = 16, kControlPerUid = 4, kMetricsMax = 16;
  static constexpr std::chrono::seconds kControlIdle{5};
  struct ControlConnections;
  struct MetricsConnections;
  Status StartControl();
  void AcceptControl();
  void ServeControl(boost::asio::local::stream_protocol::socket sock);
  void StopControl();
  nlohmann::json ControlStatusJson() const;
  // Fds or connections ran short (a refused connection, a scan that waits):
  // NBW-SELF-004, at most once per kPressureAlertEvery; counted always.
  void ReportPressure(const std::string& what);
  void CheckStreamPressure();  // from the stats timer: the stream's own refusals
  static constexpr std::chrono::seconds kPressureAlertEvery{60};
  Status StartMetrics();
  void AcceptMetrics();
  std::string MetricsText();
  // Role names to the ids the kernel's tracked map carries (enforcement
  // keys on them). Stable for the daemon's lifetime.
  uint32_t RoleId(const std::string& role) { return role_ids_.Id(role); }

  boost::asio::io_context& io_;
  std::function<void()> on_stopping_;
  AlertLimiter limiter_;
  std::string policy_version_;  // sha256 prefix of the policy files' text
  std::optional<gid_t> control_group_;
  uint64_t control_refused_ = 0;
  std::shared_ptr<ControlConnections> control_conns_;
  std::unique_ptr<boost::asio::steady_timer> control_backoff_;  // after a failed accept
  std::shared_ptr<MetricsConnections> metrics_conns_;
  std::unique_ptr<boost::asio::steady_timer> metrics_backoff_;
  uint64_t pressure_events_ = 0;
  std::optional<std::chrono::steady_clock::time_point> last_pressure_alert_;
  uint64_t stream_pressure_seen_ = 0;
  const AgentOptions opts_;
  const ProcFs procfs_;
  const uint32_t self_pid_;    // as procfs_ and the kernel number it
  const uint64_t own_pid_ns_;  // with scope_pod: the only pid namespace watched
  uint64_t out_of_scope_ = 0;  // candidates in another pid namespace
  bool InScope(uint32_t pid_ns) const;
  const std::string host_;
  TargetSet targets_;
  Engine engine_;
  ProcessTable table_;
  std::unique_ptr<Sensor> sensor_;
  std::optional<boost::asio::posix::stream_descriptor> ring_fd_;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> control_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> metrics_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer stats_timer_;
  boost::asio::steady_timer drain_timer_;
  AgentCounters counters_;
  std::string line_;            // reused for every event line
  bool line_is_event_ = false;  // line_ holds the current event's rendering
  std::string alert_line_;
  RoleIds role_ids_;
  RecentWriteLog writes_;
  std::unordered_map<uint32_t, std::chrono::steady_clock::time_point> recently_rejected_;
  std::shared_ptr<const ModelGuardPolicy> model_policy_;
  std::unique_ptr<ModelGuard> guard_;
  struct PendingModelEvent {
    Event ev;
    ProcessInfo proc;  // as it was when the model opened
  };
  std::map<uint64_t, PendingModelEvent> model_events_;  // window id -> its MODEL event
  struct HeldAlert {
    std::shared_ptr<const ModelLoad> model;  // its report is filled in by the scan
    std::chrono::steady_clock::time_point since;
    AlertRuleRef rule;
    std::string action, summary, event;
    uint64_t time_ns;
    ProcessInfo proc;
    std::vector<AncestorRef> ancestry;
  };
  std::deque<HeldAlert> held_;  // oldest first
  uint64_t alerts_released_unscanned_ = 0;
  uint64_t last_reported_drops_ = 0;
  std::chrono::steady_clock::time_point started_;
  bool stopping_ = false;
};

}  // namespace nbw

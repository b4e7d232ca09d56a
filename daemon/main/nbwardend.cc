// SPDX-License-Identifier: Apache-2.0
// nbwardend: the nbwarden daemon. Loads the policy's target selectors,
// attaches the eBPF sensor and writes JSON lines (targets, events) to stdout
// or a file; logs go to stderr.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <cstring>
#include <functional>

#include "agent/agent.h"
#include "main/command_line.h"
#include "probe/probe.h"
#include "sinks/router.h"

int main(int argc, char** argv) {
  CLI::App app{
      "nbwardend: runtime security agent for notebook kernels and model servers.\n"
      "Writes JSON lines to stdout: targets, alerts, and with --events every event.",
      "nbwardend"};
  std::string policies = "/etc/nbwarden/policies";
  std::string output = "-";
  std::string log_level = "info";
  std::string status_file = "/run/nbwarden/status.json";
  const std::string kDefaultConfig = "/etc/nbwarden/nbwarden.yaml";
  std::string config_path = kDefaultConfig;
  bool events = false;
  std::vector<uint32_t> track_pids;
  size_t ringbuf_mb = 16;
  app.add_option("-p,--policies", policies, "policy directory or file")->capture_default_str();
  app.add_flag("--events", events, "print every event of every target as a JSON line");
  app.add_option("--track-pid", track_pids, "also watch this process tree (repeatable)");
  app.add_option("-o,--output", output, "JSON lines destination ('-' = stdout)")
      ->capture_default_str();
  app.add_option("--status-file", status_file,
                 "status JSON, rewritten every few seconds ('' = none)")
      ->capture_default_str();
  app.add_option("--ringbuf-mb", ringbuf_mb, "ring buffer size in MiB (power of two)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  std::string control_socket = "/run/nbwarden/control.sock", control_group, metrics_listen;
  app.add_option("--control-socket", control_socket,
                 "unix socket for `nbwarden status` and `nbwarden reload` ('' = none)")
      ->capture_default_str();
  app.add_option("--control-group", control_group,
                 "group allowed on the control socket besides root");
  app.add_option("--metrics-listen", metrics_listen,
                 "Prometheus /metrics and /healthz on this loopback ADDRESS:PORT");
  std::string proc_root = "/proc", scope = "host";
  app.add_option("--proc-root", proc_root,
                 "where the host's /proc is (a sidecar mounts it, e.g. /host/proc)")
      ->capture_default_str();
  app.add_option("--scope", scope,
                 "host: every process; pod: only those in this daemon's pid namespace (sidecar)")
      ->check(CLI::IsMember({"host", "pod"}))
      ->capture_default_str();
  int status_interval_ms = 5000;
  app.add_option("--status-interval-ms", status_interval_ms,
                 "how often the status file is rewritten")
      ->check(CLI::Range(100, 3600000))
      ->capture_default_str();
  app.add_option("-c,--config", config_path,
                 "daemon config: alert sinks (syslog, webhook, files) and their spool")
      ->capture_default_str();
  if (auto exit_status = nbw::cli::ParseCommandLine(app, argc, argv)) return *exit_status;

  // Whoever started us may have blocked signals (unshare --fork, some
  // container inits): SIGTERM and SIGHUP must reach the loop.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  auto logger = spdlog::stderr_color_mt("nbwardend");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  if ((ringbuf_mb & (ringbuf_mb - 1)) != 0) {
    std::fprintf(stderr, "nbwardend: --ringbuf-mb %zu: must be a power of two\n", ringbuf_mb);
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "nbwardend: must run as root (loads eBPF programs)\n");
    return 1;
  }

  auto policy = nbw::PolicyBundle::Load(policies);
  if (!policy.ok()) {
    std::fprintf(stderr, "nbwardend: policy error: %s\n", policy.status().message().c_str());
    return 1;
  }

  char hostname[256] = {};
  gethostname(hostname, sizeof hostname - 1);
  nbw::DaemonConfig config;
  if (config_path != kDefaultConfig || access(config_path.c_str(), F_OK) == 0) {
    auto c = nbw::DaemonConfig::Load(config_path, hostname);
    if (!c.ok()) {
      std::fprintf(stderr, "nbwardend: config error: %s\n", c.status().message().c_str());
      return 1;
    }
    config = std::move(c).value();
  }
  const nbw::LimiterConfig limits = config.limits;

  // Say once what the kernel offers and what is used instead.
  for (const auto& f : nbw::ProbeKernel()) {
    if (!f.available) {
      spdlog::log(f.required ? spdlog::level::err : spdlog::level::info,
                  "probe: {} unavailable: {}", f.name, f.detail);
    }
  }

  std::FILE* out = stdout;
  if (output != "-") {
    out = std::fopen(output.c_str(), "ae");
    if (!out) {
      std::fprintf(stderr, "nbwardend: %s: %s\n", output.c_str(), std::strerror(errno));
      return 1;
    }
  }
  static char outbuf[1 << 16];
  std::setvbuf(out, outbuf, _IOFBF, sizeof outbuf);

  boost::asio::io_context io;
  // Outlives the agent, which is its drop observer from construction to
  // destruction (Agent::OnSinkDrops).
  auto router = nbw::AlertRouter::Start(std::move(config));
  if (!router.ok()) {
    std::fprintf(stderr, "nbwardend: sinks: %s\n", router.status().message().c_str());
    return 1;
  }
  nbw::AgentOptions opts;
  opts.router = router->get();
  opts.limits = limits;
  opts.control_path = control_socket;
  opts.control_group = control_group;
  opts.metrics_listen = metrics_listen;
  opts.proc_root = proc_root;
  opts.scope_pod = scope == "pod";
  opts.policy_path = policies;
  opts.print_events = events;
  opts.track_pids = track_pids;
  opts.status_path = status_file;
  opts.stats_interval = std::chrono::milliseconds(status_interval_ms);
  opts.sensor.ringbuf_bytes = ringbuf_mb << 20;
  opts.out = out;
  nbw::Agent agent(io, opts, std::move(policy).value());
  if (nbw::Status s = agent.Start(); !s.ok()) {
    std::fprintf(stderr, "nbwardend: %s\n", s.message().c_str());
    return 1;
  }
  // systemd (Type=notify): ready once the sensor is attached; the watchdog
  // is pinged from the event loop itself, so a wedged loop is restarted.
  sd_notifyf(0, "READY=1\nSTATUS=watching, policy %s\nMAINPID=%d", policies.c_str(), getpid());
  boost::asio::steady_timer watchdog(io);
  uint64_t watchdog_usec = 0;
  std::function<void()> ping = [&] {
    sd_notify(0, "WATCHDOG=1");
    watchdog.expires_after(std::chrono::microseconds(watchdog_usec / 2));
    watchdog.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) ping();
    });
  };
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) ping();
  agent.OnStopping([&] {
    sd_notify(0, "STOPPING=1");
    watchdog.cancel();
  });
  io.run();
  (*router)->Stop();  // what is undelivered stays spooled for the next start
  std::fflush(out);
  return 0;
}

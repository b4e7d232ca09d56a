// SPDX-License-Identifier: Apache-2.0
// nbwarden: the operator's CLI. Subcommands: doctor, status, policy check, scan,
// seccomp record/export, kernelspec install (main/cli.h).
#include <fmt/format.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/bundled_policy.h"
#include "common/terminal_text.h"
#include "common/unique_fd.h"
#include "main/cli.h"
#include "main/command_line.h"
#include "policy/policy_files.h"
#include "policy/rules.h"
#include "policy/targets.h"
#include "probe/probe.h"
#include "process/proc_fs.h"
#include "scan/scanner.h"
#include "scan/walk.h"
#include "seccomp/landlock.h"
#include "seccomp/profile.h"
#include "sinks/router.h"

namespace {

int Doctor() {
  if (geteuid() != 0) {
    std::fprintf(stderr, "nbwarden doctor: run as root: BPF probes need CAP_BPF\n");
  }
  auto features = nbw::ProbeKernel();
  size_t w = 0;
  for (const auto& f : features) w = std::max(w, f.name.size());
  fmt::print("{:<{}}  {:<5}  {:<8}  {}\n", "feature", w, "ok", "needed", "detail");
  for (const auto& f : features) {
    fmt::print("{:<{}}  {:<5}  {:<8}  {}\n", f.name, w, f.available ? "yes" : "NO",
               f.required ? "required" : "optional", f.detail);
  }
  const bool ok = nbw::SensorCanRun(features);
  fmt::print("\nsensor: {}\n", ok ? "can run" : "CANNOT run (a required feature is missing)");
  return ok ? 0 : 1;
}

// One request line to the daemon's control socket, one JSON reply.
nbw::Result<nlohmann::json> Control(const std::string& socket_path, const std::string& cmd) {
  nbw::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un un = {};
  un.sun_family = AF_UNIX;
  std::strncpy(un.sun_path, socket_path.c_str(), sizeof un.sun_path - 1);
  if (!fd.valid() || connect(fd.get(), reinterpret_cast<sockaddr*>(&un), sizeof un) != 0) {
    return nbw::Status::FromErrno(socket_path, errno);
  }
  const std::string req = cmd + "\n";
  if (write(fd.get(), req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    return nbw::Status::FromErrno(socket_path, errno);
  }
  std::string reply;
  char buf[65536];
  for (ssize_t n; (n = read(fd.get(), buf, sizeof buf)) > 0 && reply.size() < (16u << 20);) {
    reply.append(buf, static_cast<size_t>(n));
  }
  try {
    return nlohmann::json::parse(reply);
  } catch (const nlohmann::json::exception& e) {
    return nbw::Status::Error(socket_path, std::string("bad reply: ") + e.what());
  }
}

int Reload(const std::string& socket_path) {
  auto r = Control(socket_path, "reload");
  if (!r.ok()) {
    std::fprintf(stderr, "nbwarden reload: %s (is nbwardend running?)\n",
                 r.status().message().c_str());
    return 1;
  }
  if (!r->value("ok", false)) {
    std::fprintf(stderr, "nbwarden reload: rejected, the running policy stays: %s\n",
                 r->value("error", "").c_str());
    return 1;
  }
  fmt::print("reloaded: policy version {}\n", r->value("policy_version", ""));
  return 0;
}

int Status(const std::string& path, const std::string& socket_path) {
  // The control socket first (live counters, sinks' health): a daemon that
  // answers is running, which a control-group member could not learn with
  // kill(pid, 0) on root's daemon (EPERM). The status file when the socket
  // cannot be reached (an older daemon, or no access): then the pid says.
  std::string text, unreachable;
  if (auto live = Control(socket_path, "status"); live.ok()) {
    text = live->dump();
  } else {
    auto file = nbw::ReadFileBounded(path, 1 << 20);
    if (!file.ok()) {
      std::fprintf(stderr, "nbwarden status: %s; %s (is nbwardend running?)\n",
                   live.status().message().c_str(), file.status().message().c_str());
      return 1;
    }
    text = *file;
    unreachable = live.status().message();
  }
  try {
    auto j = nlohmann::json::parse(text);
    const int pid = j.value("pid", 0);
    bool alive = j.value("running", false);
    if (!unreachable.empty()) alive = alive && pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
    fmt::print("daemon:   {} (pid {})\n", alive ? "running" : "not running", pid);
    if (!unreachable.empty()) {
      fmt::print("via:      {} ({})\n", nbw::TerminalSafe(path), nbw::TerminalSafe(unreachable));
    }
    fmt::print("policy:   {} (version {})\n", nbw::TerminalSafe(j.value("policy", "")),
               nbw::TerminalSafe(j.value("policy_version", "")));
    fmt::print("uptime:   {}s\n", j.value("uptime_s", 0));
    const auto& s = j["sensor"];
    const auto& a = j["agent"];
    fmt::print("events:   {} from the kernel, {} emitted\n", s.value("events", 0),
               a.value("events_emitted", 0));
    fmt::print("dropped:  {} (ringbuf_full={} inflight_full={} tracked_full={} decode_errors={})\n",
               s.value("dropped", 0), s.value("ringbuf_full", 0), s.value("inflight_full", 0),
               s.value("tracked_full", 0), s.value("decode_errors", 0));
    fmt::print("targets:  {} live, {} found; {} candidates, {} rejected\n",
               a.value("targets_live", 0), a.value("targets_found", 0), a.value("candidates", 0),
               a.value("candidates_rejected", 0));
    if (j.contains("model_guard")) {
      const auto& m = j["model_guard"];
      fmt::print(
          "models:   {} load windows, {} scans, {} from cache; not scanned: {} (queue full) "
          "{} (unreadable); windows lost: {}\n",
          m.value("windows", 0), m.value("scans", 0), m.value("cache_hits", 0),
          m.value("queue_full", 0), m.value("open_failed", 0), m.value("window_full", 0));
    }
    if (j.contains("sinks")) {
      for (const auto& k : j["sinks"]) {
        const std::string error = nbw::TerminalSafe(k.value("last_error", ""));
        fmt::print("sink:     {:<12} {:<8} {}  delivered {}, pending {}, dropped {}{}\n",
                   nbw::TerminalSafe(k.value("name", "")), nbw::TerminalSafe(k.value("type", "")),
                   k.value("healthy", false) ? "up  " : "DOWN", k.value("delivered", 0),
                   k.value("pending", 0), k.value("dropped", 0),
                   error.empty() ? "" : "  (" + error + ")");
      }
    }
    if (j.contains("stream")) {
      fmt::print("stream:   {} subscriber(s), {} cut off\n", j["stream"].value("subscribers", 0),
                 j["stream"].value("cut_off", 0));
    }
    return alive ? 0 : 3;
  } catch (const nlohmann::json::exception& e) {
    std::fprintf(stderr, "nbwarden status: %s: %s\n", path.c_str(), e.what());
    return 1;
  }
}

int PolicyCheck(const std::string& path) {
  auto t = nbw::TargetSet::LoadPath(path);
  if (!t.ok()) {
    std::fprintf(stderr, "%s\n", t.status().message().c_str());
    return 1;
  }
  auto rules = nbw::RuleSet::LoadPath(path);
  if (!rules.ok()) {
    std::fprintf(stderr, "%s\n", rules.status().message().c_str());
    return 1;
  }
  if (auto mg = nbw::ModelGuardPolicy::LoadPath(path); !mg.ok()) {
    std::fprintf(stderr, "%s\n", mg.status().message().c_str());
    return 1;
  }
  // What nbwarden-exec reads from the same tree: Landlock rules and seccomp
  // profiles, validated here so a bad one is found before a kernel starts.
  size_t landlock = 0, profiles = 0;
  auto files = nbw::ReadPolicyFiles(path);
  if (files.ok()) {
    for (const auto& f : *files) {
      auto doc = nbw::ParseYaml(f.text, f.path);
      if (!doc.ok() || !doc->IsMap() || !(*doc)["landlock"]) continue;
      auto l = nbw::LandlockRules::Parse(f.text, f.path);
      if (!l.ok()) {
        std::fprintf(stderr, "%s\n", l.status().message().c_str());
        return 1;
      }
      landlock++;
    }
  }
  std::error_code ec;
  const std::filesystem::path seccomp_dir = std::filesystem::path(path) / "seccomp";
  for (auto it = std::filesystem::directory_iterator(seccomp_dir, ec);
       !ec && it != std::filesystem::end(it); it.increment(ec)) {
    if (it->path().extension() != ".json") continue;
    auto p = nbw::SeccompProfile::Load(it->path());
    if (p.ok()) {
      auto f = nbw::CompileProfile(*p);
      if (!f.ok()) p = f.status();
    }
    if (!p.ok()) {
      std::fprintf(stderr, "%s\n", p.status().message().c_str());
      return 1;
    }
    profiles++;
  }
  for (const auto& s : t->selectors()) {
    fmt::print("target {:<24} role {:<18} comm {}  ({})\n", s.name, s.role,
               fmt::join(s.comm_prefixes, ","), s.source);
  }
  for (const auto& r : rules->rules()) {
    fmt::print("rule   {:<24} {:<9} {}  ({})\n", r->id, nbw::SeverityName(r->severity), r->name,
               r->source);
  }
  fmt::print(
      "{}: OK, {} target selector(s), {} rule(s), {} seccomp profile(s), {} landlock "
      "rule file(s)\n",
      path, t->selectors().size(), rules->rules().size(), profiles, landlock);
  return 0;
}

// The model-guard policy: the directory or file named with -p; else the
// installed one; else the one built in (common/bundled_policy.h).
nbw::Result<nbw::ModelGuardPolicy> LoadScanPolicy(const std::string& named) {
  if (!named.empty()) return nbw::ModelGuardPolicy::LoadPath(named);
  if (!nbw::UseBuiltinPolicy()) return nbw::ModelGuardPolicy::LoadPath(nbw::InstalledPolicyDir());
  const std::string path = std::string(nbw::kBuiltinPrefix) + "model-guard.yaml";
  auto text = nbw::ReadPolicyText(path, 1 << 20);
  if (!text.ok()) return text.status();
  return nbw::ModelGuardPolicy::LoadString(*text, path);
}

// Exit status for a pipeline: 1 if anything is malicious (or suspicious with
// --strict), else 2 if anything could not be fully scanned, else 0. The
// human format escapes file names and findings: both come from the files.
int Scan(const std::vector<std::string>& paths, const std::string& policies, bool json,
         bool strict) {
  auto policy = LoadScanPolicy(policies);
  if (!policy.ok()) {
    std::fprintf(stderr, "nbwarden scan: policy: %s\n", policy.status().message().c_str());
    return 2;
  }
  auto shared = std::make_shared<const nbw::ModelGuardPolicy>(std::move(policy).value());
  nbw::ModelScanner scanner(shared);
  bool bad = false, incomplete = false;
  auto judge = [&](const nbw::ScanReport& r) {
    bad |=
        r.verdict == nbw::Verdict::kMalicious || (strict && r.verdict == nbw::Verdict::kSuspicious);
    incomplete |= !r.complete && !r.trusted;
    if (json) {
      std::string line;
      nbw::RenderScanReport(r, line);
      line += '\n';
      std::fwrite(line.data(), 1, line.size(), stdout);
      return;
    }
    fmt::print("{:<11}  {:<12}  {:<12}  {}{}\n", nbw::VerdictName(r.verdict),
               r.sha256.substr(0, 12), r.format, nbw::TerminalSafe(r.path),
               r.trusted ? "  (trusted sha256)" : "");
    for (const auto& f : r.findings) {
      fmt::print("    {:<11}  {}{}@{}  {}\n", nbw::VerdictName(f.severity),
                 f.member.empty() ? "" : nbw::TerminalSafe(f.member) + " ", f.kind, f.offset,
                 nbw::TerminalSafe(f.detail));
    }
  };
  // A directory is walked (scan/walk.h): what it cannot read is unscannable.
  for (const auto& path : paths) {
    std::error_code ec;
    if (!std::filesystem::is_directory(path, ec)) {
      judge(scanner.ScanPath(path));
      continue;
    }
    nbw::WalkModels(path, *shared, [&](nbw::WalkVisit v) {
      judge(v.fd.valid() ? scanner.ScanFd(v.fd.get(), v.path)
                         : nbw::UnreadableReport(v.path, v.error));
    });
  }
  std::fflush(stdout);
  return bad ? 1 : incomplete ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nbwarden: operate the nbwarden agent", "nbwarden"};
  app.require_subcommand(1);
  auto* doctor = app.add_subcommand("doctor", "probe what this kernel supports");
  std::string status_path = "/run/nbwarden/status.json";
  auto* status = app.add_subcommand("status", "show the running daemon's counters");
  status->add_option("--status-file", status_path)->capture_default_str();
  std::string control_socket = "/run/nbwarden/control.sock";
  status->add_option("--socket", control_socket, "the daemon's control socket")
      ->capture_default_str();
  auto* reload = app.add_subcommand("reload", "reload the running daemon's policy");
  reload->add_option("--socket", control_socket, "the daemon's control socket")
      ->capture_default_str();
  auto* policy = app.add_subcommand("policy", "policy tools");
  policy->require_subcommand(1);
  std::string policy_path;
  auto* check = policy->add_subcommand("check", "validate a policy directory or file");
  check->add_option("path", policy_path)->required();
  auto* scan = app.add_subcommand("scan",
                                  "judge model files by content (exit 0 clean, "
                                  "1 malicious, 2 not fully scannable)");
  std::vector<std::string> scan_paths;
  std::string scan_policies;  // empty: the installed policy, else the built-in one
  bool scan_json = false, scan_strict = false;
  scan->add_option("paths", scan_paths,
                   "files or directories (walked; symlinks inside are not followed)")
      ->required();
  scan->add_option("-p,--policies", scan_policies,
                   "policy directory or file (default: $NBWARDEN_POLICY_DIR or "
                   "/etc/nbwarden/policies where it exists, else the built-in policy; "
                   "here: " +
                       nbw::TerminalSafe(nbw::DefaultPolicyName()) + ")");
  scan->add_flag("--json", scan_json, "one JSON object per file");
  scan->add_flag("--strict", scan_strict, "treat suspicious as malicious in the exit status");

  auto* seccomp = app.add_subcommand("seccomp", "seccomp profiles");
  seccomp->require_subcommand(1);
  // Profile NAMEs: under --profiles, else the installed policy's seccomp/,
  // else the built-in profiles, as nbwarden-exec finds them.
  const std::string profiles_help =
      "where profile NAMEs live (default here: " + nbw::DefaultProfilesDir() + ")";
  nbw::cli::RecordOptions rec;
  auto* record = seccomp->add_subcommand(
      "record",
      "record the syscalls of a process tree (in the kernel) and write the minimal profile");
  record->add_option("--pid", rec.pid, "record this running process and its descendants");
  record->add_option("-o,--output", rec.out, "write the profile here (default: stdout)");
  record->add_option("--base", rec.base, "merge with this profile (NAME or FILE)");
  record->add_option("--profiles", rec.profiles_dir, profiles_help);
  record->add_option("--format", rec.format, "docker, oci or k8s")->capture_default_str();
  record->add_option("--duration", rec.duration_s, "with --pid: stop after SECONDS");
  record->add_option("cmd", rec.cmd, "-- CMD ARGS...: run and record this");
  nbw::cli::ExportOptions exp;
  auto* exportc = seccomp->add_subcommand("export", "print a profile for docker, oci or k8s");
  exportc->add_option("profile", exp.profile, "NAME or FILE")->required();
  exportc->add_option("--format", exp.format, "docker, oci or k8s")->capture_default_str();
  exportc->add_option("--profiles", exp.profiles_dir, profiles_help);
  exportc->add_option("--name", exp.name, "k8s: metadata.name (default: the profile's)");
  exportc->add_option("--cap", exp.caps,
                      "oci/k8s: a capability the container has (CAP_*), for includes/excludes");

  auto* kernelspec = app.add_subcommand("kernelspec", "Jupyter kernelspecs");
  kernelspec->require_subcommand(1);
  nbw::cli::KernelspecOptions ks;
  auto* ks_install = kernelspec->add_subcommand(
      "install", "wrap a kernelspec so its kernels start under nbwarden-exec");
  ks_install->add_option("--wrap", ks.wrap, "the kernelspec's name (e.g. python3)")->required();
  ks_install->add_option("--profile", ks.profile, "seccomp profile (default notebook-kernel)");
  ks_install->add_option("--profiles", ks.profiles_dir, profiles_help);
  ks_install->add_option("--landlock", ks.landlock, "Landlock rules for nbwarden-exec");
  ks_install->add_option("--kernels-dir", ks.kernels_dir,
                         "look only here (default: Jupyter's search path)");
  ks_install->add_option("--as", ks.as, "write a new kernelspec with this name instead");
  ks_install->add_option("--exec", ks.exec_path, "path of nbwarden-exec");

  nbw::cli::TailOptions tail_opts;
  auto* tail = app.add_subcommand("tail", "follow the live alert stream");
  tail->add_option("--socket", tail_opts.socket, "the daemon's stream socket")
      ->capture_default_str();
  tail->add_option("--severity", tail_opts.severity, "at least this severe (e.g. warning)");
  tail->add_option("--rule", tail_opts.rules, "only this rule id (repeatable)");
  tail->add_option("--user", tail_opts.user, "only alerts about this Jupyter user");
  tail->add_option("--connect", tail_opts.connect, "HOST:PORT of a daemon's TLS stream");
  tail->add_option("--ca", tail_opts.ca, "with --connect: the CA of the daemon's certificate");
  tail->add_option("--cert", tail_opts.cert, "with --connect: this client's certificate");
  tail->add_option("--key", tail_opts.key, "with --connect: this client's key");
  tail->add_flag("--json", tail_opts.json, "raw JSON lines");
  tail->add_flag("--no-color", tail_opts.no_colour, "no colours even on a terminal");
  tail->add_option("-n,--count", tail_opts.count, "exit after this many alerts");

  auto* config = app.add_subcommand("config", "the daemon's config (nbwarden.yaml)");
  config->require_subcommand(1);
  std::string config_path;
  auto* config_check = config->add_subcommand("check", "validate a daemon config");
  config_check->add_option("path", config_path)->required();

  if (auto exit_status = nbw::cli::ParseCommandLine(app, argc, argv)) return *exit_status;

  if (*doctor) return Doctor();
  if (*status) return Status(status_path, control_socket);
  if (*reload) return Reload(control_socket);
  if (*check) return PolicyCheck(policy_path);
  if (*scan) return Scan(scan_paths, scan_policies, scan_json, scan_strict);
  if (*record) return nbw::cli::SeccompRecord(rec);
  if (*exportc) return nbw::cli::SeccompExport(exp);
  if (*ks_install) return nbw::cli::KernelspecInstall(ks);
  if (*tail) return nbw::cli::Tail(tail_opts);
  if (*config_check) {
    auto c = nbw::DaemonConfig::Load(config_path, "check");
    if (!c.ok()) {
      std::fprintf(stderr, "%s\n", c.status().message().c_str());
      return 1;
    }
    for (const auto& k : c->sinks) fmt::print("sink   {:<16} {}\n", k.name, k.type);
    if (!c->stream.path.empty()) fmt::print("stream {}\n", c->stream.path);
    fmt::print("{}: OK, {} sink(s), spool {}\n", config_path, c->sinks.size(), c->spool_dir);
    return 0;
  }
  return 2;
}

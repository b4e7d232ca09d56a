// SPDX-License-Identifier: Apache-2.0
// nbwarden: the operator's CLI. Subcommands: doctor, status, policy check.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "policy/rules.h"
#include "policy/targets.h"
#include "probe/probe.h"
#include "process/proc_fs.h"

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

int Status(const std::string& path) {
  auto text = nbw::ReadFileBounded(path, 1 << 20);
  if (!text.ok()) {
    std::fprintf(stderr, "nbwarden status: %s (is nbwardend running?)\n",
                 text.status().message().c_str());
    return 1;
  }
  try {
    auto j = nlohmann::json::parse(*text);
    bool alive = j.value("running", false) && kill(j.value("pid", 0), 0) == 0;
    fmt::print("daemon:   {} (pid {})\n", alive ? "running" : "not running", j.value("pid", 0));
    fmt::print("policy:   {}\n", j.value("policy", ""));
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
  for (const auto& s : t->selectors()) {
    fmt::print("target {:<24} role {:<18} comm {}  ({})\n", s.name, s.role,
               fmt::join(s.comm_prefixes, ","), s.source);
  }
  for (const auto& r : rules->rules()) {
    fmt::print("rule   {:<24} {:<9} {}  ({})\n", r->id, nbw::SeverityName(r->severity), r->name,
               r->source);
  }
  fmt::print("{}: OK, {} target selector(s), {} rule(s)\n", path, t->selectors().size(),
             rules->rules().size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nbwarden: operate the nbwarden agent"};
  app.require_subcommand(1);
  auto* doctor = app.add_subcommand("doctor", "probe what this kernel supports");
  std::string status_path = "/run/nbwarden/status.json";
  auto* status = app.add_subcommand("status", "show the running daemon's counters");
  status->add_option("--status-file", status_path)->capture_default_str();
  auto* policy = app.add_subcommand("policy", "policy tools");
  policy->require_subcommand(1);
  std::string policy_path;
  auto* check = policy->add_subcommand("check", "validate a policy directory or file");
  check->add_option("path", policy_path)->required();
  CLI11_PARSE(app, argc, argv);

  if (*doctor) return Doctor();
  if (*status) return Status(status_path);
  if (*check) return PolicyCheck(policy_path);
  return 2;
}

// SPDX-License-Identifier: Apache-2.0
// nbw_rules_bench [POLICY_DIR]: the cost of rule evaluation per event with
// the bundled policy, against an empty rule set in the same run, and the
// cost of rendering the event line for scale. Synthetic events of the kinds
// a notebook kernel produces most (opens), plus exec and connect.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "alert/render.h"
#include "engine/engine.h"
#include "policy/rules.h"

using namespace nbw;

namespace {

Event Base(EventKind k, int sc) {
  Event e;
  e.kind = k;
  e.syscall = sc;
  e.tgid = e.pid = 4242;
  e.ppid = 4200;
  e.comm = "python3";
  e.realtime_ns = 1795636547499543767ULL;
  return e;
}

Event Open(const char* path, int flags) {
  Event e = Base(EventKind::kOpen, SYS_openat);
  e.ret = 3;
  e.args[0] = static_cast<uint64_t>(flags);
  e.str[0] = path;
  e.present[0] = true;
  return e;
}

Event Exec(const char* exe, std::string argv) {
  Event e = Base(EventKind::kExec, SYS_execve);
  e.str[0] = exe;
  e.str[1] = std::move(argv);
  e.str[2] = "/home/alice";
  e.present = {true, true, true};
  return e;
}

Event Connect(const char* ip, uint16_t port) {
  Event e = Base(EventKind::kNet, SYS_connect);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  inet_pton(AF_INET, ip, &in.sin_addr);
  e.args[1] = AF_INET;
  e.args[2] = SOCK_STREAM;
  e.str[0].assign(reinterpret_cast<char*>(&in), sizeof in);
  e.present[0] = true;
  return e;
}

// A privilege/escape syscall event: rules read its decoded args (args.*).
Event Syscall(int sc, std::initializer_list<uint64_t> args) {
  Event e = Base(EventKind::kSyscall, sc);
  size_t i = 0;
  for (uint64_t a : args) e.args[i++] = a;
  return e;
}

template <typename F>
double NsPer(long n, F f) {
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; i++) f();
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
         n;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "policies";
  auto rules = RuleSet::LoadPath(dir);
  auto none = RuleSet::LoadString("", "empty");
  if (!rules.ok() || !none.ok()) {
    std::fprintf(stderr, "rules_bench: %s\n", rules.status().message().c_str());
    return 1;
  }
  const size_t nrules = rules->rules().size();
  Engine full(std::move(rules).value());
  Engine empty(std::move(none).value());
  ProcFs procfs;
  ProcessTable table(procfs);
  ProcessInfo p;
  p.tgid = 4242;
  p.ppid = 4200;
  p.state = TrackState::kTarget;
  p.role = "notebook-kernel";
  p.selector = "jupyter-ipykernel";
  p.exe = "/usr/bin/python3.11";
  p.argv = {"/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "/run/kernel-1.json"};

  struct Case {
    const char* name;
    Event ev;
  };
  std::vector<Case> cases = {
      {"open (no match)", Open("/usr/lib/python3/dist-packages/numpy/core/__init__.py", O_RDONLY)},
      {"open /etc/shadow (match)", Open("/etc/shadow", O_RDONLY)},
      {"open write (no match)", Open("/home/alice/data.csv", O_WRONLY | O_CREAT | O_TRUNC)},
      {"exec /usr/bin/ls", Exec("/usr/bin/ls", std::string("ls\0-la\0", 7))},
      {"connect 10.0.0.5:443", Connect("10.0.0.5", 443)},
      {"unshare user|mnt (args.*)", Syscall(SYS_unshare, {CLONE_NEWUSER | CLONE_NEWNS})},
      {"ptrace SEIZE (args.*)", Syscall(SYS_ptrace, {0x4206, 4300})},
      {"setuid 0 (args.*)", Syscall(SYS_setuid, {0})},
  };
  const long n = std::getenv("NBW_BENCH_N") ? std::atol(std::getenv("NBW_BENCH_N")) : 200000;
  std::printf(
      "Rule evaluation per event: bundled policy (%zu rules) vs no rules, role "
      "notebook-kernel, %ld iterations each\n\n",
      nrules, n);
  std::printf("%-28s %14s %14s %14s %14s\n", "event", "no rules ns", "policy ns", "rules cost ns",
              "render ns");
  size_t matches = 0;
  for (auto& c : cases) {
    const double base = NsPer(n, [&] {
      EvalContext ctx(c.ev, &p, &table);
      empty.Evaluate(ctx, [&](const Rule&, const EvalContext&) { matches++; });
    });
    const double with = NsPer(n, [&] {
      EvalContext ctx(c.ev, &p, &table);
      full.Evaluate(ctx, [&](const Rule&, const EvalContext&) { matches++; });
    });
    std::string line;
    const double render = NsPer(n, [&] {
      line.clear();
      RenderEvent(c.ev, &p, "host", line);
    });
    std::printf("%-28s %14.0f %14.0f %14.0f %14.0f\n", c.name, base, with, with - base, render);
  }
  std::printf("\n(%zu matches while measuring)\n", matches);
  return 0;
}

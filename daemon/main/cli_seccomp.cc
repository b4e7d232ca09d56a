// SPDX-License-Identifier: Apache-2.0
// nbwarden seccomp record / export.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include "common/bundled_policy.h"
#include "common/unique_fd.h"
#include "main/cli.h"
#include "process/proc_fs.h"
#include "seccomp/export.h"
#include "seccomp/profile.h"
#include "seccomp/recorder.h"

namespace nbw::cli {

Result<SeccompProfile> LoadNamedProfile(const std::string& name_or_file, const std::string& dir) {
  const std::string path =
      ResolveProfilePath(name_or_file, dir.empty() ? DefaultProfilesDir() : dir);
  auto text = ReadPolicyText(path, 4 << 20);
  if (!text.ok()) return text.status();
  return SeccompProfile::Parse(*text, path);
}

namespace {

volatile sig_atomic_t g_child = 0;

void ForwardSignal(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

// Runs cmd with its syscalls recorded from its first instruction after
// exec: the child stops itself (a raw kill, so libc adds no syscalls after
// it), is added, and continues into execvp. Returns its wait status.
std::optional<int> RunRecorded(SyscallRecorder& rec, const std::vector<std::string>& cmd) {
  const char* who = "nbwarden seccomp record";
  pid_t child = fork();
  if (child < 0) {
    std::fprintf(stderr, "%s: fork: %s\n", who, std::strerror(errno));
    return std::nullopt;
  }
  if (child == 0) {
    syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
    std::vector<char*> argv;
    for (const auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "%s: %s: %s\n", who, argv[0], std::strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  int st = 0;
  if (waitpid(child, &st, WUNTRACED) != child || !WIFSTOPPED(st)) {
    std::fprintf(stderr, "%s: the child did not stop before exec\n", who);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    return std::nullopt;
  }
  if (Status s = rec.Add(static_cast<uint32_t>(child)); !s.ok()) {
    std::fprintf(stderr, "%s: %s\n", who, s.message().c_str());
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    return std::nullopt;
  }
  // SIGINT and SIGQUIT reach the child through the process group (a
  // terminal's ^C, jupyter_client's interrupt): ignored here so the
  // recording survives them. TERM and HUP are passed on; the recording
  // ends when the child exits either way.
  g_child = child;
  struct sigaction ign = {}, fwd = {};
  ign.sa_handler = SIG_IGN;
  fwd.sa_handler = ForwardSignal;
  sigaction(SIGINT, &ign, nullptr);
  sigaction(SIGQUIT, &ign, nullptr);
  sigaction(SIGTERM, &fwd, nullptr);
  sigaction(SIGHUP, &fwd, nullptr);
  kill(child, SIGCONT);
  for (;;) {
    pid_t r = waitpid(child, &st, 0);
    if (r == child) break;
    if (r < 0 && errno != EINTR) {
      std::fprintf(stderr, "%s: waitpid: %s\n", who, std::strerror(errno));
      return std::nullopt;
    }
  }
  g_child = 0;
  return st;
}

// Records an existing tree until its root exits, a signal, or the duration.
bool WatchRecorded(SyscallRecorder& rec, int pid, double duration_s) {
  const char* who = "nbwarden seccomp record";
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) {
    std::fprintf(stderr, "%s: process %d: %s\n", who, pid, std::strerror(errno));
    return false;
  }
  auto added = rec.AddTree(static_cast<uint32_t>(pid));
  if (!added.ok()) {
    std::fprintf(stderr, "%s: %s\n", who, added.status().message().c_str());
    return false;
  }
  std::fprintf(stderr, "%s: recording process %d and %zu descendant(s); ^C to stop\n", who, pid,
               *added - 1);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  UniqueFd sfd(signalfd(-1, &set, SFD_CLOEXEC));
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(duration_s * 1000));
  for (;;) {
    int timeout = -1;
    if (duration_s > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) break;
      timeout = static_cast<int>(std::min<int64_t>(left, 1 << 30));
    }
    struct pollfd p[2] = {{pidfd.get(), POLLIN, 0}, {sfd.get(), POLLIN, 0}};
    int n = poll(p, 2, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::fprintf(stderr, "%s: poll: %s\n", who, std::strerror(errno));
      return false;
    }
    if (n == 0) break;  // duration reached
    if (p[0].revents || p[1].revents) break;
  }
  return true;
}

}  // namespace

int SeccompRecord(const RecordOptions& o) {
  const char* who = "nbwarden seccomp record";
  if ((o.pid > 0) == !o.cmd.empty()) {
    std::fprintf(stderr, "%s: give either --pid PID or -- CMD ARGS...\n", who);
    return 2;
  }
  auto format = ParseProfileFormat(o.format);
  if (!format) {
    std::fprintf(stderr, "%s: --format: '%s' is not one of docker, oci, k8s\n", who,
                 o.format.c_str());
    return 2;
  }
  std::optional<SeccompProfile> base;
  if (!o.base.empty()) {
    auto b = LoadNamedProfile(o.base, o.profiles_dir);
    if (!b.ok()) {
      std::fprintf(stderr, "%s: --base: %s\n", who, b.status().message().c_str());
      return 2;
    }
    base = std::move(b).value();
  }
  auto rec = SyscallRecorder::Start();
  if (!rec.ok()) {
    std::fprintf(stderr, "%s: %s\n", who, rec.status().message().c_str());
    return 2;
  }
  int exit_code = 0;
  if (!o.cmd.empty()) {
    auto st = RunRecorded(**rec, o.cmd);
    if (!st) return 2;
    exit_code = WIFEXITED(*st) ? WEXITSTATUS(*st) : 128 + WTERMSIG(*st);
  } else if (!WatchRecorded(**rec, o.pid, o.duration_s)) {
    return 2;
  }

  RecordedNames names = NameSyscalls((*rec)->Numbers());
  const auto stats = (*rec)->stats();
  RecordingMerge merge;
  SeccompProfile p = ProfileFromRecording(names.names, base ? &*base : nullptr, &merge);
  // /dev/stdout is this process's stdout whatever it is (a file too):
  // written as such, never by following the link.
  const bool to_file = !o.out.empty() && o.out != "-" && o.out != "/dev/stdout";
  nbw::ExportOptions eo;
  eo.name = to_file ? std::filesystem::path(o.out).stem().string() : "recorded";
  const std::string text = RenderProfile(p, *format, eo);
  if (!to_file) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  } else if (Status st = WriteFileAtomic(o.out, text, 0644, SpecialFiles::kWriteThrough);
             !st.ok()) {
    std::fprintf(stderr, "%s: %s\n", who, st.message().c_str());
    return 2;
  }
  std::fprintf(stderr, "%s: %zu syscall(s) from %llu process(es)%s%s\n", who, names.names.size(),
               static_cast<unsigned long long>(1 + stats.forks), to_file ? "; wrote " : "",
               to_file ? o.out.c_str() : "");
  if (base) {
    std::fprintf(stderr, "%s: base %s: %zu added, %zu decided by its rules, %zu refused by it\n",
                 who, base->origin.c_str(), merge.added.size(), merge.kept_by_base.size(),
                 merge.refused_by_base.size());
    for (const auto& s : merge.refused_by_base) {
      std::fprintf(stderr, "%s: warning: the workload called %s, which the base profile refuses\n",
                   who, s.c_str());
    }
  }
  // Nothing lost silently: what could not go into the profile is said.
  for (int nr : names.unnamed) {
    std::fprintf(stderr,
                 "%s: warning: syscall %d has no name in this libseccomp; the profile refuses it\n",
                 who, nr);
  }
  if (stats.out_of_range) {
    std::fprintf(stderr, "%s: warning: %llu call(s) with a syscall number beyond %d not recorded\n",
                 who, static_cast<unsigned long long>(stats.out_of_range), kRecordedSyscallMax);
  }
  return exit_code;
}

int SeccompExport(const ExportOptions& o) {
  const char* who = "nbwarden seccomp export";
  auto format = ParseProfileFormat(o.format);
  if (!format) {
    std::fprintf(stderr, "%s: --format: '%s' is not one of docker, oci, k8s\n", who,
                 o.format.c_str());
    return 2;
  }
  auto p = LoadNamedProfile(o.profile, o.profiles_dir);
  if (!p.ok()) {
    std::fprintf(stderr, "%s: %s\n", who, p.status().message().c_str());
    return 1;
  }
  // A profile that would not load is not exported either.
  CompileReport rep;
  if (auto f = CompileProfile(*p, &rep); !f.ok()) {
    std::fprintf(stderr, "%s: %s\n", who, f.status().message().c_str());
    return 1;
  }
  nbw::ExportOptions eo;
  eo.name = o.name.empty() ? std::filesystem::path(o.profile).stem().string() : o.name;
  eo.caps = o.caps;
  const std::string text = RenderProfile(*p, *format, eo);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace nbw::cli

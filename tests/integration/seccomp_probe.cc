// SPDX-License-Identifier: Apache-2.0
// nbw_seccomp_probe: tries each syscall the notebook-kernel profile refuses,
// with arguments that make it harmless when it is allowed (bad fds, paths
// that do not exist, invalid magic), each in a child process so that one
// that succeeds (unshare) changes nothing for the next. Prints one line per
// syscall: "NAME ok" or "NAME ERRNO" (ENOENT, EPERM, ...).
#include <errno.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace {

std::string ErrnoName(int e) {
  const char* n = strerrorname_np(e);
  return n ? n : std::to_string(e);
}

// Runs `call` in a child; reports its result through the exit status.
std::string Try(const std::function<long()>& call) {
  pid_t c = fork();
  if (c == 0) {
    long r = call();
    _exit(r < 0 ? (errno & 0xff) : 0);
  }
  int st = 0;
  waitpid(c, &st, 0);
  if (!WIFEXITED(st)) return "killed";
  return WEXITSTATUS(st) == 0 ? "ok" : ErrnoName(WEXITSTATUS(st));
}

long CloneChild(unsigned long flags) {
  long r = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (r == 0) _exit(0);
  if (r > 0) waitpid(static_cast<pid_t>(r), nullptr, 0);
  return r < 0 ? -1 : 0;
}

}  // namespace

int main() {
  const char* nowhere = "/nonexistent-nbw-probe";
  const std::vector<std::pair<const char*, std::function<long()>>> probes = {
      {"mount", [&] { return syscall(SYS_mount, "none", nowhere, "tmpfs", 0, nullptr); }},
      {"umount2", [&] { return syscall(SYS_umount2, nowhere, 0); }},
      {"pivot_root", [&] { return syscall(SYS_pivot_root, nowhere, nowhere); }},
      {"chroot", [&] { return syscall(SYS_chroot, nowhere); }},
      {"fsopen", [] { return syscall(SYS_fsopen, "nbw-no-such-fs", 0); }},
      {"open_tree", [&] { return syscall(SYS_open_tree, -1, nowhere, 0); }},
      {"unshare-user", [] { return syscall(SYS_unshare, CLONE_NEWUSER); }},
      {"unshare-mount", [] { return syscall(SYS_unshare, CLONE_NEWNS); }},
      {"unshare-uts", [] { return syscall(SYS_unshare, CLONE_NEWUTS); }},  // allowed
      {"clone-user", [] { return CloneChild(CLONE_NEWUSER); }},
      {"clone-plain", [] { return CloneChild(0); }},  // allowed
      {"clone3", [] { return syscall(SYS_clone3, nullptr, 0); }},
      {"setns", [] { return syscall(SYS_setns, -1, 0); }},
      {"init_module", [] { return syscall(SYS_init_module, nullptr, 0, ""); }},
      {"finit_module", [] { return syscall(SYS_finit_module, -1, "", 0); }},
      {"delete_module", [] { return syscall(SYS_delete_module, "nbw_no_such_module", 0); }},
      {"bpf", [] { return syscall(SYS_bpf, -1, nullptr, 0); }},
      {"perf_event_open", [] { return syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0); }},
      {"ptrace", [] { return syscall(SYS_ptrace, -1, 0, 0, 0); }},
      {"process_vm_writev",
       [] { return syscall(SYS_process_vm_writev, 0, nullptr, 0, nullptr, 0, 0); }},
      {"keyctl", [] { return syscall(SYS_keyctl, -1, 0, 0, 0, 0); }},
      {"add_key", [] { return syscall(SYS_add_key, nullptr, nullptr, nullptr, 0, 0); }},
      {"userfaultfd", [] { return syscall(SYS_userfaultfd, -1); }},
      {"io_uring_setup", [] { return syscall(SYS_io_uring_setup, 0, nullptr); }},
      {"kexec_file_load", [] { return syscall(SYS_kexec_file_load, -1, -1, 0, nullptr, 0); }},
      {"reboot", [] { return syscall(SYS_reboot, 0, 0, 0, nullptr); }},  // bad magic: EINVAL
      {"swapon", [&] { return syscall(SYS_swapon, nowhere, 0); }},
      {"syslog", [] { return syscall(SYS_syslog, -1, nullptr, 0); }},
      {"clock_settime", [] { return syscall(SYS_clock_settime, -1, nullptr); }},
      {"iopl", [] { return syscall(SYS_iopl, 4); }},
      {"open_by_handle_at", [] { return syscall(SYS_open_by_handle_at, -1, nullptr, 0); }},
      {"getpid", [] { return syscall(SYS_getpid); }},  // allowed
  };
  for (const auto& [name, call] : probes) std::printf("%s %s\n", name, Try(call).c_str());
  return 0;
}

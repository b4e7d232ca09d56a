// SPDX-License-Identifier: Apache-2.0
// The recorder's ground truth: a static program with no libc, so every
// syscall it makes is one written below (the kernel's exec makes none on
// its behalf). tests/integration/recorder_test.cc expects exactly:
//   execve (the launcher's), getpid, getppid, uname, umask, sched_yield,
//   getcwd, fork, and in the child getuid + exit, then wait4, exit_group.
// x86_64 only, as the recorder's syscall table.
#include <asm/unistd_64.h>

static long sys(long nr, long a, long b, long c, long d) {
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return ret;
}

static char buf[512];

void _start(void) {
  sys(__NR_getpid, 0, 0, 0, 0);
  sys(__NR_getppid, 0, 0, 0, 0);
  sys(__NR_uname, (long)buf, 0, 0, 0);
  sys(__NR_umask, 022, 0, 0, 0);
  sys(__NR_sched_yield, 0, 0, 0, 0);
  sys(__NR_getcwd, (long)buf, sizeof buf, 0, 0);
  long child = sys(__NR_fork, 0, 0, 0, 0);
  if (child == 0) {
    sys(__NR_getuid, 0, 0, 0, 0);
    sys(__NR_exit, 0, 0, 0, 0);
  }
  sys(__NR_wait4, child, 0, 0, 0);
  sys(__NR_exit_group, 0, 0, 0, 0);
  for (;;) {
  }
}

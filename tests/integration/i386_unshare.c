// SPDX-License-Identifier: Apache-2.0
// nbw_i386_unshare: a real static i386 program, no libc (built with -m32
// -nostdlib, which needs no multilib): unshare(CLONE_NEWUSER) through
// int $0x80, then exit 0 if it succeeded, 1 if refused. Under a filter
// built for x86_64 alone its first syscall kills it (tests/e2e/seccomp_test.py).
#define I386_NR_EXIT 1
#define I386_NR_UNSHARE 310
#define CLONE_NEWUSER 0x10000000

static long Sys(long nr, long a) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a) : "memory");
  return ret;
}

void _start(void) {
  long r = Sys(I386_NR_UNSHARE, CLONE_NEWUSER);
  Sys(I386_NR_EXIT, r == 0 ? 0 : 1);
  for (;;) {
  }
}

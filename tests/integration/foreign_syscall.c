// SPDX-License-Identifier: Apache-2.0
// nbw_foreign_syscall: one syscall in another ABI of this x86_64 machine,
// as an attacker makes it to reach past a seccomp filter written for x86_64
// syscall numbers (tests/e2e/seccomp_test.py):
//   int80 NR ARG        an i386 syscall through int $0x80 from this 64-bit process
//   x32 NR ARG          an x32 syscall (NR | 0x40000000) through syscall
//   x32-thread NR ARG   the x32 syscall from a second thread; the first one
//                       reports whether the process outlived it
// Prints "ret=N" when the syscall returns, then "survived" for x32-thread.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long nr, arg;

static long Int80(long n, long a) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(n), "b"(a) : "memory");
  return ret;
}

static long X32(long n, long a) {
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n | 0x40000000L), "D"(a) : "rcx", "r11", "memory");
  return ret;
}

static void* X32Thread(void* unused) {
  (void)unused;
  printf("ret=%ld\n", X32(nr, arg));
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: nbw_foreign_syscall int80|x32|x32-thread NR ARG\n");
    return 100;
  }
  nr = strtol(argv[2], NULL, 0);
  arg = strtol(argv[3], NULL, 0);
  setvbuf(stdout, NULL, _IONBF, 0);
  if (strcmp(argv[1], "int80") == 0) {
    printf("ret=%ld\n", Int80(nr, arg));
  } else if (strcmp(argv[1], "x32") == 0) {
    printf("ret=%ld\n", X32(nr, arg));
  } else if (strcmp(argv[1], "x32-thread") == 0) {
    pthread_t t;
    if (pthread_create(&t, NULL, X32Thread, NULL) != 0) return 101;
    pthread_join(t, NULL);
    printf("survived\n");
  } else {
    return 100;
  }
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// nbw_bench_workload MODE N [THREADS]: a syscall-heavy loop, timed.
// Prints "MODE ns_per_op=X ops=N". Modes:
//   open     open("/etc/hostname") + close
//   connect  TCP connect to a loopback listener + close (accepted by a thread)
//   spawn    fork + exec /bin/true + wait
//   read     pread(64 bytes at offset 0) of an open file: the model guard's
//            content check runs on every read of a target
// With THREADS > 1, `open` runs in that many processes at once (for the
// event-rate measurement); ns_per_op is then per process.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

using Clock = std::chrono::steady_clock;

static double OpenLoop(long n) {
  auto t0 = Clock::now();
  for (long i = 0; i < n; i++) {
    int fd = open("/etc/hostname", O_RDONLY);
    if (fd < 0) std::abort();
    close(fd);
  }
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
}

static double ConnectLoop(long n) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) || listen(l, 4096)) std::abort();
  socklen_t len = sizeof a;
  getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  std::thread acceptor([&] {
    for (long i = 0; i < n; i++) {
      int c = accept(l, nullptr, nullptr);
      if (c >= 0) close(c);
    }
  });
  auto t0 = Clock::now();
  for (long i = 0; i < n; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    // RST on close: no TIME_WAIT pile-up exhausting ephemeral ports.
    linger lg{1, 0};
    setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::abort();
    close(s);
  }
  double r = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
  acceptor.join();
  close(l);
  return r;
}

static double ReadLoop(long n) {
  int fd = open("/etc/hostname", O_RDONLY);
  if (fd < 0) std::abort();
  char buf[64];
  auto t0 = Clock::now();
  for (long i = 0; i < n; i++) {
    if (pread(fd, buf, sizeof buf, 0) < 0) std::abort();
  }
  double r = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
  close(fd);
  return r;
}

static double SpawnLoop(long n) {
  auto t0 = Clock::now();
  for (long i = 0; i < n; i++) {
    pid_t p = fork();
    if (p == 0) {
      execl("/bin/true", "true", nullptr);
      _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
  }
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: nbw_bench_workload open|connect|spawn|read N [PROCS]\n");
    return 2;
  }
  const std::string mode = argv[1];
  const long n = std::atol(argv[2]);
  const int procs = argc > 3 ? std::atoi(argv[3]) : 1;
  double ns = 0;
  if (mode == "open" && procs > 1) {
    for (int i = 0; i < procs; i++) {
      if (fork() == 0) {
        OpenLoop(n);
        _exit(0);
      }
    }
    auto t0 = Clock::now();
    for (int i = 0; i < procs; i++) wait(nullptr);
    ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
  } else if (mode == "open") {
    OpenLoop(n / 10);  // warm caches
    ns = OpenLoop(n);
  } else if (mode == "connect") {
    ns = ConnectLoop(n);
  } else if (mode == "spawn") {
    ns = SpawnLoop(n);
  } else if (mode == "read") {
    ReadLoop(n / 10);
    ns = ReadLoop(n);
  } else {
    return 2;
  }
  std::printf("%s ns_per_op=%.1f ops=%ld procs=%d\n", mode.c_str(), ns, n, procs);
  return 0;
}

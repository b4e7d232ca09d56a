// SPDX-License-Identifier: Apache-2.0
// nbw_actor: performs one security-relevant action with direct syscalls so
// the integration tests know the exact arguments the sensor must report.
// Prints "key=value" lines the tests compare against (ports, pids, fds).
// Exit status 0 when the action ran as planned (a syscall that is expected
// to fail counts as planned), 100+ on a setup error.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "nbw_actor: %s: %s\n", what, std::strerror(errno));
  std::exit(101);
}

void Out(const char* key, long long v) {
  std::printf("%s=%lld\n", key, v);
  std::fflush(stdout);
}

int MustOpen(const char* p, int flags) {
  int fd = open(p, flags, 0644);
  if (fd < 0) Die(p);
  return fd;
}

pid_t PausedChild() {
  pid_t c = fork();
  if (c < 0) Die("fork");
  if (c == 0) {
    pause();
    _exit(0);
  }
  return c;
}

void Reap(pid_t c) {
  kill(c, SIGKILL);
  waitpid(c, nullptr, 0);
}

// A listener on the loopback address of `family`, a connect to it and an
// accept: the bind, listen, connect and accept events with known ports.
int TcpLoop(int family) {
  int l = socket(family, SOCK_STREAM, 0);
  if (l < 0) Die("socket");
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *in;
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_loopback;
    len = sizeof *in6;
  }
  if (bind(l, reinterpret_cast<sockaddr*>(&ss), len) != 0) Die("bind");
  if (listen(l, 7) != 0) Die("listen");
  socklen_t got = sizeof ss;
  getsockname(l, reinterpret_cast<sockaddr*>(&ss), &got);
  int port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                     : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  Out("port", port);
  int c = socket(family, SOCK_STREAM, 0);
  if (connect(c, reinterpret_cast<sockaddr*>(&ss), len) != 0) Die("connect");
  sockaddr_storage cs{};
  got = sizeof cs;
  getsockname(c, reinterpret_cast<sockaddr*>(&cs), &got);
  Out("cport", ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&cs)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&cs)->sin6_port));
  int a = accept(l, nullptr, nullptr);
  if (a < 0) Die("accept");
  Out("listen_fd", l);
  Out("connect_fd", c);
  Out("accept_fd", a);
  return 0;
}

int UnixLoop(const char* path) {
  unlink(path);
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
  if (bind(l, reinterpret_cast<sockaddr*>(&un), sizeof un) != 0) Die("bind");
  if (listen(l, 3) != 0) Die("listen");
  int c = socket(AF_UNIX, SOCK_STREAM, 0);
  if (connect(c, reinterpret_cast<sockaddr*>(&un), sizeof un) != 0) Die("connect");
  int a = accept(l, nullptr, nullptr);
  if (a < 0) Die("accept");
  unlink(path);
  return 0;
}

// Connect to a non-loopback address inside a fresh, empty network namespace:
// nothing can leave the machine; the connect fails with ENETUNREACH.
int ConnectIsolated(int family, const char* addr, int port) {
  if (unshare(CLONE_NEWNET) != 0) Die("unshare(CLONE_NEWNET)");
  int s = socket(family, SOCK_STREAM, 0);
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    inet_pton(AF_INET, addr, &in->sin_addr);
    len = sizeof *in;
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    inet_pton(AF_INET6, addr, &in6->sin6_addr);
    len = sizeof *in6;
  }
  int r = connect(s, reinterpret_cast<sockaddr*>(&ss), len);
  Out("connect_errno", r == 0 ? 0 : errno);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // "as-server" / "as-kernel" before the action only let a test policy's
  // selectors give the actor a role; they change nothing else. "settle"
  // then waits 300 ms so the daemon has decided on this process (exec-time
  // selectors are judged in userspace) before a role-scoped action.
  if (argc > 2 && std::string_view(argv[1]).starts_with("as-")) {
    argv[1] = argv[0];
    argv++;
    argc--;
  }
  if (argc > 2 && std::string_view(argv[1]) == "settle") {
    usleep(300 * 1000);
    argv[1] = argv[0];
    argv++;
    argc--;
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: nbw_actor [as-ROLE] ACTION [ARGS]\n");
    return 100;
  }
  const std::string act = argv[1];
  auto arg = [&](int i) -> const char* {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "nbw_actor %s: missing argument %d\n", act.c_str(), i);
      std::exit(100);
    }
    return argv[i + 1];
  };

  if (act == "model-load") {
    // model-load PATH CLOSE_MS: open and read like a model loader, then run
    // /bin/true from a forked child (the payload's move). CLOSE_MS < 0: the
    // file stays open meanwhile; else it is closed that long before.
    const int fd = MustOpen(arg(1), O_RDONLY);
    char buf[64];
    if (read(fd, buf, sizeof buf) < 0) Die("read");
    const long close_ms = std::atol(arg(2));
    if (close_ms >= 0) {
      close(fd);
      usleep(close_ms * 1000);
    }
    pid_t c = fork();
    if (c < 0) Die("fork");
    if (c == 0) {
      execl("/bin/true", "true", nullptr);
      _exit(127);
    }
    int st = 0;
    waitpid(c, &st, 0);
    Out("child", c);
    Out("child_signal", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    if (close_ms < 0) close(fd);
  } else if (act == "open") {  // open PATH: plain absolute or relative open
    close(MustOpen(arg(1), O_RDONLY));
  } else if (act == "open-in") {  // open-in DIR NAME: chdir, then relative open
    if (chdir(arg(1)) != 0) Die("chdir");
    close(MustOpen(arg(2), O_RDONLY));
  } else if (act == "open-dirfd") {  // open-dirfd DIR NAME: openat(dirfd, NAME)
    int d = MustOpen(arg(1), O_RDONLY | O_DIRECTORY);
    int fd = openat(d, arg(2), O_RDONLY);
    if (fd < 0) Die("openat");
    Out("dirfd", d);
  } else if (act == "open-procfd") {  // open-procfd PATH: reopen via /proc/self/fd/N
    int fd = MustOpen(arg(1), O_RDONLY);
    char p[64];
    std::snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    close(MustOpen(p, O_RDONLY));
  } else if (act == "open-fail-in") {  // open-fail-in DIR NAME: relative open that fails
    if (chdir(arg(1)) != 0) Die("chdir");
    if (open(arg(2), O_RDONLY) >= 0) return 102;
  } else if (act == "open-fail-dirfd") {  // open-fail-dirfd DIR NAME
    int d = MustOpen(arg(1), O_RDONLY | O_DIRECTORY);
    if (openat(d, arg(2), O_RDONLY) >= 0) return 102;
    Out("dirfd", d);
  } else if (act == "creat") {  // creat PATH: write, create, truncate
    int fd = open(arg(1), O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd < 0) Die("open");
    close(fd);
  } else if (act == "openat2") {  // openat2 PATH: O_RDWR through openat2(2)
    struct open_how how {};
    how.flags = O_RDWR;
    long fd = syscall(SYS_openat2, AT_FDCWD, arg(1), &how, sizeof how);
    if (fd < 0) Die("openat2");
  } else if (act == "tcp4") {
    return TcpLoop(AF_INET);
  } else if (act == "tcp6") {
    return TcpLoop(AF_INET6);
  } else if (act == "unix") {  // unix PATH
    return UnixLoop(arg(1));
  } else if (act == "connect-isolated4") {  // connect-isolated4 ADDR PORT
    return ConnectIsolated(AF_INET, arg(1), std::atoi(arg(2)));
  } else if (act == "connect-isolated6") {
    return ConnectIsolated(AF_INET6, arg(1), std::atoi(arg(2)));
  } else if (act == "packet-socket") {
    int s = socket(AF_PACKET, SOCK_RAW, htons(0x0003 /* ETH_P_ALL */));
    Out("fd", s);
  } else if (act == "raw-socket") {
    int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    Out("fd", s);
  } else if (act == "tcp-socket") {  // an ordinary socket: must produce no socket event
    Out("fd", socket(AF_INET, SOCK_STREAM, 0));
  } else if (act == "dup-socket") {  // reverse-shell pattern: socket onto 0, 1, 2
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) Die("socketpair");
    int saved = dup(1);
    dup2(sv[0], 0);
    dup2(sv[0], 1);
    syscall(SYS_dup3, sv[0], 2, 0);
    dup2(saved, 1);  // a file onto stdout: not a socket, no event
    Out("sock_fd", sv[0]);
  } else if (act == "ptrace") {
    pid_t c = PausedChild();
    Out("child", c);
    long r = ptrace(PTRACE_SEIZE, c, nullptr, nullptr);
    Out("ret", r);
    Reap(c);
  } else if (act == "kill-other") {
    pid_t c = PausedChild();
    Out("child", c);
    kill(c, SIGTERM);
    waitpid(c, nullptr, 0);
    kill(getpid(), 0);          // to itself: not reported
  } else if (act == "mount") {  // mount DIR: tmpfs in a private mount namespace
    if (unshare(CLONE_NEWNS) != 0) Die("unshare");
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) Die("make-private");
    if (mount("nbwsrc", arg(1), "tmpfs", MS_NOSUID, "size=1m") != 0) Die("mount");
    if (umount2(arg(1), MNT_DETACH) != 0) Die("umount2");
    long fs = syscall(SYS_fsopen, "tmpfs", 0);
    Out("fsopen", fs);
  } else if (act == "new-mount-api") {  // open_tree + move_mount in a private namespace
    if (unshare(CLONE_NEWNS) != 0) Die("unshare");
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) Die("make-private");
    long tree = syscall(SYS_open_tree, AT_FDCWD, arg(1), 1 /* OPEN_TREE_CLONE */);
    Out("open_tree", tree);
    long mv = syscall(SYS_move_mount, tree, "", AT_FDCWD, arg(2), 4 /* MOVE_MOUNT_F_EMPTY_PATH */);
    Out("move_mount", mv < 0 ? -errno : mv);
    long fs = syscall(SYS_fsopen, "tmpfs", 0);
    long cfg = syscall(SYS_fsconfig, fs, 6 /* FSCONFIG_CMD_CREATE */, nullptr, nullptr, 0);
    long mnt = syscall(SYS_fsmount, fs, 0, 0);
    Out("fsconfig", cfg);
    Out("fsmount", mnt);
  } else if (act == "long-argv") {  // exec /bin/true with argv far over the bound
    std::string big(3000, 'a');
    char* const av[] = {const_cast<char*>("true"), big.data(), big.data(), nullptr};
    execv("/bin/true", av);
    Die("execv");
  } else if (act == "exec-env") {
    // exec-env ARG_BYTES PAD_VARS PROG [VAR=VALUE...]: exec PROG with one
    // argument of ARG_BYTES bytes (none if 0) and an environment of PAD_VARS
    // junk variables followed by the VARs, as an attacker would hide them.
    const std::string pad(std::strtoul(arg(1), nullptr, 10), 'a');
    const long junk = std::atol(arg(2));
    const char* prog = arg(3);
    std::vector<char*> av{const_cast<char*>(prog)};
    if (!pad.empty()) av.push_back(const_cast<char*>(pad.c_str()));
    av.push_back(nullptr);
    std::vector<std::string> pads;
    pads.reserve(static_cast<size_t>(junk));
    for (long i = 0; i < junk; i++) pads.push_back("P" + std::to_string(i) + "=x");
    std::vector<char*> env;
    for (auto& p : pads) env.push_back(p.data());
    for (int i = 5; i < argc; i++) env.push_back(argv[i]);
    env.push_back(nullptr);
    execve(prog, av.data(), env.data());
    Die("execve");
  } else if (act == "unshare") {  // unshare user+mount
    long r = unshare(CLONE_NEWUSER | CLONE_NEWNS);
    Out("ret", r);
  } else if (act == "setns") {
    int fd = MustOpen("/proc/self/ns/net", O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    Out("ino", static_cast<long long>(st.st_ino));
    Out("ret", setns(fd, CLONE_NEWNET));
  } else if (act == "modules") {
    static const char junk[16] = "not-an-elf-obj";
    long r1 = syscall(SYS_init_module, junk, sizeof junk, "nbw_param=1");
    Out("init_errno", r1 == 0 ? 0 : errno);
    int fd = MustOpen("/dev/null", O_RDONLY);
    long r2 = syscall(SYS_finit_module, fd, "", 0);
    Out("finit_errno", r2 == 0 ? 0 : errno);
    long r3 = syscall(SYS_delete_module, "nbw_no_such_module", O_NONBLOCK);
    Out("delete_errno", r3 == 0 ? 0 : errno);
  } else if (act == "bpf-perf") {
    union {
      char raw[128];
    } attr{};
    long r = syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, &attr, sizeof attr);
    Out("bpf_ret", r);
    struct perf_event_attr pa {};
    pa.type = PERF_TYPE_SOFTWARE;
    pa.size = sizeof pa;
    pa.config = PERF_COUNT_SW_CPU_CLOCK;
    pa.disabled = 1;
    long p = syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0);
    Out("perf_ret", p);
  } else if (act == "memfd-exec") {  // fileless: memfd + execveat(AT_EMPTY_PATH)
    int m = static_cast<int>(syscall(SYS_memfd_create, "nbwpayload", 0));
    if (m < 0) Die("memfd_create");
    int src = MustOpen("/bin/true", O_RDONLY);
    char buf[65536];
    ssize_t n;
    while ((n = read(src, buf, sizeof buf)) > 0) {
      if (write(m, buf, static_cast<size_t>(n)) != n) Die("write");
    }
    char* const av[] = {const_cast<char*>("payload"), nullptr};
    char* const env[] = {nullptr};
    syscall(SYS_execveat, m, "", av, env, AT_EMPTY_PATH);
    Die("execveat");
  } else if (act == "exec-fail-in") {  // exec-fail-in DIR NAME
    if (chdir(arg(1)) != 0) Die("chdir");
    char* const av[] = {const_cast<char*>(arg(2)), nullptr};
    execve(arg(2), av, environ);
    Out("errno", errno);
  } else if (act == "creds") {
    Out("setgid", setgid(0));
    Out("setuid", setuid(0));
    Out("setresuid", setresuid(-1, -1, -1));
    Out("setresgid", setresgid(-1, -1, -1));
    Out("setreuid", setreuid(-1, -1));
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2]{};
    syscall(SYS_capget, &h, d);
    Out("cap_effective", d[0].effective);
    Out("capset", syscall(SYS_capset, &h, d));
  } else if (act == "setuid-as-nobody") {  // a non-root process trying to become root
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) Die("drop");
    Out("setuid_ret", setuid(0) == 0 ? 0 : -errno);
  } else if (act == "chroot") {
    Out("chroot", chroot("/"));
    long r = syscall(SYS_pivot_root, "/nonexistent-new", "/nonexistent-old");
    Out("pivot_errno", r == 0 ? 0 : errno);
  } else if (act == "io_uring") {
    struct io_uring_params p {};
    long fd = syscall(SYS_io_uring_setup, 4, &p);
    Out("ret", fd < 0 ? -errno : fd);
  } else if (act == "keys") {
    long k = syscall(SYS_add_key, "user", "nbw-desc", "secret", 6, -2 /* process keyring */);
    Out("add_key", k);
    Out("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -2, 0));
  } else if (act == "userfaultfd") {
    long r = syscall(SYS_userfaultfd, O_CLOEXEC);
    Out("ret", r < 0 ? -errno : r);
  } else if (act == "clone-newns") {  // a child in a new mount namespace
    long c = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
    if (c == 0) _exit(0);
    Out("child", c);
    waitpid(static_cast<pid_t>(c), nullptr, 0);
  } else if (act == "spawn") {  // spawn PROG ARGS...: fork + exec, wait
    pid_t c = fork();
    if (c == 0) {
      execv(arg(1), argv + 3);
      _exit(127);
    }
    Out("child", c);
    int st;
    waitpid(c, &st, 0);
    Out("child_signal", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    Out("child_exit", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  } else if (act == "exit") {  // exit CODE
    return std::atoi(arg(1));
  } else if (act == "die-signal") {
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
  } else if (act == "sleep") {  // sleep MS
    usleep(std::atoi(arg(1)) * 1000);
  } else {
    std::fprintf(stderr, "nbw_actor: unknown action %s\n", act.c_str());
    return 100;
  }
  return 0;
}

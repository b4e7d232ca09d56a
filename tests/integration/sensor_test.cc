// SPDX-License-Identifier: Apache-2.0
// The sensor, for real: BPF programs loaded into this kernel, nbw_actor doing
// each action, and the exact event asserted. Non-loopback addresses are only
// used inside a network namespace the actor creates (nothing leaves the host).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <filesystem>
#include <fstream>
#include <set>

#include "alert/render.h"
#include "harness.h"
#include "process/proc_fs.h"
#include "sensor/describe.h"
#include "sensor/sockaddr.h"

namespace nbw::testing {
namespace {

namespace fs = std::filesystem;

class SensorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NBW_REQUIRE_BPF();
    dir_ = TempDir();
    ASSERT_FALSE(dir_.empty());
    std::ofstream(dir_ + "/file") << "data\n";
    fs::create_directory(dir_ + "/sub");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
    if (geteuid() != 0) return;
    // Nothing may be lost, in any test.
    auto c = SensorHarness::Get().sensor().Counters();
    EXPECT_EQ(c.ringbuf_full, 0u);
    EXPECT_EQ(c.inflight_full, 0u);
    EXPECT_EQ(c.tracked_full, 0u);
    EXPECT_EQ(c.decode_errors, 0u);
  }
  ActorRun Run(const std::vector<std::string>& args, bool track = true) {
    auto r = SensorHarness::Get().Run(args, track);
    EXPECT_TRUE(WIFEXITED(r.status) || WIFSIGNALED(r.status));
    return r;
  }
  // The open events whose path ends with `suffix`.
  static std::vector<const Event*> OpensOf(const ActorRun& r, const std::string& path) {
    std::vector<const Event*> out;
    for (const Event* e : r.Of(EventKind::kOpen)) {
      if (EventToJson(*e, nullptr, "h")["open"]["path"] == path) out.push_back(e);
    }
    return out;
  }
  std::string dir_;
};

int ExitCode(const ActorRun& r) {
  return WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
}

// ---- process -----------------------------------------------------------------

TEST_F(SensorTest, ExecReportsExeArgvCwdAndHeaderFields) {
  const auto before = std::chrono::system_clock::now();
  auto r = Run({"exit", "0"});
  const auto after = std::chrono::system_clock::now();
  const Event* e = r.First(EventKind::kExec);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->ret, 0);
  EXPECT_EQ(e->str[0], fs::canonical(ActorPath()).string());
  EXPECT_EQ(SplitNul(e->str[1]), (std::vector<std::string>{ActorPath(), "exit", "0"}));
  EXPECT_EQ(e->args[0], 3u);  // argc
  EXPECT_EQ(e->str[2], fs::current_path().string());
  EXPECT_EQ(e->syscall, SYS_execve);
  EXPECT_FALSE(e->flags & NBW_F_FILELESS);
  // Header: identity of the process and its namespaces, as /proc says.
  EXPECT_EQ(e->tgid, static_cast<uint32_t>(r.pid));
  EXPECT_EQ(e->pid, static_cast<uint32_t>(r.pid));
  EXPECT_EQ(e->ppid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(e->uid, getuid());
  EXPECT_EQ(e->euid, geteuid());
  EXPECT_EQ(e->comm, "nbw_actor");
  ProcFs procfs;
  EXPECT_EQ(e->mnt_ns, *procfs.NamespaceInode(getpid(), "mnt"));
  EXPECT_EQ(e->pid_ns, *procfs.NamespaceInode(getpid(), "pid"));
  EXPECT_EQ(e->net_ns, *procfs.NamespaceInode(getpid(), "net"));
  const uint64_t lo =
      std::chrono::duration_cast<std::chrono::nanoseconds>(before.time_since_epoch()).count();
  const uint64_t hi =
      std::chrono::duration_cast<std::chrono::nanoseconds>(after.time_since_epoch()).count();
  EXPECT_GE(e->realtime_ns + 5'000'000, lo);  // within clock-offset rounding
  EXPECT_LE(e->realtime_ns, hi + 5'000'000);
}

TEST_F(SensorTest, LongArgvIsCutAtTheBoundAndFlagged) {
  auto r = Run({"long-argv"});
  ASSERT_EQ(ExitCode(r), 0);
  auto execs = r.Of(EventKind::kExec);
  ASSERT_EQ(execs.size(), 2u);
  const Event* e = execs[1];
  EXPECT_EQ(e->str[1].size(), static_cast<size_t>(NBW_ARGV_MAX));
  EXPECT_EQ(e->args[1], 5u + 3001 + 3001);  // the real length: "true\0" + 2 x (3000 + NUL)
  EXPECT_EQ(e->args[0], 3u);
  EXPECT_TRUE(e->truncated());
  auto j = EventToJson(*e, nullptr, "h");
  EXPECT_EQ(j["exec"]["argv_truncated"], true);
  EXPECT_EQ(j["exec"]["argv"][0], "true");
  EXPECT_EQ(j["truncated"], true);
}

// The environment is scanned apart from argv, all of it up to a bound, and
// only the variables of sensor/exec_env.h come back (HOME never does).
const Event* SecondExec(const ActorRun& r) {
  auto execs = r.Of(EventKind::kExec);
  return execs.size() == 2 ? execs[1] : nullptr;
}

TEST_F(SensorTest, LoaderVariablesAreFoundBehindALongArgumentAndPadding) {
  auto r = Run({"exec-env", "4200", "10000", "/bin/true", "HOME=/root", "LD_PRELOAD=/tmp/x.so",
                "JUPYTERHUB_USER=bob"});
  const Event* e = SecondExec(r);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->str[0], fs::canonical("/bin/true").string());
  EXPECT_TRUE(e->truncated());  // argv, over its bound
  EXPECT_EQ(e->env, (EnvVars{{"JUPYTERHUB_USER", "bob"}, {"LD_PRELOAD", "/tmp/x.so"}}));
  EXPECT_FALSE(e->env_truncated());
  EXPECT_EQ(e->args[3], 10003u);  // envc
  EXPECT_EQ(e->args[4], 10003u);  // every one scanned
}

TEST_F(SensorTest, AnEnvironmentBeyondTheScanBoundIsFlagged) {
  auto r = Run({"exec-env", "0", "40000", "/bin/true", "LD_PRELOAD=/tmp/x.so"});
  const Event* e = SecondExec(r);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->env_truncated());
  EXPECT_EQ(e->EnvValue("LD_PRELOAD"), "");
  EXPECT_EQ(e->args[3], 40001u);
  EXPECT_EQ(e->args[4], static_cast<uint64_t>(NBW_ENV_SCAN_MAX));
  EXPECT_EQ(EventToJson(*e, nullptr, "h")["exec"]["env_truncated"], true);
}

TEST_F(SensorTest, AnOversizedLoaderVariableIsCutAndFlagged) {
  const std::string big(2000, 'L');
  auto r = Run({"exec-env", "0", "0", "/bin/true", "LD_PRELOAD=" + big, "ENV=/tmp/rc"});
  const Event* e = SecondExec(r);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->env_truncated());
  EXPECT_EQ(e->EnvValue("LD_PRELOAD"), big.substr(0, NBW_ENV_ENTRY_MAX - 1 - 11));
  EXPECT_EQ(e->EnvValue("ENV"), "/tmp/rc");  // the scan goes on after a cut entry
}

TEST_F(SensorTest, AVariableSetTwiceOrWithoutAValueIsReportedSafely) {
  // An entry without '=' is no assignment; the event still decodes.
  auto r = Run({"exec-env", "0", "0", "/bin/true", "LD_PRELOAD", "LD_PRELOAD=/a.so",
                "LD_PRELOAD=/tmp/b.so"});
  const Event* e = SecondExec(r);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->env, (EnvVars{{"LD_PRELOAD", "/a.so:/tmp/b.so"}}));
  EXPECT_FALSE(e->env_truncated());
}

TEST_F(SensorTest, ExitUntracksTheProcessInTheKernel) {
  auto r = Run({"exit", "0"});
  ASSERT_NE(r.First(EventKind::kExit), nullptr);
  EXPECT_FALSE(SensorHarness::Get().sensor().IsTracked(static_cast<uint32_t>(r.pid)));
}

TEST_F(SensorTest, ExitReportsCode) {
  auto r = Run({"exit", "7"});
  ASSERT_EQ(ExitCode(r), 7);
  const Event* e = r.First(EventKind::kExit);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(EventToJson(*e, nullptr, "h")["exit"]["code"], 7);
}

TEST_F(SensorTest, ExitReportsSignal) {
  auto r = Run({"die-signal"});
  ASSERT_TRUE(WIFSIGNALED(r.status));
  const Event* e = r.First(EventKind::kExit);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(EventToJson(*e, nullptr, "h")["exit"]["signal"], "SIGSEGV");
}

TEST_F(SensorTest, ChildOfTrackedProcessIsTrackedFromItsFirstInstruction) {
  auto r = Run({"spawn", "/bin/cat", "cat", dir_ + "/file"});
  ASSERT_EQ(ExitCode(r), 0);
  const uint32_t child = static_cast<uint32_t>(r.out.at("child"));
  const Event* fork = r.First(EventKind::kFork);
  ASSERT_NE(fork, nullptr);
  EXPECT_EQ(fork->args[0], child);
  EXPECT_EQ(fork->ret, child);
  bool exec_seen = false, open_seen = false, exit_seen = false;
  for (const auto& e : r.events) {
    if (e.tgid != child) continue;
    if (e.kind == EventKind::kExec) {
      exec_seen = true;
      EXPECT_EQ(e.str[0], fs::canonical("/bin/cat").string());
      EXPECT_EQ(SplitNul(e.str[1]), (std::vector<std::string>{"cat", dir_ + "/file"}));
      EXPECT_EQ(e.ppid, static_cast<uint32_t>(r.pid));
    }
    if (e.kind == EventKind::kOpen && e.str[0] == dir_ + "/file") open_seen = true;
    if (e.kind == EventKind::kExit) exit_seen = true;
  }
  EXPECT_TRUE(exec_seen);
  EXPECT_TRUE(open_seen);
  EXPECT_TRUE(exit_seen);
}

TEST_F(SensorTest, CloneWithNewMountNamespaceReportsTheFlag) {
  auto r = Run({"clone-newns"});
  const uint32_t child = static_cast<uint32_t>(r.out.at("child"));
  const Event* f = r.First(EventKind::kFork, SYS_clone);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->args[0], child);
  EXPECT_TRUE(f->args[1] & CLONE_NEWNS);
  EXPECT_EQ(EventToJson(*f, nullptr, "h")["fork"]["namespaces"], nlohmann::json({"mnt"}));
}

TEST_F(SensorTest, UntrackedProcessProducesNothing) {
  auto r = Run({"open", dir_ + "/file"}, /*track=*/false);
  ASSERT_EQ(ExitCode(r), 0);
  EXPECT_TRUE(r.events.empty()) << r.events.size() << " events from an untracked process";
}

TEST_F(SensorTest, FilelessExecFromMemfdIsFlagged) {
  auto r = Run({"memfd-exec"});
  ASSERT_EQ(ExitCode(r), 0);  // /bin/true ran from the memfd
  const Event* m = r.First(EventKind::kSyscall, SYS_memfd_create);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->str[0], "nbwpayload");
  auto execs = r.Of(EventKind::kExec);
  ASSERT_EQ(execs.size(), 2u);
  const Event* e = execs[1];
  EXPECT_EQ(e->syscall, SYS_execveat);
  EXPECT_TRUE(e->flags & NBW_F_FILELESS);
  EXPECT_EQ(e->args[2], static_cast<uint64_t>(AT_EMPTY_PATH));
  EXPECT_EQ(e->str[0], "/memfd:nbwpayload");
  EXPECT_EQ(SplitNul(e->str[1]), std::vector<std::string>{"payload"});
}

TEST_F(SensorTest, FailedExecReportsPathMadeAbsolute) {
  auto r = Run({"exec-fail-in", dir_, "./no-such-binary"});
  ASSERT_EQ(r.out.at("errno"), ENOENT);
  const Event* e = nullptr;
  for (const Event* x : r.Of(EventKind::kExec)) {
    if (x->ret < 0) e = x;
  }
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->ret, -ENOENT);
  auto j = EventToJson(*e, nullptr, "h");
  EXPECT_EQ(j["exec"]["path"], dir_ + "/./no-such-binary");
  EXPECT_EQ(j["exec"]["path_as_given"], "./no-such-binary");
  EXPECT_EQ(j["errno"], "ENOENT");
}

// ---- file opens --------------------------------------------------------------

TEST_F(SensorTest, OpenAbsolutePathReportsPathAndReadFlag) {
  auto r = Run({"open", dir_ + "/file"});
  auto opens = OpensOf(r, dir_ + "/file");
  ASSERT_EQ(opens.size(), 1u);
  const Event* e = opens[0];
  EXPECT_GE(e->ret, 3);
  EXPECT_EQ(e->args[0] & O_ACCMODE, static_cast<uint64_t>(O_RDONLY));
  EXPECT_FALSE(e->flags & NBW_F_PATH_RAW);
  auto j = EventToJson(*e, nullptr, "h");
  EXPECT_EQ(j["open"]["read"], true);
  EXPECT_EQ(j["open"]["write"], false);
  EXPECT_EQ(j["open"]["resolved"], true);
  EXPECT_EQ(j["syscall"], "openat");
}

TEST_F(SensorTest, OpenRelativeToCwdReportsRealPath) {
  auto r = Run({"open-in", dir_ + "/sub", "../file"});
  EXPECT_EQ(OpensOf(r, dir_ + "/file").size(), 1u);
}

TEST_F(SensorTest, OpenRelativeToDirfdReportsRealPath) {
  auto r = Run({"open-dirfd", dir_, "file"});
  auto opens = OpensOf(r, dir_ + "/file");
  ASSERT_EQ(opens.size(), 1u);
  EXPECT_EQ(static_cast<int>(opens[0]->args[2]), r.out.at("dirfd"));
}

TEST_F(SensorTest, OpenWithDotDotReportsRealPath) {
  auto r = Run({"open", dir_ + "/sub/../sub/../file"});
  EXPECT_EQ(OpensOf(r, dir_ + "/file").size(), 1u);
}

TEST_F(SensorTest, OpenThroughSymlinkReportsTarget) {
  fs::create_symlink(dir_ + "/file", dir_ + "/link");
  auto r = Run({"open", dir_ + "/link"});
  EXPECT_EQ(OpensOf(r, dir_ + "/file").size(), 1u);
  EXPECT_EQ(OpensOf(r, dir_ + "/link").size(), 0u);
}

TEST_F(SensorTest, OpenThroughProcSelfFdReportsRealPath) {
  auto r = Run({"open-procfd", dir_ + "/file"});
  EXPECT_EQ(OpensOf(r, dir_ + "/file").size(), 2u);  // the open and the re-open
}

TEST_F(SensorTest, OpenAcrossMountPointReportsFullPath) {
  // /proc is a separate mount: the walk must cross into the parent mount.
  auto r = Run({"open", "/proc/self/status"});
  const std::string want = "/proc/" + std::to_string(r.pid) + "/status";
  EXPECT_EQ(OpensOf(r, want).size(), 1u);
}

TEST_F(SensorTest, FailedRelativeOpenIsMadeAbsoluteAgainstCwd) {
  auto r = Run({"open-fail-in", dir_ + "/sub", "missing"});
  auto opens = OpensOf(r, dir_ + "/sub/missing");
  ASSERT_EQ(opens.size(), 1u);
  const Event* e = opens[0];
  EXPECT_EQ(e->ret, -ENOENT);
  EXPECT_TRUE(e->flags & NBW_F_PATH_RAW);
  EXPECT_EQ(e->str[0], "missing");
  EXPECT_EQ(e->str[1], dir_ + "/sub");
  auto j = EventToJson(*e, nullptr, "h");
  EXPECT_EQ(j["errno"], "ENOENT");
  EXPECT_EQ(j["open"]["resolved"], false);
}

TEST_F(SensorTest, FailedOpenRelativeToDirfdIsMadeAbsolute) {
  auto r = Run({"open-fail-dirfd", dir_ + "/sub", "missing"});
  auto opens = OpensOf(r, dir_ + "/sub/missing");
  ASSERT_EQ(opens.size(), 1u);
  EXPECT_EQ(opens[0]->ret, -ENOENT);
}

TEST_F(SensorTest, CreatReportsWriteCreateTruncate) {
  auto r = Run({"creat", dir_ + "/new"});
  auto opens = OpensOf(r, dir_ + "/new");
  ASSERT_EQ(opens.size(), 1u);
  auto j = EventToJson(*opens[0], nullptr, "h")["open"];
  EXPECT_EQ(j["write"], true);
  EXPECT_EQ(j["read"], false);
  EXPECT_EQ(j["create"], true);
  EXPECT_EQ(j["truncate"], true);
  EXPECT_EQ(j["mode"], 0640);
}

TEST_F(SensorTest, Openat2IsReported) {
  auto r = Run({"openat2", dir_ + "/file"});
  auto opens = OpensOf(r, dir_ + "/file");
  ASSERT_EQ(opens.size(), 1u);
  EXPECT_EQ(opens[0]->syscall, SYS_openat2);
  EXPECT_EQ(opens[0]->args[0] & O_ACCMODE, static_cast<uint64_t>(O_RDWR));
}

// ---- network -----------------------------------------------------------------

struct NetSeen {
  std::string op, address, path;
  int port = -1;
  int64_t ret = 0;
};

std::vector<NetSeen> NetOps(const ActorRun& r) {
  std::vector<NetSeen> out;
  for (const Event* e : r.Of(EventKind::kNet)) {
    auto j = EventToJson(*e, nullptr, "h")["net"];
    NetSeen n;
    n.op = j["op"];
    n.ret = e->ret;
    if (j.contains("address")) n.address = j["address"], n.port = j["port"];
    if (j.contains("path")) n.path = j["path"];
    out.push_back(n);
  }
  return out;
}

void ExpectTcpLoop(const ActorRun& r, const std::string& addr) {
  const int port = static_cast<int>(r.out.at("port"));
  const int cport = static_cast<int>(r.out.at("cport"));
  auto ops = NetOps(r);
  ASSERT_EQ(ops.size(), 4u);
  EXPECT_EQ(ops[0].op, "bind");
  EXPECT_EQ(ops[0].address, addr);
  EXPECT_EQ(ops[0].port, 0);
  EXPECT_EQ(ops[1].op, "listen");
  EXPECT_EQ(ops[1].address, addr);
  EXPECT_EQ(ops[1].port, port);
  EXPECT_EQ(ops[2].op, "connect");
  EXPECT_EQ(ops[2].address, addr);
  EXPECT_EQ(ops[2].port, port);
  EXPECT_EQ(ops[2].ret, 0);
  EXPECT_EQ(ops[3].op, "accept");
  EXPECT_EQ(ops[3].address, addr);  // the peer
  EXPECT_EQ(ops[3].port, cport);
  EXPECT_EQ(ops[3].ret, r.out.at("accept_fd"));
}

TEST_F(SensorTest, TcpIpv4BindListenConnectAccept) {
  auto r = Run({"tcp4"});
  ExpectTcpLoop(r, "127.0.0.1");
  auto j = EventToJson(*r.Of(EventKind::kNet)[2], nullptr, "h")["net"];
  EXPECT_EQ(j["family"], "inet");
  EXPECT_EQ(j["socket_type"], "stream");
}

TEST_F(SensorTest, TcpIpv6BindListenConnectAccept) {
  auto r = Run({"tcp6"});
  ExpectTcpLoop(r, "::1");
}

TEST_F(SensorTest, UnixSocketReportsPaths) {
  const std::string path = dir_ + "/sock";
  auto r = Run({"unix", path});
  auto ops = NetOps(r);
  ASSERT_EQ(ops.size(), 4u);
  for (const auto& op : ops) EXPECT_EQ(op.path, path) << op.op;
  EXPECT_EQ(ops[0].op, "bind");
  EXPECT_EQ(ops[1].op, "listen");
  EXPECT_EQ(ops[2].op, "connect");
  EXPECT_EQ(ops[3].op, "accept");
}

TEST_F(SensorTest, CloudMetadataConnectIsReportedInIsolatedNamespace) {
  auto r = Run({"connect-isolated4", "169.254.169.254", "80"});
  ASSERT_EQ(r.out.at("connect_errno"), ENETUNREACH);
  const Event* u = r.First(EventKind::kSyscall, SYS_unshare);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->args[0], static_cast<uint64_t>(CLONE_NEWNET));
  auto ops = NetOps(r);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].op, "connect");
  EXPECT_EQ(ops[0].address, "169.254.169.254");
  EXPECT_EQ(ops[0].port, 80);
  EXPECT_EQ(ops[0].ret, -ENETUNREACH);
  // The event after unshare carries the new network namespace.
  EXPECT_NE(r.Of(EventKind::kNet)[0]->net_ns, *ProcFs().NamespaceInode(getpid(), "net"));
}

TEST_F(SensorTest, Ipv6MetadataConnectIsReportedInIsolatedNamespace) {
  auto r = Run({"connect-isolated6", "fd00:ec2::254", "80"});
  auto ops = NetOps(r);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].address, "fd00:ec2::254");
  EXPECT_EQ(ops[0].port, 80);
  EXPECT_EQ(ops[0].ret, -r.out.at("connect_errno"));
}

TEST_F(SensorTest, PacketAndRawSocketsAreReported) {
  auto p = Run({"packet-socket"});
  const Event* e = p.First(EventKind::kSocket);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->args[0], static_cast<uint64_t>(AF_PACKET));
  EXPECT_EQ(e->ret, p.out.at("fd"));
  auto raw = Run({"raw-socket"});
  e = raw.First(EventKind::kSocket);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->args[0], static_cast<uint64_t>(AF_INET));
  EXPECT_EQ(e->args[1] & 0xf, static_cast<uint64_t>(SOCK_RAW));
  EXPECT_EQ(e->args[2], static_cast<uint64_t>(IPPROTO_ICMP));
}

TEST_F(SensorTest, OrdinarySocketIsNotReported) {
  auto r = Run({"tcp-socket"});
  EXPECT_EQ(r.First(EventKind::kSocket), nullptr);
}

TEST_F(SensorTest, SocketDuplicatedOntoStdioIsReported) {
  auto r = Run({"dup-socket"});
  auto dups = r.Of(EventKind::kDup);
  ASSERT_EQ(dups.size(), 3u);  // not the dup2 of a plain fd back onto 1
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(static_cast<int>(dups[i]->args[0]), r.out.at("sock_fd"));
    EXPECT_EQ(dups[i]->args[1], static_cast<uint64_t>(i));
    EXPECT_EQ(dups[i]->args[2], static_cast<uint64_t>(AF_UNIX));
    EXPECT_EQ(dups[i]->ret, i);
  }
  EXPECT_EQ(dups[2]->syscall, SYS_dup3);
}

// ---- privilege and escape ----------------------------------------------------

TEST_F(SensorTest, PtraceReportsRequestAndTarget) {
  auto r = Run({"ptrace"});
  const Event* e = r.First(EventKind::kSyscall, SYS_ptrace);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->args[0], 0x4206u);  // PTRACE_SEIZE
  EXPECT_EQ(static_cast<long long>(e->args[1]), r.out.at("child"));
  EXPECT_EQ(e->ret, r.out.at("ret"));
  EXPECT_EQ(EventToJson(*e, nullptr, "h")["args"]["request"], "PTRACE_SEIZE");
}

TEST_F(SensorTest, SignalToAnotherProcessIsReportedButNotToItself) {
  auto r = Run({"kill-other"});
  auto sigs = r.Of(EventKind::kSignal);
  ASSERT_EQ(sigs.size(), 1u);
  EXPECT_EQ(static_cast<long long>(sigs[0]->args[0]), r.out.at("child"));
  EXPECT_EQ(sigs[0]->args[1], static_cast<uint64_t>(SIGTERM));
  EXPECT_EQ(EventToJson(*sigs[0], nullptr, "h")["signal"]["signal"], "SIGTERM");
}

TEST_F(SensorTest, MountUmountAndFsopenAreReported) {
  auto r = Run({"mount", dir_ + "/sub"});
  ASSERT_EQ(ExitCode(r), 0);
  const Event* m = nullptr;
  for (const Event* e : r.Of(EventKind::kSyscall, SYS_mount)) {
    if (e->str[2] == "tmpfs") m = e;
  }
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->str[0], "nbwsrc");
  EXPECT_EQ(m->str[1], dir_ + "/sub");
  EXPECT_EQ(m->ret, 0);
  const Event* u = r.First(EventKind::kSyscall, SYS_umount2);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->str[0], dir_ + "/sub");
  const Event* f = r.First(EventKind::kSyscall, SYS_fsopen);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->str[0], "tmpfs");
  EXPECT_EQ(f->ret, r.out.at("fsopen"));
}

TEST_F(SensorTest, NewMountApiIsReported) {
  auto r = Run({"new-mount-api", dir_ + "/sub", dir_});
  ASSERT_EQ(ExitCode(r), 0);
  const Event* t = r.First(EventKind::kSyscall, SYS_open_tree);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->str[0], dir_ + "/sub");
  EXPECT_EQ(t->ret, r.out.at("open_tree"));
  const Event* m = r.First(EventKind::kSyscall, SYS_move_mount);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->str[0], "");
  EXPECT_EQ(m->str[1], dir_);
  EXPECT_EQ(m->ret, r.out.at("move_mount"));
  ASSERT_NE(r.First(EventKind::kSyscall, SYS_fsconfig), nullptr);
  const Event* f = r.First(EventKind::kSyscall, SYS_fsmount);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->ret, r.out.at("fsmount"));
}

TEST_F(SensorTest, UnshareOfUserAndMountNamespacesIsReported) {
  auto r = Run({"unshare"});
  const Event* e = r.First(EventKind::kSyscall, SYS_unshare);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->args[0], static_cast<uint64_t>(CLONE_NEWUSER | CLONE_NEWNS));
  EXPECT_EQ(e->ret, r.out.at("ret"));
  EXPECT_EQ(EventToJson(*e, nullptr, "h")["args"]["namespaces"], nlohmann::json({"mnt", "user"}));
}

TEST_F(SensorTest, SetnsReportsNamespaceFile) {
  auto r = Run({"setns"});
  const Event* e = r.First(EventKind::kSyscall, SYS_setns);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->args[1], static_cast<uint64_t>(CLONE_NEWNET));
  EXPECT_EQ(static_cast<long long>(e->args[5]), r.out.at("ino"));
  EXPECT_EQ(EventToJson(*e, nullptr, "h")["args"]["ns_inode"], r.out.at("ino"));
  EXPECT_EQ(e->ret, r.out.at("ret"));
}

TEST_F(SensorTest, ModuleSyscallsAreReported) {
  auto r = Run({"modules"});
  const Event* i = r.First(EventKind::kSyscall, SYS_init_module);
  ASSERT_NE(i, nullptr);
  EXPECT_EQ(i->str[1], "nbw_param=1");
  EXPECT_EQ(i->args[1], 16u);
  EXPECT_EQ(i->ret, -r.out.at("init_errno"));
  const Event* f = r.First(EventKind::kSyscall, SYS_finit_module);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->str[0], "/dev/null");
  EXPECT_EQ(f->ret, -r.out.at("finit_errno"));
  const Event* d = r.First(EventKind::kSyscall, SYS_delete_module);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->str[0], "nbw_no_such_module");
  EXPECT_EQ(d->ret, -r.out.at("delete_errno"));  // ENOSYS without CONFIG_MODULES
}

TEST_F(SensorTest, BpfAndPerfEventOpenAreReported) {
  auto r = Run({"bpf-perf"});
  const Event* b = r.First(EventKind::kSyscall, SYS_bpf);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->args[0], 0u);
  EXPECT_EQ(EventToJson(*b, nullptr, "h")["args"]["cmd"], "BPF_MAP_CREATE");
  EXPECT_EQ(b->ret, r.out.at("bpf_ret") < 0 ? b->ret : r.out.at("bpf_ret"));
  const Event* p = r.First(EventKind::kSyscall, SYS_perf_event_open);
  ASSERT_NE(p, nullptr);
  auto j = EventToJson(*p, nullptr, "h")["args"];
  EXPECT_EQ(j["type"], 1);    // PERF_TYPE_SOFTWARE
  EXPECT_EQ(j["config"], 0);  // PERF_COUNT_SW_CPU_CLOCK
  EXPECT_EQ(j["cpu"], -1);
  EXPECT_EQ(p->ret, r.out.at("perf_ret") < 0 ? p->ret : r.out.at("perf_ret"));
}

TEST_F(SensorTest, CredentialChangesAndCapsetAreReported) {
  auto r = Run({"creds"});
  ASSERT_NE(r.First(EventKind::kSyscall, SYS_setuid), nullptr);
  EXPECT_EQ(r.First(EventKind::kSyscall, SYS_setuid)->args[0], 0u);
  ASSERT_NE(r.First(EventKind::kSyscall, SYS_setgid), nullptr);
  ASSERT_NE(r.First(EventKind::kSyscall, SYS_setresuid), nullptr);
  ASSERT_NE(r.First(EventKind::kSyscall, SYS_setresgid), nullptr);
  ASSERT_NE(r.First(EventKind::kSyscall, SYS_setreuid), nullptr);
  const Event* c = r.First(EventKind::kSyscall, SYS_capset);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->ret, 0);
  EXPECT_EQ(EventToJson(*c, nullptr, "h")["args"]["effective"], r.out.at("cap_effective"));
}

TEST_F(SensorTest, ChrootAndPivotRootAreReported) {
  auto r = Run({"chroot"});
  const Event* c = r.First(EventKind::kSyscall, SYS_chroot);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->str[0], "/");
  EXPECT_EQ(c->ret, 0);
  const Event* p = r.First(EventKind::kSyscall, SYS_pivot_root);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->str[0], "/nonexistent-new");
  EXPECT_EQ(p->str[1], "/nonexistent-old");
  EXPECT_EQ(p->ret, -r.out.at("pivot_errno"));
}

TEST_F(SensorTest, IoUringSetupIsReported) {
  auto r = Run({"io_uring"});
  const Event* e = r.First(EventKind::kSyscall, SYS_io_uring_setup);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->args[0], 4u);
  EXPECT_EQ(e->ret, r.out.at("ret"));
}

TEST_F(SensorTest, KeyringSyscallsAreReported) {
  auto r = Run({"keys"});
  const Event* a = r.First(EventKind::kSyscall, SYS_add_key);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->str[0], "user");
  EXPECT_EQ(a->str[1], "nbw-desc");
  EXPECT_EQ(a->ret, r.out.at("add_key"));
  const Event* k = r.First(EventKind::kSyscall, SYS_keyctl);
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->args[0], 0u);
}

TEST_F(SensorTest, UserfaultfdIsReported) {
  auto r = Run({"userfaultfd"});
  const Event* e = r.First(EventKind::kSyscall, SYS_userfaultfd);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->args[0], static_cast<uint64_t>(O_CLOEXEC));
  EXPECT_EQ(e->ret, r.out.at("ret"));
}

}  // namespace
}  // namespace nbw::testing

// ---- model-load window ----------------------------------------------------------

namespace nbw::testing {
namespace {

class ModelWindowTest : public SensorTest {
 protected:
  void SetUp() override {
    SensorTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    ASSERT_TRUE(SensorHarness::Get().sensor().ApplyPolicy(Policy()).ok());
  }
  void TearDown() override {
    if (geteuid() == 0) {
      EXPECT_TRUE(SensorHarness::Get().sensor().ApplyPolicy({}).ok());
    }
    SensorTest::TearDown();
  }
  static KernelPolicy Policy() {
    KernelPolicy p;
    p.model_exts = {".pt", ".pkl"};
    p.model_grace = std::chrono::milliseconds(100);
    return p;
  }
  void Write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << bytes;
  }
  // The exec event of the actor's forked /bin/true.
  static const Event* ChildExec(const ActorRun& r) {
    for (const Event* e : r.Of(EventKind::kExec)) {
      if (e->tgid == static_cast<uint32_t>(r.out.at("child"))) return e;
    }
    return nullptr;
  }
};

const std::string kPickleHead = std::string("\x80\x04\x95\x10\0\0\0\0\0\0\0}\x94.", 14);

TEST_F(ModelWindowTest, OpeningAModelByExtensionOpensAWindowInTheSameSyscall) {
  Write("m.pt", "not even a model");
  auto r = Run({"model-load", dir_ + "/m.pt", "-1"});
  ASSERT_EQ(ExitCode(r), 0);
  const Event* m = r.First(EventKind::kModel);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->tgid, static_cast<uint32_t>(r.pid));
  EXPECT_EQ(m->str[0], dir_ + "/m.pt");
  EXPECT_EQ(m->args[1], uint64_t{NBW_MODEL_BY_EXT});
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/m.pt").c_str(), &st), 0);
  EXPECT_EQ(m->args[2], st.st_ino);
  EXPECT_EQ(m->args[4], 16u);  // size
  // The open that opened it is not itself inside; the read after it is.
  auto opens = OpensOf(r, dir_ + "/m.pt");
  ASSERT_EQ(opens.size(), 1u);
  EXPECT_FALSE(opens[0]->flags & NBW_F_MODEL_WINDOW);
  const Event* fork = r.First(EventKind::kFork);
  ASSERT_NE(fork, nullptr);
  EXPECT_TRUE(fork->flags & NBW_F_MODEL_WINDOW);
  const Event* exec = ChildExec(r);
  ASSERT_NE(exec, nullptr);
  EXPECT_TRUE(exec->flags & NBW_F_MODEL_WINDOW) << "a child forked in a window inherits it";
}

TEST_F(ModelWindowTest, ARenamedModelOpensTheWindowOnItsFirstRead) {
  Write("weights.bin", kPickleHead);
  auto r = Run({"model-load", dir_ + "/weights.bin", "-1"});
  ASSERT_EQ(ExitCode(r), 0);
  auto models = r.Of(EventKind::kModel);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]->args[1], uint64_t{NBW_MODEL_BY_MAGIC});
  EXPECT_EQ(models[0]->str[0], dir_ + "/weights.bin");
  ASSERT_NE(ChildExec(r), nullptr);
  EXPECT_TRUE(ChildExec(r)->flags & NBW_F_MODEL_WINDOW);
}

TEST_F(ModelWindowTest, AnOrdinaryFileOpensNoWindow) {
  Write("notes.bin", "just text, no magic");
  auto r = Run({"model-load", dir_ + "/notes.bin", "-1"});
  ASSERT_EQ(ExitCode(r), 0);
  EXPECT_EQ(r.First(EventKind::kModel), nullptr);
  ASSERT_NE(ChildExec(r), nullptr);
  EXPECT_FALSE(ChildExec(r)->flags & NBW_F_MODEL_WINDOW);
}

TEST_F(ModelWindowTest, TheWindowOutlivesTheCloseByTheGraceOnly) {
  Write("a.pkl", kPickleHead);
  auto within = Run({"model-load", dir_ + "/a.pkl", "0"});
  ASSERT_NE(ChildExec(within), nullptr);
  EXPECT_TRUE(ChildExec(within)->flags & NBW_F_MODEL_WINDOW) << "inside the 100 ms grace";
  auto after = Run({"model-load", dir_ + "/a.pkl", "300"});
  ASSERT_NE(ChildExec(after), nullptr);
  EXPECT_FALSE(ChildExec(after)->flags & NBW_F_MODEL_WINDOW) << "300 ms after the close";
}

TEST_F(ModelWindowTest, KillEnforcementStopsTheChildBeforeItRuns) {
  KernelPolicy p = Policy();
  p.model_enforce[KernelPolicy::kAnyRole] = NBW_MODEL_KILL_EXEC;
  ASSERT_TRUE(SensorHarness::Get().sensor().ApplyPolicy(p).ok());
  Write("evil.pt", kPickleHead);
  auto r = Run({"model-load", dir_ + "/evil.pt", "-1"});
  ASSERT_EQ(ExitCode(r), 0);
  EXPECT_EQ(r.out.at("child_signal"), SIGKILL);
  const Event* exec = ChildExec(r);
  ASSERT_NE(exec, nullptr);
  EXPECT_TRUE(exec->flags & NBW_F_KILLED);
  // Outside a window the same exec runs.
  Write("plain.txt", "text");
  auto ok = Run({"model-load", dir_ + "/plain.txt", "-1"});
  EXPECT_EQ(ok.out.at("child_signal"), 0);
}

TEST_F(ModelWindowTest, AnUntrackedLoaderOpensNothing) {
  Write("u.pt", kPickleHead);
  auto r = Run({"model-load", dir_ + "/u.pt", "-1"}, /*track=*/false);
  EXPECT_TRUE(r.events.empty());
}

}  // namespace
}  // namespace nbw::testing

// ---- seccomp violations ------------------------------------------------------------

namespace nbw::testing {
namespace {

TEST_F(SensorTest, EverySyscallASeccompFilterRefusesIsReported) {
  // A tracked process runs the probe under nbwarden-exec: each syscall the
  // profile refuses must come back as one seccomp event with its errno, and
  // the allowed ones (getpid, unshare of UTS, plain clone) as none.
  auto r = Run({"spawn", NBW_EXEC_PATH, "nbwarden-exec", "--profile",
                NBW_SOURCE_DIR "/policies/seccomp/notebook-kernel.json", "--", NBW_PROBE_PATH});
  ASSERT_EQ(r.out.at("child_exit"), 0);
  std::multiset<int> got;
  for (const Event* e : r.Of(EventKind::kSeccomp)) {
    got.insert(e->syscall);
    EXPECT_EQ(e->ret, e->syscall == SYS_clone3 ? -ENOSYS : -EPERM) << SyscallName(e->syscall);
  }
  const std::multiset<int> want = {SYS_mount,
                                   SYS_umount2,
                                   SYS_pivot_root,
                                   SYS_chroot,
                                   SYS_fsopen,
                                   SYS_open_tree,
                                   SYS_unshare,
                                   SYS_unshare,
                                   SYS_clone,
                                   SYS_clone3,
                                   SYS_setns,
                                   SYS_init_module,
                                   SYS_finit_module,
                                   SYS_delete_module,
                                   SYS_bpf,
                                   SYS_perf_event_open,
                                   SYS_ptrace,
                                   SYS_process_vm_writev,
                                   SYS_keyctl,
                                   SYS_add_key,
                                   SYS_userfaultfd,
                                   SYS_io_uring_setup,
                                   SYS_kexec_file_load,
                                   SYS_reboot,
                                   SYS_swapon,
                                   SYS_syslog,
                                   SYS_clock_settime,
                                   SYS_iopl,
                                   SYS_open_by_handle_at};
  EXPECT_EQ(got, want);
  // The refused unshare carries its flags: the raw arguments are kept.
  for (const Event* e : r.Of(EventKind::kSeccomp, SYS_unshare)) {
    EXPECT_TRUE(e->args[0] == CLONE_NEWUSER || e->args[0] == CLONE_NEWNS) << e->args[0];
  }
}

TEST_F(SensorTest, AnUnfilteredProcessReportsNoSeccompEvents) {
  auto r = Run({"spawn", NBW_PROBE_PATH, "nbw_seccomp_probe"});
  ASSERT_EQ(r.out.at("child_exit"), 0);
  EXPECT_TRUE(r.Of(EventKind::kSeccomp).empty());
}

}  // namespace
}  // namespace nbw::testing

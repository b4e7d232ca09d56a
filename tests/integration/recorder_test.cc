// SPDX-License-Identifier: Apache-2.0
// nbwarden seccomp record, for real: the recorder's BPF program loaded into
// this kernel, real processes. The ground truth is nbw_syscall_truth, a
// static program with no libc whose syscalls are written out one by one
// (syscall_truth.c): the recorded set must be exactly those plus the
// launcher's execve. The recorder's own syscalls (bpf, mmap, poll...) and
// every other process's must not appear.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "require_root.h"
#include "seccomp/profile.h"
#include "spawn.h"

namespace nbw {
namespace {

const std::set<std::string> kTruth = {"execve", "getpid",      "getppid", "uname",
                                      "umask",  "sched_yield", "getcwd",  "fork",
                                      "getuid", "exit",        "wait4",   "exit_group"};

std::set<std::string> AllowedNames(const std::string& profile_json) {
  std::set<std::string> out;
  const auto j = nlohmann::json::parse(profile_json);
  for (const auto& r : j["syscalls"]) {
    // The recorded rule only (not the always-allowed signal return etc.).
    if (r["action"] == "SCMP_ACT_ALLOW" && !r.contains("args") &&
        r.value("comment", "") == "recorded by nbwarden seccomp record") {
      for (const auto& n : r["names"]) out.insert(n.get<std::string>());
    }
  }
  return out;
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

class Recorder : public ::testing::Test {
 protected:
  void SetUp() override {
    NBW_REQUIRE_ROOT("the recorder is a BPF program");
    dir_ = std::filesystem::temp_directory_path() /
           ("nbw-rec-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(Recorder, RecordsExactlyTheSyscallsOfAKnownProgramAndItsChild) {
  Ran r = Spawn({NBW_CLI_PATH, "seccomp", "record", "--", NBW_TRUTH_PATH});
  ASSERT_EQ(Exit(r), 0) << r.err;
  EXPECT_EQ(AllowedNames(r.out), kTruth) << r.out;
  EXPECT_EQ(r.err, "nbwarden seccomp record: 12 syscall(s) from 2 process(es)\n");
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(j["defaultErrnoRet"], 1);
}

TEST_F(Recorder, AttachesToARunningProcessByPidAndStopsWhenItExits) {
  // The child stops itself before exec (a raw kill: no libc syscalls after
  // it), the recorder attaches, then the child runs the known program.
  pid_t c = fork();
  if (c == 0) {
    syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
    execl(NBW_TRUTH_PATH, NBW_TRUTH_PATH, nullptr);
    _exit(99);
  }
  int st = 0;
  ASSERT_EQ(waitpid(c, &st, WUNTRACED), c);
  ASSERT_TRUE(WIFSTOPPED(st));
  const std::string out = dir_ + "/by-pid.json", err = dir_ + "/err";
  pid_t rec = fork();
  if (rec == 0) {
    freopen(err.c_str(), "w", stderr);
    execl(NBW_CLI_PATH, NBW_CLI_PATH, "seccomp", "record", "--pid", std::to_string(c).c_str(), "-o",
          out.c_str(), nullptr);
    _exit(99);
  }
  // Attached once it says so; then let the child go.
  for (int i = 0; i < 500 && Slurp(err).find("recording process") == std::string::npos; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(Slurp(err).find("recording process " + std::to_string(c) + " and 0 descendant(s)"),
            std::string::npos)
      << Slurp(err);
  kill(c, SIGCONT);
  ASSERT_EQ(waitpid(c, &st, 0), c);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ASSERT_EQ(waitpid(rec, &st, 0), rec);  // ends by itself when the root exits
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << Slurp(err);
  // The process was stopped in kill(2) before the recording began; from
  // there on: exactly the program's syscalls.
  EXPECT_EQ(AllowedNames(Slurp(out)), kTruth) << Slurp(out);
}

TEST_F(Recorder, TheRecordedProfileRunsTheProgramAndRefusesAnythingElse) {
  const std::string out = dir_ + "/truth.json";
  Ran r = Spawn({NBW_CLI_PATH, "seccomp", "record", "-o", out, "--", NBW_TRUTH_PATH});
  ASSERT_EQ(Exit(r), 0) << r.err;
  // Under its own recording the program runs...
  r = Spawn({NBW_EXEC_PATH, "--profile", out, "--", NBW_TRUTH_PATH});
  EXPECT_EQ(Exit(r), 0) << r.err;
  // ...and a program that needs more cannot: /bin/sh cannot even map
  // its libraries (its mmap gets EPERM), so it dies before running.
  r = Spawn({NBW_EXEC_PATH, "--profile", out, "--", "/bin/sh", "-c", "echo ran"});
  EXPECT_NE(Exit(r), 0);
  EXPECT_EQ(r.out, "");
}

TEST_F(Recorder, ABaseProfileIsMergedAndTheCommandsExitStatusPassesThrough) {
  const std::string out = dir_ + "/merged.json";
  Ran r =
      Spawn({NBW_CLI_PATH, "seccomp", "record", "-o", out, "--base", "notebook-kernel",
             "--profiles", NBW_SOURCE_DIR "/policies/seccomp", "--", "/bin/sh", "-c", "exit 7"});
  ASSERT_EQ(Exit(r), 7) << r.err;
  EXPECT_NE(r.err.find("base " NBW_SOURCE_DIR "/policies/seccomp/notebook-kernel.json: "),
            std::string::npos)
      << r.err;
  auto p = SeccompProfile::Load(out);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->default_action, "SCMP_ACT_ERRNO");
  // The base's rules come first, unchanged; the recording after them.
  auto base = SeccompProfile::Load(NBW_SOURCE_DIR "/policies/seccomp/notebook-kernel.json");
  ASSERT_TRUE(base.ok());
  ASSERT_GT(p->syscalls.size(), base->syscalls.size());
  for (size_t i = 0; i < base->syscalls.size(); i++) {
    EXPECT_EQ(p->syscalls[i].names, base->syscalls[i].names) << i;
  }
  const auto allowed = AllowedNames(Slurp(out));
  EXPECT_TRUE(allowed.count("execve") && allowed.count("exit_group")) << Slurp(out);
  EXPECT_FALSE(allowed.count("mount"));
}

TEST_F(Recorder, BadUsageIsAClearError) {
  Ran r = Spawn({NBW_CLI_PATH, "seccomp", "record"});
  EXPECT_EQ(Exit(r), 2);
  EXPECT_EQ(r.err, "nbwarden seccomp record: give either --pid PID or -- CMD ARGS...\n");
  r = Spawn({NBW_CLI_PATH, "seccomp", "record", "--base", "/nonexistent/b.json", "--", "true"});
  EXPECT_EQ(Exit(r), 2);
  EXPECT_EQ(r.err.rfind("nbwarden seccomp record: --base: /nonexistent/b.json", 0), 0u) << r.err;
  r = Spawn({NBW_CLI_PATH, "seccomp", "record", "--pid", "999999999"});
  EXPECT_EQ(Exit(r), 2);
  EXPECT_NE(r.err.find("process 999999999"), std::string::npos) << r.err;
  r = Spawn({NBW_CLI_PATH, "seccomp", "record", "--", "/nonexistent/cmd"});
  EXPECT_EQ(Exit(r), 127);
}

}  // namespace
}  // namespace nbw

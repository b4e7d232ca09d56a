// SPDX-License-Identifier: Apache-2.0
// The process table's identity rules, fed exec and fork events as the sensor
// decodes them. /proc is an empty directory here (these pids are not real
// processes), so everything the table knows comes from the events.
#include "process/process_table.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace nbw {
namespace {

class ProcessIdentity : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/nbwpt.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    root_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  static Event Exec(uint32_t tgid, uint32_t ppid, const std::vector<std::string>& argv,
                    EnvVars env) {
    Event ev;
    ev.kind = EventKind::kExec;
    ev.tgid = ev.pid = tgid;
    ev.ppid = ppid;
    ev.str[0] = "/usr/bin/" + argv[0];
    for (const auto& a : argv) ev.str[1] += a + std::string(1, '\0');
    ev.present[0] = ev.present[1] = true;
    ev.env = std::move(env);
    return ev;
  }
  static Event Fork(uint32_t parent, uint32_t child) {
    Event ev;
    ev.kind = EventKind::kFork;
    ev.tgid = ev.pid = parent;
    ev.args[0] = child;
    return ev;
  }

  std::string root_;
};

TEST_F(ProcessIdentity, ADescendantClaimingAnotherUserKeepsItsRootsIdentity) {
  ProcFs procfs(root_);
  ProcessTable t(procfs);
  ProcessInfo& kernel =
      t.Apply(Exec(100, 1, {"python3", "-m", "ipykernel_launcher", "-f", "/run/kernel-k1.json"},
                   {{"JUPYTERHUB_USER", "bob"}, {"JPY_SESSION_NAME", "bob/a.ipynb"}}));
  kernel.state = TrackState::kTarget;
  t.MakeRoot(kernel);
  const JupyterIdentity bob{"bob", "k1", "bob/a.ipynb"};
  EXPECT_EQ(t.Find(100)->jupyter, bob);
  EXPECT_TRUE(ClaimedIdentity(*t.Find(100)).empty());

  t.Apply(Fork(100, 101));
  t.Apply(Exec(101, 100, {"python3", "-m", "ipykernel_launcher", "-f", "/tmp/kernel-k2.json"},
               {{"JUPYTERHUB_USER", "alice"}, {"JPY_SESSION_NAME", "alice/x.ipynb"}}));
  const ProcessInfo* child = t.Find(101);
  EXPECT_EQ(child->jupyter, bob);
  EXPECT_EQ(child->target_root, 100u);
  EXPECT_EQ(ClaimedIdentity(*child), (JupyterIdentity{"alice", "k2", "alice/x.ipynb"}));

  // Its own children inherit both: the identity and the claim.
  t.Apply(Fork(101, 102));
  EXPECT_EQ(t.Find(102)->jupyter, bob);
  EXPECT_EQ(ClaimedIdentity(*t.Find(102)).user, "alice");

  // Repeating the root's identity, or naming none, claims nothing.
  t.Apply(Exec(102, 101, {"cat"}, {{"JUPYTERHUB_USER", "bob"}}));
  EXPECT_TRUE(ClaimedIdentity(*t.Find(102)).empty());
  t.Apply(Exec(102, 101, {"ls"}, {}));
  EXPECT_TRUE(ClaimedIdentity(*t.Find(102)).empty());
  EXPECT_EQ(t.Find(102)->jupyter, bob);
}

TEST_F(ProcessIdentity, EnvChangedNamesOnlyWhatAWatchedCallerSet) {
  ProcFs procfs(root_);
  ProcessTable t(procfs);
  // A root's own exec: its caller is not watched, nothing is "changed".
  ProcessInfo& root = t.Apply(Exec(200, 1, {"python3"}, {{"GLIBC_TUNABLES", "a=1"}}));
  EXPECT_TRUE(root.env_changed.empty());
  root.state = TrackState::kTarget;
  t.MakeRoot(root);
  // Passed on as it was started with: nothing.
  t.Apply(Fork(200, 201));
  EXPECT_TRUE(t.Apply(Exec(201, 200, {"true"}, {{"GLIBC_TUNABLES", "a=1"}})).env_changed.empty());
  // Set or changed by the target: named.
  t.Apply(Fork(200, 202));
  EXPECT_EQ(t.Apply(Exec(202, 200, {"true"}, {{"GLIBC_TUNABLES", "a=2"}, {"LD_AUDIT", "/x.so"}}))
                .env_changed,
            (std::vector<std::string>{"GLIBC_TUNABLES", "LD_AUDIT"}));
}

// A process can be gone from /proc while its events wait in the ring (a
// child killed in the kernel at exec): the first sweep that finds it dead
// keeps its entry, so its exec event still finds its role; the next removes
// it. These pids are real processes, made and reaped here.
TEST_F(ProcessIdentity, ADeadProcessIsReapedOnlyAtTheSecondSweepThatFindsItDead) {
  ProcFs procfs(root_);
  ProcessTable t(procfs);
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  ASSERT_EQ(waitpid(dead, nullptr, 0), dead);
  const auto self = static_cast<uint32_t>(getpid());
  t.Apply(Exec(self, 1, {"nbw_unit_tests"}, {}));
  t.Apply(Fork(self, static_cast<uint32_t>(dead)));
  ASSERT_NE(t.Find(static_cast<uint32_t>(dead)), nullptr);

  EXPECT_EQ(t.ReapDead(), 0u);
  EXPECT_NE(t.Find(static_cast<uint32_t>(dead)), nullptr);  // its events may still come
  EXPECT_EQ(t.ReapDead(), 1u);
  EXPECT_EQ(t.Find(static_cast<uint32_t>(dead)), nullptr);
  EXPECT_NE(t.Find(self), nullptr);  // the living stay
  EXPECT_EQ(t.ReapDead(), 0u);
}

}  // namespace
}  // namespace nbw

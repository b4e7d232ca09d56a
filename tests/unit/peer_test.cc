// SPDX-License-Identifier: Apache-2.0
// BindRestrictedSocket, how the control socket and the alert stream are
// bound: the socket reaches its path with its final owner and mode already
// set (inotify sees it arrive by rename, never created there), a stale
// socket is replaced, and the process umask is never called (a child under a
// seccomp filter that kills on umask(2) binds fine). Runs as root (chown).
#include "common/peer.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace nbw {
namespace {

namespace fs = std::filesystem;

int UnixSocket() {
  return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

bool Connects(const std::string& path) {
  const int fd = UnixSocket();
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// In a forked child: from here on, umask(2) kills the process (SIGSYS).
bool KillOnUmask() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_umask, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog = {static_cast<unsigned short>(std::size(filter)), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

class BindRestrictedSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("nbw-peer-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "s.sock").string();
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
    fs::remove_all(dir_);
  }
  int Socket() {
    fds_.push_back(UnixSocket());
    return fds_.back();
  }
  // Nothing is left in the directory but the socket itself.
  std::vector<std::string> Entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename());
    return out;
  }
  fs::path dir_;
  std::string path_;
  std::vector<int> fds_;
};

TEST_F(BindRestrictedSocketTest, WithoutAGroupTheSocketIsRootsAlone0600) {
  const int fd = Socket();
  ASSERT_TRUE(BindRestrictedSocket(fd, path_, std::nullopt).ok());
  ASSERT_EQ(listen(fd, 4), 0);
  struct stat st = {};
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, 0u);
  EXPECT_EQ(Entries(), std::vector<std::string>{"s.sock"});
  EXPECT_TRUE(Connects(path_));
}

TEST_F(BindRestrictedSocketTest, WithAGroupTheSocketIsRootAndTheGroup0660) {
  const int fd = Socket();
  ASSERT_TRUE(BindRestrictedSocket(fd, path_, gid_t{4}).ok());
  struct stat st = {};
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, 4u);
}

TEST_F(BindRestrictedSocketTest, AStaleSocketIsReplacedByTheNewListener) {
  {
    const int stale = UnixSocket();
    ASSERT_TRUE(BindRestrictedSocket(stale, path_, std::nullopt).ok());
    close(stale);  // a daemon that died: its socket file stays, nobody answers
  }
  ASSERT_FALSE(Connects(path_));
  const int fd = Socket();
  ASSERT_TRUE(BindRestrictedSocket(fd, path_, std::nullopt).ok());
  ASSERT_EQ(listen(fd, 4), 0);
  EXPECT_TRUE(Connects(path_));
  EXPECT_EQ(Entries(), std::vector<std::string>{"s.sock"});
}

TEST_F(BindRestrictedSocketTest, TheSocketArrivesAtItsPathByRenameNeverCreatedThere) {
  // bind(2) at the final path would show IN_CREATE for it, then IN_ATTRIB
  // once chmod ran: a window where the socket had the umask's mode.
  UniqueFd in(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  ASSERT_GE(in.get(), 0);
  ASSERT_GE(inotify_add_watch(in.get(), dir_.c_str(), IN_CREATE | IN_ATTRIB | IN_MOVED_TO), 0);
  ASSERT_TRUE(BindRestrictedSocket(Socket(), path_, std::nullopt).ok());
  alignas(inotify_event) char buf[4096];
  const ssize_t n = read(in.get(), buf, sizeof buf);
  ASSERT_GT(n, 0);
  std::vector<uint32_t> on_path;
  for (char* p = buf; p < buf + n;) {
    const auto* ev = reinterpret_cast<const inotify_event*>(p);
    if (ev->len > 0 && std::string(ev->name) == "s.sock") on_path.push_back(ev->mask);
    p += sizeof(inotify_event) + ev->len;
  }
  EXPECT_EQ(on_path, std::vector<uint32_t>{IN_MOVED_TO});
}

TEST_F(BindRestrictedSocketTest, NeverCallsUmask) {
  // umask(2) is process-wide: another thread's files would get its mask. A
  // child whose filter kills it on umask(2) binds the socket and exits 0.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!KillOnUmask()) _exit(2);
    umask(022);  // dies here: the filter bites
    _exit(3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the filter does not kill on umask(2)";
  ASSERT_EQ(WTERMSIG(status), SIGSYS);

  const pid_t binder = fork();
  ASSERT_GE(binder, 0);
  if (binder == 0) {
    if (!KillOnUmask()) _exit(2);
    const int fd = UnixSocket();
    _exit(BindRestrictedSocket(fd, path_, gid_t{4}).ok() ? 0 : 1);
  }
  ASSERT_EQ(waitpid(binder, &status, 0), binder);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  struct stat st = {};
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST_F(BindRestrictedSocketTest, APathTooLongForTheBindDirectoryIsAClearError) {
  const std::string deep = (dir_ / std::string(90, 'd')).string();
  fs::create_directories(deep);
  const Status s = BindRestrictedSocket(Socket(), deep + "/s.sock", std::nullopt);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(deep + "/s.sock: socket path too long"), std::string::npos)
      << s.message();
  EXPECT_EQ(std::distance(fs::directory_iterator(deep), fs::directory_iterator()), 0);
}

}  // namespace
}  // namespace nbw

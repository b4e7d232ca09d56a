// SPDX-License-Identifier: Apache-2.0
#include "scan/walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "scan/scanner.h"

namespace nbw {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
// O_NONBLOCK: an entry swapped for a FIFO after its stat must not block.
constexpr int kFileFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;

bool IsModelName(std::string name, const ModelGuardPolicy& policy) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  const auto& exts = policy.extensions();
  return ext == ".pkl" || std::find(exts.begin(), exts.end(), ext) != exts.end();
}

class Walk {
 public:
  Walk(const ModelGuardPolicy& policy, const std::function<void(WalkVisit)>& visit,
       const WalkLimits& limits)
      : policy_(policy), visit_(visit), limits_(limits) {}

  void Run(const std::string& root);

 private:
  // One directory on the stack: its names, sorted, visited from `next`.
  struct Level {
    std::string name;  // in its parent
    UniqueFd fd;       // closed when it is shallower than the open window
    dev_t dev = 0;
    ino_t ino = 0;
    std::vector<std::string> names;
    size_t next = 0;
    size_t path_len = 0;  // path_ up to and including this directory
  };

  void Fail(const std::string& path, Status why) { visit_({path, UniqueFd(), std::move(why)}); }
  // Opens a directory below `parent`, lists it and pushes it.
  void Enter(int parent, const std::string& name, const std::string& path);
  Status List(int fd, std::vector<std::string>& names);
  void File(int parent, const std::string& name, const std::string& path);
  // The top level's fd, re-opened (with those above it) if it was closed.
  int TopFd();
  void Pop();

  const ModelGuardPolicy& policy_;
  const std::function<void(WalkVisit)>& visit_;
  const WalkLimits limits_;
  std::vector<Level> stack_;
  std::string path_;
  size_t held_names_ = 0;
  size_t lowest_open_ = 1;  // levels [lowest_open_, top] and 0 hold their fd
};

Status Walk::List(int fd, std::vector<std::string>& names) {
  // fdopendir takes the fd it is given: a dup, so the level keeps its own.
  UniqueFd dup(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!dup.valid()) return Status::FromErrno("dup", errno);
  std::unique_ptr<DIR, int (*)(DIR*)> dir(fdopendir(dup.get()), closedir);
  if (!dir) return Status::FromErrno("fdopendir", errno);
  dup.release();
  errno = 0;
  while (struct dirent* e = readdir(dir.get())) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    if (held_names_ + names.size() >= limits_.names) {
      return Status::Error(
          "listing", fmt::format("more than {} names held at once: not walked", limits_.names));
    }
    names.emplace_back(n);
    errno = 0;
  }
  if (errno != 0) return Status::FromErrno("readdir", errno);
  std::sort(names.begin(), names.end());
  return Status::Ok();
}

void Walk::Enter(int parent, const std::string& name, const std::string& path) {
  if (stack_.size() > limits_.depth) {
    return Fail(path, Status::Error("directory", fmt::format("nested deeper than {} levels: "
                                                             "not walked",
                                                             limits_.depth)));
  }
  Level l;
  l.name = name;
  l.fd.reset(parent < 0 ? ::open(path.c_str(), kDirFlags & ~O_NOFOLLOW)
                        : ::openat(parent, name.c_str(), kDirFlags));
  struct stat st;
  if (!l.fd.valid()) return Fail(path, Status::FromErrno("open directory", errno));
  if (fstat(l.fd.get(), &st) != 0) return Fail(path, Status::FromErrno("stat", errno));
  if (Status s = List(l.fd.get(), l.names); !s.ok()) return Fail(path, s);
  l.dev = st.st_dev;
  l.ino = st.st_ino;
  held_names_ += l.names.size();
  path_ = path;
  l.path_len = path_.size();
  stack_.push_back(std::move(l));
  // Past the window the shallowest open level (not the root) gives up its fd.
  if (stack_.size() - lowest_open_ > limits_.open_dirs) stack_[lowest_open_++].fd.reset();
}

int Walk::TopFd() {
  const size_t top = stack_.size() - 1;
  if (stack_[top].fd.valid()) return stack_[top].fd.get();
  // Levels 1..top are all closed (the open ones are a suffix): down from
  // the root, keeping the deepest open_dirs of them.
  int parent = stack_[0].fd.get();
  UniqueFd held;
  for (size_t i = 1; i <= top; i++) {
    Level& l = stack_[i];
    UniqueFd fd(::openat(parent, l.name.c_str(), kDirFlags));
    struct stat st;
    if (!fd.valid() || fstat(fd.get(), &st) != 0 || st.st_dev != l.dev || st.st_ino != l.ino) {
      return -1;
    }
    if (top - i < limits_.open_dirs) {
      l.fd = std::move(fd);
      parent = l.fd.get();
    } else {
      held = std::move(fd);
      parent = held.get();
    }
  }
  lowest_open_ = top >= limits_.open_dirs ? top - limits_.open_dirs + 1 : 1;
  return stack_[top].fd.get();
}

void Walk::Pop() {
  held_names_ -= stack_.back().names.size();
  stack_.pop_back();
  if (!stack_.empty()) {
    path_.resize(stack_.back().path_len);
    lowest_open_ = std::min(lowest_open_, std::max<size_t>(stack_.size(), 1));
  }
}

void Walk::File(int parent, const std::string& name, const std::string& path) {
  UniqueFd fd(::openat(parent, name.c_str(), kFileFlags));
  if (!fd.valid()) {
    if (errno != ENOENT) Fail(path, Status::FromErrno("open", errno));
    return;  // gone since it was listed: nothing left to judge
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return Fail(path, Status::FromErrno("stat", errno));
  if (!S_ISREG(st.st_mode)) {
    return Fail(path, Status::Error("open", "replaced by a non-regular file during the walk"));
  }
  if (!IsModelName(name, policy_)) {
    char head[512];
    const ssize_t n = pread(fd.get(), head, sizeof head, 0);
    if (n < 0) return Fail(path, Status::FromErrno("read", errno));
    if (!ModelScanner::LooksLikeModel(std::string_view(head, n))) return;
  }
  visit_({path, std::move(fd), Status::Ok()});
}

void Walk::Run(const std::string& root) {
  Enter(-1, root, root);
  while (!stack_.empty()) {
    Level& top = stack_.back();
    if (top.next == top.names.size()) {
      Pop();
      continue;
    }
    const std::string name = std::move(top.names[top.next++]);
    const std::string path = path_ + "/" + name;
    const int dir = TopFd();
    if (dir < 0) {
      Fail(path_, Status::Error("directory",
                                "moved or replaced during the walk: the rest of it "
                                "was not walked"));
      Pop();
      continue;
    }
    struct stat st;
    if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) Fail(path, Status::FromErrno("stat", errno));
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      Enter(dir, name, path);
    } else if (S_ISREG(st.st_mode)) {
      File(dir, name, path);
    }
    // Symlinks are not followed; FIFOs, sockets and devices are not models.
  }
}

}  // namespace

void WalkModels(const std::string& root, const ModelGuardPolicy& policy,
                const std::function<void(WalkVisit)>& visit, const WalkLimits& limits) {
  Walk(policy, visit, limits).Run(root);
}

ScanReport UnreadableReport(const std::string& path, const Status& error) {
  ScanReport r;
  r.path = path;
  r.format = "unknown";
  r.Unscannable("", 0, error.message());
  r.Conclude();
  return r;
}

}  // namespace nbw

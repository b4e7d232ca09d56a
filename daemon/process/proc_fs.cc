// SPDX-License-Identifier: Apache-2.0
#include "process/proc_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <regex>

#include "common/unique_fd.h"

namespace nbw {

Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY));
  if (!fd.valid()) return Status::FromErrno(path, errno);
  std::string out;
  char buf[4096];
  while (out.size() < max_bytes) {
    ssize_t n = ::read(fd.get(), buf, std::min(sizeof buf, max_bytes - out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::vector<std::string> SplitNul(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\0', start);
    if (end == std::string_view::npos) end = s.size();
    out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

Result<ProcStat> ParseStat(std::string_view text) {
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return Status::Error("stat", "no (comm)");
  }
  ProcStat st;
  st.comm = std::string(text.substr(open + 1, close - open - 1));
  // Fields after comm start at field 3 (state).
  std::string_view rest = text.substr(close + 1);
  std::vector<std::string_view> f;
  size_t i = 0;
  while (i < rest.size() && f.size() < 25) {
    while (i < rest.size() && rest[i] == ' ') i++;
    size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') j++;
    if (j > i) f.push_back(rest.substr(i, j - i));
    i = j + 1;
  }
  if (f.size() < 20) return Status::Error("stat", "too few fields");
  auto num = [](std::string_view v, uint64_t& out) {
    auto r = std::from_chars(v.data(), v.data() + v.size(), out);
    return r.ec == std::errc() && r.ptr == v.data() + v.size();
  };
  uint64_t ppid = 0;
  if (!num(f[1], ppid) || ppid > UINT32_MAX) return Status::Error("stat", "bad ppid");
  if (!num(f[19], st.start_ticks)) return Status::Error("stat", "bad starttime");
  st.ppid = static_cast<uint32_t>(ppid);
  return st;
}

std::string ContainerIdFromCgroupPath(std::string_view path, bool own_mount_ns) {
  // Runtimes' naming: docker-<id>.scope, /docker/<id>, cri-containerd-<id>,
  // crio-<id>, libpod-<id>, /kubepods/.../<id>.
  static const std::regex kId(
      "(?:docker-|cri-containerd-|crio-|libpod-|/docker/|/kubepods[^\\n]*/)"
      "([0-9a-f]{64})");
  std::match_results<std::string_view::const_iterator> m;
  if (std::regex_search(path.begin(), path.end(), m, kId)) return m[1].str();
  // A bare runc container: a cgroup named after the container. Host
  // services have named cgroups too, hence the mount-namespace condition.
  if (!own_mount_ns || path.empty() || path == "/" ||
      path.find(".slice") != std::string_view::npos ||
      path.find(".scope") != std::string_view::npos || path.starts_with("/user") ||
      path.starts_with("/system")) {
    return {};
  }
  return std::string(path.substr(path.rfind('/') + 1));
}

std::string ContainerIdFromCgroup(std::string_view text, bool own_mount_ns) {
  // A runtime id on any controller's line wins.
  if (std::string id = ContainerIdFromCgroupPath(text, false); !id.empty()) return id;
  if (!own_mount_ns) return {};
  // Else the pids (or memory) controller's path ("4:pids:/my-ctr").
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    size_t c1 = line.find(':');
    size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view ctrl = line.substr(c1 + 1, c2 - c1 - 1);
    if (ctrl == "pids" || ctrl == "memory") {
      if (std::string id = ContainerIdFromCgroupPath(line.substr(c2 + 1), true); !id.empty()) {
        return id;
      }
    }
  }
  return {};
}

std::string PodUidFromCgroup(std::string_view text) {
  static const std::regex kPod(
      "kubepods[^\\n]*[/"
      "-]pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(text.begin(), text.end(), m, kPod)) return {};
  std::string uid = m[1].str();
  std::replace(uid.begin(), uid.end(), '_', '-');
  return uid;
}

bool IsK8sName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return s.front() != '-' && s.front() != '.' && s.back() != '-' && s.back() != '.';
}

std::string ServiceAccountNamespace(const std::string& proc_root, uint32_t pid) {
  UniqueFd root(
      open(fmt::format("{}/{}/root", proc_root, pid).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return {};
  // RESOLVE_IN_ROOT: absolute symlinks resolve inside the process's root;
  // mounts may be crossed (the kubelet's volume is one).
  struct open_how how = {};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(syscall(SYS_openat2, root.get(),
                                       "var/run/secrets/kubernetes.io/serviceaccount/namespace",
                                       &how, sizeof how)));
  if (!fd.valid()) return {};
  struct stat st = {};
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
  char buf[256];
  ssize_t n = read(fd.get(), buf, sizeof buf);
  if (n <= 0 || n == static_cast<ssize_t>(sizeof buf)) return {};
  std::string_view v(buf, static_cast<size_t>(n));
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
  return IsK8sName(v) && v.size() <= 63 ? std::string(v) : std::string();
}

namespace {

Status WriteAll(int fd, std::string_view text, const std::string& what) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("writing " + what, errno);
    if (n == 0) return Status::FromErrno("writing " + what, EIO);
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

const char* KindOf(mode_t m) {
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

// What the caller asked to write through to: a terminal, a pipe, /dev/null.
bool IsStream(mode_t m) {
  return S_ISCHR(m) || S_ISFIFO(m);
}

}  // namespace

Status WriteFileAtomic(const std::string& path, std::string_view text, mode_t mode,
                       SpecialFiles special) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") {
    return Status::Error(path, "not a file name");
  }
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd.valid()) return Status::FromErrno(dir, errno);

  // The destination as it is, not where a symlink points: root renaming a
  // file over a planted symlink or a device node would destroy it.
  struct stat st = {};
  bool exists = true;
  if (fstatat(dfd.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT) return Status::FromErrno(path, errno);
    exists = false;
  }
  if (exists && !S_ISREG(st.st_mode)) {
    struct stat target = {};
    if (special == SpecialFiles::kWriteThrough &&
        fstatat(dfd.get(), base.c_str(), &target, 0) == 0 && IsStream(target.st_mode)) {
      // No O_CREAT, no O_TRUNC: only an existing device or pipe is opened.
      UniqueFd out(::openat(dfd.get(), base.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC));
      if (!out.valid()) return Status::FromErrno(path, errno);
      if (fstat(out.get(), &target) != 0 || !IsStream(target.st_mode)) {
        return Status::Error(path, "changed while opening it; nothing written");
      }
      return WriteAll(out.get(), text, path);
    }
    return Status::Error(
        path, fmt::format("is {}, not a regular file: refusing to replace {}", KindOf(st.st_mode),
                          S_ISLNK(st.st_mode) ? "or follow it" : "it"));
  }

  // A fresh file of our own: O_EXCL|O_NOFOLLOW, so nothing planted under
  // the temporary name is opened, truncated or followed.
  std::string tmp;
  UniqueFd fd;
  for (int attempt = 0; attempt < 8 && !fd.valid(); attempt++) {
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r) return Status::FromErrno("getrandom", errno);
    tmp = fmt::format(".nbwarden-{:016x}.tmp", r);
    fd.reset(::openat(dfd.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      mode));
    if (!fd.valid() && errno != EEXIST) return Status::FromErrno(dir + tmp, errno);
  }
  if (!fd.valid()) return Status::FromErrno(dir + tmp, EEXIST);
  Status s = WriteAll(fd.get(), text, dir + tmp);
  if (s.ok() && (fchmod(fd.get(), mode) != 0 || fsync(fd.get()) != 0)) {
    s = Status::FromErrno(dir + tmp, errno);
  }
  // Nothing there when checked: nothing may have appeared since either
  // (a file system without RENAME_NOREPLACE says EINVAL: a plain rename).
  if (s.ok()) {
    int r =
        renameat2(dfd.get(), tmp.c_str(), dfd.get(), base.c_str(), exists ? 0 : RENAME_NOREPLACE);
    if (r != 0 && errno == EINVAL && !exists) {
      r = renameat(dfd.get(), tmp.c_str(), dfd.get(), base.c_str());
    }
    if (r != 0) s = Status::FromErrno(path, errno);
  }
  if (!s.ok()) {
    ::unlinkat(dfd.get(), tmp.c_str(), 0);
    return s;
  }
  (void)fsync(dfd.get());  // the rename itself survives a crash
  return Status::Ok();
}

uint32_t ProcFs::SelfPid() const {
  char buf[32] = {};
  ssize_t n = readlink((root_ + "/self").c_str(), buf, sizeof buf - 1);
  uint32_t pid = 0;
  if (n > 0 && std::from_chars(buf, buf + n, pid).ec == std::errc() && pid > 0) return pid;
  return static_cast<uint32_t>(getpid());
}

Result<ProcStat> ProcFs::Stat(uint32_t pid) const {
  auto text = ReadFileBounded(fmt::format("{}/{}/stat", root_, pid), 4096);
  if (!text.ok()) return text.status();
  return ParseStat(*text);
}

Result<std::vector<std::string>> ProcFs::Cmdline(uint32_t pid) const {
  auto text = ReadFileBounded(fmt::format("{}/{}/cmdline", root_, pid), 64 * 1024);
  if (!text.ok()) return text.status();
  return SplitNul(*text);
}

static Result<std::string> ReadLink(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  if (n < 0) return Status::FromErrno(path, errno);
  return std::string(buf, static_cast<size_t>(n));
}

Result<std::string> ProcFs::Exe(uint32_t pid) const {
  return ReadLink(fmt::format("{}/{}/exe", root_, pid));
}

Result<std::string> ProcFs::Cwd(uint32_t pid) const {
  return ReadLink(fmt::format("{}/{}/cwd", root_, pid));
}

Result<std::map<std::string, std::string>> ProcFs::Environ(
    uint32_t pid, const std::vector<std::string>& keys) const {
  auto text = ReadFileBounded(fmt::format("{}/{}/environ", root_, pid), 256 * 1024);
  if (!text.ok()) return text.status();
  std::map<std::string, std::string> out;
  for (const auto& kv : SplitNul(*text)) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string k = kv.substr(0, eq);
    for (const auto& want : keys) {
      if (k == want) out[k] = kv.substr(eq + 1, 4096);
    }
  }
  return out;
}

Result<std::string> ProcFs::Cgroup(uint32_t pid) const {
  return ReadFileBounded(fmt::format("{}/{}/cgroup", root_, pid), 16 * 1024);
}

Result<uint64_t> ProcFs::NamespaceInode(uint32_t pid, const char* ns) const {
  struct stat st;
  std::string p = fmt::format("{}/{}/ns/{}", root_, pid, ns);
  if (::stat(p.c_str(), &st) != 0) return Status::FromErrno(p, errno);
  return static_cast<uint64_t>(st.st_ino);
}

std::vector<uint32_t> ProcFs::Pids() const {
  std::vector<uint32_t> out;
  DIR* d = ::opendir(root_.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    uint32_t pid = 0;
    std::string_view name(e->d_name);
    auto r = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (r.ec == std::errc() && r.ptr == name.data() + name.size() && pid > 0) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

}  // namespace nbw

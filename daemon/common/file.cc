// SPDX-License-Identifier: Apache-2.0
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

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

}  // namespace nbw

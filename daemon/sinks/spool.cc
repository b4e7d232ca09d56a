// SPDX-License-Identifier: Apache-2.0
#include "sinks/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>

namespace nbw {

Result<SpoolDir> SpoolDir::Open(const std::string& path) {
  const std::string what = "spool_dir " + path;
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return Status::Error(what, ec.message());
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno(what, errno);
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    struct stat lst = {};
    if ((err == ENOTDIR || err == ELOOP) && lstat(path.c_str(), &lst) == 0) {
      return Status::Error(what, S_ISLNK(lst.st_mode) ? "is a symbolic link: refusing to follow it"
                                                      : "is not a directory");
    }
    return Status::FromErrno(what, err);
  }
  struct stat st = {};
  if (fstat(fd.get(), &st) != 0) return Status::FromErrno(what, errno);
  if (st.st_uid != geteuid()) {
    return Status::Error(
        what, fmt::format("is owned by uid {}, not by the daemon (uid {})", st.st_uid, geteuid()));
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return Status::Error(what, fmt::format("is writable by group or others (mode {:04o}): "
                                           "it must be the daemon's alone",
                                           st.st_mode & 07777));
  }
  // Alerts name users and paths: nobody else reads them either.
  if ((st.st_mode & 077) && fchmod(fd.get(), 0700) != 0) return Status::FromErrno(what, errno);
  return SpoolDir(std::move(fd), path);
}

Result<std::unique_ptr<SpoolLog>> SpoolLog::Open(const SpoolDir& dir, const std::string& name,
                                                 uint64_t max_bytes) {
  std::unique_ptr<SpoolLog> s(new SpoolLog());
  const std::string path = dir.path() + "/" + name;
  s->path_ = path;
  s->max_bytes_ = max_bytes;
  s->fd_.reset(
      openat(dir.fd(), name.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!s->fd_.valid()) return Status::FromErrno("spool " + path, errno);
  s->offset_fd_.reset(openat(dir.fd(), (name + ".offset").c_str(),
                             O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!s->offset_fd_.valid()) return Status::FromErrno("spool " + path + ".offset", errno);
  struct stat st = {};
  if (fstat(s->fd_.get(), &st) != 0) return Status::FromErrno("spool " + path, errno);
  s->size_ = static_cast<uint64_t>(st.st_size);
  char buf[32] = {};
  ssize_t n = pread(s->offset_fd_.get(), buf, sizeof buf - 1, 0);
  if (n > 0) {
    char* end = nullptr;
    unsigned long long off = std::strtoull(buf, &end, 10);
    // An offset past the end or off a line boundary is not ours: start over
    // from the beginning (a duplicate beats a loss).
    if (end != buf && off <= s->size_) s->offset_ = off;
  }
  if (s->offset_ > 0) {
    char c = 0;
    if (pread(s->fd_.get(), &c, 1, static_cast<off_t>(s->offset_ - 1)) != 1 || c != '\n') {
      s->offset_ = 0;
    }
  }
  // Count what is pending (and cut a torn last line from a crash).
  std::string tail;
  std::vector<char> chunk(1 << 16);
  uint64_t pos = s->offset_, last_nl = s->offset_;
  while (pos < s->size_) {
    ssize_t r = pread(s->fd_.get(), chunk.data(), chunk.size(), static_cast<off_t>(pos));
    if (r <= 0) break;
    for (ssize_t i = 0; i < r; i++) {
      if (chunk[i] == '\n') {
        s->lines_++;
        last_nl = pos + i + 1;
      }
    }
    pos += static_cast<uint64_t>(r);
  }
  if (last_nl < s->size_) {
    if (ftruncate(s->fd_.get(), static_cast<off_t>(last_nl)) == 0) s->size_ = last_nl;
  }
  return s;
}

bool SpoolLog::Append(std::string_view line) {
  std::lock_guard lock(mu_);
  if (size_ - offset_ + line.size() + 1 > max_bytes_) return false;
  std::string rec;
  rec.reserve(line.size() + 1);
  rec.append(line);
  rec.push_back('\n');
  size_t off = 0;
  while (off < rec.size()) {
    ssize_t n = write(fd_.get(), rec.data() + off, rec.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Disk full or I/O error: undo the torn part so the log stays lines.
      if (off > 0) (void)ftruncate(fd_.get(), static_cast<off_t>(size_));
      return false;
    }
    off += static_cast<size_t>(n);
  }
  size_ += rec.size();
  lines_++;
  return true;
}

std::vector<std::string> SpoolLog::Peek(size_t max_lines) {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  peeked_.clear();
  uint64_t pos = offset_;
  std::string buf;
  std::vector<char> chunk(1 << 16);
  while (pos < size_ && out.size() < max_lines) {
    ssize_t r = pread(fd_.get(), chunk.data(), std::min<uint64_t>(chunk.size(), size_ - pos),
                      static_cast<off_t>(pos));
    if (r <= 0) break;
    pos += static_cast<uint64_t>(r);
    buf.append(chunk.data(), static_cast<size_t>(r));
    size_t start = 0;
    for (size_t nl; out.size() < max_lines && (nl = buf.find('\n', start)) != std::string::npos;
         start = nl + 1) {
      out.emplace_back(buf, start, nl - start);
      peeked_.push_back(nl - start + 1);
    }
    buf.erase(0, start);
    if (buf.size() > (64u << 20)) break;  // a line that long is not ours
  }
  return out;
}

void SpoolLog::Commit(size_t n) {
  std::lock_guard lock(mu_);
  n = std::min(n, peeked_.size());
  for (size_t i = 0; i < n; i++) offset_ += peeked_[i];
  lines_ -= std::min<uint64_t>(lines_, n);
  peeked_.clear();
  if (offset_ == size_ && size_ > 0) {
    // All delivered: start the log afresh so it does not grow forever.
    if (ftruncate(fd_.get(), 0) == 0) size_ = offset_ = 0;
  }
  SaveOffset();
}

void SpoolLog::SaveOffset() {
  const std::string s = fmt::format("{}\n", offset_);
  if (pwrite(offset_fd_.get(), s.data(), s.size(), 0) == static_cast<ssize_t>(s.size())) {
    (void)ftruncate(offset_fd_.get(), static_cast<off_t>(s.size()));
  }
}

uint64_t SpoolLog::pending_bytes() {
  std::lock_guard lock(mu_);
  return size_ - offset_;
}

uint64_t SpoolLog::pending_lines() {
  std::lock_guard lock(mu_);
  return lines_;
}

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// SpoolLog: one sink's alerts on disk, in order, until the sink has them.
// Every alert is appended when it is raised (one write(2), on the agent's
// thread: alerts are rare next to events), and the sink's worker delivers
// from the last delivered offset, which is kept in a side file. A receiver
// outage or a daemon restart loses nothing: the worker picks up where the
// offset says. Bounded: past max_bytes new alerts are refused (counted by
// the caller). Compacted when everything is delivered. Thread-safe: one
// producer and one consumer at a time, under a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace nbw {

// The directory the spools live in, opened once and for the daemon alone:
// created 0700 if missing; refused if it is a symlink, not a directory, not
// owned by the daemon's euid, or writable by group or others (anyone who
// can rename in it can swap a spool for a link). Each spool is opened
// relative to the descriptor, so replacing the path after the check
// changes nothing.
class SpoolDir {
 public:
  static Result<SpoolDir> Open(const std::string& path);
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  SpoolDir(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

class SpoolLog {
 public:
  // dir/name: the log; dir/name.offset: what was delivered. Neither may be
  // a symlink.
  static Result<std::unique_ptr<SpoolLog>> Open(const SpoolDir& dir, const std::string& name,
                                                uint64_t max_bytes);

  // Appends one line (no newline in it). False if the spool is full.
  bool Append(std::string_view line);
  // Up to max_lines undelivered lines, oldest first.
  std::vector<std::string> Peek(size_t max_lines);
  // The first n lines Peek returned are delivered.
  void Commit(size_t n);
  uint64_t pending_bytes();
  uint64_t pending_lines();

 private:
  SpoolLog() = default;
  void SaveOffset();
  std::mutex mu_;
  std::string path_;
  uint64_t max_bytes_ = 0;
  UniqueFd fd_, offset_fd_;
  uint64_t size_ = 0, offset_ = 0, lines_ = 0;
  std::vector<uint64_t> peeked_;  // byte length (with newline) of each peeked line
};

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// ByteSource: random access to the bytes being scanned, a whole file or a
// window of one (a stored zip member), or an owned buffer (an inflated
// member). Files are read with pread, never mapped: a file truncated under
// the scanner must make it report an error, not take SIGBUS.
// Cursor: sequential reads over a source through a small buffer, with
// skipping that does not read (tensor data is never pulled into memory).
// Not thread-safe; one scan owns its sources.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/unique_fd.h"

namespace nbw {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly n bytes at off, or fails (past the end, I/O error).
  virtual Status ReadAt(uint64_t off, void* buf, size_t n) const = 0;
};

// A window [base, base+len) of an open file; the fd is borrowed.
class FileSource final : public ByteSource {
 public:
  FileSource(int fd, uint64_t base, uint64_t len) : fd_(fd), base_(base), len_(len) {}
  uint64_t size() const override { return len_; }
  Status ReadAt(uint64_t off, void* buf, size_t n) const override;

 private:
  const int fd_;
  const uint64_t base_, len_;
};

// A window [base, base+len) of another source, which must outlive it.
class SliceSource final : public ByteSource {
 public:
  SliceSource(const ByteSource& parent, uint64_t base, uint64_t len)
      : parent_(parent), base_(base), len_(len) {}
  uint64_t size() const override { return len_; }
  Status ReadAt(uint64_t off, void* buf, size_t n) const override {
    if (off > len_ || n > len_ - off) return Status::Error("read", "past the end");
    return parent_.ReadAt(base_ + off, buf, n);
  }

 private:
  const ByteSource& parent_;
  const uint64_t base_, len_;
};

class BufferSource final : public ByteSource {
 public:
  explicit BufferSource(std::string data) : data_(std::move(data)) {}
  uint64_t size() const override { return data_.size(); }
  Status ReadAt(uint64_t off, void* buf, size_t n) const override;
  const std::string& data() const { return data_; }

 private:
  const std::string data_;
};

class Cursor {
 public:
  explicit Cursor(const ByteSource& src, uint64_t pos = 0) : src_(src), pos_(pos) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return pos_ < src_.size() ? src_.size() - pos_ : 0; }
  void Seek(uint64_t pos) { pos_ = pos; }
  bool Byte(uint8_t& b);
  // Reads n bytes; keeps the first `keep` of them in *out (if out), skips
  // the rest without reading it. False if fewer than n remain.
  bool Take(uint64_t n, std::string* out, size_t keep = SIZE_MAX);
  bool Skip(uint64_t n) { return Take(n, nullptr, 0); }
  // Little-endian unsigned of 1, 2, 4 or 8 bytes.
  bool Le(int width, uint64_t& v);
  // Up to and excluding '\n'; false when no '\n' within max bytes.
  bool Line(std::string& out, size_t max);
  const Status& error() const { return error_; }

 private:
  bool Fill();
  const ByteSource& src_;
  uint64_t pos_;
  std::string buf_;
  uint64_t buf_pos_ = 0;  // source offset of buf_[0]
  Status error_;
};

}  // namespace nbw

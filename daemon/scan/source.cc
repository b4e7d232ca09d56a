// SPDX-License-Identifier: Apache-2.0
#include "scan/source.h"

#include <errno.h>
#include <unistd.h>

#include <cstring>

namespace nbw {

Status FileSource::ReadAt(uint64_t off, void* buf, size_t n) const {
  if (off > len_ || n > len_ - off) return Status::Error("read", "past the end");
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = ::pread(fd_, p, n, static_cast<off_t>(base_ + off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read", errno);
    }
    if (r == 0) return Status::Error("read", "file shrank while it was being scanned");
    p += r, off += r, n -= r;
  }
  return Status::Ok();
}

Status BufferSource::ReadAt(uint64_t off, void* buf, size_t n) const {
  if (off > data_.size() || n > data_.size() - off) return Status::Error("read", "past the end");
  std::memcpy(buf, data_.data() + off, n);
  return Status::Ok();
}

constexpr size_t kCursorBuf = 64 * 1024;

bool Cursor::Fill() {
  if (pos_ >= buf_pos_ && pos_ < buf_pos_ + buf_.size()) return true;
  uint64_t n = std::min<uint64_t>(kCursorBuf, remaining());
  if (n == 0) return false;
  buf_.resize(n);
  if (Status s = src_.ReadAt(pos_, buf_.data(), n); !s.ok()) {
    error_ = s;
    buf_.clear();
    return false;
  }
  buf_pos_ = pos_;
  return true;
}

bool Cursor::Byte(uint8_t& b) {
  if (!Fill()) return false;
  b = static_cast<uint8_t>(buf_[pos_ - buf_pos_]);
  pos_++;
  return true;
}

bool Cursor::Take(uint64_t n, std::string* out, size_t keep) {
  if (n > remaining()) return false;
  if (out) out->clear();
  uint64_t want = out ? std::min<uint64_t>(n, keep) : 0;
  uint64_t end = pos_ + n;
  while (want > 0) {
    if (!Fill()) return false;
    size_t at = pos_ - buf_pos_;
    size_t chunk = std::min<uint64_t>(want, buf_.size() - at);
    out->append(buf_, at, chunk);
    pos_ += chunk, want -= chunk;
  }
  pos_ = end;
  return true;
}

bool Cursor::Le(int width, uint64_t& v) {
  v = 0;
  if (pos_ >= buf_pos_ && pos_ + width <= buf_pos_ + buf_.size()) {  // the common case
    const auto* p = reinterpret_cast<const uint8_t*>(buf_.data()) + (pos_ - buf_pos_);
    for (int i = 0; i < width; i++) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    pos_ += width;
    return true;
  }
  for (int i = 0; i < width; i++) {
    uint8_t b;
    if (!Byte(b)) return false;
    v |= static_cast<uint64_t>(b) << (8 * i);
  }
  return true;
}

bool Cursor::Line(std::string& out, size_t max) {
  out.clear();
  uint8_t b;
  while (out.size() <= max) {
    if (!Byte(b)) return false;
    if (b == '\n') return true;
    out.push_back(static_cast<char>(b));
  }
  return false;
}

}  // namespace nbw

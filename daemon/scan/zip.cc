// SPDX-License-Identifier: Apache-2.0
#include "scan/zip.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace nbw {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;

uint64_t Le(const uint8_t* p, int w) {
  uint64_t v = 0;
  for (int i = 0; i < w; i++) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// Zip64 extended information: replaces whichever 32-bit fields are 0xffffffff.
void ApplyZip64(const std::string& extra, ZipEntry& e, bool& local_offset_big) {
  for (size_t i = 0; i + 4 <= extra.size();) {
    const auto* p = reinterpret_cast<const uint8_t*>(extra.data()) + i;
    uint16_t id = Le(p, 2), len = Le(p + 2, 2);
    if (i + 4 + len > extra.size()) return;
    if (id == 0x0001) {
      size_t at = 0;
      auto next = [&](uint64_t& field) {
        if (at + 8 <= len) field = Le(p + 4 + at, 8), at += 8;
      };
      if (e.size == 0xffffffff) next(e.size);
      if (e.comp_size == 0xffffffff) next(e.comp_size);
      if (local_offset_big) next(e.local_offset), local_offset_big = false;
      return;
    }
    i += 4 + len;
  }
}

Status Inflate(const ByteSource& src, const ZipEntry& e, uint64_t limit, std::string& out,
               int window_bits = -MAX_WBITS) {
  z_stream z{};
  if (inflateInit2(&z, window_bits) != Z_OK) return Status::Error(e.name, "zlib init failed");
  std::string in(64 * 1024, '\0');
  uint64_t read = 0;
  int rc = Z_OK;
  out.clear();
  while (rc != Z_STREAM_END) {
    if (z.avail_in == 0) {
      size_t n = std::min<uint64_t>(in.size(), e.comp_size - read);
      if (n == 0) break;  // truncated deflate stream: keep what inflated
      if (Status s = src.ReadAt(e.data_offset + read, in.data(), n); !s.ok()) {
        inflateEnd(&z);
        return s.Wrap(e.name);
      }
      read += n;
      z.next_in = reinterpret_cast<Bytef*>(in.data());
      z.avail_in = static_cast<uInt>(n);
    }
    size_t have = out.size();
    size_t room = std::min<uint64_t>(256 * 1024, limit + 1 - std::min<uint64_t>(have, limit));
    out.resize(have + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + have);
    z.avail_out = static_cast<uInt>(room);
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(have + room - z.avail_out);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      inflateEnd(&z);
      return Status::Error(e.name, fmt::format("bad deflate data ({})", z.msg ? z.msg : "?"));
    }
    if (out.size() > limit) {
      inflateEnd(&z);
      return Status::Error(e.name, fmt::format("inflates past {} bytes", limit));
    }
    if (rc == Z_BUF_ERROR && z.avail_in != 0) {
      inflateEnd(&z);
      return Status::Error(e.name, "deflate stream makes no progress");
    }
  }
  inflateEnd(&z);
  return Status::Ok();
}

}  // namespace

bool LooksLikeZip(std::string_view head) {
  return head.size() >= 4 && (head.substr(0, 4) == std::string_view("PK\3\4", 4) ||
                              head.substr(0, 4) == std::string_view("PK\5\6", 4));
}

Result<std::vector<ZipEntry>> ReadZipDirectory(const ByteSource& src) {
  const uint64_t size = src.size();
  if (size < 22) return Status::Error("zip", "shorter than an end-of-directory record");
  // The end record is in the last 64 KiB + 22 bytes (comment bound).
  uint64_t tail_len = std::min<uint64_t>(size, 65535 + 22);
  std::string tail(tail_len, '\0');
  if (Status s = src.ReadAt(size - tail_len, tail.data(), tail_len); !s.ok()) return s;
  const auto* t = reinterpret_cast<const uint8_t*>(tail.data());
  int64_t end = -1;
  for (int64_t i = static_cast<int64_t>(tail_len) - 22; i >= 0; i--) {
    if (Le(t + i, 4) == kEndSig) {
      end = i;
      break;
    }
  }
  if (end < 0) return Status::Error("zip", "no end-of-central-directory record");
  uint64_t count = Le(t + end + 10, 2);
  uint64_t cd_size = Le(t + end + 12, 4);
  uint64_t cd_off = Le(t + end + 16, 4);
  if (end >= 20 && Le(t + end - 20, 4) == kLocator64Sig) {
    uint64_t e64 = Le(t + end - 20 + 8, 8);
    uint8_t rec[56];
    if (Status s = src.ReadAt(e64, rec, sizeof(rec)); !s.ok()) return s.Wrap("zip64 end record");
    if (Le(rec, 4) != kEnd64Sig) return Status::Error("zip", "bad zip64 end record");
    count = Le(rec + 32, 8);
    cd_size = Le(rec + 40, 8);
    cd_off = Le(rec + 48, 8);
  }
  if (cd_off > size || cd_size > size - cd_off) {
    return Status::Error("zip", "central directory lies outside the file");
  }
  if (count > kMaxZipEntries) {
    return Status::Error("zip", fmt::format("{} members, more than {}", count, kMaxZipEntries));
  }
  std::string cd(cd_size, '\0');
  if (Status s = src.ReadAt(cd_off, cd.data(), cd_size); !s.ok()) return s;
  const auto* c = reinterpret_cast<const uint8_t*>(cd.data());
  std::vector<ZipEntry> entries;
  for (uint64_t i = 0, at = 0; i < count; i++) {
    if (at + 46 > cd_size || Le(c + at, 4) != kCentralSig) {
      return Status::Error("zip", fmt::format("central directory entry {} is damaged", i));
    }
    ZipEntry e;
    e.flags = Le(c + at + 8, 2);
    e.method = Le(c + at + 10, 2);
    e.comp_size = Le(c + at + 20, 4);
    e.size = Le(c + at + 24, 4);
    uint64_t name_len = Le(c + at + 28, 2), extra_len = Le(c + at + 30, 2);
    uint64_t comment_len = Le(c + at + 32, 2);
    e.local_offset = Le(c + at + 42, 4);
    if (at + 46 + name_len + extra_len + comment_len > cd_size) {
      return Status::Error("zip", fmt::format("central directory entry {} overruns", i));
    }
    e.name.assign(cd, at + 46, name_len);
    bool big_offset = e.local_offset == 0xffffffff;
    ApplyZip64(cd.substr(at + 46 + name_len, extra_len), e, big_offset);
    at += 46 + name_len + extra_len + comment_len;

    uint8_t lh[30];
    if (e.local_offset > size || size - e.local_offset < sizeof(lh)) {
      return Status::Error("zip",
                           fmt::format("member '{}': local header outside the file", e.name));
    }
    if (Status s = src.ReadAt(e.local_offset, lh, sizeof(lh)); !s.ok()) return s;
    if (Le(lh, 4) != kLocalSig) {
      return Status::Error("zip", fmt::format("member '{}': no local header", e.name));
    }
    uint64_t lname_len = Le(lh + 26, 2), lextra_len = Le(lh + 28, 2);
    e.data_offset = e.local_offset + 30 + lname_len + lextra_len;
    std::string lname(lname_len, '\0');
    if (Status s = src.ReadAt(e.local_offset + 30, lname.data(), lname_len); !s.ok()) return s;
    if (lname != e.name) {
      e.mismatch = fmt::format("local header names it '{}'", lname);
    } else if (Le(lh + 8, 2) != e.method) {
      e.mismatch = "local header gives another compression method";
    } else if ((Le(lh + 6, 2) & ~0x0808u) != (e.flags & ~0x0808u)) {
      e.mismatch = "local header gives other flag bits";
    }
    if (e.data_offset > size || e.comp_size > size - e.data_offset) {
      return Status::Error("zip", fmt::format("member '{}': data runs past the end", e.name));
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

Result<std::unique_ptr<ByteSource>> OpenZipMember(const ByteSource& src, const ZipEntry& e,
                                                  uint64_t limit) {
  if (e.method == 0) {
    return std::unique_ptr<ByteSource>(new SliceSource(src, e.data_offset, e.comp_size));
  }
  if (e.method != 8) {
    return Status::Error(e.name, fmt::format("compression method {} is not supported", e.method));
  }
  std::string out;
  if (Status s = Inflate(src, e, limit, out); !s.ok()) return s;
  return std::unique_ptr<ByteSource>(new BufferSource(std::move(out)));
}

Result<std::string> InflateZlib(const ByteSource& src, uint64_t limit) {
  ZipEntry whole;
  whole.name = "zlib stream";
  whole.comp_size = src.size();
  std::string out;
  if (Status s = Inflate(src, whole, limit, out, MAX_WBITS); !s.ok()) return s;
  return out;
}

Result<std::string> ZipMemberHead(const ByteSource& src, const ZipEntry& e, size_t n) {
  std::string out;
  if (e.method == 0) {
    out.resize(std::min<uint64_t>(n, e.comp_size));
    if (Status s = src.ReadAt(e.data_offset, out.data(), out.size()); !s.ok()) return s;
    return out;
  }
  if (e.method != 8) {
    return Status::Error(e.name, fmt::format("compression method {} is not supported", e.method));
  }
  ZipEntry head = e;
  head.comp_size = std::min<uint64_t>(e.comp_size, 64 * 1024);
  Status s = Inflate(src, head, n, out);
  (void)s;  // "inflates past n" is exactly what we asked for
  out.resize(std::min(out.size(), n));
  return out;
}

}  // namespace nbw

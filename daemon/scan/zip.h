// SPDX-License-Identifier: Apache-2.0
// A zip reader as relaxed as PyTorch's (miniz): the central directory is the
// truth, CRCs and general-purpose flag bits are ignored, and a member's data
// starts where its local header says. Where the local header disagrees with
// the central directory (a trick that makes Python's zipfile, and scanners
// built on it, give up) the disagreement is a finding and the member is still
// read. Zip64 supported. Bounded: at most kMaxZipEntries members, and no
// member inflates past the caller's limit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "scan/source.h"

namespace nbw {

struct ZipEntry {
  std::string name;  // from the central directory
  uint16_t method = 0;
  uint16_t flags = 0;
  uint64_t comp_size = 0, size = 0;
  uint64_t local_offset = 0;
  uint64_t data_offset = 0;  // after the local header
  std::string mismatch;      // how the local header disagrees, empty if it agrees
};

constexpr size_t kMaxZipEntries = 65536;

bool LooksLikeZip(std::string_view head);

// The members in central-directory order.
Result<std::vector<ZipEntry>> ReadZipDirectory(const ByteSource& src);

// The member's bytes: a slice of `src` when stored, inflated into memory
// (at most `limit` bytes, else an error) when deflated.
Result<std::unique_ptr<ByteSource>> OpenZipMember(const ByteSource& src, const ZipEntry& e,
                                                  uint64_t limit);
// A whole zlib stream (RFC 1950), inflated into memory up to `limit` bytes.
Result<std::string> InflateZlib(const ByteSource& src, uint64_t limit);
// The first n bytes (fewer if the member is shorter), inflating only those.
Result<std::string> ZipMemberHead(const ByteSource& src, const ZipEntry& e, size_t n);

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// Whole-file reads and writes every layer needs (policy files, configs,
// /proc, status files): bounded, never following a symlink. Any thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace nbw {

// Bounded whole-file read. Exposed for tests.
Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes);
// What WriteFileAtomic does with a destination that is not a regular file.
enum class SpecialFiles {
  kRefuse,        // an error: nothing is followed, replaced or written
  kWriteThrough,  // a character device or FIFO (or a symlink to one, as
                  // /dev/stdout is) is written to, in place; others refused
};
// Writes a new file beside path (O_CREAT|O_EXCL|O_NOFOLLOW, a random name),
// syncs it and renames it over path: a reader sees the old file or the new
// one, never half of one. path must be absent or a regular file: a symlink
// (even to a regular file), a directory or a device is refused, never
// followed or replaced, except as `special` says.
Status WriteFileAtomic(const std::string& path, std::string_view text, mode_t mode,
                       SpecialFiles special = SpecialFiles::kRefuse);

}  // namespace nbw

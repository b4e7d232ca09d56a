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
// Writes next to path, syncs, then renames over it: a reader sees the old
// file or the new one, never half of one. Symlinks are not followed.
Status WriteFileAtomic(const std::string& path, std::string_view text, mode_t mode);

}  // namespace nbw

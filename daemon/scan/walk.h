// SPDX-License-Identifier: Apache-2.0
// WalkModels: the model files under a directory, for `nbwarden scan DIR`.
// Iterative, with an explicit stack of levels (never recursion), and bounded
// in memory and open fds whatever the tree's depth: a level keeps only its
// entry names, and only the deepest `open_dirs` levels (and the root) keep
// their directory open. A shallower level is re-opened from the root, name
// by name with O_NOFOLLOW, and must be the same inode, when the walk comes
// back to it. Everything is opened relative to its parent's fd, so a path
// longer than PATH_MAX is no obstacle.
// Symlinks are never followed (a link out of the tree is not the tree's
// model); FIFOs, sockets and devices are never opened. Whatever cannot be
// read (a directory that cannot be listed, a file that cannot be opened, a
// level past a bound) is visited as an error, never skipped: the caller
// makes it an unscannable result. Entries of a directory are visited in
// byte order of their names. Single-threaded.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"
#include "scan/report.h"
#include "scan/scan_policy.h"

namespace nbw {

struct WalkLimits {
  size_t depth = 8192;     // directory levels below the root
  size_t open_dirs = 64;   // directory fds held besides the root's
  size_t names = 1 << 20;  // entry names held at once, all levels together
};

struct WalkVisit {
  std::string path;  // the root as given, then "/name" per level
  UniqueFd fd;       // a model file, open read-only; invalid when error is set
  Status error;      // why `path` could not be read
};

// Calls `visit` for every model file (by extension or by content) and every
// entry that could not be read, `root` included.
void WalkModels(const std::string& root, const ModelGuardPolicy& policy,
                const std::function<void(WalkVisit)>& visit, const WalkLimits& limits = {});

// The report for a visit's error: unscannable, naming why.
ScanReport UnreadableReport(const std::string& path, const Status& error);

}  // namespace nbw

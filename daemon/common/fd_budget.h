// SPDX-License-Identifier: Apache-2.0
// File descriptors as a budget. The daemon's listeners refuse a connection
// that would eat into the fds its model scans and sinks need (kFdReserve),
// and a failure for lack of resources (EMFILE, ...) is told apart from one
// about the file itself: the first is retried, never reported as a verdict.
#pragma once

#include <cstddef>

namespace nbw {

// Kept free for scans and sinks: listeners refuse connections below it.
inline constexpr size_t kFdReserve = 32;

// How many more fds this process can open now: free numbers below its
// RLIMIT_NOFILE soft limit (an fd gets the lowest free number). 0 when it
// cannot even open /proc/self/fd to count.
size_t FdHeadroom();

// EMFILE, ENFILE, ENOMEM, ENOBUFS: the process or the system ran short.
bool IsResourceErrno(int err);

}  // namespace nbw

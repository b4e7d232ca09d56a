// SPDX-License-Identifier: Apache-2.0
#include "common/fd_budget.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>

#include "common/unique_fd.h"

namespace nbw {

size_t FdHeadroom() {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  UniqueFd dir(::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return 0;
  // getdents64 into a stack buffer: no allocation, nothing opened but dir.
  size_t below = 0;
  alignas(8) char buf[8192];
  for (;;) {
    const ssize_t n = getdents64(dir.get(), buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* e = reinterpret_cast<const struct dirent64*>(buf + off);
      off += e->d_reclen;
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;  // "." and ".."
      if (std::strtoull(e->d_name, nullptr, 10) < rl.rlim_cur) below++;
    }
  }
  return rl.rlim_cur > below ? rl.rlim_cur - below : 0;
}

bool IsResourceErrno(int err) {
  return err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS;
}

}  // namespace nbw

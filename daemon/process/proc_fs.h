// SPDX-License-Identifier: Apache-2.0
// Reading what /proc says about a process, defensively: every read is
// bounded, every parse checked, and a process that vanished mid-read is an
// error value, not an exception. Any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace nbw {

struct ProcStat {
  uint32_t ppid = 0;
  std::string comm;
  uint64_t start_ticks = 0;  // field 22: clock ticks after boot
};

class ProcFs {
 public:
  explicit ProcFs(std::string root = "/proc") : root_(std::move(root)) {}

  Result<ProcStat> Stat(uint32_t pid) const;
  Result<std::vector<std::string>> Cmdline(uint32_t pid) const;
  Result<std::string> Exe(uint32_t pid) const;
  Result<std::string> Cwd(uint32_t pid) const;
  // Only the requested variables; values capped at 4 KiB each.
  Result<std::map<std::string, std::string>> Environ(uint32_t pid,
                                                     const std::vector<std::string>& keys) const;
  Result<std::string> Cgroup(uint32_t pid) const;
  Result<uint64_t> NamespaceInode(uint32_t pid, const char* ns) const;
  std::vector<uint32_t> Pids() const;
  const std::string& root() const { return root_; }
  // This process's pid as this /proc sees it (a host /proc mounted in a
  // container numbers it differently from getpid()).
  uint32_t SelfPid() const;

 private:
  const std::string root_;
};

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
// Splits NUL-separated strings (cmdline, argv blobs); a trailing NUL is optional.
std::vector<std::string> SplitNul(std::string_view s);
// argv joined by single spaces, as rules and selectors match it.
std::string JoinArgv(const std::vector<std::string>& argv);
// Parses /proc/<pid>/stat text; comm may itself contain spaces and parentheses.
Result<ProcStat> ParseStat(std::string_view text);
// Container id from /proc/<pid>/cgroup text: docker, containerd, cri-o and
// podman ids always; a bare runc container (v1 cgroups named after it) only
// when the process has its own mount namespace, since host services live in
// named cgroups too. Empty if none.
std::string ContainerIdFromCgroup(std::string_view cgroup_text, bool own_mount_ns);
// The pod uid in a kubelet cgroup name (".../kubepods/burstable/pod<uid>/..."
// or "kubepods-burstable-pod<uid with _>.slice"), dashed; empty if none.
std::string PodUidFromCgroup(std::string_view cgroup_text);
// A Kubernetes name (DNS-1123 label or subdomain, <= 253 chars)?
bool IsK8sName(std::string_view s);
// The namespace of the service account mounted in pid's root, read inside
// that root (openat2 RESOLVE_IN_ROOT: a container's symlinks cannot point
// the daemon at a host file); empty if none or not a valid name.
std::string ServiceAccountNamespace(const std::string& proc_root, uint32_t pid);
// The same judgement on one cgroup path or name (e.g. the name the kernel
// reports at exec).
std::string ContainerIdFromCgroupPath(std::string_view path, bool own_mount_ns);

}  // namespace nbw

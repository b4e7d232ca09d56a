// SPDX-License-Identifier: Apache-2.0
// SyscallRecorder: which syscalls a process tree makes, recorded in the
// kernel (bpf/recorder.bpf.c): one bit per syscall number, no event per
// syscall. Processes forked by a recorded process join the recording; the
// set is read when the caller asks. One recording per object; one thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

struct recorder_bpf;

namespace nbw {

// Syscall numbers the recorder has room for (bpf/recorder_abi.h).
inline constexpr int kRecordedSyscallMax = 1024;

class SyscallRecorder {
 public:
  static Result<std::unique_ptr<SyscallRecorder>> Start();
  ~SyscallRecorder();
  SyscallRecorder(const SyscallRecorder&) = delete;
  SyscallRecorder& operator=(const SyscallRecorder&) = delete;

  // Adds one process: its syscalls from now on, and its future children's.
  Status Add(uint32_t tgid);
  // Adds a process and the descendants it has now (from /proc, read twice
  // so a child forked during the first walk is found by the second or by
  // the kernel's fork hook). Returns how many processes were added.
  Result<size_t> AddTree(uint32_t tgid);

  std::vector<int> Numbers() const;  // syscall numbers recorded so far, ascending

  struct Stats {
    uint64_t out_of_range = 0;  // syscall numbers beyond the bitmap
    uint64_t forks = 0;         // processes the tree grew by
    uint64_t exits = 0;         // processes of the tree that exited
  };
  Stats stats() const;

 private:
  SyscallRecorder() = default;
  struct SkelDeleter {
    void operator()(recorder_bpf* s) const;
  };
  std::unique_ptr<recorder_bpf, SkelDeleter> skel_;
  uint64_t* pids_ = nullptr;  // rec_pids, mmapped
  size_t pid_words_ = 0;
};

struct RecordedNames {
  std::vector<std::string> names;  // sorted
  std::vector<int> unnamed;        // numbers this libseccomp cannot name
};
// Syscall numbers of the running architecture to libseccomp's names.
RecordedNames NameSyscalls(const std::vector<int>& numbers);

}  // namespace nbw

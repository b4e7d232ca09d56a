// SPDX-License-Identifier: Apache-2.0
#include "seccomp/recorder.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "common/libbpf_log.h"
#include "process/proc_fs.h"
#include "recorder.skel.h"
#include "recorder_abi.h"

namespace nbw {

static_assert(kRecordedSyscallMax == NBW_REC_NR_MAX);

void SyscallRecorder::SkelDeleter::operator()(recorder_bpf* s) const {
  recorder_bpf__destroy(s);
}

Result<std::unique_ptr<SyscallRecorder>> SyscallRecorder::Start() {
  InstallLibbpfLogger();
  ClearLibbpfError();
  if (geteuid() != 0) {
    return Status::Error("nbwarden seccomp record",
                         "must run as root (the recorder is a BPF program: CAP_BPF, CAP_PERFMON)");
  }
  std::unique_ptr<SyscallRecorder> r(new SyscallRecorder());
  r->skel_.reset(recorder_bpf__open_and_load());
  if (!r->skel_) return LibbpfError("loading the syscall recorder", errno);
  if (int err = recorder_bpf__attach(r->skel_.get()); err) {
    return LibbpfError("attaching the syscall recorder", err);
  }
  const struct bpf_map* m = r->skel_->maps.rec_pids;
  r->pid_words_ = bpf_map__max_entries(m);
  void* p = mmap(nullptr, r->pid_words_ * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED,
                 bpf_map__fd(m), 0);
  if (p == MAP_FAILED) return Status::FromErrno("mapping rec_pids", errno);
  r->pids_ = static_cast<uint64_t*>(p);
  return r;
}

SyscallRecorder::~SyscallRecorder() {
  if (pids_) munmap(pids_, pid_words_ * sizeof(uint64_t));
}

Status SyscallRecorder::Add(uint32_t tgid) {
  if (tgid == 0 || tgid / 64 >= pid_words_) {
    return Status::Error("recording", fmt::format("pid {} out of range", tgid));
  }
  // Atomic: the kernel's fork and exit hooks flip bits of the same word.
  __atomic_fetch_or(&pids_[tgid / 64], uint64_t{1} << (tgid % 64), __ATOMIC_SEQ_CST);
  return Status::Ok();
}

Result<size_t> SyscallRecorder::AddTree(uint32_t root) {
  ProcFs proc;
  if (!proc.Stat(root).ok()) {
    return Status::Error("recording", fmt::format("no process {}", root));
  }
  if (Status s = Add(root); !s.ok()) return s;
  std::vector<uint32_t> added = {root};
  for (int pass = 0; pass < 2; pass++) {
    std::map<uint32_t, std::vector<uint32_t>> children;
    for (uint32_t pid : proc.Pids()) {
      auto st = proc.Stat(pid);
      if (st.ok()) children[st->ppid].push_back(pid);
    }
    std::vector<uint32_t> todo = {root};
    while (!todo.empty()) {
      uint32_t p = todo.back();
      todo.pop_back();
      for (uint32_t c : children[p]) {
        if (std::find(added.begin(), added.end(), c) == added.end()) {
          if (Status s = Add(c); !s.ok()) return s;
          added.push_back(c);
        }
        todo.push_back(c);
      }
    }
  }
  return added.size();
}

std::vector<int> SyscallRecorder::Numbers() const {
  nbw_rec_syscalls v = {};
  uint32_t zero = 0;
  std::vector<int> out;
  if (bpf_map__lookup_elem(skel_->maps.rec_syscalls, &zero, sizeof zero, &v, sizeof v, 0)) {
    return out;
  }
  for (int nr = 0; nr < NBW_REC_NR_MAX; nr++) {
    if (v.w[nr / 64] & (uint64_t{1} << (nr % 64))) out.push_back(nr);
  }
  return out;
}

SyscallRecorder::Stats SyscallRecorder::stats() const {
  Stats s;
  s.out_of_range = __atomic_load_n(&skel_->bss->nbw_rec_out_of_range, __ATOMIC_RELAXED);
  s.forks = __atomic_load_n(&skel_->bss->nbw_rec_forks, __ATOMIC_RELAXED);
  s.exits = __atomic_load_n(&skel_->bss->nbw_rec_exits, __ATOMIC_RELAXED);
  return s;
}

RecordedNames NameSyscalls(const std::vector<int>& numbers) {
  RecordedNames out;
  for (int nr : numbers) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (!name) {
      out.unnamed.push_back(nr);
      continue;
    }
    out.names.emplace_back(name);
    free(name);
  }
  std::sort(out.names.begin(), out.names.end());
  return out;
}

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
#include "sensor/describe.h"

#include <fmt/format.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/syscall.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <map>
#include <utility>

namespace nbw {
namespace {

struct Flag {
  uint64_t bit;
  const char* name;
};

std::vector<std::string> FlagList(uint64_t v, std::initializer_list<Flag> table) {
  std::vector<std::string> out;
  for (const auto& f : table) {
    if (f.bit && (v & f.bit) == f.bit) {
      out.emplace_back(f.name);
      v &= ~f.bit;
    }
  }
  if (v) out.push_back(fmt::format("{:#x}", v));
  return out;
}

// Only the namespace bits of clone flags matter to a detector.
constexpr uint64_t kCloneNsBits = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                  CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;

std::string PtraceRequest(uint64_t r) {
  switch (r) {
    case 0: return "PTRACE_TRACEME";
    case 1: return "PTRACE_PEEKTEXT";
    case 2: return "PTRACE_PEEKDATA";
    case 4: return "PTRACE_POKETEXT";
    case 5: return "PTRACE_POKEDATA";
    case 12: return "PTRACE_GETREGS";
    case 13: return "PTRACE_SETREGS";
    case 16: return "PTRACE_ATTACH";
    case 17: return "PTRACE_DETACH";
    case 0x4206: return "PTRACE_SEIZE";
    default: return fmt::format("{}", r);
  }
}

std::string BpfCmd(uint64_t c) {
  static const char* kNames[] = {
      "BPF_MAP_CREATE",       "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM",
      "BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD",       "BPF_OBJ_PIN",         "BPF_OBJ_GET",
      "BPF_PROG_ATTACH",      "BPF_PROG_DETACH"};
  if (c < std::size(kNames)) return kNames[c];
  if (c == 28) return "BPF_LINK_CREATE";
  if (c == 17) return "BPF_RAW_TRACEPOINT_OPEN";
  return fmt::format("{}", c);
}

template <typename T>
T BlobField(const std::string& blob, size_t off) {
  T v{};
  if (blob.size() >= off + sizeof v) std::memcpy(&v, blob.data() + off, sizeof v);
  return v;
}

// Appends named arguments with their types stated once: I() for signed
// 32-bit values the caller passed (pids, fds, ids), U() for flags and sizes.
class ArgList {
 public:
  ArgList& S(std::string_view name, std::string v) { return Add(name, std::move(v)); }
  ArgList& I(std::string_view name, uint64_t raw) {
    return Add(name, int64_t{static_cast<int32_t>(raw)});
  }
  ArgList& U(std::string_view name, uint64_t v) { return Add(name, v); }
  ArgList& L(std::string_view name, std::vector<std::string> v) { return Add(name, std::move(v)); }
  std::vector<NamedArg> Take() { return std::move(args_); }

 private:
  ArgList& Add(std::string_view name, ArgValue v) {
    args_.push_back({name, std::move(v)});
    return *this;
  }
  std::vector<NamedArg> args_;
};

}  // namespace

std::string_view SyscallName(int nr) {
  // Every syscall of this architecture, named once by libseccomp (seccomp
  // events may name any of them, not only those the sensor watches).
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names(1024);
    for (int i = 0; i < static_cast<int>(names.size()); i++) {
      if (char* n = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, i)) {
        names[i] = n;
        free(n);
      }
    }
    return names;
  }();
  if (nr < 0 || nr >= static_cast<int>(kNames.size())) return "";
  return kNames[nr];
}

namespace {

constexpr int kX32SyscallBit = 0x40000000;

// The syscalls of another ABI of this machine, named once by libseccomp.
std::string_view ForeignSyscallName(uint32_t arch, int nr) {
  static const auto kTables = [] {
    std::map<uint32_t, std::map<int, std::string>> t;
    for (uint32_t a : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
      const int base = a == SCMP_ARCH_X32 ? kX32SyscallBit : 0;
      for (int i = 0; i < 1024; i++) {
        if (char* n = seccomp_syscall_resolve_num_arch(a, base + i)) {
          t[a][base + i] = n;
          free(n);
        }
      }
    }
    return t;
  }();
  auto table = kTables.find(arch);
  if (table == kTables.end()) return "";
  auto it = table->second.find(nr);
  return it == table->second.end() ? std::string_view() : std::string_view(it->second);
}

}  // namespace

std::string_view SyscallArch(const Event& ev) {
  if (ev.flags & NBW_F_SYSCALL_I386) return "x86";
  if (ev.syscall >= 0 && (ev.syscall & kX32SyscallBit)) return "x32";
  return "x86_64";
}

std::string_view EventSyscallName(const Event& ev) {
  if (ev.flags & NBW_F_SYSCALL_I386) return ForeignSyscallName(SCMP_ARCH_X86, ev.syscall);
  if (ev.syscall >= 0 && (ev.syscall & kX32SyscallBit)) {
    return ForeignSyscallName(SCMP_ARCH_X32, ev.syscall);
  }
  return SyscallName(ev.syscall);
}

std::string_view SeccompActionName(const Event& ev) {
  if (ev.flags & NBW_F_SECCOMP_KILL_PROCESS) return "kill_process";
  if (ev.flags & NBW_F_SECCOMP_KILL) return "kill_thread";
  if (ev.flags & NBW_F_SECCOMP_TRAP) return "trap";
  return "errno";
}

std::string ErrnoName(int err) {
  const char* n = strerrorname_np(err);
  return n ? n : std::to_string(err);
}

std::string EventPath(const Event& ev) {
  if (!(ev.flags & NBW_F_PATH_RAW)) return ev.str[0];
  const std::string& rel = ev.str[0];
  const std::string& base = ev.str[1];
  if (rel.empty() || rel[0] == '/' || base.empty()) return rel;
  return base == "/" ? "/" + rel : base + "/" + rel;
}

std::vector<std::string> NamespaceNames(uint64_t flags) {
  return FlagList(flags, {{CLONE_NEWNS, "mnt"},
                          {CLONE_NEWUTS, "uts"},
                          {CLONE_NEWIPC, "ipc"},
                          {CLONE_NEWUSER, "user"},
                          {CLONE_NEWPID, "pid"},
                          {CLONE_NEWNET, "net"},
                          {CLONE_NEWCGROUP, "cgroup"},
                          {0x80 /* CLONE_NEWTIME */, "time"}});
}

std::vector<std::string> CloneNamespaces(uint64_t clone_flags) {
  return NamespaceNames(clone_flags & kCloneNsBits);
}

// The blobs per syscall are listed in bpf/priv.bpf.h (nbw_priv_blobs).
std::vector<NamedArg> SyscallArgs(const Event& ev) {
  if (ev.kind != EventKind::kSyscall) return {};
  const auto& a = ev.args;
  auto s = [&](int i) -> const std::string& { return ev.str[i]; };
  ArgList o;
  switch (ev.syscall) {
    case SYS_ptrace: o.S("request", PtraceRequest(a[0])).I("target_pid", a[1]); break;
    case SYS_mount: o.S("source", s(0)).S("target", s(1)).S("fstype", s(2)).U("flags", a[3]); break;
    case SYS_umount2: o.S("target", s(0)).U("flags", a[1]); break;
    case SYS_fsopen: o.S("fstype", s(0)); break;
    case SYS_fsconfig: o.I("fd", a[0]).U("cmd", a[1]).S("key", s(0)); break;
    case SYS_fsmount: o.I("fd", a[0]).U("flags", a[1]); break;
    case SYS_move_mount: o.S("from_path", s(0)).S("to_path", s(1)).U("flags", a[4]); break;
    case SYS_open_tree: o.S("path", s(0)).U("flags", a[2]); break;
    case SYS_mount_setattr: o.S("path", s(0)).U("flags", a[2]); break;
    case SYS_unshare: o.U("flags", a[0]).L("namespaces", NamespaceNames(a[0])); break;
    case SYS_setns:
      o.I("fd", a[0]).U("nstype", a[1]).L("namespaces", NamespaceNames(a[1]));
      o.U("ns_inode", a[5]);  // nsfs files are named by inode (/proc/PID/ns/*)
      if (s(0) != "/") o.S("ns_path", s(0));
      break;
    case SYS_init_module: o.U("length", a[1]).S("params", s(1)); break;
    case SYS_finit_module: o.S("path", s(0)).U("flags", a[2]); break;
    case SYS_delete_module: o.S("module", s(0)).U("flags", a[1]); break;
    case SYS_kexec_load: o.U("flags", a[3]); break;
    case SYS_kexec_file_load: o.S("path", s(0)).U("flags", a[4]); break;
    case SYS_bpf: o.S("cmd", BpfCmd(a[0])); break;
    case SYS_perf_event_open:
      o.U("type", BlobField<uint32_t>(s(0), 0)).U("config", BlobField<uint64_t>(s(0), 8));
      o.I("target_pid", a[1]).I("cpu", a[2]);
      break;
    case SYS_memfd_create: o.S("name", s(0)).U("flags", a[1]); break;
    case SYS_setuid: o.I("uid", a[0]); break;
    case SYS_setgid: o.I("gid", a[0]); break;
    case SYS_setfsuid: o.I("fsuid", a[0]); break;
    case SYS_setfsgid: o.I("fsgid", a[0]); break;
    case SYS_setreuid: o.I("ruid", a[0]).I("euid", a[1]); break;
    case SYS_setregid: o.I("rgid", a[0]).I("egid", a[1]); break;
    case SYS_setresuid: o.I("ruid", a[0]).I("euid", a[1]).I("suid", a[2]); break;
    case SYS_setresgid: o.I("rgid", a[0]).I("egid", a[1]).I("sgid", a[2]); break;
    case SYS_capset:
      // struct __user_cap_data_struct[0]: effective, permitted, inheritable
      o.U("effective", BlobField<uint32_t>(s(0), 0));
      o.U("permitted", BlobField<uint32_t>(s(0), 4));
      o.U("inheritable", BlobField<uint32_t>(s(0), 8));
      break;
    case SYS_chroot: o.S("path", s(0)); break;
    case SYS_pivot_root: o.S("new_root", s(0)).S("put_old", s(1)); break;
    case SYS_io_uring_setup: o.U("entries", a[0]).U("flags", BlobField<uint32_t>(s(0), 8)); break;
    case SYS_keyctl: o.U("operation", a[0]); break;
    case SYS_add_key:
    case SYS_request_key: o.S("key_type", s(0)).S("description", s(1)); break;
    case SYS_userfaultfd: o.U("flags", a[0]); break;
    case SYS_process_vm_writev: o.I("target_pid", a[0]); break;
    case SYS_open_by_handle_at: o.S("mount_path", s(0)).U("flags", a[2]); break;
    default: break;
  }
  return o.Take();
}

}  // namespace nbw

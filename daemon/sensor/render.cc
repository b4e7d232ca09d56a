// SPDX-License-Identifier: Apache-2.0
#include "sensor/render.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/json_writer.h"
#include "sensor/sockaddr.h"

namespace nbw {
namespace {

struct Flag {
  uint64_t bit;
  const char* name;
};

void FlagList(JsonWriter& w, uint64_t v, std::initializer_list<Flag> table) {
  w.BeginArray();
  for (const auto& f : table) {
    if (f.bit && (v & f.bit) == f.bit) {
      w.String(f.name);
      v &= ~f.bit;
    }
  }
  if (v) w.String(fmt::format("{:#x}", v));
  w.EndArray();
}

void NamespaceFlags(JsonWriter& w, uint64_t v) {
  FlagList(w, v,
           {{CLONE_NEWNS, "mnt"},
            {CLONE_NEWUTS, "uts"},
            {CLONE_NEWIPC, "ipc"},
            {CLONE_NEWUSER, "user"},
            {CLONE_NEWPID, "pid"},
            {CLONE_NEWNET, "net"},
            {CLONE_NEWCGROUP, "cgroup"},
            {0x80 /* CLONE_NEWTIME */, "time"}});
}

// Only the namespace bits of clone flags matter to a detector.
constexpr uint64_t kCloneNsBits = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                  CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;

void OpenFlags(JsonWriter& w, uint64_t f) {
  w.BeginArray();
  switch (f & O_ACCMODE) {
    case O_RDONLY: w.String("O_RDONLY"); break;
    case O_WRONLY: w.String("O_WRONLY"); break;
    default: w.String("O_RDWR"); break;
  }
  for (const auto& [bit, name] :
       std::initializer_list<std::pair<uint64_t, const char*>>{{O_CREAT, "O_CREAT"},
                                                               {O_EXCL, "O_EXCL"},
                                                               {O_TRUNC, "O_TRUNC"},
                                                               {O_APPEND, "O_APPEND"},
                                                               {O_DIRECTORY, "O_DIRECTORY"},
                                                               {O_NOFOLLOW, "O_NOFOLLOW"},
                                                               {O_CLOEXEC, "O_CLOEXEC"},
                                                               {O_PATH, "O_PATH"},
                                                               {__O_TMPFILE, "O_TMPFILE"}}) {
    if (f & bit) w.String(name);
  }
  w.EndArray();
}

const char* SockTypeName(uint64_t t) {
  switch (t & 0xf) {
    case SOCK_STREAM: return "stream";
    case SOCK_DGRAM: return "dgram";
    case SOCK_RAW: return "raw";
    case SOCK_SEQPACKET: return "seqpacket";
    case SOCK_PACKET: return "packet";
    default: return "other";
  }
}

std::string SignalName(int sig) {
  if (sig == 0) return "0";
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : std::to_string(sig);
}

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

// Field names for the generic privilege/escape syscall events; the blobs per
// syscall are listed in bpf/priv.bpf.h (nbw_priv_blobs).
void DescribeSyscall(const Event& ev, JsonWriter& o) {
  const auto& a = ev.args;
  auto s = [&](int i) -> const std::string& { return ev.str[i]; };
  auto sint = [](uint64_t v) { return static_cast<int32_t>(v); };
  switch (ev.syscall) {
    case SYS_ptrace: o.Field("request", PtraceRequest(a[0])).Field("target_pid", sint(a[1])); break;
    case SYS_mount:
      o.Field("source", s(0)).Field("target", s(1)).Field("fstype", s(2)).Field("flags", a[3]);
      break;
    case SYS_umount2: o.Field("target", s(0)).Field("flags", a[1]); break;
    case SYS_fsopen: o.Field("fstype", s(0)); break;
    case SYS_fsconfig: o.Field("fd", sint(a[0])).Field("cmd", a[1]).Field("key", s(0)); break;
    case SYS_fsmount: o.Field("fd", sint(a[0])).Field("flags", a[1]); break;
    case SYS_move_mount:
      o.Field("from_path", s(0)).Field("to_path", s(1)).Field("flags", a[4]);
      break;
    case SYS_open_tree: o.Field("path", s(0)).Field("flags", a[2]); break;
    case SYS_mount_setattr: o.Field("path", s(0)).Field("flags", a[2]); break;
    case SYS_unshare:
      o.Field("flags", a[0]).Key("namespaces");
      NamespaceFlags(o, a[0]);
      break;
    case SYS_setns:
      o.Field("fd", sint(a[0])).Field("nstype", a[1]).Key("namespaces");
      NamespaceFlags(o, a[1]);
      o.Field("ns_inode", a[5]);  // nsfs files are named by inode (/proc/PID/ns/*)
      if (s(0) != "/") o.Field("ns_path", s(0));
      break;
    case SYS_init_module: o.Field("length", a[1]).Field("params", s(1)); break;
    case SYS_finit_module: o.Field("path", s(0)).Field("flags", a[2]); break;
    case SYS_delete_module: o.Field("module", s(0)).Field("flags", a[1]); break;
    case SYS_kexec_load: o.Field("flags", a[3]); break;
    case SYS_kexec_file_load: o.Field("path", s(0)).Field("flags", a[4]); break;
    case SYS_bpf: o.Field("cmd", BpfCmd(a[0])); break;
    case SYS_perf_event_open:
      o.Field("type", BlobField<uint32_t>(s(0), 0)).Field("config", BlobField<uint64_t>(s(0), 8));
      o.Field("target_pid", sint(a[1])).Field("cpu", sint(a[2]));
      break;
    case SYS_memfd_create: o.Field("name", s(0)).Field("flags", a[1]); break;
    case SYS_setuid: o.Field("uid", sint(a[0])); break;
    case SYS_setgid: o.Field("gid", sint(a[0])); break;
    case SYS_setfsuid: o.Field("fsuid", sint(a[0])); break;
    case SYS_setfsgid: o.Field("fsgid", sint(a[0])); break;
    case SYS_setreuid: o.Field("ruid", sint(a[0])).Field("euid", sint(a[1])); break;
    case SYS_setregid: o.Field("rgid", sint(a[0])).Field("egid", sint(a[1])); break;
    case SYS_setresuid:
      o.Field("ruid", sint(a[0])).Field("euid", sint(a[1])).Field("suid", sint(a[2]));
      break;
    case SYS_setresgid:
      o.Field("rgid", sint(a[0])).Field("egid", sint(a[1])).Field("sgid", sint(a[2]));
      break;
    case SYS_capset:
      // struct __user_cap_data_struct[0]: effective, permitted, inheritable
      o.Field("effective", BlobField<uint32_t>(s(0), 0));
      o.Field("permitted", BlobField<uint32_t>(s(0), 4));
      o.Field("inheritable", BlobField<uint32_t>(s(0), 8));
      break;
    case SYS_chroot: o.Field("path", s(0)); break;
    case SYS_pivot_root: o.Field("new_root", s(0)).Field("put_old", s(1)); break;
    case SYS_io_uring_setup:
      o.Field("entries", a[0]).Field("flags", BlobField<uint32_t>(s(0), 8));
      break;
    case SYS_keyctl: o.Field("operation", a[0]); break;
    case SYS_add_key:
    case SYS_request_key: o.Field("key_type", s(0)).Field("description", s(1)); break;
    case SYS_userfaultfd: o.Field("flags", a[0]); break;
    case SYS_process_vm_writev: o.Field("target_pid", sint(a[0])); break;
    case SYS_open_by_handle_at: o.Field("mount_path", s(0)).Field("flags", a[2]); break;
    default: break;
  }
}

}  // namespace

std::string EventPath(const Event& ev) {
  if (!(ev.flags & NBW_F_PATH_RAW)) return ev.str[0];
  const std::string& rel = ev.str[0];
  const std::string& base = ev.str[1];
  if (rel.empty() || rel[0] == '/' || base.empty()) return rel;
  return base == "/" ? "/" + rel : base + "/" + rel;
}

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

std::string FormatTime(uint64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000ULL);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:09d}Z", buf, ns % 1000000000ULL);
}

std::string ErrnoName(int err) {
  const char* n = strerrorname_np(err);
  return n ? n : std::to_string(err);
}

void WriteTarget(JsonWriter& t, const ProcessInfo& p) {
  t.BeginObject();
  t.Field("role", p.role).Field("selector", p.selector).Field("root_pid", p.target_root);
  if (!p.jupyter.kernel_id.empty()) t.Field("kernel_id", p.jupyter.kernel_id);
  if (!p.jupyter.user.empty()) t.Field("user", p.jupyter.user);
  if (!p.jupyter.notebook_path.empty()) t.Field("notebook_path", p.jupyter.notebook_path);
  // What the process's own environment or argv says instead: never its
  // identity (that is its target root's), shown so a spoof is visible.
  if (const JupyterIdentity claimed = ClaimedIdentity(p); !claimed.empty()) {
    t.Key("claimed").BeginObject();
    if (!claimed.user.empty()) t.Field("user", claimed.user);
    if (!claimed.kernel_id.empty()) t.Field("kernel_id", claimed.kernel_id);
    if (!claimed.notebook_path.empty()) t.Field("notebook_path", claimed.notebook_path);
    t.EndObject();
  }
  if (!p.container_id.empty()) t.Field("container_id", p.container_id);
  if (!p.k8s.pod.empty()) t.Field("k8s_pod", p.k8s.pod);
  if (!p.k8s.ns.empty()) t.Field("k8s_namespace", p.k8s.ns);
  if (!p.k8s.pod_uid.empty()) t.Field("k8s_pod_uid", p.k8s.pod_uid);
  if (!p.k8s.node.empty()) t.Field("k8s_node", p.k8s.node);
  t.EndObject();
}

void RenderEvent(const Event& ev, const ProcessInfo* proc, std::string_view host,
                 std::string& out) {
  JsonWriter j(out);
  j.BeginObject();
  j.Field("kind", "event").Field("schema", "nbwarden.event/v1");
  j.Field("type", EventKindName(ev.kind));
  j.Field("time", FormatTime(ev.realtime_ns)).Field("time_ns", ev.realtime_ns);
  j.Field("host", host);
  j.Key("proc").BeginObject();
  j.Field("pid", ev.tgid).Field("tid", ev.pid).Field("ppid", ev.ppid);
  j.Field("uid", ev.uid).Field("euid", ev.euid).Field("comm", ev.comm);
  if (proc && !proc->exe.empty()) j.Field("exe", proc->exe);
  j.Key("ns").BeginObject();
  j.Field("mnt", ev.mnt_ns).Field("pid", ev.pid_ns).Field("net", ev.net_ns);
  j.EndObject().EndObject();
  if (proc && proc->state == TrackState::kTarget) WriteTarget(j.Key("target"), *proc);
  if (ev.syscall >= 0) {
    std::string_view name = EventSyscallName(ev);
    if (name.empty()) {
      j.Field("syscall", std::to_string(ev.syscall));
    } else {
      j.Field("syscall", name);
    }
    // A seccomp TRAP or KILL returns nothing: the syscall was skipped.
    if (!(ev.flags & (NBW_F_SECCOMP_TRAP | NBW_F_SECCOMP_KILL)) || ev.kind != EventKind::kSeccomp) {
      j.Field("ret", ev.ret);
      if (ev.ret < 0 && ev.ret > -4096) j.Field("errno", ErrnoName(static_cast<int>(-ev.ret)));
    }
  }
  if (ev.truncated()) j.Field("truncated", true);
  if (ev.flags & NBW_F_MODEL_WINDOW) j.Field("model_window", true);

  const auto& a = ev.args;
  switch (ev.kind) {
    case EventKind::kExec: {
      j.Key("exec").BeginObject();
      if (ev.flags & NBW_F_PATH_RAW) {
        j.Field("path", EventPath(ev)).Field("path_as_given", ev.str[0]);
      } else {
        j.Field("exe", ev.str[0]);
        j.Key("argv").BeginArray();
        for (const auto& s : SplitNul(ev.str[1])) j.String(s);
        j.EndArray();
        j.Field("argc", a[0]).Field("argv_truncated", a[1] > ev.str[1].size());
        j.Field("cwd", ev.str[2]);
        if (ev.present[3]) j.Field("cgroup", ev.str[3]);
      }
      j.Field("fileless", (ev.flags & NBW_F_FILELESS) != 0);
      if (ev.env_truncated()) j.Field("env_truncated", true);
      if (ev.flags & NBW_F_KILLED) j.Field("killed", true);
      if (ev.syscall == SYS_execveat) j.Field("execveat_flags", a[2]);
      j.EndObject();
      break;
    }
    case EventKind::kFork:
      j.Key("fork").BeginObject().Field("child_pid", a[0]).Field("clone_flags", a[1]);
      NamespaceFlags(j.Key("namespaces"), a[1] & kCloneNsBits);
      j.EndObject();
      break;
    case EventKind::kExit: {
      const int code = static_cast<int>(a[0]);
      j.Key("exit").BeginObject();
      if (code & 0x7f) {
        j.Field("signal", SignalName(code & 0x7f)).Field("core_dumped", (code & 0x80) != 0);
      } else {
        j.Field("code", (code >> 8) & 0xff);
      }
      j.EndObject();
      break;
    }
    case EventKind::kOpen: {
      const bool raw = ev.flags & NBW_F_PATH_RAW;
      j.Key("open").BeginObject();
      j.Field("path", EventPath(ev));
      j.Field("resolved", !raw);  // true: the kernel's path of the opened file
      if (raw) j.Field("path_as_given", ev.str[0]);
      OpenFlags(j.Key("flags"), a[0]);
      j.Field("flags_raw", a[0]);
      const uint64_t acc = a[0] & O_ACCMODE;
      j.Field("read", acc == O_RDONLY || acc == O_RDWR);
      j.Field("write", acc == O_WRONLY || acc == O_RDWR);
      j.Field("create", (a[0] & O_CREAT) != 0).Field("truncate", (a[0] & O_TRUNC) != 0);
      if (a[0] & O_CREAT) j.Field("mode", a[1]);
      j.EndObject();
      break;
    }
    case EventKind::kNet: {
      j.Key("net").BeginObject();
      std::string_view op = SyscallName(ev.syscall);
      j.Field("op", op == "accept4" ? std::string_view("accept") : op);
      j.Field("fd", static_cast<int32_t>(a[0]));
      j.Field("family", FamilyName(static_cast<int>(a[1])));
      j.Field("socket_type", SockTypeName(a[2]));
      if (ev.present[0]) {
        if (auto sa = ParseSockAddr(ev.str[0])) {
          j.Field("addr_family", FamilyName(sa->family));
          if (sa->family == AF_UNIX) {
            j.Field("path", sa->address);
          } else {
            j.Field("address", sa->address).Field("port", uint32_t{sa->port});
          }
        }
      }
      if (ev.syscall == SYS_listen) j.Field("backlog", static_cast<int32_t>(a[3]));
      j.EndObject();
      break;
    }
    case EventKind::kSocket:
      j.Key("socket").BeginObject();
      j.Field("family", FamilyName(static_cast<int>(a[0]))).Field("type", SockTypeName(a[1]));
      j.Field("protocol", a[2]).EndObject();
      break;
    case EventKind::kDup:
      j.Key("dup").BeginObject();
      j.Field("oldfd", static_cast<int32_t>(a[0])).Field("newfd", static_cast<int32_t>(a[1]));
      j.Field("socket_family", FamilyName(static_cast<int>(a[2]))).EndObject();
      break;
    case EventKind::kSyscall:
      j.Key("args").BeginObject();
      DescribeSyscall(ev, j);
      j.EndObject();
      break;
    case EventKind::kSeccomp:
      // The filter refused it: it never ran. Raw arguments (pointers are
      // the caller's addresses; the kernel never read them).
      j.Key("seccomp").BeginObject();
      if (proc && !proc->seccomp_profile.empty()) j.Field("profile", proc->seccomp_profile);
      j.Field("action", SeccompActionName(ev)).Field("arch", SyscallArch(ev));
      j.Key("args").BeginArray();
      for (uint64_t v : a) j.UInt(v);
      j.EndArray().EndObject();
      break;
    case EventKind::kModel:
      j.Key("model").BeginObject();
      j.Field("path", ev.str[0]).Field("fd", static_cast<int32_t>(a[0]));
      j.Field("trigger", a[1] == NBW_MODEL_BY_MAGIC ? "content" : "extension");
      j.Field("inode", a[2]).Field("device", a[3]).Field("size", a[4]).Field("window_id", a[5]);
      j.EndObject();
      break;
    case EventKind::kSignal:
      j.Key("signal").BeginObject();
      j.Field("target_pid", static_cast<int32_t>(a[0]));
      j.Field("signal", SignalName(static_cast<int>(a[1]))).Field("signo", a[1]);
      j.EndObject();
      break;
  }
  j.EndObject();
}

nlohmann::json EventToJson(const Event& ev, const ProcessInfo* proc, std::string_view host) {
  std::string line;
  RenderEvent(ev, proc, host, line);
  return nlohmann::json::parse(line);
}

}  // namespace nbw

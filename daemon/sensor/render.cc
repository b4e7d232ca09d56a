// SPDX-License-Identifier: Apache-2.0
#include "sensor/render.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cstring>
#include <ctime>
#include <initializer_list>
#include <utility>

#include <fmt/format.h>

#include "sensor/sockaddr.h"

namespace nbw {
namespace {

using nlohmann::json;

struct Flag {
  uint64_t bit;
  const char* name;
};

json FlagList(uint64_t v, std::initializer_list<Flag> table) {
  json out = json::array();
  for (const auto& f : table) {
    if (f.bit && (v & f.bit) == f.bit) {
      out.push_back(f.name);
      v &= ~f.bit;
    }
  }
  if (v) out.push_back(fmt::format("{:#x}", v));
  return out;
}

json NamespaceFlags(uint64_t v) {
  return FlagList(v, {{CLONE_NEWNS, "mnt"},
                      {CLONE_NEWUTS, "uts"},
                      {CLONE_NEWIPC, "ipc"},
                      {CLONE_NEWUSER, "user"},
                      {CLONE_NEWPID, "pid"},
                      {CLONE_NEWNET, "net"},
                      {CLONE_NEWCGROUP, "cgroup"},
                      {0x80 /* CLONE_NEWTIME */, "time"}});
}

json CloneNsFlags(uint64_t v) {
  // Only the namespace bits matter to a detector; the rest are plumbing.
  constexpr uint64_t kNs = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                           CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
  return NamespaceFlags(v & kNs);
}

json OpenFlags(uint64_t f) {
  json out = json::array();
  switch (f & O_ACCMODE) {
    case O_RDONLY: out.push_back("O_RDONLY"); break;
    case O_WRONLY: out.push_back("O_WRONLY"); break;
    default: out.push_back("O_RDWR"); break;
  }
  for (const auto& [bit, name] : std::initializer_list<std::pair<uint64_t, const char*>>{
           {O_CREAT, "O_CREAT"}, {O_EXCL, "O_EXCL"}, {O_TRUNC, "O_TRUNC"},
           {O_APPEND, "O_APPEND"}, {O_DIRECTORY, "O_DIRECTORY"}, {O_NOFOLLOW, "O_NOFOLLOW"},
           {O_CLOEXEC, "O_CLOEXEC"}, {O_PATH, "O_PATH"}, {__O_TMPFILE, "O_TMPFILE"}}) {
    if (f & bit) out.push_back(name);
  }
  return out;
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
  static const char* kNames[] = {"BPF_MAP_CREATE",      "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM",
                                 "BPF_MAP_DELETE_ELEM", "BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD",
                                 "BPF_OBJ_PIN",         "BPF_OBJ_GET",         "BPF_PROG_ATTACH",
                                 "BPF_PROG_DETACH"};
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
void DescribeSyscall(const Event& ev, json& o) {
  const auto& a = ev.args;
  auto s = [&](int i) { return ev.str[i]; };
  auto sint = [](uint64_t v) { return static_cast<int32_t>(v); };
  switch (ev.syscall) {
    case SYS_ptrace:
      o["request"] = PtraceRequest(a[0]);
      o["target_pid"] = sint(a[1]);
      break;
    case SYS_mount:
      o["source"] = s(0), o["target"] = s(1), o["fstype"] = s(2), o["flags"] = a[3];
      break;
    case SYS_umount2: o["target"] = s(0), o["flags"] = a[1]; break;
    case SYS_fsopen: o["fstype"] = s(0); break;
    case SYS_fsconfig: o["fd"] = sint(a[0]), o["cmd"] = a[1], o["key"] = s(0); break;
    case SYS_fsmount: o["fd"] = sint(a[0]), o["flags"] = a[1]; break;
    case SYS_move_mount:
      o["from_path"] = s(0), o["to_path"] = s(1), o["flags"] = a[4];
      break;
    case SYS_open_tree: o["path"] = s(0), o["flags"] = a[2]; break;
    case SYS_mount_setattr: o["path"] = s(0), o["flags"] = a[2]; break;
    case SYS_unshare:
      o["flags"] = a[0], o["namespaces"] = NamespaceFlags(a[0]);
      break;
    case SYS_setns:
      o["fd"] = sint(a[0]), o["nstype"] = a[1], o["namespaces"] = NamespaceFlags(a[1]);
      o["ns_inode"] = a[5];  // nsfs files are named by inode (as in /proc/PID/ns/*)
      if (s(0) != "/") o["ns_path"] = s(0);
      break;
    case SYS_init_module: o["length"] = a[1], o["params"] = s(1); break;
    case SYS_finit_module: o["path"] = s(0), o["flags"] = a[2]; break;
    case SYS_delete_module: o["module"] = s(0), o["flags"] = a[1]; break;
    case SYS_kexec_load: o["flags"] = a[3]; break;
    case SYS_kexec_file_load: o["path"] = s(0), o["flags"] = a[4]; break;
    case SYS_bpf: o["cmd"] = BpfCmd(a[0]); break;
    case SYS_perf_event_open:
      o["type"] = BlobField<uint32_t>(s(0), 0), o["config"] = BlobField<uint64_t>(s(0), 8);
      o["target_pid"] = sint(a[1]), o["cpu"] = sint(a[2]);
      break;
    case SYS_memfd_create: o["name"] = s(0), o["flags"] = a[1]; break;
    case SYS_setuid: o["uid"] = sint(a[0]); break;
    case SYS_setgid: o["gid"] = sint(a[0]); break;
    case SYS_setfsuid: o["fsuid"] = sint(a[0]); break;
    case SYS_setfsgid: o["fsgid"] = sint(a[0]); break;
    case SYS_setreuid: o["ruid"] = sint(a[0]), o["euid"] = sint(a[1]); break;
    case SYS_setregid: o["rgid"] = sint(a[0]), o["egid"] = sint(a[1]); break;
    case SYS_setresuid:
      o["ruid"] = sint(a[0]), o["euid"] = sint(a[1]), o["suid"] = sint(a[2]);
      break;
    case SYS_setresgid:
      o["rgid"] = sint(a[0]), o["egid"] = sint(a[1]), o["sgid"] = sint(a[2]);
      break;
    case SYS_capset:
      // struct __user_cap_data_struct[0]: effective, permitted, inheritable
      o["effective"] = BlobField<uint32_t>(s(0), 0);
      o["permitted"] = BlobField<uint32_t>(s(0), 4);
      o["inheritable"] = BlobField<uint32_t>(s(0), 8);
      break;
    case SYS_chroot: o["path"] = s(0); break;
    case SYS_pivot_root: o["new_root"] = s(0), o["put_old"] = s(1); break;
    case SYS_io_uring_setup:
      o["entries"] = a[0], o["flags"] = BlobField<uint32_t>(s(0), 8);
      break;
    case SYS_keyctl: o["operation"] = a[0]; break;
    case SYS_add_key:
    case SYS_request_key:
      o["key_type"] = s(0), o["description"] = s(1);
      break;
    case SYS_userfaultfd: o["flags"] = a[0]; break;
    case SYS_process_vm_writev: o["target_pid"] = sint(a[0]); break;
    case SYS_open_by_handle_at: o["mount_path"] = s(0), o["flags"] = a[2]; break;
    default: break;
  }
}

std::string JoinPath(const std::string& base, const std::string& rel) {
  if (rel.empty() || rel[0] == '/' || base.empty()) return rel;
  return base == "/" ? "/" + rel : base + "/" + rel;
}

}  // namespace

std::string_view SyscallName(int nr) {
  switch (nr) {
#define NBW_SC(name) \
  case SYS_##name:   \
    return #name;
    NBW_SC(open) NBW_SC(openat) NBW_SC(openat2) NBW_SC(creat) NBW_SC(connect) NBW_SC(bind)
    NBW_SC(listen) NBW_SC(accept) NBW_SC(accept4) NBW_SC(socket) NBW_SC(dup2) NBW_SC(dup3)
    NBW_SC(kill) NBW_SC(tkill) NBW_SC(tgkill) NBW_SC(rt_sigqueueinfo) NBW_SC(rt_tgsigqueueinfo)
    NBW_SC(pidfd_send_signal) NBW_SC(clone) NBW_SC(clone3) NBW_SC(fork) NBW_SC(vfork)
    NBW_SC(execve) NBW_SC(execveat) NBW_SC(ptrace) NBW_SC(mount) NBW_SC(umount2) NBW_SC(fsopen)
    NBW_SC(fsconfig) NBW_SC(fsmount) NBW_SC(move_mount) NBW_SC(open_tree) NBW_SC(mount_setattr)
    NBW_SC(unshare) NBW_SC(setns) NBW_SC(init_module) NBW_SC(finit_module) NBW_SC(delete_module)
    NBW_SC(kexec_load) NBW_SC(kexec_file_load) NBW_SC(bpf) NBW_SC(perf_event_open)
    NBW_SC(memfd_create) NBW_SC(setuid) NBW_SC(setgid) NBW_SC(setreuid) NBW_SC(setregid)
    NBW_SC(setresuid) NBW_SC(setresgid) NBW_SC(setfsuid) NBW_SC(setfsgid) NBW_SC(capset)
    NBW_SC(chroot) NBW_SC(pivot_root) NBW_SC(io_uring_setup) NBW_SC(keyctl) NBW_SC(add_key)
    NBW_SC(request_key) NBW_SC(userfaultfd) NBW_SC(process_vm_writev) NBW_SC(open_by_handle_at)
#undef NBW_SC
    default:
      return "";
  }
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

json TargetJson(const ProcessInfo& p) {
  json t;
  t["role"] = p.role;
  t["selector"] = p.selector;
  t["root_pid"] = p.target_root;
  if (!p.jupyter.kernel_id.empty()) t["kernel_id"] = p.jupyter.kernel_id;
  if (!p.jupyter.user.empty()) t["user"] = p.jupyter.user;
  if (!p.jupyter.notebook_path.empty()) t["notebook_path"] = p.jupyter.notebook_path;
  if (!p.container_id.empty()) t["container_id"] = p.container_id;
  return t;
}

json EventToJson(const Event& ev, const ProcessInfo* proc, std::string_view host) {
  json j;
  j["kind"] = "event";
  j["schema"] = "nbwarden.event/v1";
  j["type"] = EventKindName(ev.kind);
  j["time"] = FormatTime(ev.realtime_ns);
  j["time_ns"] = ev.realtime_ns;
  j["host"] = host;
  json& p = j["proc"];
  p["pid"] = ev.tgid;
  p["tid"] = ev.pid;
  p["ppid"] = ev.ppid;
  p["uid"] = ev.uid;
  p["euid"] = ev.euid;
  p["comm"] = ev.comm;
  if (proc && !proc->exe.empty()) p["exe"] = proc->exe;
  p["ns"] = {{"mnt", ev.mnt_ns}, {"pid", ev.pid_ns}, {"net", ev.net_ns}};
  if (proc && proc->state == TrackState::kTarget) j["target"] = TargetJson(*proc);
  if (ev.syscall >= 0) {
    std::string_view name = SyscallName(ev.syscall);
    j["syscall"] = name.empty() ? std::to_string(ev.syscall) : std::string(name);
    j["ret"] = ev.ret;
    if (ev.ret < 0 && ev.ret > -4096) j["errno"] = ErrnoName(static_cast<int>(-ev.ret));
  }
  if (ev.truncated()) j["truncated"] = true;

  const auto& a = ev.args;
  switch (ev.kind) {
    case EventKind::kExec: {
      json& e = j["exec"];
      if (ev.flags & NBW_F_PATH_RAW) {
        e["path"] = JoinPath(ev.str[1], ev.str[0]);
        e["path_as_given"] = ev.str[0];
      } else {
        e["exe"] = ev.str[0];
        json argv = json::array();
        for (auto& s : SplitNul(ev.str[1])) argv.push_back(std::move(s));
        e["argv"] = std::move(argv);
        e["argc"] = a[0];
        e["argv_truncated"] = a[1] > ev.str[1].size();
        e["cwd"] = ev.str[2];
      }
      e["fileless"] = (ev.flags & NBW_F_FILELESS) != 0;
      if (ev.syscall == SYS_execveat) e["execveat_flags"] = a[2];
      break;
    }
    case EventKind::kFork:
      j["fork"] = {{"child_pid", a[0]}, {"clone_flags", a[1]},
                   {"namespaces", CloneNsFlags(a[1])}};
      break;
    case EventKind::kExit: {
      const int code = static_cast<int>(a[0]);
      json& e = j["exit"];
      if (code & 0x7f) {
        e["signal"] = SignalName(code & 0x7f);
        e["core_dumped"] = (code & 0x80) != 0;
      } else {
        e["code"] = (code >> 8) & 0xff;
      }
      break;
    }
    case EventKind::kOpen: {
      json& o = j["open"];
      const bool raw = ev.flags & NBW_F_PATH_RAW;
      o["path"] = raw ? JoinPath(ev.str[1], ev.str[0]) : ev.str[0];
      o["resolved"] = !raw;  // true: the kernel's path of the opened file
      if (raw) o["path_as_given"] = ev.str[0];
      o["flags"] = OpenFlags(a[0]);
      o["flags_raw"] = a[0];
      const uint64_t acc = a[0] & O_ACCMODE;
      o["read"] = acc == O_RDONLY || acc == O_RDWR;
      o["write"] = acc == O_WRONLY || acc == O_RDWR;
      o["create"] = (a[0] & O_CREAT) != 0;
      o["truncate"] = (a[0] & O_TRUNC) != 0;
      if (a[0] & O_CREAT) o["mode"] = a[1];
      break;
    }
    case EventKind::kNet: {
      json& n = j["net"];
      std::string_view op = SyscallName(ev.syscall);
      n["op"] = op == "accept4" ? "accept" : op;
      n["fd"] = static_cast<int32_t>(a[0]);
      n["family"] = FamilyName(static_cast<int>(a[1]));
      n["socket_type"] = SockTypeName(a[2]);
      if (ev.present[0]) {
        if (auto sa = ParseSockAddr(ev.str[0])) {
          n["addr_family"] = FamilyName(sa->family);
          if (sa->family == AF_UNIX) {
            n["path"] = sa->address;
          } else {
            n["address"] = sa->address;
            n["port"] = sa->port;
          }
        }
      }
      if (ev.syscall == SYS_listen) n["backlog"] = static_cast<int32_t>(a[3]);
      break;
    }
    case EventKind::kSocket:
      j["socket"] = {{"family", FamilyName(static_cast<int>(a[0]))},
                     {"type", SockTypeName(a[1])},
                     {"protocol", a[2]}};
      break;
    case EventKind::kDup:
      j["dup"] = {{"oldfd", static_cast<int32_t>(a[0])},
                  {"newfd", static_cast<int32_t>(a[1])},
                  {"socket_family", FamilyName(static_cast<int>(a[2]))}};
      break;
    case EventKind::kSyscall:
      DescribeSyscall(ev, j["args"]);
      break;
    case EventKind::kSignal:
      j["signal"] = {{"target_pid", static_cast<int32_t>(a[0])},
                     {"signal", SignalName(static_cast<int>(a[1]))},
                     {"signo", a[1]}};
      break;
  }
  return j;
}

std::string DumpLine(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace nbw

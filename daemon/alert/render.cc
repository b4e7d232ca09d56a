// SPDX-License-Identifier: Apache-2.0
#include "alert/render.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cstring>
#include <ctime>
#include <initializer_list>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/json_writer.h"
#include "sensor/describe.h"
#include "sensor/sockaddr.h"

namespace nbw {
namespace {

void StringList(JsonWriter& w, const std::vector<std::string>& v) {
  w.BeginArray();
  for (const auto& e : v) w.String(e);
  w.EndArray();
}

// One syscall argument as the typed view (sensor/describe.h) holds it.
void WriteArg(JsonWriter& w, const NamedArg& a) {
  w.Key(a.name);
  struct {
    JsonWriter& w;
    void operator()(const std::string& v) const { w.String(v); }
    void operator()(int64_t v) const { w.Int(v); }
    void operator()(uint64_t v) const { w.UInt(v); }
    void operator()(const std::vector<std::string>& v) const { StringList(w, v); }
  } visit{w};
  std::visit(visit, a.value);
}

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

}  // namespace

std::string FormatTime(uint64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000ULL);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:09d}Z", buf, ns % 1000000000ULL);
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
      StringList(j.Key("namespaces"), CloneNamespaces(a[1]));
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
      for (const auto& arg : SyscallArgs(ev)) WriteArg(j, arg);
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

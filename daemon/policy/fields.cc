// SPDX-License-Identifier: Apache-2.0
#include "policy/fields.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <array>
#include <utility>

#include "sensor/exec_env.h"
#include "sensor/render.h"
#include "sensor/sockaddr.h"

namespace nbw {
namespace {

std::string Basename(std::string_view p) {
  size_t s = p.rfind('/');
  return std::string(s == std::string_view::npos ? p : p.substr(s + 1));
}

std::string Dirname(std::string_view p) {
  size_t s = p.rfind('/');
  if (s == std::string_view::npos) return ".";
  return s == 0 ? "/" : std::string(p.substr(0, s));
}

bool Is(const EvalContext& c, EventKind k) {
  return c.ev.kind == k;
}

// Failed opens are common (imports probe many paths): join the path
// directly, never through a JSON rendering.
std::string OpenPath(const EvalContext& c) {
  return EventPath(c.ev);
}

std::optional<SockAddr> NetAddr(const EvalContext& c) {
  if (!Is(c, EventKind::kNet) || !c.ev.present[0]) return std::nullopt;
  return ParseSockAddr(c.ev.str[0]);
}

FieldValue FromJson(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer() || j.is_number_unsigned()) return j.get<int64_t>();
  if (j.is_array()) {
    std::vector<std::string> v;
    for (const auto& e : j) v.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    return v;
  }
  return std::monostate{};
}

const std::vector<FieldSpec> kBaseFields = {
    {"event.type",
     [](const EvalContext& c) -> FieldValue { return std::string(EventKindName(c.ev.kind)); },
     "exec, fork, exit, open, net, ..."},
    {"syscall",
     [](const EvalContext& c) -> FieldValue { return std::string(EventSyscallName(c.ev)); },
     "syscall name"},
    {"ret", [](const EvalContext& c) -> FieldValue { return c.ev.ret; }, "return value"},
    {"failed", [](const EvalContext& c) -> FieldValue { return c.ev.syscall >= 0 && c.ev.ret < 0; },
     "the syscall failed"},
    {"errno",
     [](const EvalContext& c) -> FieldValue {
       if (c.ev.ret >= 0 || c.ev.ret <= -4096) return std::monostate{};
       return ErrnoName(static_cast<int>(-c.ev.ret));
     },
     "ENOENT, EPERM, ..."},
    {"proc.pid", [](const EvalContext& c) -> FieldValue { return int64_t{c.ev.tgid}; }, ""},
    {"proc.ppid", [](const EvalContext& c) -> FieldValue { return int64_t{c.ev.ppid}; }, ""},
    {"proc.uid", [](const EvalContext& c) -> FieldValue { return int64_t{c.ev.uid}; }, ""},
    {"proc.euid", [](const EvalContext& c) -> FieldValue { return int64_t{c.ev.euid}; }, ""},
    {"proc.comm", [](const EvalContext& c) -> FieldValue { return c.ev.comm; }, ""},
    {"proc.exe",
     [](const EvalContext& c) -> FieldValue { return c.proc ? c.proc->exe : std::string(); },
     "executable path"},
    {"proc.name",
     [](const EvalContext& c) -> FieldValue {
       return c.proc && !c.proc->exe.empty() ? Basename(c.proc->exe) : c.ev.comm;
     },
     "basename of proc.exe"},
    {"proc.argv",
     [](const EvalContext& c) -> FieldValue {
       return c.proc ? JoinArgv(c.proc->argv) : std::string();
     },
     "argv joined by spaces"},
    {"proc.cwd",
     [](const EvalContext& c) -> FieldValue { return c.proc ? c.proc->cwd : std::string(); }, ""},
    {"parent.name",
     [](const EvalContext& c) -> FieldValue {
       const auto& a = c.Ancestors();
       return a.empty() ? std::string() : Basename(a[0].exe);
     },
     ""},
    {"parent.exe",
     [](const EvalContext& c) -> FieldValue {
       const auto& a = c.Ancestors();
       return a.empty() ? std::string() : a[0].exe;
     },
     ""},
    {"ancestors.name",
     [](const EvalContext& c) -> FieldValue {
       std::vector<std::string> v;
       for (const auto& a : c.Ancestors()) v.push_back(Basename(a.exe));
       return v;
     },
     "basenames of the ancestors (list)"},
    {"target.role",
     [](const EvalContext& c) -> FieldValue { return c.proc ? c.proc->role : std::string(); }, ""},
    {"target.selector",
     [](const EvalContext& c) -> FieldValue { return c.proc ? c.proc->selector : std::string(); },
     ""},
    {"target.user",
     [](const EvalContext& c) -> FieldValue {
       return c.proc ? c.proc->jupyter.user : std::string();
     },
     ""},
    {"target.claimed_user",
     [](const EvalContext& c) -> FieldValue {
       return c.proc ? ClaimedIdentity(*c.proc).user : std::string();
     },
     "the Jupyter user the process's own environment names, if not its target root's"},
    {"target.claimed_notebook",
     [](const EvalContext& c) -> FieldValue {
       return c.proc ? ClaimedIdentity(*c.proc).notebook_path : std::string();
     },
     "the notebook path its own environment names, if not its target root's"},
    {"target.claimed_kernel_id",
     [](const EvalContext& c) -> FieldValue {
       return c.proc ? ClaimedIdentity(*c.proc).kernel_id : std::string();
     },
     "the kernel id its own argv names, if not its target root's (a kernel started inside "
     "another has its own)"},
    {"target.identity_mismatch",
     [](const EvalContext& c) -> FieldValue {
       if (!c.proc) return false;
       const JupyterIdentity claimed = ClaimedIdentity(*c.proc);
       return !claimed.user.empty() || !claimed.notebook_path.empty();
     },
     "the process's own environment names another Jupyter user or notebook than its target "
     "root's"},
    {"container",
     [](const EvalContext& c) -> FieldValue { return c.proc && !c.proc->container_id.empty(); },
     "runs in a container"},
    {"exec.exe",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kExec)) return std::monostate{};
       return EventPath(c.ev);
     },
     ""},
    {"exec.name",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kExec)) return std::monostate{};
       return Basename(c.ev.str[0]);
     },
     ""},
    {"exec.dir",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kExec)) return std::monostate{};
       return Dirname(c.ev.str[0]);
     },
     ""},
    {"exec.argv",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kExec)) return std::monostate{};
       return JoinArgv(SplitNul(c.ev.str[1]));
     },
     "argv joined by spaces"},
    {"exec.fileless",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kExec)) return std::monostate{};
       return (c.ev.flags & NBW_F_FILELESS) != 0;
     },
     ""},
    {"exec.ld_preload",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kExec)) return std::monostate{};
       return std::string(c.ev.EnvValue("LD_PRELOAD"));
     },
     "LD_PRELOAD in the new program's environment (empty if unset); as exec.env.LD_PRELOAD"},
    {"exec.env_truncated",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kExec)) return std::monostate{};
       return c.ev.env_truncated();
     },
     "the kernel's scan of the environment hit a bound: an exec.env.* value may be missing or "
     "cut"},
    {"exec.env_changed",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kExec) || !c.proc) return std::monostate{};
       return c.proc->env_changed;
     },
     "names of the exec.env.* variables the caller set or changed: their value differs from the "
     "environment the exec'ing process was started with (list; empty when that is unknown)"},
    {"exec.recently_written",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kExec) || !c.writes) return std::monostate{};
       return c.writes->Writer(c.ev.str[0]) != nullptr;
     },
     "the program is a file a target wrote in the last 10 minutes"},
    {"exec.written_by",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kExec) || !c.writes) return std::monostate{};
       const std::string* w = c.writes->Writer(c.ev.str[0]);
       return w ? *w : std::string();
     },
     "argv of the target process that wrote the program"},
    {"seccomp.syscall",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kSeccomp)) return std::monostate{};
       std::string_view n = EventSyscallName(c.ev);
       return n.empty() ? std::to_string(c.ev.syscall) : std::string(n);
     },
     "the syscall a seccomp filter refused (named in its ABI)"},
    {"seccomp.action",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kSeccomp)) return std::monostate{};
       return std::string(SeccompActionName(c.ev));
     },
     "how the filter refused: errno, trap, kill_thread, kill_process"},
    {"seccomp.arch",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kSeccomp)) return std::monostate{};
       return std::string(SyscallArch(c.ev));
     },
     "the ABI the syscall was made in, as libseccomp names it: x86_64, x86 (i386: int "
     "0x80), x32"},
    {"seccomp.profile",
     [](const EvalContext& c) -> FieldValue {
       if (!c.proc) return std::monostate{};
       return c.proc->seccomp_profile;
     },
     "the profile nbwarden-exec applied (NBW_SECCOMP_PROFILE), empty if unknown"},
    {"model.loading",
     [](const EvalContext& c) -> FieldValue {
       return Is(c, EventKind::kModel) || (c.ev.flags & NBW_F_MODEL_WINDOW) != 0;
     },
     "the kernel saw this inside a model-load window (the process, or its "
     "forking ancestor, was loading a model file)"},
    {"model.path",
     [](const EvalContext& c) -> FieldValue {
       if (!c.model) return std::monostate{};
       return c.model->path;
     },
     "the model file of the window"},
    {"model.trigger",
     [](const EvalContext& c) -> FieldValue {
       if (!c.model) return std::monostate{};
       return c.model->trigger;
     },
     "extension or content: how the kernel recognised the model"},
    {"model.verdict",
     [](const EvalContext& c) -> FieldValue {
       if (!c.model) return std::monostate{};
       return std::string(c.model->verdict());
     },
     "clean, suspicious, malicious, unscannable; pending while the scan runs (model events "
     "are judged after the scan)"},
    {"model.sha256",
     [](const EvalContext& c) -> FieldValue {
       if (!c.model || !c.model->report) return std::monostate{};
       return c.model->report->sha256;
     },
     ""},
    {"model.format",
     [](const EvalContext& c) -> FieldValue {
       if (!c.model || !c.model->report) return std::monostate{};
       return c.model->report->format;
     },
     ""},
    {"model.globals",
     [](const EvalContext& c) -> FieldValue {
       if (!c.model || !c.model->report) return std::monostate{};
       std::vector<std::string> g;
       for (const auto& f : c.model->report->findings) {
         if (!f.global.empty()) g.push_back(f.global);
       }
       return g;
     },
     "the globals the scanner flagged (\"posix.system\", ...)"},
    {"open.path",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kOpen)) return std::monostate{};
       return OpenPath(c);
     },
     ""},
    {"open.name",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kOpen)) return std::monostate{};
       return Basename(OpenPath(c));
     },
     ""},
    {"open.other_proc",
     [](const EvalContext& c) -> FieldValue {
       // /proc/<pid>/... of another process (not self, not its own pid)
       if (!Is(c, EventKind::kOpen)) return std::monostate{};
       const std::string p = OpenPath(c);
       if (!p.starts_with("/proc/")) return false;
       const size_t end = p.find('/', 6);
       const std::string pid = p.substr(6, end == std::string::npos ? end : end - 6);
       if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return false;
       return pid != std::to_string(c.ev.tgid);
     },
     "opens /proc/<pid>/ of another process"},
    {"fork.namespaces",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kFork)) return std::monostate{};
       std::vector<std::string> v;
       static const std::pair<uint64_t, const char*> kNs[] = {
           {0x00020000, "mnt"}, {0x04000000, "uts"}, {0x08000000, "ipc"},   {0x10000000, "user"},
           {0x20000000, "pid"}, {0x40000000, "net"}, {0x02000000, "cgroup"}};
       for (const auto& [bit, name] : kNs) {
         if (c.ev.args[1] & bit) v.push_back(name);
       }
       return v;
     },
     "namespaces a clone created (list)"},
    {"open.write",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kOpen)) return std::monostate{};
       return (c.ev.args[0] & 3) != 0;
     },
     "opened for writing"},
    {"open.read",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kOpen)) return std::monostate{};
       return (c.ev.args[0] & 3) != 1;
     },
     "opened for reading"},
    {"net.op",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kNet)) return std::monostate{};
       std::string op(SyscallName(c.ev.syscall));
       return op == "accept4" ? std::string("accept") : op;
     },
     "connect, bind, listen, accept"},
    {"net.address",
     [](const EvalContext& c) -> FieldValue {
       auto a = NetAddr(c);
       if (!a || a->family == AF_UNIX) return std::monostate{};
       return a->address;
     },
     ""},
    {"net.port",
     [](const EvalContext& c) -> FieldValue {
       auto a = NetAddr(c);
       if (!a || a->family == AF_UNIX) return std::monostate{};
       return int64_t{a->port};
     },
     ""},
    {"net.path",
     [](const EvalContext& c) -> FieldValue {
       auto a = NetAddr(c);
       if (!a || a->family != AF_UNIX) return std::monostate{};
       return a->address;
     },
     "unix socket path"},
    {"net.kubernetes_api",
     [](const EvalContext& c) -> FieldValue {
       auto a = NetAddr(c);
       if (!a || a->family == AF_UNIX || !c.proc || c.proc->k8s_api_host.empty()) return false;
       return a->address == c.proc->k8s_api_host &&
              (a->port == c.proc->k8s_api_port || c.proc->k8s_api_port == 0);
     },
     "the address is the cluster's API server (KUBERNETES_SERVICE_HOST/PORT)"},
    {"net.family",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kNet)) return std::monostate{};
       return std::string(FamilyName(static_cast<int>(c.ev.args[1])));
     },
     ""},
    {"socket.family",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kSocket)) return std::monostate{};
       return std::string(FamilyName(static_cast<int>(c.ev.args[0])));
     },
     ""},
    {"dup.newfd",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kDup)) return std::monostate{};
       return static_cast<int64_t>(c.ev.args[1]);
     },
     ""},
    {"signal.target_pid",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kSignal)) return std::monostate{};
       return static_cast<int64_t>(static_cast<int32_t>(c.ev.args[0]));
     },
     ""},
    {"signal.signo",
     [](const EvalContext& c) -> FieldValue {
       if (!Is(c, EventKind::kSignal)) return std::monostate{};
       return static_cast<int64_t>(c.ev.args[1]);
     },
     ""},
};

// exec.env.<NAME> for each variable the kernel reports (sensor/exec_env.h).
const std::array<std::string, kExecEnvNames.size()> kEnvFieldNames = [] {
  std::array<std::string, kExecEnvNames.size()> out;
  for (size_t i = 0; i < out.size(); i++) out[i] = "exec.env." + std::string(kExecEnvNames[i]);
  return out;
}();

template <size_t I>
FieldValue ExecEnvField(const EvalContext& c) {
  if (!Is(c, EventKind::kExec)) return std::monostate{};
  return std::string(c.ev.EnvValue(kExecEnvNames[I]));
}

template <size_t... I>
std::vector<FieldSpec> WithEnvFields(std::vector<FieldSpec> fields, std::index_sequence<I...>) {
  (fields.push_back({kEnvFieldNames[I], &ExecEnvField<I>,
                     "the variable in the new program's environment (empty if unset; values of "
                     "a variable set twice joined by ':')"}),
   ...);
  return fields;
}

const std::vector<FieldSpec> kFields =
    WithEnvFields(kBaseFields, std::make_index_sequence<kExecEnvNames.size()>());

}  // namespace

const nlohmann::json& EvalContext::Rendered() const {
  if (!rendered_) rendered_ = EventToJson(ev, proc, "");
  return *rendered_;
}

const std::vector<AncestorRef>& EvalContext::Ancestors() const {
  if (!ancestors_) ancestors_ = table ? table->Ancestry(ev.tgid) : std::vector<AncestorRef>{};
  return *ancestors_;
}

const FieldValue& EvalContext::Cached(FieldValue (*get)(const EvalContext&)) const {
  for (const auto& [g, v] : cache_) {
    if (g == get) return v;
  }
  cache_.emplace_back(get, get(*this));  // a deque: earlier references stay valid
  return cache_.back().second;
}

const std::vector<FieldSpec>& AllFields() {
  return kFields;
}

std::optional<FieldRef> ResolveField(std::string_view name) {
  if (name.starts_with("args.") && name.size() > 5) {
    return FieldRef{std::string(name), nullptr, std::string(name.substr(5))};
  }
  if (auto g = LookupField(name)) return FieldRef{std::string(name), *g, {}};
  return std::nullopt;
}

std::optional<FieldGetter> LookupField(std::string_view name) {
  for (const auto& f : kFields) {
    if (f.name == name) return f.get;
  }
  return std::nullopt;
}

std::string FieldToString(const FieldValue& v) {
  struct {
    std::string operator()(std::monostate) const { return ""; }
    std::string operator()(const std::string& s) const { return s; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::vector<std::string>& l) const {
      return fmt::format("{}", fmt::join(l, ","));
    }
  } visit;
  return std::visit(visit, v);
}

// Syscall arguments by name, from the rendered event ("args.namespaces").
FieldValue SyscallArg(const EvalContext& c, const std::string& name) {
  if (c.ev.kind != EventKind::kSyscall) return std::monostate{};
  const auto& args = c.Rendered()["args"];
  if (!args.contains(name)) return std::monostate{};
  return FromJson(args[name]);
}

}  // namespace nbw

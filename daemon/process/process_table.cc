// SPDX-License-Identifier: Apache-2.0
#include "process/process_table.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <optional>

#include "common/clock.h"

namespace nbw {

ProcessTable::ProcessTable(const ProcFs& procfs)
    : procfs_(procfs),
      host_mnt_ns_([&] {
        // The daemon's own mount namespace: the host's on a host, the pod's
        // in a sidecar (pid 1's may not even be readable).
        auto ns = procfs.NamespaceInode(procfs.SelfPid(), "mnt");
        return ns.ok() ? *ns : 0;
      }()),
      node_name_([] {
        // The downward API's NODE_NAME in a DaemonSet or sidecar; on a host,
        // the host's name.
        for (const char* k : {"NBW_NODE_NAME", "NODE_NAME"}) {
          const char* v = std::getenv(k);
          if (v && IsK8sName(v)) return std::string(v);
        }
        char h[256] = {};
        gethostname(h, sizeof h - 1);
        return std::string(h);
      }()) {}

// Kubernetes identity from what the kernel and /proc say (K8sIdentity).
static void ApplyK8s(ProcessInfo& p, const ProcFs& procfs, std::string_view cgroup,
                     const std::string& node) {
  if (std::string uid = PodUidFromCgroup(cgroup); !uid.empty()) p.k8s.pod_uid = uid;
  if (p.k8s.ns.empty() && (!p.k8s_api_host.empty() || !p.k8s.pod_uid.empty())) {
    p.k8s.ns = ServiceAccountNamespace(procfs.root(), p.tgid);
  }
  if (!p.k8s.empty()) p.k8s.node = node;
}

// Identity from the environment the kernel captured at exec (or /proc's):
// the Jupyter identity the process claims, and where it runs.
static void ApplyEnvironment(ProcessInfo& p, const EnvVars& env) {
  auto value = [&](std::string_view key) -> const std::string* {
    auto it = env.find(key);
    return it == env.end() ? nullptr : &it->second;
  };
  if (auto v = value("JUPYTERHUB_USER")) {
    p.own_jupyter.user = *v;
  } else if (auto v = value("JUPYTER_USER")) {
    p.own_jupyter.user = *v;
  }
  if (auto v = value("JPY_SESSION_NAME")) p.own_jupyter.notebook_path = *v;
  if (auto v = value("NBW_SECCOMP_PROFILE")) p.seccomp_profile = *v;
  if (auto v = value("KUBERNETES_SERVICE_HOST")) p.k8s_api_host = *v;
  if (auto v = value("POD_NAMESPACE"); v && IsK8sName(*v)) p.k8s.ns = *v;
  if (auto v = value("KUBERNETES_SERVICE_PORT")) {
    unsigned port = 0;
    auto r = std::from_chars(v->data(), v->data() + v->size(), port);
    if (r.ec == std::errc() && port > 0 && port < 65536)
      p.k8s_api_port = static_cast<uint16_t>(port);
  }
  // In a pod, the hostname is the pod's name (the kubelet sets it).
  if (auto v = value("HOSTNAME"); v && !p.k8s_api_host.empty() && IsK8sName(*v)) p.k8s.pod = *v;
}

// Names whose value in `after` is not the one in `before` (absent counts).
static std::vector<std::string> ChangedVars(const EnvVars& before, const EnvVars& after) {
  std::vector<std::string> out;
  for (const auto& [name, value] : after) {
    auto it = before.find(name);
    if (it == before.end() || it->second != value) out.push_back(name);
  }
  return out;
}

JupyterIdentity ClaimedIdentity(const ProcessInfo& p) {
  auto claim = [](const std::string& own, const std::string& root) {
    return own.empty() || own == root ? std::string() : own;
  };
  return {claim(p.own_jupyter.user, p.jupyter.user),
          claim(p.own_jupyter.kernel_id, p.jupyter.kernel_id),
          claim(p.own_jupyter.notebook_path, p.jupyter.notebook_path)};
}

ProcessInfo& ProcessTable::Apply(const Event& ev) {
  ProcessInfo& p = procs_[ev.tgid];
  if (p.tgid == 0) {
    p.tgid = ev.tgid;
    p.start_ns = ev.realtime_ns;
  }
  p.ppid = ev.ppid;
  p.uid = ev.uid;
  p.comm = ev.comm;
  p.mnt_ns = ev.mnt_ns;
  p.pid_ns = ev.pid_ns;

  switch (ev.kind) {
    case EventKind::kExec:
      if (ev.ret == 0) {
        p.exe = ev.str[0];
        p.argv = SplitNul(ev.str[1]);
        p.argv_truncated = ev.args[1] > ev.str[1].size();
        p.cwd = ev.str[2];
        p.start_ns = ev.realtime_ns;
        // What the new image's caller set: known only when its environment
        // was (a target's child, or a target exec'ing again).
        p.env_changed =
            p.exec_env_known ? ChangedVars(p.exec_env, ev.env) : std::vector<std::string>();
        p.exec_env = ev.env;
        p.exec_env_known = true;
        // What the new image claims: a kernel's connection file in argv,
        // the user and notebook in its environment. Only a target root's
        // claims become the identity (MakeRoot).
        p.own_jupyter = {};
        p.own_jupyter.kernel_id = KernelIdFromArgv(p.argv);
        ApplyEnvironment(p, ev.env);
        // Entering a container is an exec in another mount namespace (runc
        // init execs the container's process). The kernel sent the cgroup's
        // name with the exec, so a process gone by now is still named.
        if (ev.mnt_ns != host_mnt_ns_) {
          std::string id;
          if (ev.present[3] && !ev.str[3].empty() && ev.str[3] != "/") {
            id = ContainerIdFromCgroupPath(ev.str[3], true);
          }
          auto cg = procfs_.Cgroup(ev.tgid);
          if (id.empty() && cg.ok()) id = ContainerIdFromCgroup(*cg, true);
          if (!id.empty()) p.container_id = id;
          ApplyK8s(p, procfs_, cg.ok() ? std::string_view(*cg) : ev.str[3], node_name_);
        }
      }
      break;
    case EventKind::kFork: {
      const uint32_t child = static_cast<uint32_t>(ev.args[0]);
      ProcessInfo& c = procs_[child];  // may rehash: `p` not used below
      const ProcessInfo& parent = procs_[ev.tgid];
      c.tgid = child;
      c.ppid = ev.tgid;
      c.uid = parent.uid;
      c.comm = parent.comm;
      c.exe = parent.exe;
      c.argv = parent.argv;
      c.cwd = parent.cwd;
      c.start_ns = ev.realtime_ns;
      c.container_id = parent.container_id;
      c.mnt_ns = parent.mnt_ns;
      c.pid_ns = parent.pid_ns;
      c.jupyter = parent.jupyter;
      c.own_jupyter = parent.own_jupyter;
      c.exec_env = parent.exec_env;
      c.exec_env_known = parent.exec_env_known;
      c.k8s = parent.k8s;
      c.seccomp_profile = parent.seccomp_profile;
      c.k8s_api_host = parent.k8s_api_host;
      c.k8s_api_port = parent.k8s_api_port;
      c.state = parent.state;
      c.role = parent.role;
      c.selector = parent.selector;
      c.target_root = parent.target_root;
      return procs_[ev.tgid];
    }
    default: break;
  }
  return p;
}

void ProcessTable::RefreshIdentity(ProcessInfo& p) {
  // One read of the environment for every variable an exec reports, used as
  // the exec event's capture is.
  static const std::vector<std::string> kNames(kExecEnvNames.begin(), kExecEnvNames.end());
  if (auto env = procfs_.Environ(p.tgid, kNames); env.ok()) {
    EnvVars vars(env->begin(), env->end());
    ApplyEnvironment(p, vars);
    if (!p.exec_env_known) {
      p.exec_env = std::move(vars);
      p.exec_env_known = true;
    }
  }
  if (std::string id = KernelIdFromArgv(p.argv); !id.empty()) p.own_jupyter.kernel_id = id;
  auto own_mnt = procfs_.NamespaceInode(p.tgid, "mnt");
  const bool own_ns = host_mnt_ns_ != 0 && own_mnt.ok() && host_mnt_ns_ != *own_mnt;
  auto cg = procfs_.Cgroup(p.tgid);
  if (cg.ok()) p.container_id = ContainerIdFromCgroup(*cg, own_ns);
  ApplyK8s(p, procfs_, cg.ok() ? std::string_view(*cg) : std::string_view(), node_name_);
}

void ProcessTable::MakeRoot(ProcessInfo& p) {
  p.target_root = p.tgid;
  p.jupyter = p.own_jupyter;
}

Result<ProcessInfo*> ProcessTable::LoadFromProc(uint32_t tgid) {
  auto st = procfs_.Stat(tgid);
  if (!st.ok()) return st.status();
  ProcessInfo& p = procs_[tgid];
  p.tgid = tgid;
  p.ppid = st->ppid;
  p.comm = st->comm;
  if (auto exe = procfs_.Exe(tgid); exe.ok()) p.exe = *exe;
  if (auto argv = procfs_.Cmdline(tgid); argv.ok()) p.argv = *argv;
  if (auto cwd = procfs_.Cwd(tgid); cwd.ok()) p.cwd = *cwd;
  if (auto ns = procfs_.NamespaceInode(tgid, "mnt"); ns.ok()) p.mnt_ns = static_cast<uint32_t>(*ns);
  if (auto ns = procfs_.NamespaceInode(tgid, "pid"); ns.ok()) p.pid_ns = static_cast<uint32_t>(*ns);
  // start time: boot-relative ticks to wall clock.
  const int64_t offset = RealtimeMinusBoottimeNs();
  const int64_t hz = sysconf(_SC_CLK_TCK);
  p.start_ns = static_cast<uint64_t>(offset + static_cast<int64_t>(st->start_ticks) *
                                                  (1000000000LL / (hz > 0 ? hz : 100)));
  RefreshIdentity(p);
  return &p;
}

ProcessInfo* ProcessTable::Find(uint32_t tgid) {
  auto it = procs_.find(tgid);
  return it == procs_.end() ? nullptr : &it->second;
}

std::vector<AncestorRef> ProcessTable::Ancestry(uint32_t tgid, size_t max) const {
  std::vector<AncestorRef> out;
  auto it = procs_.find(tgid);
  uint32_t next = it == procs_.end() ? 0 : it->second.ppid;
  while (next > 0 && out.size() < max) {
    auto p = procs_.find(next);
    if (p != procs_.end()) {
      out.push_back({next, p->second.exe});
      next = p->second.ppid;
      continue;
    }
    // Not watched (the launcher of a target): ask /proc, best effort.
    auto st = procfs_.Stat(next);
    auto exe = procfs_.Exe(next);
    out.push_back({next, exe.ok() ? *exe : std::string()});
    next = st.ok() ? st->ppid : 0;
  }
  return out;
}

size_t ProcessTable::ReapDead() {
  std::unordered_set<uint32_t> dead;
  const size_t reaped = std::erase_if(procs_, [&](const auto& kv) {
    if (::kill(static_cast<pid_t>(kv.first), 0) == 0 || errno != ESRCH) return false;
    if (seen_dead_.contains(kv.first)) return true;
    dead.insert(kv.first);  // the second sighting, a call later, removes it
    return false;
  });
  seen_dead_ = std::move(dead);
  return reaped;
}

size_t ProcessTable::TargetCount() const {
  size_t n = 0;
  for (const auto& [_, p] : procs_) n += p.state == TrackState::kTarget;
  return n;
}

}  // namespace nbw

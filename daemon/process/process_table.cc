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

// Identity from the environment the kernel captured at exec (race-free,
// unlike /proc, but cut at the blob bound: RefreshIdentity fills gaps).
static void ApplyEnvironment(ProcessInfo& p, const std::string& env) {
  std::string hostname;
  for (const auto& kv : SplitNul(env)) {
    auto value = [&](std::string_view key) -> std::optional<std::string> {
      if (kv.size() > key.size() && kv.starts_with(key) && kv[key.size()] == '=') {
        return kv.substr(key.size() + 1, 4096);
      }
      return std::nullopt;
    };
    if (auto v = value("JUPYTERHUB_USER")) p.jupyter.user = *v;
    if (auto v = value("JPY_SESSION_NAME")) p.jupyter.notebook_path = *v;
    if (auto v = value("NBW_SECCOMP_PROFILE")) p.seccomp_profile = *v;
    if (auto v = value("KUBERNETES_SERVICE_HOST")) p.k8s_api_host = *v;
    if (auto v = value("HOSTNAME")) hostname = *v;
    if (auto v = value("POD_NAMESPACE"); v && IsK8sName(*v)) p.k8s.ns = *v;
    if (auto v = value("KUBERNETES_SERVICE_PORT")) {
      unsigned port = 0;
      auto r = std::from_chars(v->data(), v->data() + v->size(), port);
      if (r.ec == std::errc() && port > 0 && port < 65536)
        p.k8s_api_port = static_cast<uint16_t>(port);
    }
  }
  // In a pod, the hostname is the pod's name (the kubelet sets it).
  if (!p.k8s_api_host.empty() && IsK8sName(hostname)) p.k8s.pod = hostname;
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
        // A new image may be the kernel itself (exec'd by a launcher):
        // the connection file in argv names it.
        if (std::string id = KernelIdFromArgv(p.argv); !id.empty()) p.jupyter.kernel_id = id;
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
  // One read of the environment for every identity it carries, parsed as
  // the exec event's capture is.
  auto env = procfs_.Environ(
      p.tgid, {"JUPYTERHUB_USER", "JPY_SESSION_NAME", "JUPYTER_USER", "KUBERNETES_SERVICE_HOST",
               "KUBERNETES_SERVICE_PORT", "HOSTNAME", "POD_NAMESPACE"});
  if (env.ok()) {
    std::string blob;
    for (const auto& [k, v] : *env) blob += k + "=" + v + std::string(1, '\0');
    ApplyEnvironment(p, blob);
    if (auto it = env->find("JUPYTER_USER"); p.jupyter.user.empty() && it != env->end()) {
      p.jupyter.user = it->second;
    }
  }
  if (std::string id = KernelIdFromArgv(p.argv); !id.empty()) p.jupyter.kernel_id = id;
  auto own_mnt = procfs_.NamespaceInode(p.tgid, "mnt");
  const bool own_ns = host_mnt_ns_ != 0 && own_mnt.ok() && host_mnt_ns_ != *own_mnt;
  auto cg = procfs_.Cgroup(p.tgid);
  if (cg.ok()) p.container_id = ContainerIdFromCgroup(*cg, own_ns);
  ApplyK8s(p, procfs_, cg.ok() ? std::string_view(*cg) : std::string_view(), node_name_);
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
  return std::erase_if(procs_, [](const auto& kv) {
    return ::kill(static_cast<pid_t>(kv.first), 0) != 0 && errno == ESRCH;
  });
}

size_t ProcessTable::TargetCount() const {
  size_t n = 0;
  for (const auto& [_, p] : procs_) n += p.state == TrackState::kTarget;
  return n;
}

}  // namespace nbw

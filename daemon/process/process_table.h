// SPDX-License-Identifier: Apache-2.0
// ProcessTable: what userspace knows about each watched process: ancestry,
// exe, argv, start time, container, and the Jupyter identity (user, kernel
// id, notebook path). Fed by sensor events in order and by /proc at start-up.
// Owned by the agent; io_context thread only (no locking).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "process/proc_fs.h"
#include "sensor/event.h"

namespace nbw {

struct JupyterIdentity {
  std::string user;           // JUPYTERHUB_USER (else JUPYTER_USER)
  std::string kernel_id;      // from the connection file name
  std::string notebook_path;  // JPY_SESSION_NAME
  bool empty() const { return user.empty() && kernel_id.empty() && notebook_path.empty(); }
  bool operator==(const JupyterIdentity&) const = default;
};

// Where a process runs in Kubernetes, from its environment, cgroups and
// service-account mount (no API access): HOSTNAME is the pod's name in a pod,
// the namespace is the service account's, the pod uid is in the kubelet's
// cgroup names, the node is the daemon's (NODE_NAME from the downward API,
// else its hostname).
struct K8sIdentity {
  std::string pod, ns, pod_uid, node;
  bool empty() const { return pod.empty() && ns.empty() && pod_uid.empty(); }
};

enum class TrackState { kNone, kCandidate, kTarget, kRejected };

struct ProcessInfo {
  uint32_t tgid = 0;
  uint32_t ppid = 0;
  uint32_t uid = 0;
  std::string comm;
  std::string exe;
  std::vector<std::string> argv;
  bool argv_truncated = false;
  std::string cwd;
  uint64_t start_ns = 0;  // realtime ns of the exec (or of the process, from /proc)
  std::string container_id;
  std::string k8s_api_host;  // KUBERNETES_SERVICE_HOST/PORT of its environment, if any
  uint16_t k8s_api_port = 0;
  uint32_t mnt_ns = 0, pid_ns = 0;
  // The Jupyter identity of its target root (the process a selector matched
  // outside any target, or --track-pid named), inherited by every descendant.
  // Nothing a descendant does changes it: its environment and argv are only
  // what it claims (own_jupyter, ClaimedIdentity()).
  JupyterIdentity jupyter;
  JupyterIdentity own_jupyter;  // what its own environment and argv say
  // The sensor/exec_env.h variables it was started with (exec_env_known:
  // from its exec, its parent's at fork, or /proc), and at its last exec
  // the names whose value its caller set or changed.
  EnvVars exec_env;
  bool exec_env_known = false;
  std::vector<std::string> env_changed;
  K8sIdentity k8s;
  std::string seccomp_profile;  // NBW_SECCOMP_PROFILE, set by nbwarden-exec
  TrackState state = TrackState::kNone;
  std::string role;          // role of the selector that made it (or its ancestor) a target
  std::string selector;      // that selector's name ("track-pid" for --track-pid)
  uint32_t target_root = 0;  // tgid of the process the selector matched
};

// What p's own environment and argv claim that differs from the identity it
// inherited from its target root: the differing fields, empty where they
// agree or p claims nothing.
JupyterIdentity ClaimedIdentity(const ProcessInfo& p);

struct AncestorRef {
  uint32_t pid;
  std::string exe;
};

class ProcessTable {
 public:
  explicit ProcessTable(const ProcFs& procfs);
  ProcessTable(const ProcessTable&) = delete;
  ProcessTable& operator=(const ProcessTable&) = delete;

  // Updates the table from an event (exec: new image; fork: child entry
  // inheriting identity; exit: marks for removal). Returns the entry.
  ProcessInfo& Apply(const Event& ev);
  // Builds an entry from /proc (start-up and --track-pid).
  Result<ProcessInfo*> LoadFromProc(uint32_t tgid);
  // Fills identity (environment, connection file, container) from /proc.
  void RefreshIdentity(ProcessInfo& p);
  // p is a target root: its own Jupyter identity (from its exec, and /proc
  // once RefreshIdentity ran) becomes the one its tree carries.
  void MakeRoot(ProcessInfo& p);

  ProcessInfo* Find(uint32_t tgid);
  void Remove(uint32_t tgid) { procs_.erase(tgid); }
  // Drops entries of processes that no longer exist (their exit event was
  // lost to a full ring buffer). Returns how many. A process is gone from
  // /proc as soon as it dies, while its exec and exit events may still wait
  // in the ring (a child killed in the kernel at exec): an entry is dropped
  // only when it was already dead at the previous call, so the events of a
  // process that died just now still find its role and identity. Call it
  // far apart compared with how fast the ring drains (the stats interval).
  size_t ReapDead();
  // Parent chain, nearest first, at most `max` entries.
  std::vector<AncestorRef> Ancestry(uint32_t tgid, size_t max = 8) const;
  size_t size() const { return procs_.size(); }
  size_t TargetCount() const;

 private:
  const ProcFs& procfs_;
  const uint64_t host_mnt_ns_;   // the daemon's: a process in another may be in a container
  const std::string node_name_;  // K8sIdentity::node
  std::unordered_map<uint32_t, ProcessInfo> procs_;
  std::unordered_set<uint32_t> seen_dead_;  // dead at the last ReapDead
};

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
#include "probe/probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/file.h"
#include "common/unique_fd.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

namespace nbw {
namespace {

// r0 = 0 (or 1 for cgroup hooks, "allow"); exit.
const struct bpf_insn kReturn0[] = {
    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
    {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
};
const struct bpf_insn kReturn1[] = {
    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 1},
    {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
};

std::string Err(int err) {
  return std::strerror(std::abs(err));
}

struct BtfDeleter {
  void operator()(struct btf* b) const { btf__free(b); }
};

int LoadProg(enum bpf_prog_type type, enum bpf_attach_type attach, uint32_t btf_id,
             const struct bpf_insn* insns, size_t n) {
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach, .attach_btf_id = btf_id);
  return bpf_prog_load(type, "nbw_probe", "GPL", insns, n, &opts);
}

Feature ProbeRawTp() {
  Feature f{"raw_tp (raw tracepoints)", false, true, ""};
  UniqueFd prog(LoadProg(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_TRACE_RAW_TP, 0, kReturn0, 2));
  if (!prog.valid()) {
    f.detail = "load: " + Err(errno);
    return f;
  }
  UniqueFd link(bpf_raw_tracepoint_open("sys_enter", prog.get()));
  if (!link.valid()) {
    f.detail = "attach sys_enter: " + Err(errno);
    return f;
  }
  f.available = true;
  f.detail = "sys_enter attaches; the sensor's hook type";
  return f;
}

Feature ProbeTracing(struct btf* vmlinux, const char* name, enum bpf_attach_type attach,
                     const char* target, int kind, bool required, const char* use) {
  Feature f{name, false, required, ""};
  if (!vmlinux) {
    f.detail = "no BTF";
    return f;
  }
  int id = btf__find_by_name_kind(vmlinux, target, kind);
  if (id < 0) {
    f.detail = fmt::format("{} not in BTF", target);
    return f;
  }
  UniqueFd prog(LoadProg(attach == BPF_LSM_MAC ? BPF_PROG_TYPE_LSM : BPF_PROG_TYPE_TRACING, attach,
                         static_cast<uint32_t>(id), kReturn0, 2));
  if (!prog.valid()) {
    f.detail = fmt::format("load refused: {}; {}", Err(errno), use);
    return f;
  }
  f.available = true;
  f.detail = fmt::format("loads ({})", target);
  return f;
}

Feature ProbeCgroupSockAddr() {
  Feature f{"cgroup sock_addr (connect4/6)", false, false, ""};
  UniqueFd p4(LoadProg(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, 0, kReturn1, 2));
  UniqueFd p6(LoadProg(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_CONNECT, 0, kReturn1, 2));
  if (!p4.valid() || !p6.valid()) {
    f.detail = "load: " + Err(errno) + "; connect denial unavailable";
    return f;
  }
  f.available = true;
  f.detail = "connect4 and connect6 load";
  return f;
}

std::string ReadSmall(const char* path) {
  auto r = ReadFileBounded(path, 4096);
  if (!r.ok()) return {};
  std::string s = *r;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::vector<Feature> ProbeKernel() {
  std::vector<Feature> out;
  libbpf_set_print(nullptr);  // probes fail on purpose; keep them quiet

  std::unique_ptr<struct btf, BtfDeleter> vmlinux(btf__load_vmlinux_btf());
  out.push_back({"BTF (/sys/kernel/btf/vmlinux)", vmlinux != nullptr, true,
                 vmlinux ? fmt::format("{} types; CO-RE works", btf__type_cnt(vmlinux.get()))
                         : "missing: needs CONFIG_DEBUG_INFO_BTF=y"});

  int tp = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT, nullptr);
  out.push_back({"tracepoints", tp == 1, false, tp == 1 ? "prog type loads" : "unavailable"});
  out.push_back(ProbeRawTp());
  out.push_back(ProbeTracing(vmlinux.get(), "tp_btf (BTF tracepoints)", BPF_TRACE_RAW_TP,
                             "btf_trace_sys_enter", BTF_KIND_TYPEDEF, false,
                             "raw_tp used instead"));

  int rb = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr);
  out.push_back({"ring buffer", rb == 1, true, rb == 1 ? "BPF_MAP_TYPE_RINGBUF" : "needs v5.8+"});
  int loop = libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_loop, nullptr);
  out.push_back({"bpf_loop helper", loop == 1, true,
                 loop == 1 ? "path walks in the kernel" : "needs v5.17+ (path resolution)"});
  int sig = libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_send_signal, nullptr);
  out.push_back({"bpf_send_signal", sig == 1, false,
                 sig == 1 ? "in-kernel kill available" : "kill actions unavailable"});
  out.push_back(ProbeCgroupSockAddr());
  out.push_back(ProbeTracing(vmlinux.get(), "fentry/fexit", BPF_TRACE_FENTRY, "do_unlinkat",
                             BTF_KIND_FUNC, false, "raw_tp used instead"));
  {
    Feature lsm = ProbeTracing(vmlinux.get(), "BPF LSM", BPF_LSM_MAC, "bpf_lsm_file_open",
                               BTF_KIND_FUNC, false, "LSM enforcement unavailable");
    std::string active = ReadSmall("/sys/kernel/security/lsm");
    if (lsm.available && active.find("bpf") == std::string::npos) {
      lsm.available = false;
      lsm.detail = fmt::format("loads, but 'bpf' is not in the active LSMs ({})", active);
    }
    out.push_back(lsm);
  }
  {
    int mode = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
    std::string actions = ReadSmall("/proc/sys/kernel/seccomp/actions_avail");
    out.push_back({"seccomp filters", mode >= 0 && !actions.empty(), false,
                   actions.empty() ? "unavailable" : "actions: " + actions});
  }
  {
    long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    out.push_back({"Landlock", abi > 0, false,
                   abi > 0 ? fmt::format("ABI {}", abi) : "unavailable: " + Err(errno)});
  }
  {
    struct statfs st;
    std::string mode = "unknown";
    if (statfs("/sys/fs/cgroup", &st) == 0) {
      if (st.f_type == CGROUP2_SUPER_MAGIC) {
        mode = "unified (v2)";
      } else {
        struct statfs u;
        mode = statfs("/sys/fs/cgroup/unified", &u) == 0 && u.f_type == CGROUP2_SUPER_MAGIC
                   ? "hybrid (v1 controllers, v2 at /sys/fs/cgroup/unified)"
                   : "legacy (v1)";
      }
    }
    out.push_back({"cgroup mode", mode != "unknown", false, mode});
  }
  return out;
}

bool SensorCanRun(const std::vector<Feature>& features) {
  for (const auto& f : features) {
    if (f.required && !f.available) return false;
  }
  return true;
}

}  // namespace nbw

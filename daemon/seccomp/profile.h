// SPDX-License-Identifier: Apache-2.0
// SeccompProfile: a seccomp profile in the OCI runtime-spec / Docker JSON
// format (defaultAction, defaultErrnoRet, architectures, syscalls[] with
// names, action, errnoRet, args, includes/excludes), so one file serves
// Docker, containerd, Kubernetes `seccompProfile: Localhost` and nbwarden.
// Parsing validates every field; an error names the file, line:col and the
// entry ("notebook-kernel.json:41:7: syscalls[3].args[0].op: ..."). A valid
// profile compiles to a libseccomp filter. Docker's own profiles work as
// Docker reads them: `archMap`, and includes/excludes on Docker's
// architecture names, capabilities and `minKernel` (seccomp/arch.h).
// Plain values; any thread.
#pragma once

#include <seccomp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "seccomp/arch.h"

namespace nbw {

struct SeccompArg {
  unsigned index = 0;  // 0..5
  uint64_t value = 0;
  uint64_t value_two = 0;  // the mask's expected value, for SCMP_CMP_MASKED_EQ
  std::string op;          // SCMP_CMP_EQ, ...
};

struct SeccompRule {
  std::vector<std::string> names;
  std::string action;  // SCMP_ACT_*
  std::optional<uint32_t> errno_ret;
  std::vector<SeccompArg> args;
  // "includes"/"excludes": architectures as the profile names them (any
  // name CanonicalArch knows), CAP_* names, and the kernel version from
  // which the rule applies (includes) or no longer applies (excludes).
  std::vector<std::string> include_arches, exclude_arches;
  std::vector<std::string> include_caps, exclude_caps;
  std::optional<KernelVersion> include_min_kernel, exclude_min_kernel;
  std::string comment;
};

// Docker's archMap entry: on a host of `arch`, the filter also takes these.
struct SeccompArchMap {
  std::string arch;                     // SCMP_ARCH_*
  std::vector<std::string> sub_arches;  // SCMP_ARCH_*
};

struct SeccompProfile {
  std::string default_action;
  std::optional<uint32_t> default_errno_ret;
  std::vector<std::string> architectures;  // SCMP_ARCH_*
  std::vector<SeccompArchMap> arch_map;    // Docker's; never with architectures
  std::vector<SeccompRule> syscalls;
  std::string origin;  // file it came from

  static Result<SeccompProfile> Parse(const std::string& json, const std::string& origin);

  // The descriptor number this profile lets execveat run from, if it has
  // such a rule ("execveat refused unless args[0] == N", or "allowed only
  // if args[0] == N"): nbwarden-exec then execs the command through fd N
  // and lowers RLIMIT_NOFILE to N, so once that exec closes it no process
  // under the filter can exec again (policies/seccomp/model-server.json).
  std::optional<int> ExecFd() const;
  static Result<SeccompProfile> Load(const std::string& path);
};

struct FilterDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using SeccompFilter = std::unique_ptr<void, FilterDeleter>;

struct CompileReport {
  std::vector<std::string> unknown;  // syscall names this libseccomp/arch does not know
  size_t rules = 0;                  // libseccomp rules added
};

// Builds the filter for the running architecture. Names unknown here are
// skipped (a profile lists syscalls for many kernels, as Docker's does) and
// reported. includes/excludes on capabilities are judged against the
// calling process's effective set.
Result<SeccompFilter> CompileProfile(const SeccompProfile& p, CompileReport* report = nullptr);

// Where shipped profiles live, and NAME -> DIR/NAME.json (a value with a
// '/' or ending in .json is a file path and is returned as is).
inline constexpr const char* kDefaultProfileDir = "/etc/nbwarden/policies/seccomp";
std::string ResolveProfilePath(const std::string& name_or_file, const std::string& dir);

// The architectures a filter of p is for on a host of `arch` (SCMP_ARCH_*):
// `architectures` as listed, else archMap's entry for `arch` and its
// sub-architectures, else none (the runtime takes the native one).
std::vector<std::string> ProfileArchitectures(const SeccompProfile& p, const std::string& arch);

// Docker's includes/excludes: does rule r apply on a host of `arch` (any
// name CanonicalArch knows) running `kernel`, to a process with exactly
// these capabilities (CAP_*)?
bool RuleAppliesTo(const SeccompRule& r, const std::string& arch,
                   const std::vector<std::string>& caps, KernelVersion kernel);

// "SCMP_ACT_ERRNO" + errno -> libseccomp action; nullopt if not an action.
std::optional<uint32_t> SeccompAction(const std::string& name, std::optional<uint32_t> errno_ret);

}  // namespace nbw

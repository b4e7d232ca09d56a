// SPDX-License-Identifier: Apache-2.0
// Writing seccomp profiles for their consumers, and the profile a syscall
// recording makes. Plain values; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "seccomp/profile.h"

namespace nbw {

enum class ProfileFormat {
  kDocker,  // the file as nbwarden ships it: Docker's format, with
            // includes/excludes and comments (docker --security-opt
            // seccomp=FILE, containerd, kubelet's Localhost directory)
  kOci,     // the runtime-spec `linux.seccomp` object runc and crun read:
            // includes/excludes resolved, nothing the spec lacks
  kK8s,     // a Security Profiles Operator SeccompProfile object (JSON,
            // which kubectl applies as it does YAML)
};

std::optional<ProfileFormat> ParseProfileFormat(std::string_view name);

struct ExportOptions {
  std::string name;                     // k8s: metadata.name
  std::string arch;                     // oci/k8s: resolve includes/excludes for this
                                        // SCMP_ARCH_*; empty = the running one
  std::vector<std::string> caps;        // oci/k8s: the container's capabilities
                                        // (CAP_*), for includes/excludes.caps
  std::optional<KernelVersion> kernel;  // oci/k8s: for minKernel; empty = the running one
};

// The profile as JSON text for the consumer, ending in a newline. Parsing
// the docker form gives back the same profile (tests/unit/seccomp_test.cc).
std::string RenderProfile(const SeccompProfile& p, ProfileFormat f, const ExportOptions& o = {});

struct RecordingMerge {
  std::vector<std::string> added;            // recorded, allowed by a new rule
  std::vector<std::string> kept_by_base;     // recorded and named by a base rule: the base decides
  std::vector<std::string> refused_by_base;  // ...and that rule refuses it unconditionally
};

// The minimal profile for a recording: refuse (EPERM) by default, allow
// exactly the recorded syscalls. With a base profile, the base's rules come
// first and decide for every syscall they name (including conditional and
// refusing rules: a recording never widens what the base author narrowed);
// recorded syscalls the base does not name are allowed; the default
// becomes the base's if it refuses, else EPERM.
SeccompProfile ProfileFromRecording(const std::vector<std::string>& syscalls,
                                    const SeccompProfile* base, RecordingMerge* merge = nullptr);

}  // namespace nbw

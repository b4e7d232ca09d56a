// SPDX-License-Identifier: Apache-2.0
// Architectures and kernel versions as seccomp profiles name them. Docker's
// profiles condition rules on the host's architecture by Docker's and Go's
// names ("amd64", "x86", "x32", "arm64", Go's "386"), map the native
// architecture to its sub-architectures (`archMap`) by libseccomp's names
// ("SCMP_ARCH_X86_64" -> X86, X32), and condition rules on the kernel
// version (`minKernel: "4.8"`). moby's profiles/seccomp/seccomp_linux.go
// is what this follows. Plain functions; any thread.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace nbw {

// "SCMP_ARCH_*" for any name a profile may give an architecture:
// libseccomp's ("SCMP_ARCH_X86_64"), Docker's ("amd64", "x86", "x32",
// "arm64", "mipsel64", "ppc64le", "s390x", "riscv64", ...) or Go's GOARCH
// ("386", "mips64p32le", ...). nullopt for a name none of them use.
std::optional<std::string> CanonicalArch(std::string_view name);

// libseccomp's name for the running architecture ("SCMP_ARCH_X86_64").
std::string NativeArchName();

// A kernel version as Docker's minKernel gives it: "<kernel>.<major>".
struct KernelVersion {
  unsigned kernel = 0;  // the 6 of 6.18.44
  unsigned major = 0;   // the 18
  auto operator<=>(const KernelVersion&) const = default;
  std::string ToString() const;
};

// "4.8" -> {4, 8}; as moby: exactly two numbers of 0..255, not "0.0".
std::optional<KernelVersion> ParseMinKernel(std::string_view text);

// The running kernel's version, from uname's release ("6.18.44-..." ->
// 6.18); {0, 0} if the release cannot be read, so no minKernel is met.
KernelVersion RunningKernel();

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
#include "seccomp/arch.h"

#include <fmt/format.h>
#include <seccomp.h>
#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

namespace nbw {
namespace {

struct ArchNames {
  std::string_view scmp;                    // libseccomp's name
  std::array<std::string_view, 3> aliases;  // Docker's, Go's, the kernel's
};

// Docker's names are moby's nativeToSeccomp keys (and "x32", "riscv64" its
// profiles use); Go's are moby's goToNative keys.
constexpr ArchNames kArches[] = {
    {"SCMP_ARCH_X86", {"x86", "386", "i386"}},
    {"SCMP_ARCH_X86_64", {"amd64", "x86_64"}},
    {"SCMP_ARCH_X32", {"x32"}},
    {"SCMP_ARCH_ARM", {"arm"}},
    {"SCMP_ARCH_AARCH64", {"arm64", "aarch64"}},
    {"SCMP_ARCH_LOONGARCH64", {"loong64", "loongarch64"}},
    {"SCMP_ARCH_M68K", {"m68k"}},
    {"SCMP_ARCH_MIPS", {"mips"}},
    {"SCMP_ARCH_MIPS64", {"mips64"}},
    {"SCMP_ARCH_MIPS64N32", {"mips64n32", "mips64p32"}},
    {"SCMP_ARCH_MIPSEL", {"mipsel", "mipsle"}},
    {"SCMP_ARCH_MIPSEL64", {"mipsel64", "mips64le"}},
    {"SCMP_ARCH_MIPSEL64N32", {"mipsel64n32", "mips3l64n32", "mips64p32le"}},
    {"SCMP_ARCH_PARISC", {"parisc"}},
    {"SCMP_ARCH_PARISC64", {"parisc64"}},
    {"SCMP_ARCH_PPC", {"ppc"}},
    {"SCMP_ARCH_PPC64", {"ppc64"}},
    {"SCMP_ARCH_PPC64LE", {"ppc64le"}},
    {"SCMP_ARCH_RISCV64", {"riscv64"}},
    {"SCMP_ARCH_S390", {"s390"}},
    {"SCMP_ARCH_S390X", {"s390x"}},
    {"SCMP_ARCH_SH", {"sh"}},
    {"SCMP_ARCH_SHEB", {"sheb"}},
};

// libseccomp's own spelling: "SCMP_ARCH_X86_64" -> "x86_64".
std::string LibseccompName(std::string_view scmp) {
  std::string s(scmp.substr(10));
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::optional<unsigned> Number(std::string_view s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::string> CanonicalArch(std::string_view name) {
  for (const auto& a : kArches) {
    if (name == a.scmp || std::find(a.aliases.begin(), a.aliases.end(), name) != a.aliases.end()) {
      return std::string(a.scmp);
    }
  }
  return std::nullopt;
}

std::string NativeArchName() {
  const uint32_t native = seccomp_arch_native();
  for (const auto& a : kArches) {
    if (seccomp_arch_resolve_name(LibseccompName(a.scmp).c_str()) == native) {
      return std::string(a.scmp);
    }
  }
  return "";
}

std::string KernelVersion::ToString() const {
  return fmt::format("{}.{}", kernel, major);
}

std::optional<KernelVersion> ParseMinKernel(std::string_view text) {
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto k = Number(text.substr(0, dot));
  auto m = Number(text.substr(dot + 1));
  if (!k || !m || *k > 255 || *m > 255 || (*k == 0 && *m == 0)) return std::nullopt;
  return KernelVersion{*k, *m};
}

KernelVersion RunningKernel() {
  static const KernelVersion kRunning = [] {
    struct utsname u;
    KernelVersion v;
    if (uname(&u) != 0 || std::sscanf(u.release, "%u.%u", &v.kernel, &v.major) != 2)
      return KernelVersion{};
    return v;
  }();
  return kRunning;
}

}  // namespace nbw

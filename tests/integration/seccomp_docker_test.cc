// SPDX-License-Identifier: Apache-2.0
// Docker's own default profile (moby's profiles/seccomp/default.json, kept
// byte for byte in tests/fixtures/moby/) taken as Docker takes it: Docker's
// and Go's architecture names in includes/excludes, `archMap` with the
// host's sub-architectures, capabilities and `minKernel`. Real programs run
// under it with nbwarden-exec, and what it refuses is refused; minKernel
// is judged against the running kernel in a real filter.
#include <errno.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "require_root.h"
#include "seccomp/arch.h"
#include "seccomp/export.h"
#include "seccomp/profile.h"
#include "spawn.h"

namespace nbw {
namespace {

const std::string kMoby = NBW_SOURCE_DIR "/tests/fixtures/moby/default.json";

// keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 0): Docker's
// profile does not allow keyctl; without a filter the kernel answers
// ENOKEY (126: no process keyring), under Docker's profile EPERM.
const std::string kKeyctl =
    "import ctypes; l = ctypes.CDLL(None, use_errno=True); "
    "print(l.syscall(250, 0, -2, 0), ctypes.get_errno())";

SeccompProfile MustLoad(const std::string& path) {
  auto p = SeccompProfile::Load(path);
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? *p : SeccompProfile{};
}

SeccompProfile MustParse(const std::string& text) {
  auto p = SeccompProfile::Parse(text, "p.json");
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? *p : SeccompProfile{};
}

#if defined(__x86_64__)

TEST(DockerProfile, TrueAndPythonRunUnderIt) {
  // Before Go names were understood, arch_prctl (includes.arches: amd64,
  // x32) was refused and every program died setting up its TLS.
  Ran r = Spawn({NBW_EXEC_PATH, "--profile", kMoby, "--", "/bin/true"});
  EXPECT_EQ(Exit(r), 0) << r.err;
  EXPECT_EQ(r.err, "");
  r = Spawn({NBW_EXEC_PATH, "--profile", kMoby, "--", "/usr/bin/python3", "-c",
             "import json, subprocess, threading; t = threading.Thread(target=lambda: None); "
             "t.start(); t.join(); "
             "print(json.dumps([subprocess.run(['/bin/echo', 'ok'], capture_output=True, "
             "text=True).stdout, open('/proc/self/status').read().count('Seccomp:\\t2')]))"});
  EXPECT_EQ(Exit(r), 0) << r.err;
  EXPECT_EQ(r.out, "[\"ok\\n\", 1]\n");
}

TEST(DockerProfile, RefusesWhatDockerRefuses) {
  Ran r = Spawn({NBW_EXEC_PATH, "--profile", kMoby, "--", "/usr/bin/python3", "-c", kKeyctl});
  ASSERT_EQ(Exit(r), 0) << r.err;
  EXPECT_EQ(r.out, "-1 1\n");  // EPERM, the profile's defaultErrnoRet
  r = Spawn({"/usr/bin/python3", "-c", kKeyctl});
  ASSERT_EQ(Exit(r), 0) << r.err;
  EXPECT_EQ(r.out, "-1 126\n");  // the kernel's own answer: the refusal above is the filter's
}

TEST(DockerProfile, NamespacesFollowCapSysAdminAsInDocker) {
  NBW_REQUIRE_ROOT("CAP_SYS_ADMIN in effect, and setpriv dropping it");
  // With CAP_SYS_ADMIN (a --privileged or --cap-add SYS_ADMIN container)
  // unshare is allowed; without it (Docker's default) it is refused.
  Ran r =
      Spawn({NBW_EXEC_PATH, "--profile", kMoby, "--", "/usr/bin/unshare", "--user", "/bin/true"});
  EXPECT_EQ(Exit(r), 0) << r.err;
  r = Spawn({"/usr/bin/setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin",
             NBW_EXEC_PATH, "--profile", kMoby, "--", "/usr/bin/unshare", "--user", "/bin/true"});
  EXPECT_EQ(Exit(r), 1);
  EXPECT_EQ(r.err, "unshare: unshare failed: Operation not permitted\n");
}

TEST(DockerProfile, ExportGivesTheHostsArchitecturesAndRulesAsDockerResolvesThem) {
  Ran r = Spawn({NBW_CLI_PATH, "seccomp", "export", kMoby, "--format", "oci"});
  ASSERT_EQ(Exit(r), 0) << r.err;
  const auto oci = nlohmann::json::parse(r.out);
  EXPECT_EQ(oci["architectures"],
            nlohmann::json({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  std::vector<std::string> first;
  for (const auto& rule : oci["syscalls"]) first.push_back(rule["names"][0]);
  // As Docker on amd64 for a container without capabilities (export's
  // default): ppc64le, arm, s390 and riscv64 rules out, amd64/x32 in,
  // ptrace from 4.8 on, every rule for a CAP_* out, and the rules for
  // those without CAP_SYS_ADMIN in.
  EXPECT_EQ(first,
            (std::vector<std::string>{"accept", "process_vm_readv", "personality", "personality",
                                      "personality", "personality", "personality", "arch_prctl",
                                      "modify_ldt", "clone", "clone3"}));

  // The docker form is the file as Docker reads it: archMap kept, and it
  // parses back to a profile that renders and compiles identically.
  const SeccompProfile p = MustLoad(kMoby);
  const std::string docker = RenderProfile(p, ProfileFormat::kDocker);
  const auto dj = nlohmann::json::parse(docker);
  EXPECT_FALSE(dj.contains("architectures"));
  EXPECT_EQ(dj["archMap"][0]["subArchitectures"],
            nlohmann::json({"SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  EXPECT_EQ(dj["syscalls"][1]["includes"]["minKernel"], "4.8");
  EXPECT_EQ(dj["syscalls"][9]["includes"]["arches"], nlohmann::json({"amd64", "x32"}));
  const SeccompProfile back = MustParse(docker);
  EXPECT_EQ(RenderProfile(back, ProfileFormat::kDocker), docker);
  EXPECT_EQ(RenderProfile(back, ProfileFormat::kOci), RenderProfile(p, ProfileFormat::kOci));
}

#endif  // __x86_64__

TEST(DockerProfile, ExportJudgesMinKernelForTheKernelGiven) {
  const SeccompProfile p = MustLoad(kMoby);
  auto has_ptrace_rule = [&](KernelVersion k) {
    ExportOptions o;
    o.arch = "amd64";
    o.kernel = k;
    const auto j = nlohmann::json::parse(RenderProfile(p, ProfileFormat::kOci, o));
    for (const auto& r : j["syscalls"]) {
      if (r["names"][0] == "process_vm_readv") return true;
    }
    return false;
  };
  EXPECT_FALSE(has_ptrace_rule({4, 7}));
  EXPECT_TRUE(has_ptrace_rule({4, 8}));
  EXPECT_TRUE(has_ptrace_rule({6, 18}));
}

TEST(ArchNames, DockerAndGoNamesAreLibseccompsArchitectures) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"amd64", "SCMP_ARCH_X86_64"},
      {"x86", "SCMP_ARCH_X86"},
      {"386", "SCMP_ARCH_X86"},
      {"x32", "SCMP_ARCH_X32"},
      {"arm64", "SCMP_ARCH_AARCH64"},
      {"arm", "SCMP_ARCH_ARM"},
      {"ppc64le", "SCMP_ARCH_PPC64LE"},
      {"s390x", "SCMP_ARCH_S390X"},
      {"riscv64", "SCMP_ARCH_RISCV64"},
      {"mips64p32le", "SCMP_ARCH_MIPSEL64N32"},
      {"mips3l64n32", "SCMP_ARCH_MIPSEL64N32"},
      {"mipsle", "SCMP_ARCH_MIPSEL"},
      {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86_64"}};
  for (const auto& [name, scmp] : cases) {
    EXPECT_EQ(CanonicalArch(name), std::optional<std::string>(scmp)) << name;
  }
  EXPECT_EQ(CanonicalArch("amd46"), std::nullopt);
  EXPECT_EQ(CanonicalArch("AMD64"), std::nullopt);  // Docker compares case-sensitively
#if defined(__x86_64__)
  EXPECT_EQ(NativeArchName(), "SCMP_ARCH_X86_64");
#endif
}

TEST(ArchNames, ArchMapGivesTheHostAndItsSubArchitectures) {
  const SeccompProfile p = MustLoad(kMoby);
  EXPECT_EQ(ProfileArchitectures(p, "SCMP_ARCH_X86_64"),
            (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  EXPECT_EQ(ProfileArchitectures(p, "SCMP_ARCH_AARCH64"),
            (std::vector<std::string>{"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}));
  EXPECT_EQ(ProfileArchitectures(p, "SCMP_ARCH_RISCV64"),  // subArchitectures: null
            (std::vector<std::string>{"SCMP_ARCH_RISCV64"}));
  EXPECT_EQ(ProfileArchitectures(p, "SCMP_ARCH_PPC64LE"), std::vector<std::string>{});
}

TEST(RuleConditions, ArchesCapsAndMinKernelAsDockerJudgesThem) {
  const SeccompProfile p = MustParse(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
    {"names": ["a"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["amd64", "x32"]}},
    {"names": ["b"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["x86"]}},
    {"names": ["c"], "action": "SCMP_ACT_ERRNO", "excludes": {"arches": ["386", "amd64"]}},
    {"names": ["d"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}},
    {"names": ["e"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["f"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "4.8"}},
    {"names": ["g"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "5.10"}},
    {"names": ["h"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": ""}}
  ]})");
  ASSERT_EQ(p.syscalls.size(), 8u);
  auto applies = [&](size_t i, const std::string& arch, std::vector<std::string> caps,
                     KernelVersion k) { return RuleAppliesTo(p.syscalls[i], arch, caps, k); };
  const KernelVersion k618{6, 18};
  // Architectures: the host's only, whatever the name.
  EXPECT_TRUE(applies(0, "SCMP_ARCH_X86_64", {}, k618));
  EXPECT_TRUE(applies(0, "amd64", {}, k618));
  EXPECT_FALSE(applies(0, "SCMP_ARCH_AARCH64", {}, k618));
  EXPECT_FALSE(applies(1, "SCMP_ARCH_X86_64", {}, k618));  // x86 is a sub-architecture here
  EXPECT_TRUE(applies(1, "SCMP_ARCH_X86", {}, k618));
  EXPECT_FALSE(applies(2, "SCMP_ARCH_X86_64", {}, k618));
  EXPECT_FALSE(applies(2, "SCMP_ARCH_X86", {}, k618));
  EXPECT_TRUE(applies(2, "SCMP_ARCH_AARCH64", {}, k618));
  // Capabilities: every included one, none of the excluded.
  EXPECT_FALSE(applies(3, "amd64", {"CAP_SYS_ADMIN"}, k618));
  EXPECT_TRUE(applies(3, "amd64", {"CAP_BPF", "CAP_SYS_ADMIN"}, k618));
  EXPECT_TRUE(applies(4, "amd64", {"CAP_BPF"}, k618));
  EXPECT_FALSE(applies(4, "amd64", {"CAP_SYS_ADMIN"}, k618));
  // minKernel: includes from that version on, excludes from it on.
  EXPECT_FALSE(applies(5, "amd64", {}, {4, 7}));
  EXPECT_TRUE(applies(5, "amd64", {}, {4, 8}));
  EXPECT_TRUE(applies(5, "amd64", {}, {4, 19}));  // numbers, not strings: 19 > 8
  EXPECT_TRUE(applies(5, "amd64", {}, k618));
  EXPECT_TRUE(applies(6, "amd64", {}, {5, 4}));
  EXPECT_FALSE(applies(6, "amd64", {}, {5, 10}));
  EXPECT_FALSE(applies(6, "amd64", {}, k618));
  EXPECT_TRUE(applies(7, "amd64", {}, {3, 10}));  // "": no condition, as Docker writes it
}

TEST(RuleConditions, MinKernelIsParsedAsMobyDoesAndTheRunningKernelIsUnames) {
  EXPECT_EQ(ParseMinKernel("4.8"), std::optional<KernelVersion>({4, 8}));
  EXPECT_EQ(ParseMinKernel("255.0"), std::optional<KernelVersion>({255, 0}));
  for (const char* bad : {"4", "4.8.1", "a.b", "0.0", "256.1", "4.", ".8", "-4.8", " 4.8", ""}) {
    EXPECT_EQ(ParseMinKernel(bad), std::nullopt) << bad;
  }
  std::string release;
  std::ifstream("/proc/sys/kernel/osrelease") >> release;
  const KernelVersion k = RunningKernel();
  EXPECT_EQ(release.rfind(k.ToString() + ".", 0), 0u) << release << " vs " << k.ToString();
}

TEST(RuleConditions, AMinKernelAboveTheRunningKernelLeavesTheRuleOutOfTheFilter) {
  // getppid refused from kernel 255.0 on (not this one), getpgrp from the
  // running kernel's version on (this one), gettid unless the kernel is at
  // least 255.0 (so refused). Loaded for real in a child.
  const std::string running = RunningKernel().ToString();
  const SeccompProfile p = MustParse(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
    {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 71,
     "includes": {"minKernel": "255.0"}},
    {"names": ["getpgrp"], "action": "SCMP_ACT_ERRNO", "errnoRet": 72,
     "includes": {"minKernel": ")" + running +
                                     R"("}},
    {"names": ["gettid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 73,
     "excludes": {"minKernel": "255.0"}}
  ]})");
  auto f = CompileProfile(p);
  ASSERT_TRUE(f.ok()) << f.status().message();
  pid_t c = fork();
  if (c == 0) {
    if (seccomp_load(f->get()) != 0) syscall(SYS_exit_group, 100);
    int bits = 0;
    bits |= syscall(SYS_getppid) > 0 ? 1 : 0;
    bits |= (syscall(SYS_getpgrp) == -1 && errno == 72) ? 2 : 0;
    bits |= (syscall(SYS_gettid) == -1 && errno == 73) ? 4 : 0;
    syscall(SYS_exit_group, bits);
  }
  int st = 0;
  ASSERT_EQ(waitpid(c, &st, 0), c);
  ASSERT_TRUE(WIFEXITED(st)) << st;
  EXPECT_EQ(WEXITSTATUS(st), 7);
}

TEST(RuleConditions, BadConditionsNameTheField) {
  struct Case {
    std::string filter, error;
  };
  const std::vector<Case> cases = {
      {R"("includes": {"arches": ["amd46"]})",
       "p.json: syscalls[0].includes.arches[0]: 'amd46' is not an architecture"},
      {R"("excludes": {"caps": ["CAP_SYS_ADMN"]})",
       "p.json: syscalls[0].excludes.caps[0]: 'CAP_SYS_ADMN' is not a capability"},
      {R"("includes": {"minKernel": "4.8.1"})",
       "p.json: syscalls[0].includes.minKernel: '4.8.1' is not a kernel version"},
      {R"("excludes": {"minKernel": 4.8})",
       "p.json: syscalls[0].excludes.minKernel: must be a string like \"4.8\""},
  };
  for (const auto& c : cases) {
    const std::string text = R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", )" +
                             c.filter + "}]}";
    auto p = SeccompProfile::Parse(text, "p.json");
    ASSERT_FALSE(p.ok()) << text;
    EXPECT_EQ(p.status().message().substr(0, c.error.size()), c.error) << p.status().message();
  }
  const std::vector<Case> profiles = {
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
           "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": null}]})",
       "p.json: profile: 'architectures' and 'archMap' exclude each other (as in Docker)"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"subArchitectures": []}]})",
       "p.json: archMap[0]: needs 'architecture'"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW",
           "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["x86"]}]})",
       "p.json: archMap[0].subArchitectures[0]: must be an SCMP_ARCH_* name"},
  };
  for (const auto& c : profiles) {
    auto p = SeccompProfile::Parse(c.filter, "p.json");
    ASSERT_FALSE(p.ok()) << c.filter;
    EXPECT_EQ(p.status().message(), c.error);
  }
}

}  // namespace
}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// Profiles through export and back, and the profile a recording makes,
// judged by the filters they compile to: two profiles that compile to the
// same BPF program (libseccomp's export, byte for byte) are the same
// profile to the kernel. Merged profiles are loaded for real in a child.
#include <errno.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "require_root.h"
#include "seccomp/export.h"
#include "seccomp/profile.h"
#include "spawn.h"

namespace nbw {
namespace {

const std::string kDir = NBW_SOURCE_DIR "/policies/seccomp/";

// The BPF program a profile compiles to, as bytes.
std::string Bpf(const SeccompProfile& p) {
  auto f = CompileProfile(p);
  EXPECT_TRUE(f.ok()) << f.status().message();
  if (!f.ok()) return "";
  FILE* tmp = std::tmpfile();
  EXPECT_EQ(seccomp_export_bpf(f->get(), fileno(tmp)), 0);
  std::string out;
  std::rewind(tmp);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) out.append(buf, n);
  std::fclose(tmp);
  return out;
}

SeccompProfile MustParse(const std::string& text, const std::string& origin) {
  auto p = SeccompProfile::Parse(text, origin);
  EXPECT_TRUE(p.ok()) << p.status().message() << "\n" << text;
  return p.ok() ? *p : SeccompProfile{};
}

class ShippedProfile : public ::testing::TestWithParam<const char*> {};

TEST_P(ShippedProfile, RoundTripsThroughEveryFormat) {
  auto p = SeccompProfile::Load(kDir + GetParam() + ".json");
  ASSERT_TRUE(p.ok()) << p.status().message();
  const std::string bpf = Bpf(*p);
  ASSERT_FALSE(bpf.empty());

  // docker: the same profile, comments and all; rendering again is stable.
  const std::string docker = RenderProfile(*p, ProfileFormat::kDocker);
  SeccompProfile back = MustParse(docker, "docker");
  EXPECT_EQ(RenderProfile(back, ProfileFormat::kDocker), docker);
  EXPECT_EQ(Bpf(back), bpf);

  // oci: the runtime-spec object; no Docker-only keys, same filter.
  const std::string oci = RenderProfile(*p, ProfileFormat::kOci);
  auto j = nlohmann::json::parse(oci);
  for (const auto& r : j["syscalls"]) {
    EXPECT_FALSE(r.contains("comment") || r.contains("includes") || r.contains("excludes")) << r;
  }
  EXPECT_EQ(Bpf(MustParse(oci, "oci")), bpf);

  // k8s: a Security Profiles Operator object whose spec is the OCI form.
  ExportOptions o;
  o.name = GetParam();
  auto k = nlohmann::json::parse(RenderProfile(*p, ProfileFormat::kK8s, o));
  EXPECT_EQ(k["apiVersion"], "security-profiles-operator.x-k8s.io/v1beta1");
  EXPECT_EQ(k["kind"], "SeccompProfile");
  EXPECT_EQ(k["metadata"]["name"], GetParam());
  EXPECT_EQ(k["spec"], j);
}

INSTANTIATE_TEST_SUITE_P(Seccomp, ShippedProfile,
                         ::testing::Values("notebook-kernel", "model-server"));

TEST(Export, OciResolvesIncludesAndExcludesForTheContainersCapabilities) {
  const SeccompProfile p = MustParse(R"({
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [
      {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["uname"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["ioperm"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["SCMP_ARCH_ARM"]}}
    ]})",
                                     "caps.json");
  auto names = [](const std::string& text) {
    std::vector<std::string> out;
    const auto j = nlohmann::json::parse(text);
    for (const auto& r : j["syscalls"]) out.push_back(r["names"][0]);
    return out;
  };
  ExportOptions none, admin;
  none.arch = admin.arch = "SCMP_ARCH_X86_64";
  admin.caps = {"CAP_SYS_ADMIN"};
  EXPECT_EQ(names(RenderProfile(p, ProfileFormat::kOci, none)),
            (std::vector<std::string>{"getpid", "uname"}));
  EXPECT_EQ(names(RenderProfile(p, ProfileFormat::kOci, admin)),
            (std::vector<std::string>{"getpid", "mount"}));
  // docker keeps the conditions for the runtime to resolve.
  EXPECT_EQ(names(RenderProfile(p, ProfileFormat::kDocker, none)),
            (std::vector<std::string>{"getpid", "mount", "uname", "ioperm"}));
}

TEST(Export, TheCliPrintsEachFormatAndRefusesABadProfile) {
  Ran r = Spawn({NBW_CLI_PATH, "seccomp", "export", "notebook-kernel", "--profiles", kDir,
                 "--format", "k8s"});
  ASSERT_EQ(Exit(r), 0) << r.err;
  auto k = nlohmann::json::parse(r.out);
  EXPECT_EQ(k["metadata"]["name"], "notebook-kernel");
  EXPECT_EQ(k["spec"]["defaultAction"], "SCMP_ACT_ALLOW");

  r = Spawn({NBW_CLI_PATH, "seccomp", "export", "notebook-kernel", "--profiles", kDir, "--format",
             "podman"});
  EXPECT_EQ(Exit(r), 2);
  EXPECT_EQ(r.err, "nbwarden seccomp export: --format: 'podman' is not one of docker, oci, k8s\n");

  r = Spawn({NBW_CLI_PATH, "seccomp", "export", "/nonexistent/p.json"});
  EXPECT_EQ(Exit(r), 1);
  EXPECT_NE(r.err.find("/nonexistent/p.json"), std::string::npos) << r.err;
}

TEST(Recording, WithoutABaseAllowsExactlyTheRecordedSyscalls) {
  RecordingMerge m;
  SeccompProfile p = ProfileFromRecording({"read", "getpid", "read", "exit_group"}, nullptr, &m);
  EXPECT_EQ(p.default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(p.default_errno_ret, std::optional<uint32_t>(EPERM));
  EXPECT_EQ(p.architectures, std::vector<std::string>{"SCMP_ARCH_X86_64"});
  ASSERT_EQ(p.syscalls.size(), 2u);
  EXPECT_EQ(p.syscalls[0].names, (std::vector<std::string>{"exit_group", "getpid", "read"}));
  EXPECT_EQ(p.syscalls[0].action, "SCMP_ACT_ALLOW");
  EXPECT_EQ(m.added, (std::vector<std::string>{"exit_group", "getpid", "read"}));
  // Kept apart: what the kernel makes a process do, recorded or not.
  EXPECT_EQ(p.syscalls[1].names,
            (std::vector<std::string>{"rt_sigreturn", "restart_syscall", "exit"}));
}

TEST(Recording, ABaseDecidesWhatItNamesAndNeverWidens) {
  auto base = SeccompProfile::Load(kDir + "notebook-kernel.json");
  ASSERT_TRUE(base.ok()) << base.status().message();
  RecordingMerge m;
  SeccompProfile p = ProfileFromRecording(
      {"exit_group", "getpid", "unshare", "mount", "clone3", "write"}, &*base, &m);
  EXPECT_EQ(p.default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(m.added, (std::vector<std::string>{"exit_group", "getpid", "unshare", "write"}));
  EXPECT_EQ(m.refused_by_base, (std::vector<std::string>{"clone3", "mount"}));
  // unshare: the base refuses new user, mount and cgroup namespaces and
  // allowed the rest by default; the rest is allowed explicitly now.
  const SeccompRule& last = p.syscalls[p.syscalls.size() - 2];  // before the always-allowed
  EXPECT_EQ(last.names, std::vector<std::string>{"unshare"});
  ASSERT_EQ(last.args.size(), 1u);
  EXPECT_EQ(last.args[0].op, "SCMP_CMP_MASKED_EQ");
  EXPECT_EQ(last.args[0].value, uint64_t(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP));
  EXPECT_EQ(last.args[0].value_two, 0u);
}

TEST(Recording, AMergedProfileRefusesWhatTheBaseRefusesAndAllowsTheRecordedRest) {
  NBW_REQUIRE_ROOT("unshare(CLONE_NEWUTS) needs CAP_SYS_ADMIN");
  auto base = SeccompProfile::Load(kDir + "notebook-kernel.json");
  ASSERT_TRUE(base.ok()) << base.status().message();
  SeccompProfile p = ProfileFromRecording({"exit_group", "unshare", "mount"}, &*base);
  auto f = CompileProfile(p);
  ASSERT_TRUE(f.ok()) << f.status().message();
  pid_t c = fork();
  if (c == 0) {
    if (seccomp_load(f->get()) != 0) syscall(SYS_exit_group, 100);
    int bits = 0;
    auto refused = [](long r) { return r == -1 && errno == EPERM; };
    bits |= refused(syscall(SYS_unshare, CLONE_NEWUSER)) ? 1 : 0;  // base refuses
    bits |= syscall(SYS_unshare, CLONE_NEWUTS) == 0 ? 2 : 0;       // recorded rest
    bits |= refused(syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, nullptr)) ? 4 : 0;
    bits |= refused(syscall(SYS_getppid)) ? 8 : 0;  // never recorded
    syscall(SYS_exit_group, bits);
  }
  int st = 0;
  ASSERT_EQ(waitpid(c, &st, 0), c);
  ASSERT_TRUE(WIFEXITED(st)) << st;
  EXPECT_EQ(WEXITSTATUS(st), 15);
}

}  // namespace
}  // namespace nbw

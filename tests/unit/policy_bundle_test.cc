// SPDX-License-Identifier: Apache-2.0
// PolicyBundle and its KernelPolicy, without BPF: one read of the tree gives
// the version and every part, errors name file:line:col, and the kernel
// policy of a bundle is exactly the entries its rules, selectors and
// model-guard settings call for.
#include "policy/policy_bundle.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <ostream>

namespace nbw {

// Readable diffs when a compiled policy is not the expected one.
void PrintTo(const KernelPolicy& k, std::ostream* os) {
  *os << "\n  kill_exec:";
  for (const auto& [e, n] : k.kill_exec) *os << " (" << e.role << "," << e.comm << ")=" << n;
  *os << "\n  deny_connect:";
  for (const auto& [e, n] : k.deny_connect) {
    *os << " (" << e.role << "," << e.family << ",";
    for (uint8_t b : e.addr) *os << int(b) << ".";
    *os << ":" << e.port << ")=" << n;
  }
  *os << "\n  model_enforce:";
  for (const auto& [r, w] : k.model_enforce) *os << " " << r << "=" << w;
  *os << "\n  model_exts:";
  for (const auto& e : k.model_exts) *os << " " << e;
  *os << "\n  model_grace_ns: " << k.model_grace.count() << "\n  candidate_comms:";
  for (const auto& c : k.candidate_comms) *os << " " << c;
  *os << "\n  needs_connect_hooks: " << k.needs_connect_hooks << "\n";
}

namespace {

const char* kTargets = R"(targets:
  - name: kernels
    role: notebook-kernel
    match: {comm: [python, "ipykernel$"]}
  - name: servers
    role: model-server
    match: {comm: [tritonserver, python]}
)";

const char* kRules = R"(rules:
  - id: R-ALERT
    name: alert only
    event: exec
    severity: warning
    when: {exec.name: [curl]}
  - id: R-KILL
    name: no shells in servers
    event: exec
    roles: [model-server]
    action: kill
    severity: critical
    when: {exec.name: [sh, a-name-longer-than-fifteen-bytes]}
  - id: R-KILL-ALL
    name: no miners
    event: exec
    action: kill
    severity: critical
    when: {exec.name: [xmrig]}
  - id: R-DENY
    name: no metadata service
    event: net
    roles: [notebook-kernel, model-server]
    action: deny
    severity: critical
    when: {net.op: connect, net.address: [169.254.169.254, "fd00::1"], net.port: [80, 443]}
  - id: R-DENY-ANYPORT
    name: no exfil host
    event: net
    action: deny
    severity: critical
    when: {net.op: connect, net.address: [10.1.2.3]}
  - id: R-WINDOW
    name: no exec while a model loads
    event: exec
    roles: [notebook-kernel]
    action: kill
    severity: critical
    when: {model.loading: true}
  - id: R-WINDOW-NET
    name: no connect while a model loads
    event: net
    roles: [notebook-kernel]
    action: deny
    severity: critical
    when: {net.op: connect, model.loading: true}
)";

const char* kModelGuard = R"(model_guard:
  extensions: [.PT, .pkl]
  grace_ms: 250
)";

std::vector<uint8_t> V4(const char* a) {
  std::vector<uint8_t> b(4);
  EXPECT_EQ(inet_pton(AF_INET, a, b.data()), 1);
  return b;
}
std::vector<uint8_t> V6(const char* a) {
  std::vector<uint8_t> b(16);
  EXPECT_EQ(inet_pton(AF_INET6, a, b.data()), 1);
  return b;
}

class PolicyDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nbwbundle.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(dir_ + "/" + name).parent_path());
    std::ofstream(dir_ + "/" + name) << text;
  }
  std::string dir_;
};

TEST_F(PolicyDir, ABundleCompilesToExactlyTheKernelEntriesItsPolicyCallsFor) {
  Write("a-targets.yaml", kTargets);
  Write("rules/b.yaml", kRules);
  Write("c-model.yaml", kModelGuard);
  auto b = PolicyBundle::Load(dir_);
  ASSERT_TRUE(b.ok()) << b.status().message();
  RoleIds roles;
  auto k = CompileKernelPolicy(*b, roles);
  ASSERT_TRUE(k.ok()) << k.status().message();
  // Ids in order of first use by the rules.
  const uint32_t server = roles.Id("model-server");
  const uint32_t kernel = roles.Id("notebook-kernel");
  EXPECT_EQ(server, 1u);
  EXPECT_EQ(kernel, 2u);
  const uint32_t any = KernelPolicy::kAnyRole;

  KernelPolicy want;
  // Rule numbers count every rule, alert ones too, in file order.
  want.kill_exec = {{{server, "sh"}, 2},
                    {{server, "a-name-longer-t"}, 2},  // the kernel's 15-byte comm
                    {{any, "xmrig"}, 3}};
  for (uint32_t role : {kernel, server}) {
    for (uint16_t port : {80, 443}) {
      want.deny_connect[{role, AF_INET, V4("169.254.169.254"), port}] = 4;
      want.deny_connect[{role, AF_INET6, V6("fd00::1"), port}] = 4;
    }
  }
  want.deny_connect[{any, AF_INET, V4("10.1.2.3"), 0}] = 5;  // port 0: any
  want.model_enforce = {{kernel, NBW_MODEL_KILL_EXEC | NBW_MODEL_DENY_CONNECT}};
  want.model_exts = {".pt", ".pkl"};
  want.model_grace = std::chrono::milliseconds(250);
  want.candidate_comms = {"ipykernel$", "python", "tritonserver"};
  want.needs_connect_hooks = dir_ + "/rules/b.yaml:20:5: rule R-DENY";
  EXPECT_EQ(*k, want);
}

TEST_F(PolicyDir, AlertOnlyRulesPutNothingInTheKernelButTheSelectorsAndModelSettings) {
  Write("p.yaml", std::string(kTargets) + R"(rules:
  - id: R-ALERT
    name: alert only
    event: exec
    severity: warning
    when: {exec.name: [curl]}
)");
  auto b = PolicyBundle::Load(dir_);
  ASSERT_TRUE(b.ok()) << b.status().message();
  RoleIds roles;
  auto k = CompileKernelPolicy(*b, roles);
  ASSERT_TRUE(k.ok());
  KernelPolicy want;
  want.candidate_comms = {"ipykernel$", "python", "tritonserver"};
  want.model_grace = b->model_guard.grace();
  for (const auto& e : b->model_guard.extensions()) want.model_exts.insert(e);
  EXPECT_EQ(*k, want);
  EXPECT_TRUE(k->needs_connect_hooks.empty()) << "no deny rule: the hooks are not needed";
}

TEST_F(PolicyDir, RoleIdsStayTheSameAcrossPolicies) {
  Write("p.yaml", std::string(kTargets) + kRules);
  RoleIds roles;
  const uint32_t early = roles.Id("notebook-kernel");  // tracked before any policy
  auto b = PolicyBundle::Load(dir_);
  ASSERT_TRUE(b.ok()) << b.status().message();
  auto k = CompileKernelPolicy(*b, roles);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->model_enforce.begin()->first, early);
  EXPECT_EQ(roles.Id("notebook-kernel"), early);
  EXPECT_NE(roles.Id("model-server"), early);
}

TEST_F(PolicyDir, TheVersionIsOverTheSameBytesThePartsCameFrom) {
  Write("a.yaml", kTargets);
  Write("b.yaml", kRules);
  auto b = PolicyBundle::Load(dir_);
  ASSERT_TRUE(b.ok()) << b.status().message();
  auto files = ReadPolicyFiles(dir_);
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(b->version, PolicyVersion(*files, dir_));
  EXPECT_EQ(b->version.size(), 16u);
  EXPECT_EQ(b->path, dir_);
  EXPECT_EQ(b->rules.rules().size(), 7u);
  EXPECT_EQ(b->targets.selectors().size(), 2u);

  // The same tree elsewhere is the same version; another text is another.
  std::vector<PolicyFile> moved = *files;
  for (auto& f : moved) f.path = "/elsewhere/" + std::filesystem::path(f.path).filename().string();
  EXPECT_EQ(PolicyVersion(moved, "/elsewhere"), b->version);
  moved[1].text += "\n# a comment\n";
  EXPECT_NE(PolicyVersion(moved, "/elsewhere"), b->version);
}

TEST_F(PolicyDir, AnErrorInAnyPartRejectsTheWholeBundleNamingFileLineAndColumn) {
  Write("a.yaml", kTargets);
  Write("b.yaml", kRules);
  Write("c.yaml", "model_guard:\n  grace_ms: -5\n");
  auto b = PolicyBundle::Load(dir_);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(),
            dir_ + "/c.yaml:2:13: grace_ms: must be a whole number from 0 to 600000");

  Write("c.yaml", "rules:\n  - id: X\n    name: x\n    event: exec\n    action: explode\n");
  b = PolicyBundle::Load(dir_);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message().rfind(dir_ + "/c.yaml:", 0), 0u) << b.status().message();

  std::filesystem::remove(dir_ + "/c.yaml");
  std::filesystem::remove(dir_ + "/a.yaml");
  b = PolicyBundle::Load(dir_);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(), dir_ + ": no targets defined: nothing would be watched");
}

}  // namespace
}  // namespace nbw

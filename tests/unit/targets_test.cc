// SPDX-License-Identifier: Apache-2.0
#include "policy/targets.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace nbw {
namespace {

const char* kPolicy = R"(targets:
  - name: jupyter-ipykernel
    role: notebook-kernel
    match:
      comm: [python]
      argv: '(^|\s|/)(-m\s+)?(ipykernel_launcher|ipykernel)(\.py)?(\s|$)'
  - name: exact-r
    role: notebook-kernel
    match:
      comm: ['R$']
)";

TEST(Targets, IpykernelLaunchIsMatchedWithItsRole) {
  auto t = TargetSet::LoadString(kPolicy, "t.yaml");
  ASSERT_TRUE(t.ok()) << t.status().message();
  auto m = t->Match("python3", "/usr/bin/python3.11",
                    {"/usr/bin/python3", "-m", "ipykernel_launcher", "-f",
                     "/root/.local/share/jupyter/runtime/kernel-5f1c.json"});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->selector->name, "jupyter-ipykernel");
  EXPECT_EQ(m->selector->role, "notebook-kernel");
}

TEST(Targets, OtherPythonProgramsAreNotTargets) {
  auto t = TargetSet::LoadString(kPolicy, "t.yaml");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->Match("python3", "/usr/bin/python3", {"python3", "-m", "http.server"}));
  EXPECT_FALSE(t->Match("python3", "/usr/bin/python3", {"python3", "my_ipykernel_notes.py"}));
  EXPECT_FALSE(t->Match("bash", "/bin/bash", {"bash", "-m", "ipykernel_launcher"}));
}

TEST(Targets, TrailingDollarMeansExactComm) {
  auto t = TargetSet::LoadString(kPolicy, "t.yaml");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->Match("R", "/usr/lib/R/bin/exec/R", {"R"}));
  EXPECT_FALSE(t->Match("Rscript", "/usr/bin/Rscript", {"Rscript"}));
}

TEST(Targets, CommPrefixesAreDeduplicatedForTheKernel) {
  auto t = TargetSet::LoadString(kPolicy, "t.yaml");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->CommPrefixes(), (std::vector<std::string>{"R$", "python"}));
}

struct BadPolicy {
  const char* yaml;
  const char* want;  // substring of the error, which names file:line:col
};

class TargetsBad : public ::testing::TestWithParam<BadPolicy> {};

TEST_P(TargetsBad, ErrorNamesFileLineAndColumn) {
  auto t = TargetSet::LoadString(GetParam().yaml, "bad.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find(GetParam().want), std::string::npos) << t.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    All, TargetsBad,
    ::testing::Values(
        BadPolicy{"targets: [\n  {name: a, role: r, match: {comm: [python]}}\n  oops",
                  "bad.yaml:3:"},
        BadPolicy{"targets:\n  - name: a\n    role: r\n    match:\n      comm: [python]\n"
                  "      argv: '(unclosed'\n",
                  "bad.yaml:6:13: 'argv' is not a valid regex"},
        BadPolicy{"targets:\n  - name: a\n    role: r\n    match: {argv: x}\n",
                  "bad.yaml:4:12: target 'a' needs 'match.comm'"},
        BadPolicy{"targets:\n  - name: a\n    rol: r\n",
                  "bad.yaml:3:5: unknown target field 'rol'"},
        BadPolicy{
            "targets:\n  - name: a\n    role: r\n    match: {comm: [averyveryverylongcomm]}\n",
            "must be 1-15 bytes"},
        BadPolicy{"targets: {a: 1}\n", "bad.yaml:1:10: 'targets' must be a list"},
        BadPolicy{"- just\n- a list\n", "top level must be a mapping"},
        // Issue 11 (3.6): wrong types are errors, not an uncaught exception.
        BadPolicy{"targets:\n  - {name: [a], role: r, match: {comm: [python]}}\n",
                  "bad.yaml:2:12: name: must be a string, not a list"},
        BadPolicy{"targets:\n  - {name: a, role: {r: 1}, match: {comm: [python]}}\n",
                  "bad.yaml:2:21: role: must be a string, not a mapping"},
        BadPolicy{"targets:\n  - {name: a, role: r, match: {comm: [[python]]}}\n",
                  "bad.yaml:2:39: comm[0]: must be a string, not a list"},
        BadPolicy{"targets:\n  - {name: a, role: r, match: {comm: [python], argv: [x]}}\n",
                  "bad.yaml:2:54: argv: must be a string, not a list"},
        BadPolicy{"targets:\n  - {name: a, role: r, match: {{comm: 1}: [python]}}\n",
                  "bad.yaml:2:32: match: a key must be a string, not a list or mapping"},
        BadPolicy{"targets:\n  - {name: a, name: b, role: r, match: {comm: [python]}}\n",
                  "bad.yaml:2:15: 'name' is given twice in this mapping (first at 2:6)"}));

TEST(Targets, DirectoryWithoutTargetsIsAnError) {
  auto dir = std::filesystem::temp_directory_path() / "nbw-empty-policy";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "x.yaml") << "other: 1\n";
  auto t = TargetSet::LoadPath(dir);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("no targets defined"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(Targets, BundledPoliciesLoad) {
  auto t = TargetSet::LoadPath(NBW_SOURCE_DIR "/policies");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_GE(t->selectors().size(), 1u);
}

TEST(RoleStrictness, ADescendantsRoleIsRaisedNeverLowered) {
  EXPECT_TRUE(RoleIsStricter("model-server", "notebook-kernel"));
  EXPECT_FALSE(RoleIsStricter("notebook-kernel", "model-server"));
  EXPECT_FALSE(RoleIsStricter("model-server", "model-server"));
  // The rule-less roles give way to any role, and never take one's place.
  for (std::string_view lax : {kRoleManual, kRoleUnknown, std::string_view()}) {
    EXPECT_TRUE(RoleIsStricter("notebook-kernel", lax)) << lax;
    EXPECT_TRUE(RoleIsStricter("etl-job", lax)) << lax;
    EXPECT_FALSE(RoleIsStricter(lax, "notebook-kernel")) << lax;
    EXPECT_FALSE(RoleIsStricter(lax, "etl-job")) << lax;
  }
}

TEST(RoleStrictness, APolicysOwnRoleIsExchangedForNoOther) {
  // Its rules may be stricter or laxer than anyone's: whichever the target
  // had first stays.
  for (std::string_view known : {"notebook-kernel", "model-server"}) {
    EXPECT_FALSE(RoleIsStricter("etl-job", known)) << known;
    EXPECT_FALSE(RoleIsStricter(known, "etl-job")) << known;
  }
  EXPECT_FALSE(RoleIsStricter("etl-job", "batch"));
}

TEST(KernelId, ComesFromTheConnectionFileName) {
  EXPECT_EQ(
      KernelIdFromArgv({"python3", "-m", "ipykernel_launcher", "-f",
                        "/run/user/0/jupyter/kernel-0b9e6c1e-0c2d-4b8a-9d5e-1f2a3b4c5d6e.json"}),
      "0b9e6c1e-0c2d-4b8a-9d5e-1f2a3b4c5d6e");
  EXPECT_EQ(KernelIdFromArgv({"python3", "-m", "ipykernel_launcher"}), "");
  EXPECT_EQ(KernelIdFromArgv({"x", "--f=/tmp/kernel-abc.json"}), "abc");
}

}  // namespace
}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// Rules against synthetic events: the condition language, lists, roles,
// exceptions, summaries, and load errors that name file:line:col.
#include "policy/rules.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <set>

namespace nbw {
namespace {

Event OpenEvent(const std::string& path, int flags) {
  Event e;
  e.kind = EventKind::kOpen;
  e.syscall = SYS_openat;
  e.ret = 3;
  e.tgid = e.pid = 100;
  e.comm = "python3";
  e.args[0] = static_cast<uint64_t>(flags);
  e.str[0] = path;
  e.present[0] = true;
  return e;
}

Event ExecEvent(const std::string& exe, const std::string& argv) {
  Event e;
  e.kind = EventKind::kExec;
  e.syscall = SYS_execve;
  e.tgid = e.pid = 101;
  e.comm = exe.substr(exe.rfind('/') + 1);
  e.str[0] = exe;
  e.str[1] = argv;
  e.str[2] = "/";
  return e;
}

ProcessInfo Proc(const std::string& role, const std::string& exe = "/usr/bin/python3") {
  ProcessInfo p;
  p.tgid = 100;
  p.state = TrackState::kTarget;
  p.role = role;
  p.exe = exe;
  return p;
}

const char* kPolicy = R"(
lists:
  shells: [sh, bash, dash, zsh]
  secrets: [/etc/shadow, /root/.ssh/]
rules:
  - id: NBW-T1
    name: Shell in a model server
    event: exec
    roles: [model-server]
    when:
      exec.name: {in: $shells}
    severity: critical
    mitre: [T1059.004]
    summary: "{proc.name} started {exec.exe}"
  - id: NBW-T2
    name: Secret read
    event: open
    when:
      any:
        - open.path: {in: $secrets}
        - open.path: {prefix: /root/.ssh/}
    except:
      - proc.name: sshd
    severity: warning
  - id: NBW-T3
    name: Write under /etc
    event: open
    when:
      open.path: {glob: "/etc/*"}
      open.write: true
      not: {open.path: {suffix: [.tmp, .swp]}}
    severity: error
)";

TEST(Rules, ShellInModelServerMatchesOnlyForThatRole) {
  auto rs = RuleSet::LoadString(kPolicy, "p.yaml");
  ASSERT_TRUE(rs.ok()) << rs.status().message();
  const Rule* r = rs->ForKind(EventKind::kExec)[0];
  Event e = ExecEvent("/bin/bash", std::string("bash\0-c\0id\0", 11));
  ProcessInfo server = Proc("model-server");
  ProcessInfo kernel = Proc("notebook-kernel");
  EXPECT_TRUE(r->Matches(EvalContext(e, &server, nullptr)));
  EXPECT_FALSE(r->Matches(EvalContext(e, &kernel, nullptr)));
  Event ls = ExecEvent("/bin/ls", "ls");
  EXPECT_FALSE(r->Matches(EvalContext(ls, &server, nullptr)));
  EXPECT_EQ(r->Summarize(EvalContext(e, &server, nullptr)), "python3 started /bin/bash");
  EXPECT_EQ(r->severity, Severity::kCritical);
  EXPECT_EQ(r->mitre, std::vector<std::string>{"T1059.004"});
}

TEST(Rules, AnyOfAndExceptions) {
  auto rs = RuleSet::LoadString(kPolicy, "p.yaml");
  ASSERT_TRUE(rs.ok());
  const Rule* r = rs->ForKind(EventKind::kOpen)[0];
  ProcessInfo p = Proc("notebook-kernel");
  Event shadow = OpenEvent("/etc/shadow", O_RDONLY);
  Event key = OpenEvent("/root/.ssh/id_ed25519", O_RDONLY);
  Event other = OpenEvent("/etc/hostname", O_RDONLY);
  EXPECT_TRUE(r->Matches(EvalContext(shadow, &p, nullptr)));
  EXPECT_TRUE(r->Matches(EvalContext(key, &p, nullptr)));
  EXPECT_FALSE(r->Matches(EvalContext(other, &p, nullptr)));
  ProcessInfo sshd = Proc("notebook-kernel", "/usr/sbin/sshd");
  EXPECT_FALSE(r->Matches(EvalContext(key, &sshd, nullptr)));  // the exception
}

TEST(Rules, GlobBooleanAndNot) {
  auto rs = RuleSet::LoadString(kPolicy, "p.yaml");
  ASSERT_TRUE(rs.ok());
  const Rule* r = rs->ForKind(EventKind::kOpen)[1];
  ProcessInfo p = Proc("notebook-kernel");
  Event w = OpenEvent("/etc/cron.d/evil", O_WRONLY | O_CREAT);
  EXPECT_TRUE(r->Matches(EvalContext(w, &p, nullptr)));  // '*' crosses '/'
  Event ro = OpenEvent("/etc/cron.d/evil", O_RDONLY);
  EXPECT_FALSE(r->Matches(EvalContext(ro, &p, nullptr)));
  Event tmp = OpenEvent("/etc/passwd.tmp", O_WRONLY);
  EXPECT_FALSE(r->Matches(EvalContext(tmp, &p, nullptr)));
}

TEST(Rules, EnabledFalseDropsTheRule) {
  auto rs = RuleSet::LoadString(
      "rules:\n  - {id: A, name: a, event: exec, severity: notice, enabled: false}\n", "p.yaml");
  ASSERT_TRUE(rs.ok());
  EXPECT_TRUE(rs->rules().empty());
}

struct Bad {
  const char* yaml;
  const char* want;
};
class RulesBad : public ::testing::TestWithParam<Bad> {};

TEST_P(RulesBad, ErrorNamesTheSpot) {
  auto rs = RuleSet::LoadString(GetParam().yaml, "bad.yaml");
  ASSERT_FALSE(rs.ok());
  EXPECT_NE(rs.status().message().find(GetParam().want), std::string::npos)
      << rs.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    All, RulesBad,
    ::testing::Values(
        Bad{"rules:\n  - id: A\n    name: a\n    event: exec\n    severity: loud\n",
            "bad.yaml:5:15: rule A: severity 'loud' is not one of"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: exex\n    severity: notice\n",
            "bad.yaml:4:12: rule A: unknown event 'exex'"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: open\n    severity: notice\n"
            "    when: {open.pth: /x}\n",
            "bad.yaml:6:12: unknown field 'open.pth'"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: open\n    severity: notice\n"
            "    when: {open.path: {in: $nolist}}\n",
            "bad.yaml:6:28: unknown list '$nolist'"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: open\n    severity: notice\n"
            "    when: {open.path: {regex: '('}}\n",
            "bad.yaml:6:31: not a valid regex"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: open\n    severity: notice\n"
            "    when: {open.path: {startswith: /x}}\n",
            "bad.yaml:6:24: unknown operator 'startswith'"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: exec\n    severity: notice\n"
            "    mitre: [T59]\n",
            "is not an ATT&CK technique id"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: exec\n    severity: notice\n"
            "  - id: A\n    name: b\n    event: exec\n    severity: notice\n",
            "bad.yaml:6:5: rule id 'A' already used at bad.yaml:2:5"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: exec\n    severity: notice\n"
            "    action: kill\n    when: {exec.argv: {contains: x}}\n",
            "bad.yaml:6:13: rule A: action 'kill': the kernel cannot judge 'exec.argv'"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: open\n    severity: notice\n"
            "    action: kill\n    when: {open.path: /x}\n",
            "rule A: action 'kill' applies to 'event: exec' only"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: net\n    severity: notice\n"
            "    action: deny\n    when: {net.address: [not-an-ip]}\n",
            "'not-an-ip' is not an IP address"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: net\n    severity: notice\n"
            "    action: deny\n    when: {net.address: [10.0.0.1]}\n"
            "    except: [{proc.uid: 0}]\n",
            "the kernel cannot judge 'any', 'not' or 'except'"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: exec\n    severity: notice\n"
            "    action: kill\n    when: {model.loading: true, exec.name: sh}\n",
            "rule A: action 'kill': with model.loading the kernel kills every exec in the "
            "window; drop exec.name"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: exec\n    severity: notice\n"
            "    action: kill\n    when: {model.loading: false}\n",
            "rule A: action 'kill': the kernel judges 'model.loading: true' only"},
        Bad{"rules:\n  - id: A\n    name: a\n    event: net\n    severity: notice\n"
            "    action: deny\n    when: {model.loading: true, net.port: 443}\n",
            "with model.loading the kernel refuses every connect in the window; drop "
            "net.address and net.port"},
        Bad{"rules:\n  - id: A\n    nam: a\n", "bad.yaml:3:5: unknown rule field 'nam'"},
        Bad{"rule:\n  - id: A\n", "bad.yaml:1:1: unknown section 'rule'"}));

TEST(Rules, KillAndDenyRulesCompileToKernelParts) {
  auto rs = RuleSet::LoadString(R"(rules:
  - id: K
    name: k
    event: exec
    roles: [model-server]
    action: kill
    severity: critical
    when: {exec.name: {in: [sh, a-very-long-binary-name]}}
  - id: D
    name: d
    event: net
    action: deny
    severity: critical
    when: {net.op: connect, net.address: [169.254.169.254, "fd00:ec2::254"], net.port: [80, 443]}
)",
                                "p.yaml");
  ASSERT_TRUE(rs.ok()) << rs.status().message();
  const Rule& k = *rs->rules()[0];
  EXPECT_EQ(k.action, RuleAction::kKill);
  EXPECT_EQ(k.kernel.exec_names, (std::vector<std::string>{"sh", "a-very-long-bin"}));
  const Rule& d = *rs->rules()[1];
  ASSERT_EQ(d.kernel.addrs.size(), 2u);
  EXPECT_EQ(d.kernel.addrs[0].family, AF_INET);
  EXPECT_EQ(d.kernel.addrs[0].bytes, (std::vector<uint8_t>{169, 254, 169, 254}));
  EXPECT_EQ(d.kernel.addrs[1].family, AF_INET6);
  EXPECT_EQ(d.kernel.ports, (std::vector<uint16_t>{80, 443}));
}

TEST(Rules, ModelWindowEnforcementCompiles) {
  auto rs = RuleSet::LoadString(R"(
rules:
  - id: K
    name: k
    event: exec
    action: kill
    severity: critical
    when: {model.loading: true}
  - id: D
    name: d
    event: net
    action: deny
    severity: critical
    when: {net.op: connect, model.loading: true}
)",
                                "p.yaml");
  ASSERT_TRUE(rs.ok()) << rs.status().message();
  for (const auto& r : rs->rules()) {
    EXPECT_TRUE(r->kernel.model_window) << r->id;
    EXPECT_TRUE(r->kernel.exec_names.empty() && r->kernel.addrs.empty());
  }
}

// Issue 11 (3.7): a 556-byte policy of self-doubling list references took
// 1 GB and stalled the daemon on SIGHUP. Refused at the first list past the
// bound, at once, naming the list and where it is.
TEST(Rules, SelfDoublingListsAreRefusedQuicklyNamingTheList) {
  std::string text = "lists:\n  l0: [a, b]\n";
  for (int i = 1; i <= 30; i++) {
    text += fmt::format("  l{}: [${}, ${}]\n", i, "l" + std::to_string(i - 1),
                        "l" + std::to_string(i - 1));
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto rs = RuleSet::LoadString(text, "p.yaml");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  ASSERT_FALSE(rs.ok());
  // l13 would hold 2 * 2^13 = 16384 values.
  EXPECT_EQ(rs.status().message(),
            "p.yaml:15:8: list 'l13': expands to more than 10000 values (a list that names "
            "lists holds all of their values)");
}

TEST(Rules, ARuleTestAndAllListsTogetherAreBoundedToo) {
  // One test naming a big list many times.
  std::string text = "lists:\n  big: [";
  for (int i = 0; i < 5000; i++) text += (i ? ", v" : "v") + std::to_string(i);
  text +=
      "]\nrules:\n  - {id: A, name: a, event: exec, severity: notice,\n"
      "     when: {exec.name: [$big, $big, $big]}}\n";
  auto rs = RuleSet::LoadString(text, "p.yaml");
  ASSERT_FALSE(rs.ok());
  EXPECT_EQ(rs.status().message(),
            "p.yaml:5:24: exec.name: expands to more than 10000 values (a list that names lists "
            "holds all of their values)");
  // Lists each within the bound but long values: 16 MiB in all at most.
  const std::string long_value(64 << 10, 'x');
  std::string lists = "lists:\n  l0: [" + long_value + "]\n";
  for (int i = 1; i <= 300; i++) lists += fmt::format("  l{}: [$l0]\n", i);
  auto big = RuleSet::LoadString(lists, "q.yaml");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find(
                ": the policy's lists and tests expand to more than 16 MiB in all"),
            std::string::npos)
      << big.status().message();
}

// Issue 11 (3.6): wrong types in a policy are errors naming file:line:col,
// never an uncaught exception; a summary's {field} must exist.
TEST(Rules, WrongTypesAndUnknownSummaryFieldsAreErrors) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"rules:\n  - {id: A, name: a, event: exec, severity: notice, summary: \"{nope.field} "
       "ran\"}\n",
       "p.yaml:2:62: summary: unknown field '{nope.field}' (see docs/policy.md)"},
      {"rules:\n  - {id: A, name: a, event: exec, severity: [notice]}\n",
       "p.yaml:2:45: severity: must be a string, not a list"},
      {"rules:\n  - {id: A, name: a, event: exec, severity: notice, enabled: [false]}\n",
       "p.yaml:2:62: enabled: must be true or false"},
      {"rules:\n  - {id: A, name: a, event: exec, severity: notice, when: {[a]: b}}\n",
       "p.yaml:2:60: a key must be a string, not a list or mapping"},
      {"rules:\n  - {id: A, name: a, event: exec, severity: notice, when: {proc.pid: {[gt]: 1}}}\n",
       "p.yaml:2:71: proc.pid: a key must be a string, not a list or mapping"},
      {"rules:\n  - {id: A, name: a, event: exec, severity: notice, when: {proc.pid: {gt: [1]}}}\n",
       "p.yaml:2:75: proc.pid.gt: must be a whole number"},
      {"rules:\n  - {id: [A], name: a, event: exec, severity: notice}\n",
       "p.yaml:2:10: id: must be a string, not a list"},
      {"rules:\n  - {{id: A}: 1}\n", "p.yaml:2:6: a key must be a string, not a list or mapping"},
      {"lists:\n  {[a]: [b]}\n",
       "p.yaml:2:4: lists: a key must be a string, not a list or mapping"},
      {"lists:\n  a: [x]\n  a: [y]\n",
       "p.yaml:3:3: 'a' is given twice in this mapping (first at 2:3)"},
      {"{[targets]: 1}\n", "p.yaml:1:2: a key must be a string, not a list or mapping"},
  };
  for (const auto& k : cases) {
    auto rs = RuleSet::LoadString(k.yaml, "p.yaml");
    ASSERT_FALSE(rs.ok()) << k.yaml;
    EXPECT_EQ(rs.status().message(), k.error) << k.yaml;
  }
  auto ok = RuleSet::LoadString(
      "rules:\n  - {id: A, name: a, event: exec, severity: notice, enabled: no}\n"
      "  - {id: B, name: b, event: exec, severity: notice, summary: \"{proc.name} ran "
      "{exec.exe}\"}\n",
      "p.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  ASSERT_EQ(ok->rules().size(), 1u);
  EXPECT_EQ(ok->rules()[0]->id, "B");
}

TEST(Rules, BundledPoliciesLoad) {
  auto rs = RuleSet::LoadPath(NBW_SOURCE_DIR "/policies");
  ASSERT_TRUE(rs.ok()) << rs.status().message();
}

}  // namespace
}  // namespace nbw

namespace nbw {
namespace {

// Bundled rules on synthetic events, for actions no test may perform on
// the host for real (writing /etc/ld.so.preload or core_pattern).
class BundledRules : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rs = RuleSet::LoadPath(NBW_SOURCE_DIR "/policies");
    ASSERT_TRUE(rs.ok()) << rs.status().message();
    rules_ = std::make_unique<RuleSet>(std::move(rs).value());
  }
  std::set<std::string> Fired(const Event& e, const ProcessInfo& p) {
    std::set<std::string> ids;
    for (const Rule* r : rules_->ForKind(e.kind)) {
      if (r->Matches(EvalContext(e, &p, nullptr))) ids.insert(r->id);
    }
    return ids;
  }
  std::unique_ptr<RuleSet> rules_;
};

TEST_F(BundledRules, LoaderPreloadAndCorePatternWrites) {
  ProcessInfo p = Proc("notebook-kernel");
  EXPECT_EQ(Fired(OpenEvent("/etc/ld.so.preload", O_WRONLY | O_CREAT), p),
            std::set<std::string>{"NBW-125"});
  EXPECT_EQ(Fired(OpenEvent("/etc/ld.so.preload", O_RDONLY), p), std::set<std::string>{});
  EXPECT_EQ(Fired(OpenEvent("/proc/sys/kernel/core_pattern", O_WRONLY), p),
            std::set<std::string>{"NBW-113"});
  EXPECT_EQ(Fired(OpenEvent("/proc/sys/kernel/core_pattern", O_RDONLY), p),
            std::set<std::string>{});
}

TEST_F(BundledRules, SshKeysAndServiceAccountToken) {
  ProcessInfo p = Proc("notebook-kernel");
  EXPECT_EQ(Fired(OpenEvent("/home/alice/.ssh/id_ed25519", O_RDONLY), p),
            std::set<std::string>{"NBW-100"});
  EXPECT_EQ(Fired(OpenEvent("/home/alice/.ssh/id_ed25519.pub", O_RDONLY), p),
            std::set<std::string>{});  // a public key is no secret
  EXPECT_EQ(Fired(OpenEvent("/var/run/secrets/kubernetes.io/serviceaccount/token", O_RDONLY), p),
            std::set<std::string>{"NBW-100"});
  EXPECT_EQ(Fired(OpenEvent("/home/alice/.ssh/known_hosts", O_RDONLY), p), std::set<std::string>{});
}

TEST_F(BundledRules, APreloadedAllocatorIsExceptedButNotOneHidingAnotherPreload) {
  ProcessInfo p = Proc("notebook-kernel");
  Event e = ExecEvent("/usr/bin/true", std::string("true\0", 5));
  e.env = {{"LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"}};
  EXPECT_EQ(Fired(e, p).count("NBW-132"), 0u);
  // Set twice, the values read joined (sensor/event.h): the loader would use
  // the second, and the exception matches neither the pair nor it.
  e.env = {{"LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2:/tmp/evil.so"}};
  EXPECT_EQ(Fired(e, p).count("NBW-132"), 1u);
}

TEST_F(BundledRules, HooksSetByATargetAndClaimedIdentitiesAreRaised) {
  ProcessInfo p = Proc("notebook-kernel");
  Event e = ExecEvent("/usr/bin/python3", std::string("python3\0", 8));
  e.env = {{"PYTHONSTARTUP", "/tmp/x.py"}};
  EXPECT_EQ(Fired(e, p), std::set<std::string>{});  // started with it: inherited
  p.env_changed = {"PYTHONSTARTUP"};
  EXPECT_EQ(Fired(e, p), std::set<std::string>{"NBW-133"});
  p.env_changed = {"PYTHONPATH"};  // not a startup hook
  EXPECT_EQ(Fired(e, p), std::set<std::string>{});
  p.env_changed.clear();

  e.flags = NBW_F_ENV_CUT;
  EXPECT_EQ(Fired(e, p), std::set<std::string>{"NBW-134"});
  e.flags = 0;

  p.jupyter = {"bob", "k1", "bob/a.ipynb"};
  p.own_jupyter = {"bob", "k2", ""};  // a kernel inside a kernel: its own id
  EXPECT_EQ(Fired(e, p), std::set<std::string>{});
  p.own_jupyter = {"alice", "", ""};
  EXPECT_EQ(Fired(e, p), std::set<std::string>{"NBW-135"});
  p.own_jupyter = {"", "", "alice/x.ipynb"};
  EXPECT_EQ(Fired(e, p), std::set<std::string>{"NBW-135"});
}

TEST_F(BundledRules, CapsetAndBpfAreRoleIndependent) {
  Event capset;
  capset.kind = EventKind::kSyscall;
  capset.syscall = SYS_capset;
  capset.uid = 1000;
  ProcessInfo k = Proc("notebook-kernel");
  EXPECT_EQ(Fired(capset, k), std::set<std::string>{"NBW-127"});
  capset.uid = 0;
  EXPECT_EQ(Fired(capset, k), std::set<std::string>{});
  Event bpf = capset;
  bpf.syscall = SYS_bpf;
  EXPECT_EQ(Fired(bpf, Proc("model-server")), std::set<std::string>{"NBW-121"});
  Event open_tree = capset;
  open_tree.syscall = SYS_getpid;  // not a watched syscall: no rule
  EXPECT_EQ(Fired(open_tree, k), std::set<std::string>{});
}

}  // namespace
}  // namespace nbw

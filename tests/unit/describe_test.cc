// SPDX-License-Identifier: Apache-2.0
// The typed view of syscall events (sensor/describe.h): the arguments rules
// read as args.* are decoded values, and they are exactly the values the
// event line renders.
#include "sensor/describe.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/syscall.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "alert/render.h"
#include "policy/fields.h"
#include "policy/rules.h"

namespace nbw {
namespace {

Event SyscallEvent(int nr, std::initializer_list<uint64_t> args) {
  Event e;
  e.kind = EventKind::kSyscall;
  e.syscall = nr;
  e.tgid = e.pid = 300;
  e.comm = "python3";
  size_t i = 0;
  for (uint64_t a : args) e.args[i++] = a;
  return e;
}

const ArgValue* Find(const std::vector<NamedArg>& args, std::string_view name) {
  for (const auto& a : args) {
    if (a.name == name) return &a.value;
  }
  return nullptr;
}

std::vector<std::string_view> Names(const std::vector<NamedArg>& args) {
  std::vector<std::string_view> v;
  for (const auto& a : args) v.push_back(a.name);
  return v;
}

// What a rule reads for args.<name>, through the same path rules take.
FieldValue RuleReads(const Event& e, const std::string& name) {
  auto ref = ResolveField("args." + name);
  EXPECT_TRUE(ref.has_value());
  return ref->Read(EvalContext(e, nullptr, nullptr));
}

TEST(SyscallArgs, UnshareNamesEveryNamespaceAndKeepsOtherBitsAsHex) {
  Event e = SyscallEvent(SYS_unshare, {CLONE_NEWUSER | CLONE_NEWNS | CLONE_FS});
  auto args = SyscallArgs(e);
  EXPECT_EQ(Names(args), (std::vector<std::string_view>{"flags", "namespaces"}));
  EXPECT_EQ(std::get<uint64_t>(*Find(args, "flags")),
            uint64_t{CLONE_NEWUSER | CLONE_NEWNS | CLONE_FS});
  const std::vector<std::string> ns = {"mnt", "user", "0x200"};
  EXPECT_EQ(std::get<std::vector<std::string>>(*Find(args, "namespaces")), ns);
  EXPECT_EQ(std::get<std::vector<std::string>>(RuleReads(e, "namespaces")), ns);
}

TEST(SyscallArgs, SetnsNamesTheNamespaceTypeAndOmitsAnUnnamedPath) {
  Event e = SyscallEvent(SYS_setns, {5, CLONE_NEWNET, 0, 0, 0, 4026531992});
  e.str[0] = "/";
  e.present[0] = true;
  auto args = SyscallArgs(e);
  EXPECT_EQ(Names(args), (std::vector<std::string_view>{"fd", "nstype", "namespaces", "ns_inode"}));
  EXPECT_EQ(std::get<int64_t>(*Find(args, "fd")), 5);
  EXPECT_EQ(std::get<std::vector<std::string>>(*Find(args, "namespaces")),
            std::vector<std::string>{"net"});
  EXPECT_EQ(std::get<uint64_t>(*Find(args, "ns_inode")), 4026531992u);
}

TEST(SyscallArgs, PtraceRequestsByNameAndUnknownOnesByNumber) {
  Event seize = SyscallEvent(SYS_ptrace, {0x4206, 4321});
  auto args = SyscallArgs(seize);
  EXPECT_EQ(std::get<std::string>(*Find(args, "request")), "PTRACE_SEIZE");
  EXPECT_EQ(std::get<int64_t>(*Find(args, "target_pid")), 4321);
  EXPECT_EQ(std::get<std::string>(RuleReads(seize, "request")), "PTRACE_SEIZE");
  EXPECT_EQ(std::get<int64_t>(RuleReads(seize, "target_pid")), 4321);

  EXPECT_EQ(std::get<std::string>(RuleReads(SyscallEvent(SYS_ptrace, {16, 1}), "request")),
            "PTRACE_ATTACH");
  EXPECT_EQ(std::get<std::string>(RuleReads(SyscallEvent(SYS_ptrace, {0x4204, 1}), "request")),
            "16900");
}

TEST(SyscallArgs, UidsAreSignedAsTheCallerPassedThem) {
  // setresuid(-1, 0, -1): "leave unchanged" is -1, not 4294967295.
  Event e = SyscallEvent(SYS_setresuid, {0xffffffff, 0, 0xffffffff});
  auto args = SyscallArgs(e);
  EXPECT_EQ(Names(args), (std::vector<std::string_view>{"ruid", "euid", "suid"}));
  EXPECT_EQ(std::get<int64_t>(*Find(args, "ruid")), -1);
  EXPECT_EQ(std::get<int64_t>(RuleReads(e, "euid")), 0);
  EXPECT_EQ(std::get<int64_t>(RuleReads(e, "suid")), -1);
  EXPECT_EQ(std::get<int64_t>(RuleReads(SyscallEvent(SYS_setuid, {0}), "uid")), 0);
}

TEST(SyscallArgs, CapsetReadsTheCapabilityWordsFromTheBlob) {
  Event e = SyscallEvent(SYS_capset, {});
  uint32_t words[3] = {0x1, 0x3, 0x0};
  e.str[0].assign(reinterpret_cast<const char*>(words), sizeof words);
  e.present[0] = true;
  auto args = SyscallArgs(e);
  EXPECT_EQ(std::get<uint64_t>(*Find(args, "effective")), 1u);
  EXPECT_EQ(std::get<uint64_t>(*Find(args, "permitted")), 3u);
  // A short blob (the kernel could not read it) reads as zeros, not past its end.
  e.str[0].resize(2);
  EXPECT_EQ(std::get<uint64_t>(*Find(SyscallArgs(e), "effective")), 0u);
}

TEST(SyscallArgs, OnlySyscallEventsHaveThem) {
  Event fork;
  fork.kind = EventKind::kFork;
  fork.args[1] = CLONE_NEWUSER;
  EXPECT_TRUE(SyscallArgs(fork).empty());
  EXPECT_TRUE(std::holds_alternative<std::monostate>(
      ResolveField("args.flags")->Read(EvalContext(fork, nullptr, nullptr))));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(
      RuleReads(SyscallEvent(SYS_setuid, {0}), "no_such_arg")));
}

// The values rules test are the values rendered, argument by argument.
TEST(SyscallArgs, RulesReadExactlyWhatTheEventLineRenders) {
  const Event events[] = {
      SyscallEvent(SYS_unshare, {CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWTIME}),
      SyscallEvent(SYS_ptrace, {16, 99}),
      SyscallEvent(SYS_setresgid, {1, 0xfffffffe, 3}),
      SyscallEvent(SYS_bpf, {5}),
      SyscallEvent(SYS_kexec_load, {0, 0, 0, 0xffffffffffffffffULL}),
  };
  for (const Event& e : events) {
    const nlohmann::json rendered = EventToJson(e, nullptr, "h")["args"];
    ASSERT_EQ(rendered.size(), SyscallArgs(e).size()) << SyscallName(e.syscall);
    for (const auto& [name, value] : rendered.items()) {
      const FieldValue read = RuleReads(e, name);
      if (value.is_string()) {
        EXPECT_EQ(std::get<std::string>(read), value.get<std::string>()) << name;
      } else if (value.is_array()) {
        EXPECT_EQ(std::get<std::vector<std::string>>(read), value.get<std::vector<std::string>>())
            << name;
      } else {
        EXPECT_EQ(std::get<int64_t>(read), value.get<int64_t>()) << name;
      }
    }
  }
}

TEST(SyscallArgs, ARuleOnArgsMatchesTheDecodedValue) {
  auto rs = RuleSet::LoadString(R"(
rules:
  - id: NS
    name: user namespace
    event: syscall
    severity: critical
    when: {syscall: unshare, args.namespaces: [user]}
    summary: "{args.namespaces} {args.flags}"
)",
                                "p.yaml");
  ASSERT_TRUE(rs.ok()) << rs.status().message();
  const Rule* r = rs->ForKind(EventKind::kSyscall)[0];
  Event user = SyscallEvent(SYS_unshare, {CLONE_NEWUSER | CLONE_NEWNS});
  EXPECT_TRUE(r->Matches(EvalContext(user, nullptr, nullptr)));
  EXPECT_EQ(r->Summarize(EvalContext(user, nullptr, nullptr)), "mnt,user 268566528");
  EXPECT_FALSE(
      r->Matches(EvalContext(SyscallEvent(SYS_unshare, {CLONE_NEWNET}), nullptr, nullptr)));
}

TEST(ForkNamespaces, TheRuleFieldIsTheRenderedList) {
  Event f;
  f.kind = EventKind::kFork;
  f.syscall = SYS_clone;
  f.args[0] = 301;
  f.args[1] = CLONE_NEWPID | CLONE_NEWNET | CLONE_VM | SIGCHLD;
  const auto rendered = EventToJson(f, nullptr, "h")["fork"]["namespaces"];
  EXPECT_EQ(rendered, nlohmann::json({"pid", "net"}));
  auto field = ResolveField("fork.namespaces");
  ASSERT_TRUE(field.has_value());
  EXPECT_EQ(std::get<std::vector<std::string>>(field->Read(EvalContext(f, nullptr, nullptr))),
            rendered.get<std::vector<std::string>>());
}

}  // namespace
}  // namespace nbw

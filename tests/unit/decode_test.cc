// SPDX-License-Identifier: Apache-2.0
// DecodeEvent is the trust boundary with the kernel: every malformed record
// must be refused with a message, never read past its end.
#include "sensor/decode.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace nbw {
namespace {

std::vector<std::byte> Record(uint16_t kind, std::vector<std::string> blobs,
                              uint32_t extra_tail = 0) {
  struct nbw_event ev {};
  ev.hdr.kind = kind;
  ev.hdr.abi = NBW_ABI_VERSION;
  ev.hdr.tgid = 42;
  ev.hdr.pid = 43;
  ev.hdr.ts_boot_ns = 1000;
  std::memcpy(ev.hdr.comm, "python3", 7);
  size_t total = 0;
  for (size_t i = 0; i < blobs.size(); i++) {
    ev.str_len[i] = static_cast<uint16_t>(blobs[i].size());
    total += blobs[i].size();
  }
  ev.hdr.size = static_cast<uint32_t>(sizeof ev + total);
  std::vector<std::byte> out(sizeof ev + total + extra_tail);
  std::memcpy(out.data(), &ev, sizeof ev);
  size_t off = sizeof ev;
  for (const auto& b : blobs) {
    std::memcpy(out.data() + off, b.data(), b.size());
    off += b.size();
  }
  return out;
}

struct nbw_event* Hdr(std::vector<std::byte>& r) {
  return reinterpret_cast<nbw_event*>(r.data());
}

TEST(Decode, ValidOpenRecordYieldsFieldsAndStringsWithoutNul) {
  auto r = Record(NBW_EV_OPEN, {std::string("/etc/passwd\0", 12)});
  auto ev = DecodeEvent(r, 5000);
  ASSERT_TRUE(ev.ok()) << ev.status().message();
  EXPECT_EQ(ev->kind, EventKind::kOpen);
  EXPECT_EQ(ev->tgid, 42u);
  EXPECT_EQ(ev->pid, 43u);
  EXPECT_EQ(ev->comm, "python3");
  EXPECT_EQ(ev->realtime_ns, 6000u);
  EXPECT_EQ(ev->str[0], "/etc/passwd");
  EXPECT_TRUE(ev->present[0]);
  EXPECT_FALSE(ev->present[1]);
}

TEST(Decode, RingBufferPaddingAfterTheRecordIsIgnored) {
  auto r = Record(NBW_EV_OPEN, {std::string("/x\0", 3)}, /*extra_tail=*/5);
  EXPECT_TRUE(DecodeEvent(r, 0).ok());
}

TEST(Decode, ExecEnvironmentBlobYieldsTheRequestedVariablesAndNothingElse) {
  std::string env("LD_PRELOAD=/x.so\0JUPYTERHUB_USER=bob\0", 37);
  auto r = Record(NBW_EV_EXEC, {std::string("/usr/bin/python3\0", 17),
                                std::string("python3\0-m\0ipykernel_launcher\0", 30),
                                std::string("/\0", 2), std::string("\0", 1), env});
  auto ev = DecodeEvent(r, 0);
  ASSERT_TRUE(ev.ok()) << ev.status().message();
  EXPECT_EQ(ev->str[1], std::string("python3\0-m\0ipykernel_launcher\0", 30));
  EXPECT_EQ(ev->env, (EnvVars{{"LD_PRELOAD", "/x.so"}, {"JUPYTERHUB_USER", "bob"}}));
  EXPECT_EQ(ev->EnvValue("LD_PRELOAD"), "/x.so");
  EXPECT_EQ(ev->EnvValue("LD_AUDIT"), "");
  EXPECT_TRUE(ev->str[4].empty());  // the raw blob is not kept
  EXPECT_FALSE(ev->env_truncated());
}

TEST(Decode, AVariableSetTwiceReadsAsEveryValueInOrder) {
  // ld.so obeys the last LD_PRELOAD, getenv() the first: neither may hide.
  std::string env("LD_PRELOAD=/usr/lib/libjemalloc.so\0LD_PRELOAD=/tmp/evil.so\0", 59);
  auto r = Record(NBW_EV_EXEC, {std::string("/bin/true\0", 10), std::string("true\0", 5),
                                std::string("/\0", 2), std::string("\0", 1), env});
  auto ev = DecodeEvent(r, 0);
  ASSERT_TRUE(ev.ok()) << ev.status().message();
  EXPECT_EQ(ev->EnvValue("LD_PRELOAD"), "/usr/lib/libjemalloc.so:/tmp/evil.so");
}

TEST(Decode, AnEnvironmentEntryTheSensorDidNotAskForIsRefused) {
  for (std::string env : {std::string("HOME=/root\0", 11), std::string("LD_PRELOAD\0", 11),
                          std::string("LD_PRELOAD=/x.so", 16)}) {
    auto r = Record(NBW_EV_EXEC, {std::string("/bin/true\0", 10), std::string("true\0", 5),
                                  std::string("/\0", 2), std::string("\0", 1), env});
    auto ev = DecodeEvent(r, 0);
    ASSERT_FALSE(ev.ok()) << env;
    EXPECT_NE(ev.status().message().find("exec environment"), std::string::npos)
        << ev.status().message();
  }
}

TEST(Decode, EnvironmentTruncationIsReported) {
  auto r = Record(NBW_EV_EXEC, {std::string("/bin/true\0", 10), std::string("true\0", 5)});
  Hdr(r)->hdr.flags = NBW_F_ENV_CUT;
  auto ev = DecodeEvent(r, 0);
  ASSERT_TRUE(ev.ok()) << ev.status().message();
  EXPECT_TRUE(ev->env_truncated());
  EXPECT_TRUE(ev->env.empty());
}

TEST(Decode, ShortRecordIsRefused) {
  std::vector<std::byte> r(10);
  auto ev = DecodeEvent(r, 0);
  ASSERT_FALSE(ev.ok());
  EXPECT_NE(ev.status().message().find("shorter than the fixed part"), std::string::npos);
}

TEST(Decode, WrongAbiVersionIsRefused) {
  auto r = Record(NBW_EV_OPEN, {});
  Hdr(r)->hdr.abi = 99;
  auto ev = DecodeEvent(r, 0);
  ASSERT_FALSE(ev.ok());
  EXPECT_NE(ev.status().message().find("ABI version 99"), std::string::npos);
}

TEST(Decode, UnknownKindIsRefused) {
  auto r = Record(NBW_EV_KIND_MAX, {});
  EXPECT_FALSE(DecodeEvent(r, 0).ok());
  auto z = Record(0, {});
  EXPECT_FALSE(DecodeEvent(z, 0).ok());
}

TEST(Decode, SizeFieldBeyondTheRecordIsRefused) {
  auto r = Record(NBW_EV_OPEN, {std::string("/x\0", 3)});
  Hdr(r)->hdr.size += 100;
  auto ev = DecodeEvent(r, 0);
  ASSERT_FALSE(ev.ok());
  EXPECT_NE(ev.status().message().find("size field"), std::string::npos);
}

TEST(Decode, BlobLengthsThatDoNotAddUpAreRefused) {
  auto r = Record(NBW_EV_OPEN, {std::string("/abc\0", 5)});
  Hdr(r)->str_len[1] = 3;  // claims bytes that are not there
  auto ev = DecodeEvent(r, 0);
  ASSERT_FALSE(ev.ok());
  EXPECT_NE(ev.status().message().find("blob lengths"), std::string::npos);
}

TEST(Decode, BlobOverTheBoundIsRefused) {
  auto r = Record(NBW_EV_OPEN, {std::string(NBW_STR_MAX + 1, 'a')});
  auto ev = DecodeEvent(r, 0);
  ASSERT_FALSE(ev.ok());
  EXPECT_NE(ev.status().message().find("over bound"), std::string::npos);
}

TEST(Decode, StringWithoutNulStopsAtItsLength) {
  auto r = Record(NBW_EV_OPEN, {"/no/nul"});
  auto ev = DecodeEvent(r, 0);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->str[0], "/no/nul");
}

TEST(Decode, EveryTruncationOfAValidRecordIsRefusedOrSafe) {
  auto full = Record(
      NBW_EV_EXEC, {std::string("/bin/sh\0", 8), std::string("sh\0-c\0", 6), std::string("/\0", 2),
                    std::string("\0", 1), std::string("ENV=/x\0", 7)});
  for (size_t n = 0; n < full.size(); n++) {
    std::vector<std::byte> cut(full.begin(), full.begin() + static_cast<long>(n));
    EXPECT_FALSE(DecodeEvent(cut, 0).ok()) << "accepted a record cut at " << n;
  }
}

}  // namespace
}  // namespace nbw

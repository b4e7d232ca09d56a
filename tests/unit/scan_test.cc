// SPDX-License-Identifier: Apache-2.0
// The scanner on hand-built hostile input: huge lengths, deep nesting,
// memo abuse, archive bombs, nested containers, truncation. Each must end
// quickly with an exact verdict, never a crash or an unbounded allocation.
// (Model files as the libraries write them are tested in e2e/scan_test.py.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "scan/scanner.h"

namespace nbw {
namespace {

using namespace std::string_literals;

std::shared_ptr<const ModelGuardPolicy> BundledPolicy() {
  static auto p = [] {
    auto r = ModelGuardPolicy::LoadPath(NBW_SOURCE_DIR "/policies/model-guard.yaml");
    EXPECT_TRUE(r.ok()) << r.status().message();
    return std::make_shared<const ModelGuardPolicy>(std::move(r).value());
  }();
  return p;
}

class ScanBytes : public ::testing::Test {
 protected:
  ScanReport Scan(const std::string& bytes, ScanLimits limits = {}) {
    char path[] = "/tmp/nbw-scan-test-XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ModelScanner scanner(BundledPolicy(), limits);
    auto start = std::chrono::steady_clock::now();
    ScanReport r = scanner.ScanFd(fd, path);
    elapsed = std::chrono::steady_clock::now() - start;
    close(fd);
    unlink(path);
    return r;
  }
  std::chrono::duration<double> elapsed{};
};

std::string U32(uint32_t v) {
  return std::string(reinterpret_cast<char*>(&v), 4);
}
std::string U64(uint64_t v) {
  return std::string(reinterpret_cast<char*>(&v), 8);
}
std::string U16(uint16_t v) {
  return std::string(reinterpret_cast<char*>(&v), 2);
}

// A one-member stored or deflated zip (no data descriptor).
std::string Zip(const std::string& name, const std::string& data, bool compress = false) {
  std::string body = data;
  uint16_t method = 0;
  if (compress) {
    z_stream z{};
    deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
    body.assign(deflateBound(&z, data.size()), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = data.size();
    z.next_out = reinterpret_cast<Bytef*>(body.data());
    z.avail_out = body.size();
    deflate(&z, Z_FINISH);
    body.resize(z.total_out);
    deflateEnd(&z);
    method = 8;
  }
  std::string local = "PK\3\4" + U16(20) + U16(0) + U16(method) + U32(0) + U32(0) +
                      U32(body.size()) + U32(data.size()) + U16(name.size()) + U16(0) + name;
  std::string central = "PK\1\2" + U16(20) + U16(20) + U16(0) + U16(method) + U32(0) + U32(0) +
                        U32(body.size()) + U32(data.size()) + U16(name.size()) + U16(0) + U16(0) +
                        U16(0) + U16(0) + U32(0) + U32(0) + name;
  std::string end = "PK\5\6" + U16(0) + U16(0) + U16(1) + U16(1) + U32(central.size()) +
                    U32(local.size() + body.size()) + U16(0);
  return local + body + central + end;
}

const Finding* FindGlobal(const ScanReport& r, const std::string& g) {
  for (const auto& f : r.findings) {
    if (f.global == g) return &f;
  }
  return nullptr;
}

TEST_F(ScanBytes, LengthPastTheEndIsMalformedNotAnAllocation) {
  // BINBYTES8 claiming 2^63 bytes.
  ScanReport r = Scan("\x80\x04\x8e" + U64(1ull << 63) + "x.");
  EXPECT_EQ(r.verdict, Verdict::kUnscannable);
  EXPECT_FALSE(r.complete);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_NE(r.findings[0].detail.find("string runs past the end at offset 2"), std::string::npos);
}

TEST_F(ScanBytes, DeeplyNestedMarksAndListsAreFineAndBounded) {
  std::string p = "\x80\x04";
  for (int i = 0; i < 200000; i++) p += "(";
  for (int i = 0; i < 200000; i++) p += "l";
  p += ".";
  ScanReport r = Scan(p);
  EXPECT_EQ(r.verdict, Verdict::kClean);
  EXPECT_TRUE(r.complete);
  EXPECT_LT(elapsed.count(), 2.0);
}

TEST_F(ScanBytes, MemoKeyBombIsRefusedAtTheBound) {
  ScanReport r = Scan("\x80\x04N" + std::string("r") + U32(0xfffffff0) + ".");
  EXPECT_EQ(r.verdict, Verdict::kUnscannable);
  EXPECT_NE(r.findings[0].detail.find("over the scanner's bounds: memo key over 4M"),
            std::string::npos);
}

TEST_F(ScanBytes, ObjectCountIsBounded) {
  // 5M empty tuples appended to one list: past the 4M object bound.
  std::string p = "\x80\x04](";
  p.append(5'000'000, ')');
  p += "e.";
  ScanReport r = Scan(p);
  EXPECT_EQ(r.verdict, Verdict::kUnscannable);
  EXPECT_NE(r.findings[0].detail.find("more than 4M objects"), std::string::npos);
  EXPECT_LT(elapsed.count(), 5.0);
}

TEST_F(ScanBytes, StackDepthIsBounded) {
  // NONE costs no object (shared), but the stack itself is bounded.
  std::string p = "\x80\x04";
  p.append(5'000'000, 'N');
  p += ".";
  ScanReport r = Scan(p);
  EXPECT_EQ(r.verdict, Verdict::kUnscannable);
  EXPECT_NE(r.findings[0].detail.find("stack deeper than 4M"), std::string::npos);
}

TEST_F(ScanBytes, GlobalsInsideAStackOfPicklesAreAllFound) {
  std::string first = "\x80\x02}q\x00."s;
  std::string second =
      "\x80\x02"
      "cbuiltins\nexec\nX\x01\x00\x00\x00x\x85R."s;
  ScanReport r = Scan(first + second);
  EXPECT_EQ(r.verdict, Verdict::kMalicious);
  const Finding* f = FindGlobal(r, "builtins.exec");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->offset, first.size() + 2);
}

TEST_F(ScanBytes, StackGlobalWithNonStringOperandsIsSuspicious) {
  ScanReport r = Scan("\x80\x04K\x01K\x02\x93)R.");
  EXPECT_EQ(r.verdict, Verdict::kSuspicious);
  EXPECT_EQ(r.findings[0].detail, "STACK_GLOBAL operands are not plain strings");
}

TEST_F(ScanBytes, InstAndObjOpcodesNameTheirClass) {
  ScanReport inst = Scan("(S'id'\nios\nsystem\n.");
  ASSERT_NE(FindGlobal(inst, "os.system"), nullptr);
  EXPECT_EQ(inst.verdict, Verdict::kMalicious);
  ScanReport obj = Scan("\x80\x02(csubprocess\ncheck_output\nS'id'\no.");
  ASSERT_NE(FindGlobal(obj, "subprocess.check_output"), nullptr);
  EXPECT_NE(FindGlobal(obj, "subprocess.check_output")->detail.find("called at offset"),
            std::string::npos);
}

TEST_F(ScanBytes, ZipBombMemberIsUnscannableWithinTheLimit) {
  std::string zeros(64 << 20, '\0');
  ScanLimits limits;
  limits.member_bytes = 8 << 20;
  ScanReport r = Scan(Zip("archive/data.pkl", zeros, true), limits);
  EXPECT_EQ(r.verdict, Verdict::kUnscannable);
  EXPECT_NE(r.findings[0].detail.find("inflates past 8388608 bytes"), std::string::npos);
}

TEST_F(ScanBytes, ContainersNestedPastTheDepthAreUnscannable) {
  std::string inner = "\x80\x02}.";
  std::string z = Zip("m.pkl", inner);
  for (int i = 0; i < 6; i++) z = Zip("n" + std::to_string(i) + ".pkl", z);
  ScanReport r = Scan(z);
  EXPECT_EQ(r.verdict, Verdict::kUnscannable);
  EXPECT_NE(r.findings[0].detail.find("containers nested deeper than 4"), std::string::npos);
}

TEST_F(ScanBytes, APayloadInADeflatedMemberIsFound) {
  ScanReport r = Scan(Zip("archive/data.pkl",
                          "\x80\x02"
                          "cposix\nsystem\nN\x85R.",
                          true));
  EXPECT_EQ(r.format, "pytorch-zip");
  EXPECT_EQ(r.verdict, Verdict::kMalicious);
  EXPECT_EQ(FindGlobal(r, "posix.system")->member, "archive/data.pkl");
}

TEST_F(ScanBytes, ACentralDirectoryPointingOutsideTheFileIsUnscannable) {
  std::string z = Zip("archive/data.pkl", "\x80\x02}.");
  z[z.size() - 6] = '\x7f';  // central directory offset
  ScanReport r = Scan(z);
  EXPECT_EQ(r.verdict, Verdict::kUnscannable);
  EXPECT_NE(r.findings[0].detail.find("central directory"), std::string::npos);
}

TEST_F(ScanBytes, TheExtensionNeverDecides) {
  // A bare text file is not a model, even named like one.
  ScanReport r = Scan("hello\n");
  EXPECT_EQ(r.verdict, Verdict::kUnscannable);
  EXPECT_EQ(r.format, "unknown");
  EXPECT_TRUE(ModelScanner::LooksLikeModel("\x80\x04\x95"));
  EXPECT_TRUE(ModelScanner::LooksLikeModel("PK\3\4"));
  EXPECT_FALSE(ModelScanner::LooksLikeModel("# README"));
}

TEST(ScanPolicy, JudgementOrder) {
  auto p = BundledPolicy();
  EXPECT_EQ(p->JudgeGlobal("torch._utils", "_rebuild_tensor_v2").verdict, Verdict::kClean);
  EXPECT_EQ(p->JudgeGlobal("__builtin__", "eval").verdict, Verdict::kMalicious);
  EXPECT_EQ(p->JudgeGlobal("sklearn", "utils.os.system").verdict, Verdict::kMalicious);
  EXPECT_EQ(p->JudgeGlobal("numpy.random._pickle", "__randomstate_ctor").verdict, Verdict::kClean);
  EXPECT_EQ(p->JudgeGlobal("mylib", "Model").verdict, Verdict::kSuspicious);
  EXPECT_EQ(p->JudgeGlobal("torch.nn.modules.linear", "Linear").verdict, Verdict::kClean);
}

TEST(ScanPolicy, ErrorsNameFileLineAndKey) {
  auto r = ModelGuardPolicy::LoadString("model_guard:\n  extensions: [pt]\n", "x.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "x.yaml:2:15: extensions: 'pt' must be one '.suffix' of at most 11 characters");
  auto u = ModelGuardPolicy::LoadString("model_guard:\n  grace: 1\n", "y.yaml");
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.status().message().find("y.yaml:2:3: unknown model_guard key 'grace'"),
            std::string::npos);
}

// Issue 11 (3.6): out-of-range values and wrong types are errors with
// file:line:col, never a crash.
TEST(ScanPolicy, OutOfRangeAndWrongTypesAreErrors) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"model_guard:\n  grace_ms: -1\n",
       "x.yaml:2:13: grace_ms: must be a whole number from 0 to 600000"},
      {"model_guard:\n  grace_ms: 600001\n",
       "x.yaml:2:13: grace_ms: must be a whole number from 0 to 600000"},
      {"model_guard:\n  extensions: 5\n", "x.yaml:2:15: extensions: must be a list of strings"},
      {"model_guard:\n  extensions: [.pt, [.bin]]\n",
       "x.yaml:2:21: extensions[1]: must be a string, not a list"},
      {"model_guard:\n  safe_globals: [\"\"]\n", "x.yaml:2:18: safe_globals[0]: must not be empty"},
      {"model_guard:\n  {[safe_globals]: 1}\n",
       "x.yaml:2:4: model_guard: a key must be a string, not a list or mapping"},
      {"model_guard:\n  grace_ms: 1\n  grace_ms: 2\n",
       "x.yaml:3:3: 'grace_ms' is given twice in this mapping (first at 2:3)"},
  };
  for (const auto& k : cases) {
    auto r = ModelGuardPolicy::LoadString(k.yaml, "x.yaml");
    ASSERT_FALSE(r.ok()) << k.yaml;
    EXPECT_EQ(r.status().message(), k.error) << k.yaml;
  }
}

}  // namespace
}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// Landlock through nbwarden-exec, for real: rules applied by this kernel to
// a real Python process. Each refusal is checked against the same script
// run without the launcher, so it is Landlock that refused, not the file
// system. Needs a kernel with Landlock ABI >= 6 (this machine kind has 7);
// under CI an older one is a failure, not a skip.
#include "seccomp/landlock.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "spawn.h"

namespace nbw {
namespace {

namespace fs = std::filesystem;
const std::string kProfile = NBW_SOURCE_DIR "/policies/seccomp/notebook-kernel.json";

// Tries each operation; prints name=result (ok or the errno name).
const char* kProbe = R"(
import errno, os, socket, sys
def t(name, f):
    try:
        f(); r = "ok"
    except OSError as e:
        r = errno.errorcode[e.errno]
    print("%s=%s" % (name, r))
d = sys.argv[1]
t("secret", lambda: open(d + "/secret/token").read())
t("secret_write", lambda: open(d + "/secret/new", "w").write("x"))
t("secret_remove", lambda: os.unlink(d + "/secret/token"))
t("key", lambda: open(d + "/keys/host_rsa_key").read())
t("key_pub", lambda: open(d + "/keys/host_rsa_key.pub").read())
t("other", lambda: open(d + "/other.txt").read())
t("sub_create", lambda: open(d + "/work/out.csv", "w").write("a,b\n"))
t("ls_walked", lambda: os.listdir(d))
t("etc_passwd", lambda: open("/etc/passwd").read())
def bind(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.close()
t("bind_allowed", lambda: bind(int(sys.argv[2])))
t("bind_other", lambda: bind(int(sys.argv[3])))
t("kill_init", lambda: os.kill(1, 0))
def abstract():
    s = socket.socket(socket.AF_UNIX); s.connect("\0" + sys.argv[4])
t("abstract", abstract)
)";

int FreePort() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

class Landlock : public ::testing::Test {
 protected:
  void SetUp() override {
    if (LandlockAbi() < 6) {
      if (std::getenv("NBW_REQUIRE_BPF")) FAIL() << "Landlock ABI " << LandlockAbi() << " < 6";
      GTEST_SKIP() << "Landlock ABI " << LandlockAbi() << " < 6";
    }
    dir_ = fs::temp_directory_path() / ("nbw-ll-" + std::to_string(getpid()));
    fs::create_directories(dir_ + "/secret");
    fs::create_directories(dir_ + "/keys");
    fs::create_directories(dir_ + "/work");
    std::ofstream(dir_ + "/secret/token") << "t0ken\n";
    std::ofstream(dir_ + "/keys/host_rsa_key") << "PRIVATE\n";
    std::ofstream(dir_ + "/keys/host_rsa_key.pub") << "PUBLIC\n";
    std::ofstream(dir_ + "/other.txt") << "fine\n";
    allowed_ = FreePort();
    other_ = FreePort();
    while (other_ == allowed_) other_ = FreePort();
    // A host daemon's abstract socket, outside the sandbox.
    abstract_ = "nbw-ll-" + std::to_string(getpid());
    listener_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un un = {};
    un.sun_family = AF_UNIX;
    memcpy(un.sun_path + 1, abstract_.data(), abstract_.size());
    ASSERT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&un),
                   offsetof(sockaddr_un, sun_path) + 1 + abstract_.size()),
              0);
    ASSERT_EQ(listen(listener_, 8), 0);
    rules_ = dir_ + "/rules.yaml";
    std::ofstream(rules_) << "landlock:\n  deny:\n    - " << dir_ << "/secret\n    - " << dir_
                          << "/keys/*_key\n  bind_tcp: [" << allowed_
                          << "]\n  scope: [signal, abstract_unix]\n";
  }
  void TearDown() override {
    if (listener_ >= 0) close(listener_);
    fs::remove_all(dir_);
  }
  Ran Probe(bool sandboxed) {
    std::vector<std::string> argv = {
        "/usr/bin/python3",     "-c",     kProbe, dir_, std::to_string(allowed_),
        std::to_string(other_), abstract_};
    if (sandboxed) {
      argv.insert(argv.begin(), {NBW_EXEC_PATH, "--profile", kProfile, "--landlock", rules_, "--"});
    }
    return Spawn(argv);
  }
  std::string dir_, rules_, abstract_;
  int allowed_ = 0, other_ = 0, listener_ = -1;
};

TEST_F(Landlock, DeniedPathsPortsSignalsAndAbstractSocketsAreOutOfReach) {
  Ran r = Probe(true);
  ASSERT_EQ(Exit(r), 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "secret=EACCES\n"
            "secret_write=EACCES\n"
            "secret_remove=EACCES\n"
            "key=EACCES\n"
            "key_pub=ok\n"
            "other=ok\n"
            "sub_create=ok\n"
            "ls_walked=ok\n"
            "etc_passwd=ok\n"
            "bind_allowed=ok\n"
            "bind_other=EACCES\n"
            "kill_init=EPERM\n"
            "abstract=EPERM\n");
  // The same script, unsandboxed: everything works (the refusals above are
  // Landlock's). The write and remove happen here, so they run last.
  r = Probe(false);
  ASSERT_EQ(Exit(r), 0) << r.err;
  EXPECT_EQ(r.out,
            "secret=ok\nsecret_write=ok\nsecret_remove=ok\nkey=ok\nkey_pub=ok\nother=ok\n"
            "sub_create=ok\nls_walked=ok\netc_passwd=ok\nbind_allowed=ok\nbind_other=ok\n"
            "kill_init=ok\nabstract=ok\n");
}

TEST_F(Landlock, TheShippedNotebookRulesKeepShadowOutAndASessionRuns) {
  const std::string script = R"(
import errno, os, subprocess, tempfile
import numpy as np, pandas as pd
d = tempfile.mkdtemp()
pd.DataFrame({"a": np.arange(5)}).to_csv(os.path.join(d, "x.csv"))
print(int(pd.read_csv(os.path.join(d, "x.csv"))["a"].sum()))
print(subprocess.run(["sh", "-c", "ls /etc | wc -l"], capture_output=True).returncode)
try:
    open("/etc/shadow").read(); print("shadow read")
except OSError as e:
    print(errno.errorcode[e.errno])
)";
  Ran r =
      Spawn({NBW_EXEC_PATH, "--profile", kProfile, "--profiles", NBW_SOURCE_DIR "/policies/seccomp",
             "--landlock", "notebook-kernel", "--", "/usr/bin/python3", "-c", script});
  ASSERT_EQ(Exit(r), 0) << r.err;
  EXPECT_EQ(r.out, "10\n0\nEACCES\n");
}

TEST(LandlockRules, ErrorsNameTheFileLineAndField) {
  struct Case {
    std::string yaml, error;
  };
  const std::vector<Case> cases = {
      {"landlock:\n  bind_tcp: [80, 70000]\n",
       "r.yaml:2:18: landlock.bind_tcp[1]: must be a whole number from 0 to 65535"},
      {"landlock:\n  deny: [etc/shadow]\n",
       "r.yaml:2:10: landlock.deny[0]: must be an absolute path without '..'"},
      {"landlock:\n  deny: [/var/../etc/shadow]\n",
       "r.yaml:2:10: landlock.deny[0]: must be an absolute path without '..'"},
      {"landlock:\n  scope: [ptrace]\n",
       "r.yaml:2:11: landlock.scope[0]: 'ptrace' is not a scope (signal, abstract_unix)"},
      {"landlock:\n  denny: []\n",
       "r.yaml:2:10: landlock.denny: unknown key (extends, deny, bind_tcp, connect_tcp, scope)"},
      {"rules: []\n", "r.yaml: needs a 'landlock' mapping"},
  };
  for (const auto& c : cases) {
    auto r = LandlockRules::Parse(c.yaml, "r.yaml");
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_EQ(r.status().message(), c.error);
  }
}

TEST(LandlockRules, ExtendsMergesAndALoopIsAnError) {
  const std::string d = fs::temp_directory_path() / ("nbw-llx-" + std::to_string(getpid()));
  fs::create_directories(d);
  std::ofstream(d + "/base.yaml") << "landlock:\n  deny: [/etc/shadow]\n  scope: [signal]\n";
  std::ofstream(d + "/server.yaml")
      << "landlock:\n  extends: base\n  deny: [/etc/gshadow]\n  bind_tcp: [8080]\n";
  auto r = LandlockRules::Load(d + "/server.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->deny, (std::vector<std::string>{"/etc/shadow", "/etc/gshadow"}));
  EXPECT_TRUE(r->scope_signal);
  EXPECT_FALSE(r->scope_abstract_unix);
  EXPECT_EQ(r->bind_tcp, (std::optional<std::vector<uint16_t>>{{8080}}));
  std::ofstream(d + "/base.yaml") << "landlock:\n  extends: server\n";
  r = LandlockRules::Load(d + "/server.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), d + "/base.yaml: landlock.extends: 'server' extends itself");
  fs::remove_all(d);
}

}  // namespace
}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// Seccomp profiles and nbwarden-exec, for real: filters loaded into this
// kernel on real processes. nbw_seccomp_probe tries each refused syscall
// with harmless arguments; under the notebook-kernel profile each must get
// EPERM (clone3: ENOSYS), and without it none may (so it is the filter that
// refused, not the kernel). Parsing errors must name file, line and entry.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "require_root.h"
#include "seccomp/profile.h"
#include "spawn.h"

namespace nbw {
namespace {

const std::string kProfile = NBW_SOURCE_DIR "/policies/seccomp/notebook-kernel.json";

std::map<std::string, std::string> Results(const std::string& out) {
  std::map<std::string, std::string> m;
  std::istringstream in(out);
  std::string name, res;
  while (in >> name >> res) m[name] = res;
  return m;
}

TEST(NotebookProfile, EveryRefusedSyscallGetsEpermAndTheRestRun) {
  Ran r = Spawn({NBW_EXEC_PATH, "--profile", kProfile, "--", NBW_PROBE_PATH});
  ASSERT_EQ(Exit(r), 0) << r.err;
  auto got = Results(r.out);
  ASSERT_EQ(got.size(), 32u) << r.out;
  const std::set<std::string> allowed = {"unshare-uts", "clone-plain", "getpid"};
  for (const auto& [name, res] : got) {
    if (allowed.count(name)) {
      EXPECT_EQ(res, "ok") << name;
    } else if (name == "clone3") {
      EXPECT_EQ(res, "ENOSYS") << "clone3 must fall back to the filtered clone";
    } else {
      EXPECT_EQ(res, "EPERM") << name;
    }
  }
}

TEST(NotebookProfile, WithoutTheFilterNoneOfThemIsRefusedWithEperm) {
  NBW_REQUIRE_ROOT("as non-root the kernel itself refuses many of these");
  Ran r = Spawn({NBW_PROBE_PATH});
  ASSERT_EQ(Exit(r), 0);
  auto got = Results(r.out);
  ASSERT_EQ(got.size(), 32u);
  for (const auto& [name, res] : got) EXPECT_NE(res, "EPERM") << name;
  EXPECT_EQ(got["unshare-user"], "ok");
  EXPECT_NE(got["clone3"], "ENOSYS");
}

TEST(NotebookProfile, ADataScienceSessionRunsUnderIt) {
  const std::string script = R"(
import json, os, subprocess, tempfile
import numpy as np, pandas as pd
df = pd.DataFrame({"a": np.arange(10), "b": np.arange(10) ** 2})
d = tempfile.mkdtemp()
df.to_csv(os.path.join(d, "x.csv"))
back = pd.read_csv(os.path.join(d, "x.csv"))
shell = subprocess.run(["sh", "-c", "ls / | wc -l"], capture_output=True, text=True)
status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
print(json.dumps({"sum": int(back["b"].sum()), "shell_ok": shell.returncode == 0,
                  "seccomp": status["Seccomp"].strip(), "nnp": status["NoNewPrivs"].strip()}))
)";
  Ran r = Spawn({NBW_EXEC_PATH, "--profile", kProfile, "--", "/usr/bin/python3", "-c", script});
  ASSERT_EQ(Exit(r), 0) << r.err;
  EXPECT_EQ(r.out, "{\"sum\": 285, \"shell_ok\": true, \"seccomp\": \"2\", \"nnp\": \"1\"}\n");
}

const std::string kServerProfile = NBW_SOURCE_DIR "/policies/seccomp/model-server.json";

TEST(ModelServerProfile, AServerLoadsATorchModelAndAnswersOverLoopback) {
  const std::string script = R"(
import json, os, socket, tempfile, threading, http.server
import torch
path = os.path.join(tempfile.mkdtemp(), "model.pt")
torch.save({"w": torch.arange(4.0)}, path)
model = torch.load(path)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"sum": float(model["w"].sum())}).encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.handle_request, daemon=True).start()
s = socket.create_connection(srv.server_address)
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
resp = b""
while chunk := s.recv(4096):
    resp += chunk
print(resp.split(b"\r\n\r\n", 1)[1].decode())
)";
  Ran r =
      Spawn({NBW_EXEC_PATH, "--profile", kServerProfile, "--", "/usr/bin/python3", "-c", script});
  ASSERT_EQ(Exit(r), 0) << r.err;
  EXPECT_EQ(r.out, "{\"sum\": 6.0}\n");
}

TEST(ModelServerProfile, NoExecAfterStartUpAndTheLaunchersDescriptorCannotBeRemade) {
  const std::string script = R"(
import json, os, resource, subprocess
res = {}
try:
    subprocess.run(["/bin/true"]); res["exec"] = "ran"
except PermissionError as e:
    res["exec"] = e.errno
res["fds"] = os.listdir("/proc/self/fd").count("4095")
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE); res["hard"] = hard
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)); res["setrlimit"] = "ok"
except ValueError:
    res["setrlimit"] = "refused"
try:
    os.dup2(os.open("/bin/sh", os.O_PATH), 4095); res["dup"] = "ok"
except OSError as e:
    res["dup"] = e.errno
try:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/", os.O_PATH)  # a directory: EACCES where execveat is allowed
    libc.syscall(322, fd, b"", None, None, 0x1000)  # execveat(fd, "", AT_EMPTY_PATH)
    res["execveat"] = ctypes.get_errno()
except Exception as e:
    res["execveat"] = repr(e)
print(json.dumps(res))
)";
  Ran r =
      Spawn({NBW_EXEC_PATH, "--profile", kServerProfile, "--", "/usr/bin/python3", "-c", script});
  ASSERT_EQ(Exit(r), 0) << r.err;
  // exec: EPERM; the launcher's descriptor was closed by the one exec
  // allowed; the hard limit keeps 4095 out of reach (EBADF) and raising it
  // is refused; execveat on any other descriptor: EPERM.
  EXPECT_EQ(r.out,
            "{\"exec\": 1, \"fds\": 0, \"hard\": 4095, \"setrlimit\": \"refused\", \"dup\": 9, "
            "\"execveat\": 1}\n");
  // Without the profile the same script execs freely (the refusals above
  // are the filter's).
  r = Spawn({"/usr/bin/python3", "-c", script});
  ASSERT_EQ(Exit(r), 0) << r.err;
  EXPECT_EQ(r.out.rfind("{\"exec\": \"ran\"", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\"setrlimit\": \"ok\", \"dup\": \"ok\", \"execveat\": 13}"),
            std::string::npos)
      << r.out;
}

TEST(ModelServerProfile, AScriptIsRefusedWithAClearErrorSinceItsInterpreterCouldNotExec) {
  const std::string script = std::filesystem::temp_directory_path() / "nbw-sc-script.sh";
  std::ofstream(script) << "#!/bin/sh\necho ran\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  Ran r = Spawn({NBW_EXEC_PATH, "--profile", kServerProfile, "--", script});
  EXPECT_EQ(Exit(r), 126);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "nbwarden-exec: " + script +
                       " is a script; this profile allows one exec, of a binary: name the "
                       "interpreter (e.g. /usr/bin/python3 " +
                       script + ")\n");
  std::filesystem::remove(script);
}

TEST(Launcher, AProfileIsFoundByNameInTheProfilesDirectory) {
  Ran r = Spawn({NBW_EXEC_PATH, "--profile", "notebook-kernel", "--profiles",
                 NBW_SOURCE_DIR "/policies/seccomp", "--", "/bin/sh", "-c",
                 "grep -q '^Seccomp:.2' /proc/self/status && echo filtered"});
  ASSERT_EQ(Exit(r), 0) << r.err;
  EXPECT_EQ(r.out, "filtered\n");
}

TEST(Launcher, AnInvalidProfileNamesTheEntryAndRunsNothing) {
  const std::string dir = std::filesystem::temp_directory_path() / "nbw-sc-bad";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/bad.json") << R"({
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    {"names": ["mount"], "action": "SCMP_ACT_ERRNO"},
    {"names": ["unshare"], "action": "SCMP_ACT_ERRNO",
     "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}
  ]
})";
  Ran r = Spawn({NBW_EXEC_PATH, "--profile", dir + "/bad.json", "--", "/bin/touch", dir + "/ran"});
  EXPECT_EQ(Exit(r), 125);
  EXPECT_EQ(r.err, "nbwarden-exec: " + dir +
                       "/bad.json: syscalls[1].args[0].op: must be one of SCMP_CMP_NE, "
                       "SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, "
                       "SCMP_CMP_MASKED_EQ\n");
  EXPECT_FALSE(std::filesystem::exists(dir + "/ran"));
  std::filesystem::remove_all(dir);
}

TEST(Launcher, ExitStatusSaysWhetherTheCommandWasFound) {
  const std::string plain = std::filesystem::temp_directory_path() / "nbw-sc-not-executable";
  std::ofstream(plain) << "data\n";
  std::filesystem::permissions(
      plain, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(Exit(Spawn({NBW_EXEC_PATH, "--profile", kProfile, "--", "/nonexistent/cmd"})), 127);
  EXPECT_EQ(Exit(Spawn({NBW_EXEC_PATH, "--profile", kProfile, "--", plain})), 126);
  EXPECT_EQ(Exit(Spawn({NBW_EXEC_PATH, "--profile", kProfile})), 125);
  EXPECT_EQ(Exit(Spawn({NBW_EXEC_PATH, "--profile", kProfile, "--", "/bin/sh", "-c", "exit 3"})),
            3);
  std::filesystem::remove(plain);
}

TEST(ProfileParse, ErrorsNameTheFileLineAndEntry) {
  struct Case {
    std::string json, error;
  };
  const std::vector<Case> cases = {
      {"{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [}\n",
       "p.json:3:16: not JSON"},
      {R"({"syscalls": []})", "p.json: profile: needs 'defaultAction'"},
      {R"({"defaultAction": "ALLOW"})", "p.json: defaultAction: must be one of SCMP_ACT_ALLOW"},
      {R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 99999})",
       "p.json: defaultErrnoRet: must be an errno number from 0 to 4095"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]})",
       "p.json: architectures: 'SCMP_ARCH_Z80' is not an architecture libseccomp knows"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]})",
       "p.json: syscalls[0]: needs 'names'"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action":
          "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]})",
       "p.json: syscalls[0].args[0].index: must be an argument number from 0 to 5"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action":
          "SCMP_ACT_ERRNO", "nmaes": []}]})",
       "p.json: syscalls[0]: unknown key 'nmaes'"},
  };
  for (const auto& c : cases) {
    auto p = SeccompProfile::Parse(c.json, "p.json");
    ASSERT_FALSE(p.ok()) << c.json;
    EXPECT_EQ(p.status().message().substr(0, c.error.size()), c.error) << p.status().message();
  }
}

TEST(ProfileParse, TheShippedProfileCompilesWithEveryNameKnown) {
  auto p = SeccompProfile::Load(kProfile);
  ASSERT_TRUE(p.ok()) << p.status().message();
  CompileReport rep;
  auto f = CompileProfile(*p, &rep);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(rep.unknown, std::vector<std::string>{});
  EXPECT_GT(rep.rules, 50u);
}

}  // namespace
}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// nbwarden-exec: run a command under a seccomp profile. Small and fast to
// start, no daemon needed: it parses and compiles the profile, sets
// no_new_privs, loads the filter and execs the command, which inherits the
// filter for good (and so does everything it starts).
//
//   nbwarden-exec --profile NAME|FILE [--profiles DIR] [--landlock NAME|FILE]
//                 -- CMD [ARGS...]
//
// NAME is DIR/NAME.json; DIR defaults to the installed policy's seccomp/
// ($NBWARDEN_POLICY_DIR or /etc/nbwarden/policies), or to the policy built
// in where none is installed. A Landlock NAME is DIR/../landlock/NAME.yaml.
// Landlock is applied where the kernel has it; where it does not, or lacks
// a feature the rules ask for, the launcher says so on stderr and runs with
// what it has. Exit status, as env(1) and timeout(1): 125 the launcher
// failed (usage, bad profile, filter refused), 126 CMD could not be run,
// 127 CMD not found.
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "common/bundled_policy.h"
#include "common/version.h"
#include "seccomp/landlock.h"
#include "seccomp/profile.h"

namespace {

constexpr int kLauncherFailed = 125, kCannotRun = 126, kNotFound = 127;

void Help() {
  std::printf(
      "usage: nbwarden-exec --profile NAME|FILE [--profiles DIR] [--landlock NAME|FILE] "
      "-- CMD [ARGS...]\n\n"
      "Runs CMD under a seccomp profile, and Landlock rules, that it and everything it\n"
      "starts keep for good.\n\n"
      "  --profile NAME|FILE   seccomp profile (OCI or Docker JSON): a FILE, or DIR/NAME.json\n"
      "  --profiles DIR        where profile NAMEs live (default: the seccomp/ directory of\n"
      "                        $NBWARDEN_POLICY_DIR or /etc/nbwarden/policies where it exists,\n"
      "                        else the built-in policy; here: %s)\n"
      "  --landlock NAME|FILE  Landlock rules: a FILE, or DIR/../landlock/NAME.yaml\n"
      "  --help                print this and exit\n"
      "  --version             print the version and exit\n\n"
      "Exit status: CMD's; 125 the launcher failed (usage, bad profile, filter refused),\n"
      "126 CMD could not be run, 127 CMD not found.\n",
      nbw::DefaultPolicyName().c_str());
}

// One line saying what was wrong, and where to read more.
int UsageError(const std::string& what) {
  std::fprintf(stderr, "nbwarden-exec: %s (see 'nbwarden-exec --help')\n", what.c_str());
  return kLauncherFailed;
}

// cmd as execvp would find it.
std::string FindInPath(const std::string& cmd) {
  if (cmd.find('/') != std::string::npos) return cmd;
  const char* env = std::getenv("PATH");
  const std::string path = env && *env ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    std::string full = (dir.empty() ? "." : dir) + "/" + cmd;
    if (access(full.c_str(), X_OK) == 0) return full;
    start = end + 1;
  }
  return "";
}

// Opens cmd at descriptor n (close-on-exec, so the exec closes it) and
// lowers RLIMIT_NOFILE to n: no descriptor numbered n can be made again,
// and the profile refuses raising the limit. Returns an exit status on
// failure, else 0.
int PrepareExecFd(const char* cmd, int n) {
  const std::string path = FindInPath(cmd);
  if (path.empty()) {
    std::fprintf(stderr, "nbwarden-exec: %s: not found in PATH\n", cmd);
    return kNotFound;
  }
  // A script cannot be exec'd through a close-on-exec descriptor (its
  // interpreter would open /dev/fd/N after the exec closed it), and its
  // interpreter could not exec anything either.
  char magic[2] = {};
  if (int r = open(path.c_str(), O_RDONLY | O_CLOEXEC); r >= 0) {
    const bool script = read(r, magic, 2) == 2 && magic[0] == '#' && magic[1] == '!';
    close(r);
    if (script) {
      std::fprintf(stderr,
                   "nbwarden-exec: %s is a script; this profile allows one exec, of a binary: "
                   "name the interpreter (e.g. /usr/bin/python3 %s)\n",
                   path.c_str(), path.c_str());
      return kCannotRun;
    }
  }
  int fd = open(path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::fprintf(stderr, "nbwarden-exec: %s: %s\n", path.c_str(), std::strerror(err));
    return err == ENOENT ? kNotFound : kCannotRun;
  }
  struct rlimit rl = {};
  getrlimit(RLIMIT_NOFILE, &rl);
  const rlim_t want = static_cast<rlim_t>(n);
  if (rl.rlim_max <= want) {
    struct rlimit up = {std::min(rl.rlim_cur, want + 1), want + 1};
    if (setrlimit(RLIMIT_NOFILE, &up) != 0) {
      std::fprintf(stderr,
                   "nbwarden-exec: the profile execs through descriptor %d, above the hard "
                   "RLIMIT_NOFILE %llu, which this user cannot raise: %s\n",
                   n, static_cast<unsigned long long>(rl.rlim_max), std::strerror(errno));
      return kLauncherFailed;
    }
  }
  if (dup3(fd, n, O_CLOEXEC) != n) {
    std::fprintf(stderr, "nbwarden-exec: descriptor %d: %s\n", n, std::strerror(errno));
    return kLauncherFailed;
  }
  close(fd);
  struct rlimit down = {std::min(rl.rlim_cur, want), want};
  if (setrlimit(RLIMIT_NOFILE, &down) != 0) {
    std::fprintf(stderr, "nbwarden-exec: lowering RLIMIT_NOFILE to %d: %s\n", n,
                 std::strerror(errno));
    return kLauncherFailed;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string profile, dir, landlock;
  int i = 1;
  for (; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--") {
      i++;
      break;
    }
    if (a == "--help" || a == "-h") {
      Help();
      return 0;
    }
    if (a == "--version") {
      std::printf("%s\n", nbw::VersionLine("nbwarden-exec").c_str());
      return 0;
    }
    bool matched = false;
    for (auto [name, value] : {std::pair{"--profile", &profile}, std::pair{"--profiles", &dir},
                               std::pair{"--landlock", &landlock}}) {
      const std::string eq = std::string(name) + "=";
      if (a == name) {
        if (i + 1 >= argc) return UsageError(a + " needs a value");
        *value = argv[++i];
      } else if (a.starts_with(eq)) {
        *value = a.substr(eq.size());
      } else {
        continue;
      }
      matched = true;
      break;
    }
    if (!matched) {
      return UsageError(a.starts_with("-") ? "unknown option '" + a + "'"
                                           : "'" + a + "': the command goes after --");
    }
  }
  if (profile.empty()) return UsageError("--profile is required");
  if (i >= argc) return UsageError("no command after --");

  // Profile and rules NAMEs: under --profiles DIR; without it, under the
  // installed policy, or the built-in one where none is installed. Either
  // way the text goes through the same parsers.
  const bool builtin = dir.empty() && nbw::UseBuiltinPolicy();
  if (dir.empty()) {
    dir = builtin ? std::string(nbw::kBuiltinPrefix) + "seccomp"
                  : nbw::InstalledPolicyDir() + "/seccomp";
  }
  const std::string path = nbw::ResolveProfilePath(profile, dir);
  auto text = nbw::ReadPolicyText(path, 4 << 20);
  auto p = text.ok() ? nbw::SeccompProfile::Parse(*text, path)
                     : nbw::Result<nbw::SeccompProfile>(text.status());
  if (!p.ok()) {
    std::fprintf(stderr, "nbwarden-exec: %s\n", p.status().message().c_str());
    return kLauncherFailed;
  }
  auto filter = nbw::CompileProfile(*p);
  if (!filter.ok()) {
    std::fprintf(stderr, "nbwarden-exec: %s\n", filter.status().message().c_str());
    return kLauncherFailed;
  }
  std::optional<nbw::LandlockRules> rules;
  if (!landlock.empty()) {
    const bool is_file = landlock.find('/') != std::string::npos || landlock.ends_with(".yaml");
    const std::string rules_dir =
        builtin ? std::string(nbw::kBuiltinPrefix) + "landlock/" : dir + "/../landlock/";
    auto r = nbw::LandlockRules::Load(
        is_file ? landlock : rules_dir + landlock + ".yaml",
        [](const std::string& f) { return nbw::ReadPolicyText(f, 1 << 20); });
    if (!r.ok()) {
      std::fprintf(stderr, "nbwarden-exec: %s\n", r.status().message().c_str());
      return kLauncherFailed;
    }
    rules = std::move(r).value();
  }
  // A profile that refuses exec except from one descriptor (model-server):
  // open the command there now, before the filter; exec through it below.
  const std::optional<int> exec_fd = p->ExecFd();
  if (exec_fd) {
    if (int rc = PrepareExecFd(argv[i], *exec_fd); rc != 0) return rc;
  }
  // No setuid binary may regain what the filter takes away.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    std::fprintf(stderr, "nbwarden-exec: no_new_privs: %s\n", std::strerror(errno));
    return kLauncherFailed;
  }
  // Landlock before seccomp: the filter may refuse the landlock syscalls.
  if (rules) {
    auto rep = nbw::ApplyLandlock(*rules);
    if (!rep.ok()) {
      std::fprintf(stderr, "nbwarden-exec: %s: %s\n", rules->origin.c_str(),
                   rep.status().message().c_str());
      return kLauncherFailed;
    }
    if (rep->abi == 0) {
      std::fprintf(stderr, "nbwarden-exec: this kernel has no Landlock; %s not applied\n",
                   rules->origin.c_str());
    }
    for (const auto& u : rep->unenforced) {
      std::fprintf(stderr, "nbwarden-exec: Landlock ABI %d here: %s not applied\n", rep->abi,
                   u.c_str());
    }
  }
  if (int err = seccomp_load(filter->get()); err != 0) {
    std::fprintf(stderr, "nbwarden-exec: loading the filter from %s: %s\n", path.c_str(),
                 std::strerror(-err));
    return kLauncherFailed;
  }
  filter->reset();  // the kernel holds the filter now
  // The profile's name, first in the environment so the sensor's exec
  // capture (the first 4 KiB of argv and env) carries it to the daemon.
  std::vector<std::string> env_store{"NBW_SECCOMP_PROFILE=" + profile};
  for (char** e = environ; *e; e++) {
    if (std::strncmp(*e, "NBW_SECCOMP_PROFILE=", 20) != 0) env_store.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  if (exec_fd) {
    syscall(SYS_execveat, *exec_fd, "", argv + i, envp.data(), AT_EMPTY_PATH);
  } else {
    execvpe(argv[i], argv + i, envp.data());
  }
  const int err = errno;
  std::fprintf(stderr, "nbwarden-exec: %s: %s\n", argv[i], std::strerror(err));
  return err == ENOENT ? kNotFound : kCannotRun;
}

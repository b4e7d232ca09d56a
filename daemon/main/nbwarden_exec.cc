// SPDX-License-Identifier: Apache-2.0
// nbwarden-exec: run a command under a seccomp profile. Small and fast to
// start, no daemon needed: it parses and compiles the profile, sets
// no_new_privs, loads the filter and execs the command, which inherits the
// filter for good (and so does everything it starts).
//
//   nbwarden-exec --profile NAME|FILE [--profiles DIR] -- CMD [ARGS...]
//
// NAME is DIR/NAME.json (DIR defaults to /etc/nbwarden/policies/seccomp).
// Exit status, as env(1) and timeout(1): 125 the launcher failed (bad
// profile, filter refused), 126 CMD could not be run, 127 CMD not found.
#include <errno.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "seccomp/profile.h"

namespace {

constexpr int kLauncherFailed = 125, kCannotRun = 126, kNotFound = 127;

int Usage() {
  std::fprintf(stderr,
               "usage: nbwarden-exec --profile NAME|FILE [--profiles DIR] -- CMD [ARGS...]\n");
  return kLauncherFailed;
}

}  // namespace

int main(int argc, char** argv) {
  std::string profile, dir = nbw::kDefaultProfileDir;
  int i = 1;
  for (; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--") {
      i++;
      break;
    }
    if ((a == "--profile" || a == "--profiles") && i + 1 < argc) {
      (a == "--profile" ? profile : dir) = argv[++i];
    } else if (a.rfind("--profile=", 0) == 0) {
      profile = a.substr(10);
    } else if (a.rfind("--profiles=", 0) == 0) {
      dir = a.substr(11);
    } else {
      return Usage();
    }
  }
  if (profile.empty() || i >= argc) return Usage();

  const std::string path = nbw::ResolveProfilePath(profile, dir);
  auto p = nbw::SeccompProfile::Load(path);
  if (!p.ok()) {
    std::fprintf(stderr, "nbwarden-exec: %s\n", p.status().message().c_str());
    return kLauncherFailed;
  }
  auto filter = nbw::CompileProfile(*p);
  if (!filter.ok()) {
    std::fprintf(stderr, "nbwarden-exec: %s\n", filter.status().message().c_str());
    return kLauncherFailed;
  }
  // No setuid binary may regain what the filter takes away.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    std::fprintf(stderr, "nbwarden-exec: no_new_privs: %s\n", std::strerror(errno));
    return kLauncherFailed;
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
  execvpe(argv[i], argv + i, envp.data());
  const int err = errno;
  std::fprintf(stderr, "nbwarden-exec: %s: %s\n", argv[i], std::strerror(err));
  return err == ENOENT ? kNotFound : kCannotRun;
}

// SPDX-License-Identifier: Apache-2.0
// Running a command with its output captured, for the integration tests.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace nbw {

struct Ran {
  int status = -1;
  std::string out, err;
};

// Runs argv with stdout and stderr captured (through files: no deadlock).
inline Ran Spawn(const std::vector<std::string>& argv) {
  char out_path[] = "/tmp/nbw-sc-out-XXXXXX";
  char err_path[] = "/tmp/nbw-sc-err-XXXXXX";
  int out = mkstemp(out_path), err = mkstemp(err_path);
  pid_t c = fork();
  if (c == 0) {
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(99);
  }
  Ran r;
  waitpid(c, &r.status, 0);
  auto slurp = [](const char* p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  r.out = slurp(out_path), r.err = slurp(err_path);
  close(out), close(err), unlink(out_path), unlink(err_path);
  return r;
}

inline int Exit(const Ran& r) {
  return WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
}

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// The version of this build: CMake's project(VERSION), and the git commit
// when built from a checkout. Defined in one generated translation unit
// (cmake/Version.cmake), so a new commit recompiles only that file.
#pragma once

#include <string>
#include <string_view>

namespace nbw {

std::string_view Version();    // "0.1.0"
std::string_view GitCommit();  // "1a2b3c4d5e6f"; empty outside a checkout

// "nbwarden 0.1.0 (git 1a2b3c4d5e6f)": what --version prints.
inline std::string VersionLine(std::string_view program) {
  std::string s(program);
  s += ' ';
  s += Version();
  if (!GitCommit().empty()) {
    s += " (git ";
    s += GitCommit();
    s += ')';
  }
  return s;
}

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// How nbwarden and nbwardend answer their command line: --help and
// --version on stdout with status 0; a usage error as one line on stderr,
// "PROG SUB: what was wrong (see 'PROG SUB --help')", with status 2
// (nbwarden-exec, which has no CLI11, answers the same way by hand).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>

namespace nbw::cli {

inline constexpr int kUsageError = 2;

// Adds --version to app. Returns the status to exit with, or nullopt when
// the command line was good and the program goes on.
[[nodiscard]] std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv);

}  // namespace nbw::cli

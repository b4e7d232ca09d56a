// SPDX-License-Identifier: Apache-2.0
#include "main/command_line.h"

#include <cstdio>
#include <string>

#include "common/version.h"

namespace nbw::cli {

std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv) {
  app.set_version_flag("--version", VersionLine(app.get_name()), "print the version and exit");
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version: on stdout, status 0
  } catch (const CLI::ParseError& e) {
    // Name the (sub)command the error is about: its --help is the one to read.
    const CLI::App* at = &app;
    std::string where = app.get_name();
    while (!at->get_subcommands().empty()) {
      at = at->get_subcommands().front();
      where += " " + at->get_name();
    }
    std::string what = e.what();
    // CLI11 says "A subcommand is required" also when one was given but
    // is not a known one: it is left over as an unexpected argument.
    if (at->get_require_subcommand_min() > 0 && at->get_subcommands().empty()) {
      const auto left = at->remaining();
      std::string names;
      for (const CLI::App* sub : at->get_subcommands({})) {
        names += (names.empty() ? "" : ", ") + sub->get_name();
      }
      what = (left.empty() ? "a command is required" : "unknown command '" + left.front() + "'") +
             "; one of: " + names;
    }
    std::fprintf(stderr, "%s: %s (see '%s --help')\n", where.c_str(), what.c_str(), where.c_str());
    return kUsageError;
  }
}

}  // namespace nbw::cli

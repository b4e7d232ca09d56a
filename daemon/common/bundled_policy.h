// SPDX-License-Identifier: Apache-2.0
// The policy shipped in policies/ (the model-guard lists, the seccomp
// profiles, the Landlock rules) compiled into nbwarden and nbwarden-exec by
// cmake/EmbedPolicy.cmake, so `nbwarden scan` and `nbwarden-exec` work where
// nothing is installed under /etc/nbwarden: a build tree, a CI runner. The
// text is the file's, byte for byte, and goes through the same parsers as a
// file read from disk. A built-in file is named "built-in:seccomp/NAME.json"
// in paths and error messages. Immutable; any thread.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace nbw {

struct BundledPolicyEntry {
  std::string_view path;  // under policies/: "model-guard.yaml", "seccomp/notebook-kernel.json"
  std::string_view text;
};
// Generated at build time, in path order.
std::span<const BundledPolicyEntry> BundledPolicyEntries();

inline constexpr std::string_view kBuiltinPrefix = "built-in:";

// Where the CLI tools look for an installed policy when the command line
// names none: $NBWARDEN_POLICY_DIR, else /etc/nbwarden/policies.
std::string InstalledPolicyDir();
// True when InstalledPolicyDir() is not a directory: the tools then use the
// built-in policy.
bool UseBuiltinPolicy();
// "built-in (nbwarden 0.1.0)", or the installed directory: what --help says
// a command without -p/--profiles uses on this machine.
std::string DefaultPolicyName();

// Where seccomp profile NAMEs resolve when the command line names no
// --profiles: the installed policy's seccomp/, else the built-in one
// ("built-in:seccomp"). nbwarden-exec resolves the same way, so a profile a
// CLI command accepts is the one a wrapped kernel gets.
std::string DefaultProfilesDir();

// A policy file's text: "built-in:REL" from the table above, any other path
// from disk (at most max_bytes). A missing built-in file's error lists the
// ones there are.
Result<std::string> ReadPolicyText(const std::string& path, size_t max_bytes);

}  // namespace nbw

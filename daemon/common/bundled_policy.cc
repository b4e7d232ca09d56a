// SPDX-License-Identifier: Apache-2.0
#include "common/bundled_policy.h"

#include <sys/stat.h>

#include <cstdlib>

#include "common/version.h"
#include "process/proc_fs.h"

namespace nbw {

std::string InstalledPolicyDir() {
  const char* env = std::getenv("NBWARDEN_POLICY_DIR");
  return env && *env ? env : "/etc/nbwarden/policies";
}

bool UseBuiltinPolicy() {
  struct stat st = {};
  return stat(InstalledPolicyDir().c_str(), &st) != 0 || !S_ISDIR(st.st_mode);
}

std::string DefaultPolicyName() {
  return UseBuiltinPolicy() ? "built-in (nbwarden " + std::string(Version()) + ")"
                            : InstalledPolicyDir();
}

std::string DefaultProfilesDir() {
  return UseBuiltinPolicy() ? std::string(kBuiltinPrefix) + "seccomp"
                            : InstalledPolicyDir() + "/seccomp";
}

Result<std::string> ReadPolicyText(const std::string& path, size_t max_bytes) {
  if (!path.starts_with(kBuiltinPrefix)) return ReadFileBounded(path, max_bytes);
  const std::string_view rel = std::string_view(path).substr(kBuiltinPrefix.size());
  std::string there;
  for (const auto& e : BundledPolicyEntries()) {
    if (e.path == rel) return std::string(e.text);
    there += there.empty() ? "" : ", ";
    there += e.path;
  }
  return Status::Error(path, "no such built-in policy file (there are: " + there + ")");
}

}  // namespace nbw

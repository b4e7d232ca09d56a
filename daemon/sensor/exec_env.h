// SPDX-License-Identifier: Apache-2.0
// The environment variables an exec event reports (blob 4, read by the
// kernel wherever they sit in the new program's environment: see
// bpf/process.bpf.h, nbw_put_env). Nothing else of an environment is ever
// read: it may hold secrets. The sensor loads these names into the kernel's
// env_names map; rules read each as exec.env.<NAME>.
#pragma once

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace nbw {

// Variables by name. A variable set more than once maps to its values
// joined by ':' in environment order, so that no value hides behind another
// (the loader uses the last LD_PRELOAD, getenv() the first).
using EnvVars = std::map<std::string, std::string, std::less<>>;

inline constexpr std::array<std::string_view, 17> kExecEnvNames = {
    // Loader and interpreter hooks: code a program runs before its own.
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GLIBC_TUNABLES", "PYTHONPATH", "PYTHONSTARTUP",
    "PYTHONINSPECT", "BASH_ENV", "ENV",
    // Identity (process/process_table.cc) and the profile nbwarden-exec applied.
    "JUPYTERHUB_USER", "JUPYTER_USER", "JPY_SESSION_NAME", "NBW_SECCOMP_PROFILE",
    "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "HOSTNAME", "POD_NAMESPACE"};

inline bool IsExecEnvName(std::string_view name) {
  return std::find(kExecEnvNames.begin(), kExecEnvNames.end(), name) != kExecEnvNames.end();
}

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
// The nbwarden CLI's subcommands beyond the basics (nbwarden.cc): seccomp
// profile recording and export, and Jupyter kernelspec wrapping. Each
// returns the process exit status and prints its own errors.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "seccomp/profile.h"

namespace nbw::cli {

// A seccomp profile by NAME (under dir; empty dir: the installed policy's
// seccomp/, else the built-in one, as nbwarden-exec resolves it) or FILE.
Result<SeccompProfile> LoadNamedProfile(const std::string& name_or_file, const std::string& dir);

struct RecordOptions {
  int pid = 0;                    // --pid: an existing process tree
  std::vector<std::string> cmd;   // -- CMD ARGS: a new one
  std::string out;                // -o FILE; empty = stdout
  std::string base;               // --base NAME|FILE
  std::string profiles_dir;       // where NAMEs live; empty: the default (LoadNamedProfile)
  std::string format = "docker";  // docker|oci|k8s
  double duration_s = 0;          // --pid: stop after this long (0 = at exit or signal)
};
int SeccompRecord(const RecordOptions& o);

struct ExportOptions {
  std::string profile;       // NAME|FILE
  std::string profiles_dir;  // empty: the default (LoadNamedProfile)
  std::string format = "docker";
  std::string name;               // k8s metadata.name; default: the profile's name
  std::vector<std::string> caps;  // oci/k8s: the container's capabilities
};
int SeccompExport(const ExportOptions& o);

struct KernelspecOptions {
  std::string wrap;     // kernelspec name
  std::string profile;  // seccomp profile for nbwarden-exec
  std::string
      profiles_dir;         // where profile NAMEs live (passed on to nbwarden-exec); empty: default
  std::string landlock;     // --landlock RULES for nbwarden-exec (optional)
  std::string kernels_dir;  // search only here (else Jupyter's path)
  std::string as;           // write a new spec with this name instead of in place
  std::string exec_path;    // nbwarden-exec; default: next to this binary
};
int KernelspecInstall(const KernelspecOptions& o);

struct TailOptions {
  std::string socket = "/run/nbwarden/alerts.sock";
  std::string connect;             // HOST:PORT of a daemon's TLS stream instead
  std::string ca, cert, key;       // with --connect: the daemon's CA, our certificate and key
  std::string severity;            // at least this severe
  std::vector<std::string> rules;  // only these rule ids
  std::string user;                // only this Jupyter user
  bool json = false, no_colour = false;
  size_t count = 0;  // exit after this many (0: until the stream ends)
};
int Tail(const TailOptions& o);

}  // namespace nbw::cli

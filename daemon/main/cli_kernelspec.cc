// SPDX-License-Identifier: Apache-2.0
// nbwarden kernelspec install --wrap NAME: a Jupyter kernelspec whose argv
// starts with nbwarden-exec, so every kernel Jupyter starts from it runs
// under a seccomp profile (and Landlock rules) from its first instruction.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/unique_fd.h"
#include "main/cli.h"
#include "process/proc_fs.h"
#include "seccomp/profile.h"

namespace nbw::cli {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;
const char* kWho = "nbwarden kernelspec install";

// Jupyter's kernelspec search path (jupyter_core.paths.jupyter_path), in
// its order: JUPYTER_PATH, the user's data dir, then system dirs.
std::vector<fs::path> KernelDirs() {
  std::vector<fs::path> out;
  if (const char* jp = std::getenv("JUPYTER_PATH"); jp && *jp) {
    std::string s = jp;
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) out.push_back(fs::path(s.substr(start, end - start)) / "kernels");
      start = end + 1;
    }
  }
  if (const char* xdg = std::getenv("JUPYTER_DATA_DIR"); xdg && *xdg) {
    out.push_back(fs::path(xdg) / "kernels");
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    out.push_back(fs::path(home) / ".local/share/jupyter/kernels");
  }
  out.push_back("/usr/local/share/jupyter/kernels");
  out.push_back("/usr/share/jupyter/kernels");
  return out;
}

std::string DefaultExecPath() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path sibling = self.parent_path() / "nbwarden-exec";
    if (access(sibling.c_str(), X_OK) == 0) return sibling;
  }
  return "/usr/local/bin/nbwarden-exec";
}

constexpr size_t kMaxResourceBytes = 16 << 20;  // a logo, a JS file

bool WriteFile(const fs::path& path, const std::string& text, mode_t mode) {
  if (Status st = WriteFileAtomic(path, text, mode); !st.ok()) {
    std::fprintf(stderr, "%s: %s\n", kWho, st.message().c_str());
    return false;
  }
  return true;
}

}  // namespace

int KernelspecInstall(const KernelspecOptions& o) {
  if (o.wrap.empty() || o.wrap.find('/') != std::string::npos || o.wrap[0] == '.') {
    std::fprintf(stderr, "%s: --wrap: '%s' is not a kernelspec name\n", kWho, o.wrap.c_str());
    return 2;
  }
  if (!o.as.empty() && (o.as.find('/') != std::string::npos || o.as[0] == '.')) {
    std::fprintf(stderr, "%s: --as: '%s' is not a kernelspec name\n", kWho, o.as.c_str());
    return 2;
  }
  // The profile must load now, not when a user starts a kernel.
  const std::string profile = o.profile.empty() ? "notebook-kernel" : o.profile;
  const bool profile_is_file = ResolveProfilePath(profile, "") == profile;
  if (auto p = LoadNamedProfile(profile, o.profiles_dir); !p.ok()) {
    std::fprintf(stderr, "%s: --profile: %s\n", kWho, p.status().message().c_str());
    return 2;
  }
  std::vector<fs::path> dirs =
      o.kernels_dir.empty() ? KernelDirs() : std::vector<fs::path>{o.kernels_dir};
  fs::path spec_dir;
  for (const auto& d : dirs) {
    std::error_code ec;
    if (fs::is_regular_file(d / o.wrap / "kernel.json", ec)) {
      spec_dir = d / o.wrap;
      break;
    }
  }
  if (spec_dir.empty()) {
    std::string searched;
    for (const auto& d : dirs) searched += (searched.empty() ? "" : ", ") + d.string();
    std::fprintf(stderr, "%s: no kernelspec '%s' in %s\n", kWho, o.wrap.c_str(), searched.c_str());
    return 1;
  }
  const fs::path json_path = spec_dir / "kernel.json";
  auto text = ReadFileBounded(json_path, 1 << 20);
  if (!text.ok()) {
    std::fprintf(stderr, "%s: %s\n", kWho, text.status().message().c_str());
    return 1;
  }
  ojson spec;
  try {
    spec = ojson::parse(*text);
  } catch (const ojson::exception& e) {
    std::fprintf(stderr, "%s: %s: not JSON: %s\n", kWho, json_path.c_str(), e.what());
    return 1;
  }
  if (!spec.is_object() || !spec.contains("argv") || !spec["argv"].is_array() ||
      spec["argv"].empty()) {
    std::fprintf(stderr, "%s: %s: argv: must be a non-empty list\n", kWho, json_path.c_str());
    return 1;
  }
  std::vector<std::string> argv;
  for (size_t i = 0; i < spec["argv"].size(); i++) {
    if (!spec["argv"][i].is_string()) {
      std::fprintf(stderr, "%s: %s: argv[%zu]: must be a string\n", kWho, json_path.c_str(), i);
      return 1;
    }
    argv.push_back(spec["argv"][i].get<std::string>());
  }
  // Already wrapped: unwrap first, so wrapping again changes the profile
  // rather than nesting launchers.
  if (fs::path(argv[0]).filename() == "nbwarden-exec") {
    auto sep = std::find(argv.begin(), argv.end(), "--");
    if (sep == argv.end() || sep + 1 == argv.end()) {
      std::fprintf(stderr, "%s: %s: argv: an nbwarden-exec wrapper without '-- CMD'\n", kWho,
                   json_path.c_str());
      return 1;
    }
    argv.erase(argv.begin(), sep + 1);
  }
  std::vector<std::string> wrapped = {o.exec_path.empty() ? DefaultExecPath() : o.exec_path,
                                      "--profile", profile};
  // Only a directory the operator named is passed on: without one,
  // nbwarden-exec resolves NAME as LoadNamedProfile did here.
  if (!profile_is_file && !o.profiles_dir.empty()) {
    wrapped.push_back("--profiles");
    wrapped.push_back(o.profiles_dir);
  }
  if (!o.landlock.empty()) {
    wrapped.push_back("--landlock");
    wrapped.push_back(o.landlock);
  }
  wrapped.push_back("--");
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  spec["argv"] = wrapped;
  if (spec.contains("metadata") && !spec["metadata"].is_object()) {
    std::fprintf(stderr, "%s: %s: metadata: must be an object\n", kWho, json_path.c_str());
    return 1;
  }
  spec["metadata"]["nbwarden"] = {{"seccomp_profile", profile}, {"landlock", o.landlock}};

  fs::path target_dir = spec_dir;
  if (!o.as.empty()) {
    target_dir = spec_dir.parent_path() / o.as;
    std::error_code ec;
    if (fs::is_symlink(target_dir, ec)) {
      std::fprintf(stderr, "%s: %s: is a symbolic link: refusing to write through it\n", kWho,
                   target_dir.c_str());
      return 1;
    }
    fs::create_directory(target_dir, ec);
    if (ec) {
      std::fprintf(stderr, "%s: %s: %s\n", kWho, target_dir.c_str(), ec.message().c_str());
      return 1;
    }
    // Logos and other resources come along; kernel.json is written below.
    // Copied by the one writer that follows no link (copy_file would write
    // through one planted in the target directory).
    for (const auto& e : fs::directory_iterator(spec_dir, ec)) {
      if (!e.is_regular_file(ec) || e.is_symlink(ec) || e.path().filename() == "kernel.json") {
        continue;
      }
      auto data = ReadFileBounded(e.path(), kMaxResourceBytes + 1);
      if (data.ok() && data->size() > kMaxResourceBytes) {
        data = Status::Error(e.path().string(), "larger than 16 MiB");
      }
      if (!data.ok() || !WriteFile(target_dir / e.path().filename(), *data, 0644)) {
        if (!data.ok()) std::fprintf(stderr, "%s: %s\n", kWho, data.status().message().c_str());
        return 1;
      }
    }
    if (ec) {
      std::fprintf(stderr, "%s: %s: %s\n", kWho, spec_dir.c_str(), ec.message().c_str());
      return 1;
    }
    const std::string display = spec.contains("display_name") && spec["display_name"].is_string()
                                    ? spec["display_name"].get<std::string>()
                                    : o.wrap;
    spec["display_name"] = display + " [nbwarden: " + profile + "]";
  } else {
    // In place: the original is kept once, for `--as` later or by hand.
    const fs::path orig = spec_dir / "kernel.json.nbwarden-orig";
    std::error_code ec;
    if (!fs::exists(orig, ec) && !WriteFile(orig, *text, 0644)) return 1;
  }
  struct stat st = {};
  const mode_t mode = stat(json_path.c_str(), &st) == 0 ? (st.st_mode & 0777) : 0644;
  if (!WriteFile(target_dir / "kernel.json", spec.dump(1) + "\n", mode)) return 1;
  std::printf("%s: kernel.json argv now starts with %s --profile %s\n", target_dir.c_str(),
              wrapped[0].c_str(), wrapped[2].c_str());
  return 0;
}

}  // namespace nbw::cli

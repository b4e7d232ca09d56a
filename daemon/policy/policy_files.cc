// SPDX-License-Identifier: Apache-2.0
#include "policy/policy_files.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "process/proc_fs.h"

namespace nbw {

constexpr size_t kMaxPolicyBytes = 4 * 1024 * 1024;

Result<std::vector<PolicyFile>> ReadPolicyFiles(const std::string& path) {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::recursive_directory_iterator(path, ec)) {
      const auto ext = e.path().extension();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) names.push_back(e.path());
    }
    if (ec) return Status::Error(path, ec.message());
    std::sort(names.begin(), names.end());
  } else {
    names.push_back(path);
  }
  std::vector<PolicyFile> files;
  for (auto& f : names) {
    auto text = ReadFileBounded(f, kMaxPolicyBytes + 1);
    if (!text.ok()) return text.status();
    if (text->size() > kMaxPolicyBytes) {
      return Status::Error(f, fmt::format("larger than {} bytes", kMaxPolicyBytes));
    }
    files.push_back({std::move(f), std::move(text).value()});
  }
  return files;
}

}  // namespace nbw

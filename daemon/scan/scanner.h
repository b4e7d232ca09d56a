// SPDX-License-Identifier: Apache-2.0
// ModelScanner: judges a model file by its content, never by its name.
// Sniffs the format (pickle protocols 0-5 and stacks of them, PyTorch zip
// and legacy layouts, joblib, NumPy .npy/.npz, Keras .keras, safetensors,
// tar/7z and compressed streams through libarchive) and descends into
// containers, scanning every member by content. Anything it cannot analyse
// makes the report incomplete (unscannable), never clean. Reads with bounded
// memory and work; never executes or imports what it reads.
// Shared by `nbwarden scan` and the daemon's model-load guard. Thread-safe:
// a scanner holds only the immutable policy.
#pragma once

#include <memory>
#include <string>

#include "scan/report.h"
#include "scan/scan_policy.h"
#include "scan/source.h"

namespace nbw {

struct ScanLimits {
  uint64_t member_bytes = 256ull << 20;  // one inflated member held in memory
  uint64_t inflated_total = 1ull << 30;  // all members inflated for one file
  int depth = 4;                         // containers inside containers
};

class ModelScanner {
 public:
  explicit ModelScanner(std::shared_ptr<const ModelGuardPolicy> policy, ScanLimits limits = {})
      : policy_(std::move(policy)), limits_(limits) {}

  // Opens `path` (no FIFOs, devices or directories) and scans it.
  ScanReport ScanPath(const std::string& path) const;
  // Scans an already open file; `path` is only for the report.
  ScanReport ScanFd(int fd, const std::string& path) const;

  // Does this content look like a model format the scanner knows? For
  // directory walks: files that are neither this nor named like a model
  // are not models.
  static bool LooksLikeModel(std::string_view head);

  const ModelGuardPolicy& policy() const { return *policy_; }

 private:
  const std::shared_ptr<const ModelGuardPolicy> policy_;
  const ScanLimits limits_;
};

// Lower-case hex sha256 of everything in `src`, read in 1 MiB blocks.
Result<std::string> Sha256Hex(const ByteSource& src);

}  // namespace nbw

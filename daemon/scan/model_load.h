// SPDX-License-Identifier: Apache-2.0
// ModelLoad: one model-load window as userspace knows it: which process
// opened which file, how the kernel recognised it, and the scanner's report
// once the background scan is done (null until then). Owned by ModelGuard;
// rules read it through EvalContext::model.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "scan/report.h"

namespace nbw {

struct ModelLoad {
  uint64_t window_id = 0;  // the kernel's id (boot ns when it opened)
  uint32_t loader = 0;     // tgid that opened the model
  int32_t fd = -1;
  std::string path;
  std::string trigger;  // "extension" or "content"
  uint64_t inode = 0, device = 0, size = 0;
  uint64_t opened_ns = 0;                    // realtime
  std::shared_ptr<const ScanReport> report;  // null while the scan runs

  // "pending" while scanning, else the verdict.
  std::string_view verdict() const {
    return report ? VerdictName(report->verdict) : std::string_view("pending");
  }
};

}  // namespace nbw

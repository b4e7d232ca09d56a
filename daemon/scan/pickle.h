// SPDX-License-Identifier: Apache-2.0
// PickleScanner: follows a pickle opcode stream the way the unpickler does,
// without executing anything. A symbolic stack and memo resolve what each
// GLOBAL, STACK_GLOBAL (operands through the memo), INST, EXT1/2/4 names and
// what REDUCE, OBJ, NEWOBJ(_EX) and BUILD call; every global is judged by
// the ModelGuardPolicy and recorded with its byte offset. A malformed
// stream stops the scan with the findings seen before the break: the real
// unpickler would have executed those before failing.
// joblib's inline arrays (NumpyArrayWrapper) are skipped by their size, not
// parsed. Memory and work are bounded (kMaxValues, kMaxOps); a stream over
// the bounds is reported unscannable. Not thread-safe; one per scan.
#pragma once

#include <cstdint>
#include <string>

#include "scan/report.h"
#include "scan/scan_policy.h"
#include "scan/source.h"

namespace nbw {

struct PickleOutcome {
  bool stopped = false;    // reached STOP
  bool malformed = false;  // the unpickler would have raised here
  uint64_t end = 0;        // offset after STOP, or of the error
  int protocol = 0;
  uint64_t globals = 0;  // globals named
  std::string error;
};

class PickleScanner {
 public:
  PickleScanner(const ModelGuardPolicy& policy, ScanReport& report, std::string member)
      : policy_(policy), report_(report), member_(std::move(member)) {}

  // Scans one pickle starting at the cursor; leaves the cursor after STOP.
  PickleOutcome ScanOne(Cursor& in, int depth = 0);

  // Scans the pickles stacked back to back from the cursor (legacy PyTorch
  // files, joblib-era dumps) until the data stops looking like a pickle.
  // Errors in the first pickle are the file's; a later "pickle" that fails
  // at once without naming anything is taken for trailing data. Returns the
  // first pickle's outcome.
  PickleOutcome ScanStacked(Cursor& in);

 private:
  const ModelGuardPolicy& policy_;
  ScanReport& report_;
  const std::string member_;
};

// Does this look like the start of a pickle (PROTO 2..5, or a protocol 0/1
// stream's first opcode followed by plausible bytes)? Cheap; for sniffing.
bool LooksLikePickle(std::string_view head);

}  // namespace nbw

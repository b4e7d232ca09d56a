// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the model scanner: any bytes, as a file, through
// every format handler (the input sniffs as whatever it starts like). The
// scanner must return a report for each: no crash, no sanitizer finding,
// no unbounded time or memory. Built only with -DNBW_FUZZ=ON and clang
// (.ci/test runs it for a bounded time from a seed corpus).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "scan/scanner.h"

namespace {

const nbw::ModelScanner& Scanner() {
  static const nbw::ModelScanner* s = [] {
    auto p = nbw::ModelGuardPolicy::LoadPath(NBW_SOURCE_DIR "/policies/model-guard.yaml");
    if (!p.ok()) abort();
    nbw::ScanLimits limits;
    limits.member_bytes = 16 << 20;  // keep each run's memory small
    limits.inflated_total = 64 << 20;
    return new nbw::ModelScanner(
        std::make_shared<const nbw::ModelGuardPolicy>(std::move(p).value()), limits);
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = memfd_create("nbw-fuzz", MFD_CLOEXEC);
  if (fd < 0) abort();
  for (size_t off = 0; off < size;) {
    ssize_t n = write(fd, data + off, size - off);
    if (n <= 0) abort();
    off += n;
  }
  nbw::ScanReport r = Scanner().ScanFd(fd, "fuzz");
  close(fd);
  // A report always concludes; clean only when complete.
  if (r.verdict == nbw::Verdict::kClean && !r.complete && !r.trusted) abort();
  return 0;
}

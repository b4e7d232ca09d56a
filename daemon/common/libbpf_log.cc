// SPDX-License-Identifier: Apache-2.0
#include "common/libbpf_log.h"

#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>

namespace nbw {
namespace {

// libbpf's messages: debug to the log; the last warning (usually the
// verifier's reason) kept for the one-line error.
thread_local std::string g_last_libbpf_error;

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[1024];
  int n = vsnprintf(buf, sizeof buf, fmt, args);
  std::string_view line(buf, n > 0 ? std::min<size_t>(n, sizeof buf - 1) : 0);
  while (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (level == LIBBPF_WARN && !line.empty()) {
    // Keep the most telling line: the verifier's complaint, not the banner.
    if (line.find("BEGIN PROG LOAD LOG") == std::string_view::npos &&
        line.find("END PROG LOAD LOG") == std::string_view::npos) {
      g_last_libbpf_error = std::string(line);
    }
  }
  spdlog::debug("libbpf: {}", line);
  return n;
}

}  // namespace

void InstallLibbpfLogger() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(LibbpfPrint); });
}

Status LibbpfError(std::string_view what, int err) {
  Status s = Status::FromErrno(what, err);
  if (!g_last_libbpf_error.empty()) {
    s = Status::Error(s.message(), fmt::format("({})", g_last_libbpf_error));
  }
  return s;
}

void ClearLibbpfError() {
  g_last_libbpf_error.clear();
}

}  // namespace nbw

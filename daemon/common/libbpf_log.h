// SPDX-License-Identifier: Apache-2.0
// libbpf's messages to spdlog (debug), and errors that carry libbpf's last
// warning (usually the verifier's reason). Shared by every BPF object the
// daemon and the CLI load.
#pragma once

#include <string_view>

#include "common/status.h"

namespace nbw {

void InstallLibbpfLogger();
// what + strerror(err) + the last libbpf warning of this thread, if any.
Status LibbpfError(std::string_view what, int err);
// Forget the last warning before a new load.
void ClearLibbpfError();

}  // namespace nbw

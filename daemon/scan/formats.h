// SPDX-License-Identifier: Apache-2.0
// The leaf formats of the model scanner (scanner.cc walks containers and
// dispatches here): NumPy .npy (object arrays carry a pickle), a Keras v3
// config.json, and the safetensors header. Each adds its findings to the
// report; none reads more than its header unless the format runs code.
#pragma once

#include <string>

#include "scan/report.h"
#include "scan/scan_policy.h"
#include "scan/source.h"

namespace nbw {

void ScanNpy(const ByteSource& src, const std::string& member, const ModelGuardPolicy& policy,
             ScanReport& report);
// Lambda layers are malicious; every module+class_name is judged like a
// pickle global.
void ScanKerasConfig(const ByteSource& cfg, const std::string& member,
                     const ModelGuardPolicy& policy, ScanReport& report);
// Header sanity only: safetensors cannot run code, but a header that lies
// about its tensors is not a file to trust.
void CheckSafetensors(const ByteSource& src, const std::string& member, ScanReport& report);

}  // namespace nbw

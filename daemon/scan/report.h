// SPDX-License-Identifier: Apache-2.0
// ScanReport: what the model scanner concluded about one file. A verdict,
// the findings behind it (each with the exact global or structure and the
// byte offset where it was seen), and the file's sha256. Plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nbw {

// Ordered by how bad: a report's verdict is the worst of its findings.
enum class Verdict { kClean = 0, kUnscannable = 1, kSuspicious = 2, kMalicious = 3 };
std::string_view VerdictName(Verdict v);

struct Finding {
  Verdict severity = Verdict::kSuspicious;
  std::string kind;     // "global", "extension", "malformed", "lambda_layer", "zip_header", ...
  std::string member;   // archive member it was found in, empty for the file itself
  uint64_t offset = 0;  // byte offset inside the member (or the file)
  std::string global;   // "module.name" for kind "global"
  std::string detail;   // one line for a human
};

struct ScanReport {
  std::string path;
  std::string format;  // "pickle", "pytorch-zip", "joblib", "npy", ... as sniffed
  std::string sha256;  // hex; empty if the file could not be read
  uint64_t size = 0;
  Verdict verdict = Verdict::kClean;
  // False when some part could not be analysed (a malformed stream, a member
  // over the size bound, an unsupported format): the verdict is then at
  // least unscannable unless something worse was found.
  bool complete = true;
  bool trusted = false;  // sha256 is on the operator's trusted list
  std::vector<Finding> findings;

  void Add(Finding f);
  // Records that part of the file could not be analysed.
  void Unscannable(std::string member, uint64_t offset, std::string detail);
  // Takes in what a trial scan of a part found.
  void Merge(ScanReport&& part);
  // Sets verdict from the findings (call once, after scanning).
  void Conclude();
};

class JsonWriter;
// One finding as a JSON object (in scan reports and in alerts' "model").
void WriteFinding(JsonWriter& j, const Finding& f);

// One JSON object, no newline: path, verdict, sha256, format, size,
// complete, trusted, findings[].
void RenderScanReport(const ScanReport& r, std::string& out);

}  // namespace nbw

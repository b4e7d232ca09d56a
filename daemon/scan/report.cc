// SPDX-License-Identifier: Apache-2.0
#include "scan/report.h"

#include <algorithm>

#include "common/json_writer.h"

namespace nbw {

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kClean: return "clean";
    case Verdict::kUnscannable: return "unscannable";
    case Verdict::kSuspicious: return "suspicious";
    case Verdict::kMalicious: return "malicious";
  }
  return "unscannable";
}

// Findings are bounded: a hostile pickle can name a million globals, and a
// report is read by a human. Past the bound only the worst are kept.
constexpr size_t kMaxFindings = 256;

void ScanReport::Add(Finding f) {
  if (findings.size() >= kMaxFindings) {
    auto weakest = std::min_element(
        findings.begin(), findings.end(),
        [](const Finding& a, const Finding& b) { return a.severity < b.severity; });
    if (weakest->severity >= f.severity) return;
    *weakest = std::move(f);
    return;
  }
  findings.push_back(std::move(f));
}

void ScanReport::Unscannable(std::string member, uint64_t offset, std::string detail) {
  complete = false;
  Add({Verdict::kUnscannable, "unscannable", std::move(member), offset, "", std::move(detail)});
}

void ScanReport::Merge(ScanReport&& part) {
  for (auto& f : part.findings) Add(std::move(f));
  complete &= part.complete;
}

void ScanReport::Conclude() {
  verdict = complete ? Verdict::kClean : Verdict::kUnscannable;
  for (const auto& f : findings) verdict = std::max(verdict, f.severity);
}

void WriteFinding(JsonWriter& j, const Finding& f) {
  j.BeginObject().Field("severity", VerdictName(f.severity)).Field("kind", f.kind);
  if (!f.member.empty()) j.Field("member", f.member);
  j.Field("offset", f.offset);
  if (!f.global.empty()) j.Field("global", f.global);
  j.Field("detail", f.detail).EndObject();
}

void RenderScanReport(const ScanReport& r, std::string& out) {
  JsonWriter j(out);
  j.BeginObject();
  j.Field("path", r.path).Field("verdict", VerdictName(r.verdict));
  j.Field("sha256", r.sha256).Field("format", r.format).Field("size", r.size);
  j.Field("complete", r.complete).Field("trusted", r.trusted);
  j.Key("findings").BeginArray();
  for (const auto& f : r.findings) WriteFinding(j, f);
  j.EndArray();
  j.EndObject();
}

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
#include "scan/formats.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "scan/pickle.h"

namespace nbw {

void ScanNpy(const ByteSource& src, const std::string& member, const ModelGuardPolicy& policy,
             ScanReport& report) {
  if (report.format.empty()) report.format = "npy";
  Cursor in(src);
  std::string magic;
  uint64_t major = 0, hlen = 0;
  in.Take(6, &magic);
  if (!in.Le(1, major) || !in.Skip(1) || !in.Le(major == 1 ? 2 : 4, hlen) || major < 1 ||
      major > 3 || hlen > 1'000'000 || hlen > in.remaining()) {
    report.Unscannable(member, 0, "npy header is damaged");
    return;
  }
  std::string header;
  in.Take(hlen, &header);
  size_t d = header.find("'descr'");
  if (d == std::string::npos) {
    report.Unscannable(member, 8, "npy header has no 'descr'");
    return;
  }
  // Object dtype ('|O', 'O', also as a structured field's type): the data
  // is a pickle, which np.load(allow_pickle=True) runs.
  size_t descr_end = header.find("'fortran_order'", d);
  std::string descr =
      header.substr(d + 7, descr_end == std::string::npos ? std::string::npos : descr_end - d - 7);
  bool object = false;
  for (size_t q = descr.find('\''); q != std::string::npos;) {
    size_t e = descr.find('\'', q + 1);
    if (e == std::string::npos) break;
    std::string_view tok(descr.data() + q + 1, e - q - 1);
    if (!tok.empty() && (tok[0] == '|' || tok[0] == '<' || tok[0] == '>' || tok[0] == '='))
      tok.remove_prefix(1);
    if (!tok.empty() && tok[0] == 'O' &&
        tok.find_first_not_of("0123456789", 1) == std::string_view::npos) {
      object = true;
    }
    q = descr.find('\'', e + 1);
  }
  if (!object) return;  // numbers only: np.load never unpickles them
  if (report.format == "npy") report.format = "npy-object";
  SliceSource data(src, in.pos(), src.size() - in.pos());
  PickleScanner ps(policy, report, member);
  Cursor pc(data);
  PickleOutcome o = ps.ScanOne(pc);
  if (!o.stopped) {
    report.Unscannable(member, in.pos() + o.end, "object array's pickle is malformed: " + o.error);
  }
}

// Keras v3 config: every object with a module and class is something
// deserialize_keras_object imports; Lambda layers carry marshalled bytecode.
void ScanKerasConfig(const ByteSource& cfg, const std::string& member,
                     const ModelGuardPolicy& policy, ScanReport& report) {
  std::string text(cfg.size(), '\0');
  if (Status s = cfg.ReadAt(0, text.data(), text.size()); !s.ok()) {
    report.Unscannable(member, 0, s.message());
    return;
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    report.Unscannable(member, 0, "config.json is not JSON");
    return;
  }
  std::vector<const nlohmann::json*> todo{&j};
  size_t visited = 0, lambdas = 0;
  while (!todo.empty() && ++visited < 1'000'000) {
    const nlohmann::json* n = todo.back();
    todo.pop_back();
    if (n->is_object()) {
      auto cls = n->find("class_name");
      if (cls != n->end() && cls->is_string()) {
        const std::string c = cls->get<std::string>();
        lambdas += c == "Lambda" || c == "__lambda__";
        auto mod = n->find("module");
        if (mod != n->end() && mod->is_string() && c != "__lambda__") {
          auto jg = policy.JudgeGlobal(mod->get<std::string>(), c);
          if (jg.verdict != Verdict::kClean) {
            report.Add(
                {jg.verdict, "keras_object", member, 0, mod->get<std::string>() + "." + c,
                 fmt::format("config imports {}.{} ({})", mod->get<std::string>(), c, jg.why)});
          }
        }
      }
      for (const auto& [k, v] : n->items()) todo.push_back(&v);
    } else if (n->is_array()) {
      for (const auto& v : *n) todo.push_back(&v);
    }
  }
  if (lambdas > 0) {
    report.Add({Verdict::kMalicious, "lambda_layer", member, 0, "",
                "Keras Lambda layer: marshalled Python bytecode runs when the model loads "
                "without safe_mode"});
  }
  if (!todo.empty()) report.Unscannable(member, 0, "config.json has over 1M nodes");
}

void CheckSafetensors(const ByteSource& src, const std::string& member, ScanReport& report) {
  if (report.format.empty()) report.format = "safetensors";
  uint8_t len8[8];
  if (Status s = src.ReadAt(0, len8, 8); !s.ok()) return report.Unscannable(member, 0, "");
  uint64_t n = 0;
  for (int i = 0; i < 8; i++) n |= static_cast<uint64_t>(len8[i]) << (8 * i);
  if (n > 100'000'000) return report.Unscannable(member, 0, "safetensors header over 100 MB");
  std::string text(n, '\0');
  if (Status s = src.ReadAt(8, text.data(), n); !s.ok()) {
    return report.Unscannable(member, 0, s.message());
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return report.Unscannable(member, 8, "safetensors header is not a JSON object");
  }
  static const std::map<std::string, uint64_t> kSizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  const uint64_t data_len = src.size() - 8 - n;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (const auto& item : j.items()) {
    const std::string& name = item.key();
    const nlohmann::json& t = item.value();
    if (name == "__metadata__") {
      bool ok = t.is_object();
      for (const auto& [k, v] : t.items()) ok &= v.is_string();
      if (!ok) report.Unscannable(member, 8, "__metadata__ must map strings to strings");
      continue;
    }
    auto bad = [&](std::string_view why) {
      report.Unscannable(member, 8, fmt::format("tensor '{}': {}", name, why));
    };
    if (!t.is_object() || !t.contains("dtype") || !t["dtype"].is_string() || !t.contains("shape") ||
        !t["shape"].is_array() || !t.contains("data_offsets") || !t["data_offsets"].is_array() ||
        t["data_offsets"].size() != 2) {
      bad("needs dtype, shape and data_offsets");
      continue;
    }
    auto sz = kSizes.find(t["dtype"].get<std::string>());
    if (sz == kSizes.end()) {
      bad("unknown dtype");
      continue;
    }
    uint64_t count = 1;
    bool ok = true;
    for (const auto& d : t["shape"]) {
      if (!d.is_number_unsigned() || (d.get<uint64_t>() && count > UINT64_MAX / d.get<uint64_t>()))
        ok = false;
      else
        count *= d.get<uint64_t>();
    }
    const auto& off = t["data_offsets"];
    if (!ok || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      bad("shape and offsets must be unsigned integers");
      continue;
    }
    uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_len) {
      bad("data_offsets outside the data");
      continue;
    }
    if (count > UINT64_MAX / sz->second || e - b != count * sz->second) {
      bad("data_offsets do not match shape and dtype");
      continue;
    }
    spans.emplace_back(b, e);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); i++) {
    if (spans[i].first < spans[i - 1].second) {
      report.Unscannable(member, 8, "tensors overlap");
      break;
    }
  }
}

}  // namespace nbw

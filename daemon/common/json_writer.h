// SPDX-License-Identifier: Apache-2.0
// JsonWriter: appends one JSON document to a string, streaming, no DOM.
// Used on the hot path (every event becomes a line): no allocation beyond
// the output string. Strings are escaped per RFC 8259; bytes that are not
// valid UTF-8 (paths are arbitrary bytes) become U+FFFD, so every line
// parses. Commas are placed automatically. Not thread-safe; cheap to make.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nbw {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view k);
  JsonWriter& String(std::string_view s);
  JsonWriter& Int(int64_t v);
  JsonWriter& UInt(uint64_t v);
  JsonWriter& Bool(bool v);
  // A value that is already JSON (e.g. a rendered event), inserted as is.
  JsonWriter& Raw(std::string_view json);

  // Key + value in one call.
  JsonWriter& Field(std::string_view k, std::string_view v) { return Key(k).String(v); }
  JsonWriter& Field(std::string_view k, const char* v) { return Key(k).String(v); }
  JsonWriter& Field(std::string_view k, const std::string& v) { return Key(k).String(v); }
  JsonWriter& Field(std::string_view k, bool v) { return Key(k).Bool(v); }
  JsonWriter& Field(std::string_view k, int32_t v) { return Key(k).Int(v); }
  JsonWriter& Field(std::string_view k, int64_t v) { return Key(k).Int(v); }
  JsonWriter& Field(std::string_view k, uint32_t v) { return Key(k).UInt(v); }
  JsonWriter& Field(std::string_view k, uint64_t v) { return Key(k).UInt(v); }

 private:
  void Separate();
  std::string& out_;
  uint64_t first_bits_ = 1;  // bit d: nothing written yet at depth d
  int depth_ = 0;
  bool after_key_ = false;
};

// Appends s to out as JSON string contents (no quotes), escaped.
void AppendJsonEscaped(std::string& out, std::string_view s);

}  // namespace nbw

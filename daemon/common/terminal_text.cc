// SPDX-License-Identifier: Apache-2.0
#include "common/terminal_text.h"

#include <fmt/format.h>

namespace nbw {
namespace {

// Length of the well-formed UTF-8 sequence at s[0] and its code point; 0 if
// it is not one (overlong, surrogate, beyond U+10FFFF, cut short).
size_t DecodeUtf8(std::string_view s, char32_t& cp) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  size_t n;
  char32_t min;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, min = 0x80, cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, min = 0x800, cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((b(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// Characters a terminal acts on or that reorder or break the line without
// showing: C1 controls, the Arabic letter mark, LRM/RLM, the line and
// paragraph separators, and the bidi embeddings, overrides and isolates.
bool Invisible(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

std::string TerminalSafe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      if (c == '\\') out += '\\';
      out += static_cast<char>(c);
      i++;
    } else if (c == '\n' || c == '\r' || c == '\t') {
      out += c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\t";
      i++;
    } else if (char32_t cp = 0; const size_t n = DecodeUtf8(s.substr(i), cp)) {
      if (Invisible(cp)) {
        out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
      } else {
        out.append(s.substr(i, n));
      }
      i += n;
    } else {
      out += fmt::format("\\x{:02x}", c);
      i++;
    }
  }
  return out;
}

}  // namespace nbw

// SPDX-License-Identifier: Apache-2.0
#include "common/terminal_text.h"

#include <gtest/gtest.h>

#include <string>

namespace nbw {
namespace {

using namespace std::string_literals;

TEST(TerminalSafe, PrintableAsciiAndUtf8PassUnchanged) {
  EXPECT_EQ(TerminalSafe("/home/alice/model v2.pt"), "/home/alice/model v2.pt");
  EXPECT_EQ(TerminalSafe("caf\xc3\xa9 \xe6\xa8\xa1\xe5\x9e\x8b \xf0\x9f\x90\x8d"),
            "caf\xc3\xa9 \xe6\xa8\xa1\xe5\x9e\x8b \xf0\x9f\x90\x8d");
  EXPECT_EQ(TerminalSafe(""), "");
}

TEST(TerminalSafe, C0ControlsAndDelAreShownNotObeyed) {
  EXPECT_EQ(TerminalSafe("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(TerminalSafe("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
  EXPECT_EQ(TerminalSafe("\x1b[2J\x7f"), "\\x1b[2J\\x7f");
  EXPECT_EQ(TerminalSafe("a\0b"s), "a\\x00b");
}

TEST(TerminalSafe, BackslashDoublesSoEscapesCannotBeForged) {
  EXPECT_EQ(TerminalSafe("\\x1b"), "\\\\x1b");
  EXPECT_EQ(TerminalSafe("\\\x1b"), "\\\\\\x1b");
}

TEST(TerminalSafe, C1ControlsAndInvisibleReorderingCharactersAreEscaped) {
  EXPECT_EQ(TerminalSafe("\xc2\x9b"
                         "2J"),
            "\\u009b2J");                          // CSI
  EXPECT_EQ(TerminalSafe("\xc2\x85"), "\\u0085");  // NEL
  EXPECT_EQ(TerminalSafe("a\xe2\x80\xae"
                         "cod.exe"),
            "a\\u202ecod.exe");                                           // right-to-left override
  EXPECT_EQ(TerminalSafe("\xe2\x80\xa8\xe2\x81\xa6"), "\\u2028\\u2066");  // line sep, isolate
  EXPECT_EQ(TerminalSafe("\xc2\xa0"), "\xc2\xa0");                        // no-break space stays
}

TEST(TerminalSafe, InvalidUtf8BytesAreEscapedOneByOne) {
  EXPECT_EQ(TerminalSafe("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(TerminalSafe("\x9b"), "\\x9b");                             // a bare C1 byte
  EXPECT_EQ(TerminalSafe("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(TerminalSafe("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // surrogate
  EXPECT_EQ(TerminalSafe("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // beyond U+10FFFF
  EXPECT_EQ(TerminalSafe("ab\xe6\xa8"), "ab\\xe6\\xa8");                // cut short
  EXPECT_EQ(TerminalSafe("\xe6\x1b"), "\\xe6\\x1b");
}

}  // namespace
}  // namespace nbw

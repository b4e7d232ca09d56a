// SPDX-License-Identifier: Apache-2.0
// The typed YAML reads every config and policy reader goes through: a
// wrong type is an error naming file:line:col and the field, never an
// exception; duplicate keys, second documents and alias bombs are refused
// at parse.
#include "common/yaml_reader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace nbw {
namespace {

YAML::Node Doc(const std::string& text) {
  auto d = ParseYaml(text, "f.yaml");
  EXPECT_TRUE(d.ok()) << d.status().message();
  return d.ok() ? *d : YAML::Node();
}

std::string ParseError(const std::string& text) {
  auto d = ParseYaml(text, "f.yaml");
  return d.ok() ? "parsed" : d.status().message();
}

TEST(ParseYaml, AKeyGivenTwiceInOneMappingIsAnError) {
  EXPECT_EQ(ParseError("a: 1\nb: 2\na: 3\n"),
            "f.yaml:3:1: 'a' is given twice in this mapping (first at 1:1)");
  // Quoting does not make a different key; nesting is checked too.
  EXPECT_EQ(ParseError("s:\n  - {x: 1, \"x\": 2}\n"),
            "f.yaml:2:12: 'x' is given twice in this mapping (first at 2:6)");
  // The same key in two mappings is fine.
  EXPECT_EQ(ParseError("- {x: 1}\n- {x: 2}\n"), "parsed");
}

TEST(ParseYaml, ASecondDocumentIsAnError) {
  EXPECT_EQ(ParseError("a: 1\n---\nb: 2\n"),
            "f.yaml:3:1: a second YAML document ('---'): one file holds one document");
}

TEST(ParseYaml, AliasesThatExplodeAreRefusedQuickly) {
  // Nine levels of ten aliases each: a billion nodes from 500 bytes.
  std::string text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; i++) {
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int j = 0; j < 10; j++) text += (j ? ", *l" : "*l") + std::to_string(i - 1);
    text += "]\n";
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::string err = ParseError(text);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_NE(err.find(": aliases expand the document past "), std::string::npos) << err;
  // A self-referencing alias is a cycle: refused the same way.
  EXPECT_NE(ParseError("a: &a [x, *a]\n").find("aliases expand the document past"),
            std::string::npos);
  // Ordinary aliases are fine.
  EXPECT_EQ(ParseError("h: &h {a: 1}\nx: *h\ny: *h\n"), "parsed");
}

TEST(ParseYaml, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(ParseError("a: [1, 2\n"), "f.yaml:2:1: end of sequence flow not found");
}

TEST(YamlReader, StrRefusesListsMappingsNullAndNul) {
  const YamlReader yr("f.yaml");
  const YAML::Node d = Doc("a: [auth]\nb: {x: 1}\nc: null\nd: \"x\\0y\"\ne: 12\n");
  EXPECT_EQ(yr.Str(d["a"], "sinks[0].facility").status().message(),
            "f.yaml:1:4: sinks[0].facility: must be a string, not a list");
  EXPECT_EQ(yr.Str(d["b"], "b").status().message(),
            "f.yaml:2:4: b: must be a string, not a mapping");
  EXPECT_EQ(yr.Str(d["c"], "c").status().message(), "f.yaml:3:4: c: must be a string");
  EXPECT_EQ(yr.Str(d["d"], "d").status().message(), "f.yaml:4:4: d: must not hold a NUL character");
  EXPECT_EQ(*yr.Str(d["e"], "e"), "12");
}

TEST(YamlReader, NumbersAreWholeAndInRange) {
  const YamlReader yr("f.yaml");
  const YAML::Node d = Doc("a: -1\nb: 5x\nc: 600001\nd: [1]\ne: 600000\nf: -7\n");
  for (const char* k : {"a", "b", "c", "d"}) {
    auto v = yr.U64InRange(d[k], "grace_ms", 0, 600000);
    ASSERT_FALSE(v.ok()) << k;
    EXPECT_EQ(v.status().message(), yr.Where(d[k]) +
                                        ": grace_ms: must be a whole number from 0 "
                                        "to 600000");
  }
  EXPECT_EQ(yr.U64InRange(d["a"], "x", 0, 1).status().message(),
            "f.yaml:1:4: x: must be a whole number from 0 to 1");
  EXPECT_EQ(*yr.U64InRange(d["e"], "grace_ms", 0, 600000), 600000u);
  EXPECT_EQ(*yr.I64(d["f"], "gt"), -7);
  EXPECT_EQ(yr.I64(d["d"], "gt").status().message(), "f.yaml:4:4: gt: must be a whole number");
}

TEST(YamlReader, BoolsListsKeysAndKnownKeys) {
  const YamlReader yr("f.yaml");
  const YAML::Node d =
      Doc("t: yes\nb: maybe\nl: [a, [b]]\ns: one\nm: {a: 1, zz: 2}\nk: {[x]: 1}\n");
  EXPECT_TRUE(*yr.Bool(d["t"], "t"));
  EXPECT_EQ(yr.Bool(d["b"], "dedup").status().message(),
            "f.yaml:2:4: dedup: must be true or false");
  EXPECT_EQ(yr.StrList(d["l"], "comm").status().message(),
            "f.yaml:3:8: comm[1]: must be a string, not a list");
  EXPECT_EQ(yr.StrList(d["s"], "extensions").status().message(),
            "f.yaml:4:4: extensions: must be a list of strings");
  EXPECT_EQ(*yr.StrOrList(d["s"], "comm"), std::vector<std::string>{"one"});
  EXPECT_EQ(yr.StrOrList(d["m"], "comm").status().message(),
            "f.yaml:5:4: comm: must be a string or a list of strings");
  EXPECT_EQ(yr.KnownKeys(d["m"], "limits", {"a", "b"}).message(),
            "f.yaml:5:11: limits.zz: unknown key (a, b)");
  EXPECT_TRUE(yr.KnownKeys(d["m"], "limits", {"a", "zz"}).ok());
  EXPECT_EQ(yr.KnownKeys(d["k"], "headers", {"x"}).message(),
            "f.yaml:6:5: headers: a key must be a string, not a list or mapping");
  EXPECT_EQ(yr.Map(d["l"], "stream").message(), "f.yaml:3:4: stream: must be a mapping");
}

}  // namespace
}  // namespace nbw

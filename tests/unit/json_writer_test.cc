// SPDX-License-Identifier: Apache-2.0
#include "common/json_writer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace nbw {
namespace {

TEST(JsonWriter, NestedObjectsAndArraysGetCommasRight) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject().Field("a", uint64_t{1}).Key("b").BeginArray().String("x").Int(-2).Bool(true);
  w.BeginObject().EndObject().EndArray().Key("c").BeginObject().Field("d", "e").EndObject();
  w.EndObject();
  EXPECT_EQ(out, R"({"a":1,"b":["x",-2,true,{}],"c":{"d":"e"}})");
}

TEST(JsonWriter, ControlCharactersQuotesAndNewlinesAreEscaped) {
  std::string out;
  JsonWriter(out).String(std::string("a\nb\"c\\d\x01\te\0f", 12));
  EXPECT_EQ(out, R"("a\nb\"c\\d\u0001\te\u0000f")");
  EXPECT_EQ(out.find('\n'), std::string::npos);
}

TEST(JsonWriter, ValidUtf8PassesInvalidBytesBecomeReplacement) {
  std::string out;
  JsonWriter(out).String("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d");
  EXPECT_EQ(out, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d\"");
  out.clear();
  // lone continuation, overlong, surrogate, truncated sequence, 0xff
  JsonWriter(out).String("\x80|\xc0\xaf|\xed\xa0\x80|\xe2\x82|\xff");
  EXPECT_EQ(out, R"("\ufffd|\ufffd\ufffd|\ufffd\ufffd\ufffd|\ufffd\ufffd|\ufffd")");
}

TEST(JsonWriter, EveryByteStringParsesAsJson) {
  std::string all;
  for (int i = 0; i < 256; i++) all += static_cast<char>(i);
  std::string out;
  JsonWriter(out).BeginObject().Field("k", all).EndObject();
  auto j = nlohmann::json::parse(out);  // throws if invalid
  EXPECT_TRUE(j["k"].is_string());
}

}  // namespace
}  // namespace nbw

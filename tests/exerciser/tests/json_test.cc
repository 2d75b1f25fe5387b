#include "json.h"

#include <gtest/gtest.h>

#include <cmath>

#include "json_parse.h"

namespace exerciser {
namespace {

using testing::JParser;
using testing::JValue;

TEST(Json, WritesNestedDocuments) {
  for (bool pretty : {true, false}) {
    JsonWriter j(pretty);
    j.begin_object();
    j.field("name", "a \"quoted\"\\ line\nwith\ttab and \x01");
    j.field("n", uint64_t(18446744073709551615ull));
    j.field("neg", int64_t(-5));
    j.field("pi", 3.25);
    j.field("nan", std::nan(""));
    j.field("yes", true);
    j.key("nothing").null();
    j.key("empty").begin_array().end_array();
    j.key("eobj").begin_object().end_object();
    j.key("list").begin_array();
    j.value(1).value("two");
    j.begin_object().field("three", 3).end_object();
    j.end_array();
    j.end_object();
    ASSERT_TRUE(j.complete());
    JValue v;
    JParser p(j.str());
    ASSERT_TRUE(p.parse(&v)) << p.error() << "\n" << j.str();
    EXPECT_EQ(v["name"].str, "a \"quoted\"\\ line\nwith\ttab and \x01");
    EXPECT_EQ(v["neg"].num, -5);
    EXPECT_EQ(v["pi"].num, 3.25);
    EXPECT_EQ(v["nan"].type, JValue::Type::kNull);
    EXPECT_TRUE(v["yes"].b);
    EXPECT_EQ(v["empty"].arr.size(), 0u);
    ASSERT_EQ(v["list"].arr.size(), 3u);
    EXPECT_EQ(v["list"].arr[2]["three"].num, 3);
  }
}

TEST(JsonParser, RejectsInvalidDocuments) {
  for (const char *bad :
       {"{", "{\"a\":}", "[1,]", "{\"a\":1,\"a\":2}", "01", "\"x", "[1] 2", "{'a':1}", "nul"}) {
    JValue v;
    JParser p(bad);
    EXPECT_FALSE(p.parse(&v)) << bad;
  }
}

}  // namespace
}  // namespace exerciser

#include "json.h"

#include <gtest/gtest.h>

namespace pvscsi_qemu::json {
namespace {

TEST(Json, ParsesQmpGreetingAndReplies) {
  Value v;
  std::string err;
  ASSERT_TRUE(parse(R"({"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}},)"
                    R"( "capabilities": ["oob"]}})",
                    &v, &err))
      << err;
  EXPECT_EQ(v["QMP"]["version"]["qemu"]["major"].as_int(), 7);
  EXPECT_EQ(v["QMP"]["capabilities"].items().size(), 1u);
  EXPECT_EQ(v["QMP"]["capabilities"].items()[0].as_string(), "oob");
  ASSERT_TRUE(
      parse(R"({"error": {"class": "GenericError", "desc": "Duplicate \"id\""}})", &v, &err));
  EXPECT_EQ(v["error"]["desc"].as_string(), "Duplicate \"id\"");
  EXPECT_TRUE(v["missing"]["deeper"].is_null());
}

TEST(Json, ScalarsAndEscapes) {
  Value v;
  std::string err;
  ASSERT_TRUE(parse(R"([true, false, null, -12, 1.5e3, "a\u00e9\n\ud83d\ude00"])", &v, &err));
  ASSERT_EQ(v.items().size(), 6u);
  EXPECT_TRUE(v.items()[0].as_bool());
  EXPECT_FALSE(v.items()[1].as_bool());
  EXPECT_TRUE(v.items()[2].is_null());
  EXPECT_EQ(v.items()[3].as_int(), -12);
  EXPECT_DOUBLE_EQ(v.items()[4].as_double(), 1500.0);
  EXPECT_EQ(v.items()[5].as_string(), "a\xc3\xa9\n\xf0\x9f\x98\x80");
}

TEST(Json, DumpRoundTrips) {
  Value v = Value::object();
  v.set("execute", "device_add")
      .set("arguments", Value::object().set("id", "d\"1\\").set("scsi-id", 40).set("x", true));
  EXPECT_EQ(v.dump(),
            R"({"execute":"device_add","arguments":{"id":"d\"1\\","scsi-id":40,"x":true}})");
  Value back;
  std::string err;
  ASSERT_TRUE(parse(v.dump(), &back, &err)) << err;
  EXPECT_EQ(back.dump(), v.dump());
}

TEST(Json, BadInputIsAnErrorNotACrash) {
  Value v;
  std::string err;
  for (const char *bad : {"", "{", "[1,", "{\"a\" 1}", "tru", "\"abc", "[1 2]", "{\"a\":1}x",
                          "\"\\q\"", "-", "1.", "\"\\u12\"", "{1:2}"}) {
    err.clear();
    EXPECT_FALSE(parse(bad, &v, &err)) << bad;
    EXPECT_NE(err.find("JSON error at byte"), std::string::npos) << bad;
  }
  std::string deep(1000, '[');
  EXPECT_FALSE(parse(deep, &v, &err));
  EXPECT_NE(err.find("too deep"), std::string::npos);
}

}  // namespace
}  // namespace pvscsi_qemu::json

// QMP message handling that needs no QEMU: parsing a line, reading members, and bad input.
#include "qmp_client.h"

#include <gtest/gtest.h>

namespace pvscsi_qemu {
namespace {

TEST(QmpMessage, ParsesGreetingAndReplies) {
  Json v;
  std::string err;
  ASSERT_TRUE(
      parse_qmp_message(R"({"QMP": {"version": {"qemu": {"micro": 2, "minor": 2, "major": 7}},)"
                        R"( "capabilities": ["oob"]}})",
                        &v, &err))
      << err;
  EXPECT_EQ(v["QMP"]["version"]["qemu"]["major"], 7);
  EXPECT_EQ(v["QMP"]["capabilities"], Json::array({"oob"}));
  ASSERT_TRUE(parse_qmp_message(
      R"({"error": {"class": "GenericError", "desc": "Duplicate \"id\""}})", &v, &err));
  EXPECT_EQ(json_string(v["error"], "desc"), "Duplicate \"id\"");
  EXPECT_EQ(json_string(v["error"], "class"), "GenericError");
}

TEST(QmpMessage, JsonStringIsEmptyUnlessAStringMember) {
  Json v;
  std::string err;
  ASSERT_TRUE(parse_qmp_message(R"({"event": "DEVICE_DELETED", "n": 3, "data": {"device": "d1"}})",
                                &v, &err));
  EXPECT_EQ(json_string(v, "event"), "DEVICE_DELETED");
  EXPECT_EQ(json_string(v["data"], "device"), "d1");
  EXPECT_EQ(json_string(v, "missing"), "");
  EXPECT_EQ(json_string(v, "n"), "");           // not a string
  EXPECT_EQ(json_string(Json(), "event"), "");  // not an object
  EXPECT_EQ(json_string(Json::array({"event"}), "event"), "");
}

TEST(QmpMessage, CommandsKeepTheirMemberOrder) {
  // QMP does not need it, but the command line and the wire stay as written.
  Json cmd = {{"execute", "device_add"}, {"arguments", {{"id", "d\"1\\"}, {"scsi-id", 40}}}};
  EXPECT_EQ(cmd.dump(), R"({"execute":"device_add","arguments":{"id":"d\"1\\","scsi-id":40}})");
}

TEST(QmpMessage, BadInputIsAOneLineErrorNotACrash) {
  Json v = "unchanged";
  std::string err;
  for (const char *bad : {"", "{", "[1,", "{\"a\" 1}", "tru", "\"abc", "[1 2]", "{\"a\":1}x",
                          "\"\\q\"", "-", "1.", "\"\\u12\"", "{1:2}", "\"\xff\""}) {
    err.clear();
    EXPECT_FALSE(parse_qmp_message(bad, &v, &err)) << bad;
    EXPECT_NE(err.find("parse error"), std::string::npos) << bad << ": " << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
    EXPECT_EQ(v, "unchanged") << bad;
  }
  std::string deep = std::string(1000, '[') + std::string(1000, ']');
  EXPECT_FALSE(parse_qmp_message(deep, &v, &err));
  EXPECT_NE(err.find("nested deeper than 64"), std::string::npos) << err;
  std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(parse_qmp_message(ok, &v, &err)) << err;
}

}  // namespace
}  // namespace pvscsi_qemu

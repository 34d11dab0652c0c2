#include "core/json.h"

#include <gtest/gtest.h>

namespace kf::core {
namespace {

TEST(ValidUtf8, KeepsWellFormedTextAndReplacesEveryBadByte) {
  EXPECT_EQ(ValidUtf8("plain ascii"), "plain ascii");
  EXPECT_EQ(ValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x9A\x80"), "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x9A\x80");
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(ValidUtf8("a\xFF" "b"), "a" + fffd + "b");
  EXPECT_EQ(ValidUtf8("cut \xE2\x82"), "cut " + fffd + fffd);      // a sequence cut short (a Tail of a log)
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), fffd + fffd);                  // overlong '/'
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"), fffd + fffd + fffd);      // a surrogate
  // What dump() would throw on goes through.
  Json j = {{"log", ValidUtf8("kernel printed \xFF\xFE")}};
  EXPECT_NO_THROW((void)j.dump());
  auto parsed = ParseJson("{\"id\":\"\xFF", "a job");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NO_THROW((void)Json(parsed.error().message).dump());  // the error quotes the bad bytes, made safe
}

TEST(Base64, RoundTripsAnyBytesAndRefusesWhatIsNotBase64) {
  for (const std::string& bytes : {std::string(), std::string("f"), std::string("fo"), std::string("foo"),
                                   std::string("\0\xFF\x80 binary\n", 12)}) {
    auto back = Base64Decode(Base64Encode(bytes));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, bytes);
  }
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_FALSE(Base64Decode("Zm9").has_value());
  EXPECT_FALSE(Base64Decode("Zm9v!A==").has_value());
  EXPECT_FALSE(Base64Decode("Zg==Zg==").has_value());
}

}  // namespace
}  // namespace kf::core

#include "core/hash.h"

#include <gtest/gtest.h>

#include <string>

namespace kf::core {
namespace {

TEST(Sha256, MatchesFipsTestVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalUpdatesEqualOneShot) {
  std::string text(777, 'x');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + i % 26);
  Sha256 h;
  for (std::size_t i = 0; i < text.size(); i += 13) h.Update(std::string_view(text).substr(i, 13));
  EXPECT_EQ(h.HexDigest(), Sha256Hex(text));
}

TEST(Sha256, FieldsAreLengthPrefixedSoBoundariesMatter) {
  EXPECT_NE(Sha256().Field("ab").Field("c").HexDigest(), Sha256().Field("a").Field("bc").HexDigest());
}

TEST(Fnv1a64, DiffersBySeedAndInput) {
  EXPECT_NE(Fnv1a64("a"), Fnv1a64("b"));
  EXPECT_NE(Fnv1a64("a", 1), Fnv1a64("a", 2));
  EXPECT_EQ(Fnv1a64("same"), Fnv1a64("same"));
}

}  // namespace
}  // namespace kf::core

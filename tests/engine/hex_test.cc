// The one hex codec (engine/hex.h): lower-case output, either case accepted, malformed input
// refused rather than half-decoded.

#include "engine/hex.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace clawvisor {
namespace {

// Every byte value survives encode then decode, and the encoding is two lower-case digits each.
TEST(HexTest, RoundTripsEveryByte) {
  std::string bytes;
  for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>(b));
  const std::string hex = HexEncode(bytes);
  ASSERT_EQ(hex.size(), 512u);
  EXPECT_EQ(hex.substr(0, 8), "00010203");
  EXPECT_EQ(hex.substr(504), "fcfdfeff");
  EXPECT_EQ(hex.find_first_of("ABCDEF"), std::string::npos);
  EXPECT_EQ(HexDecode(hex), bytes);
}

// AppendHex appends after what the string already holds; the span overloads agree with it.
TEST(HexTest, AppendAndSpanOverloadsAgree) {
  std::string out = "id:";
  AppendHex(out, "\x01\xab");
  EXPECT_EQ(out, "id:01ab");
  const std::array<unsigned char, 2> u{0x01, 0xab};
  EXPECT_EQ(HexEncode(u), "01ab");
  const std::array<std::byte, 2> b{std::byte{0x01}, std::byte{0xab}};
  EXPECT_EQ(HexEncode(b), "01ab");
  EXPECT_EQ(HexEncode(std::string_view()), "");
}

// Upper-case (and mixed-case) digits decode to the same bytes as lower-case ones.
TEST(HexTest, AcceptsUpperCase) {
  EXPECT_EQ(HexDecode("DEADBEEF"), std::string("\xde\xad\xbe\xef"));
  EXPECT_EQ(HexDecode("DeAdBeEf"), std::string("\xde\xad\xbe\xef"));
  EXPECT_EQ(HexDecode(""), std::string());
}

// An odd length or any non-digit (including a sign, a space or "0x") is refused.
TEST(HexTest, RefusesOddLengthAndNonDigits) {
  EXPECT_EQ(HexDecode("abc"), std::nullopt);
  EXPECT_EQ(HexDecode("0"), std::nullopt);
  EXPECT_EQ(HexDecode("zz"), std::nullopt);
  EXPECT_EQ(HexDecode("0g"), std::nullopt);
  EXPECT_EQ(HexDecode("g0"), std::nullopt);
  EXPECT_EQ(HexDecode("0x12"), std::nullopt);
  EXPECT_EQ(HexDecode("12 4"), std::nullopt);
  EXPECT_EQ(HexDecode("+1"), std::nullopt);
  EXPECT_EQ(HexDecode(std::string_view("\0\0", 2)), std::nullopt);
}

// HexDecodeInto fills exactly its buffer; a shorter or longer input is refused.
TEST(HexTest, DecodeIntoNeedsTheExactSize) {
  std::array<unsigned char, 4> out{};
  ASSERT_TRUE(HexDecodeInto("0102A0ff", out));
  EXPECT_EQ(out, (std::array<unsigned char, 4>{0x01, 0x02, 0xa0, 0xff}));
  EXPECT_FALSE(HexDecodeInto("010203", out));
  EXPECT_FALSE(HexDecodeInto("0102030405", out));
  EXPECT_FALSE(HexDecodeInto("010203x4", out));
  EXPECT_FALSE(HexDecodeInto("", out));
  std::array<unsigned char, 0> none{};
  EXPECT_TRUE(HexDecodeInto("", none));
}

}  // namespace
}  // namespace clawvisor

// The hashing primitives of adapters/openssl/aes_gcm.h: the streaming Sha256Hasher agrees with
// the one-shot Sha256 and with the FIPS 180-2 vectors.

#include "adapters/openssl/aes_gcm.h"

#include <gtest/gtest.h>

#include <string>

#include "engine/hex.h"

namespace clawvisor::openssl {
namespace {

std::string Hex(const std::array<unsigned char, 32>& digest) { return HexEncode(digest); }

// The FIPS 180-2 "abc" and empty-message vectors, streamed.
TEST(Sha256HasherTest, KnownVectors) {
  auto empty = Sha256Hasher::Create();
  ASSERT_TRUE(empty);
  auto digest = empty->Finish();
  ASSERT_TRUE(digest);
  EXPECT_EQ(Hex(*digest), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  auto abc = Sha256Hasher::Create();
  ASSERT_TRUE(abc);
  ASSERT_TRUE(abc->Update(AsBytes("a")));
  ASSERT_TRUE(abc->Update(AsBytes("")));
  ASSERT_TRUE(abc->Update(AsBytes("bc")));
  digest = abc->Finish();
  ASSERT_TRUE(digest);
  EXPECT_EQ(Hex(*digest), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// Any split of the input gives the digest Sha256 gives for the whole of it.
TEST(Sha256HasherTest, PiecesAgreeWithTheOneShot) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "row " + std::to_string(i) + ",value\n";
  auto whole = Sha256(AsBytes(text));
  ASSERT_TRUE(whole);
  for (const size_t piece : {size_t{1}, size_t{63}, size_t{64}, size_t{4096}}) {
    auto hasher = Sha256Hasher::Create();
    ASSERT_TRUE(hasher);
    for (size_t at = 0; at < text.size(); at += piece) {
      ASSERT_TRUE(hasher->Update(AsBytes(std::string_view(text).substr(at, piece))));
    }
    auto digest = hasher->Finish();
    ASSERT_TRUE(digest);
    EXPECT_EQ(*digest, *whole) << "pieces of " << piece;
  }
}

// Finished once: a later Update or Finish is refused, not a digest of nothing.
TEST(Sha256HasherTest, FinishesOnce) {
  auto hasher = Sha256Hasher::Create();
  ASSERT_TRUE(hasher);
  ASSERT_TRUE(hasher->Finish());
  EXPECT_EQ(hasher->Update(AsBytes("x")).error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(hasher->Finish().error().code, Errc::kFailedPrecondition);
}

}  // namespace
}  // namespace clawvisor::openssl

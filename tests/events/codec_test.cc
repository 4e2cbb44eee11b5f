#include "events/codec.h"

#include <gtest/gtest.h>

namespace clawvisor {
namespace {

v1::Envelope SampleEnvelope() {
  v1::Envelope e;
  e.set_event_id("0190e0b4-0000-7000-8000-000000000001");
  e.set_account_id("acc_1");
  e.set_aggregate_type(v1::AGGREGATE_TYPE_INSTANCE);
  e.set_aggregate_id("ins_1");
  e.set_aggregate_version(3);
  e.set_occurred_at_us(1'700'000'000'123'456);
  e.set_schema_version(kSchemaVersion);
  e.mutable_instance_created()->set_name("bot");
  return e;
}

// An envelope survives encode/decode unchanged.
TEST(CodecTest, RoundTripsAnEnvelope) {
  const auto e = SampleEnvelope();
  auto decoded = DecodeEnvelope(EncodeEnvelope(e));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->SerializeAsString(), e.SerializeAsString());
  EXPECT_EQ(EventTypeName(*decoded), "instance_created");
}

// A record written by a newer schema version is refused with a clear error, not half-read.
TEST(CodecTest, RefusesANewerSchemaVersion) {
  auto e = SampleEnvelope();
  e.set_schema_version(kSchemaVersion + 1);
  auto decoded = DecodeEnvelope(EncodeEnvelope(e));
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().code, Errc::kUnsupported);
  EXPECT_NE(decoded.error().message.find("newer"), std::string::npos);
}

// A record with no schema version, or bytes that are not an envelope, are corruption.
TEST(CodecTest, RefusesGarbageAndMissingVersion) {
  auto e = SampleEnvelope();
  e.clear_schema_version();
  EXPECT_EQ(DecodeEnvelope(EncodeEnvelope(e)).error().code, Errc::kCorruption);
  EXPECT_EQ(DecodeEnvelope("\xff\xff\xff\xff").error().code, Errc::kCorruption);
}

// Commands carry their version too and are checked the same way.
TEST(CodecTest, ChecksCommandSchemaVersion) {
  v1::Command c;
  c.set_command_id("c1");
  c.mutable_start_instance()->set_instance_id("i");
  c.set_schema_version(kSchemaVersion);
  ASSERT_TRUE(DecodeCommand(EncodeCommand(c)).has_value());
  EXPECT_EQ(CommandTypeName(c), "start_instance");
  c.set_schema_version(99);
  EXPECT_EQ(DecodeCommand(EncodeCommand(c)).error().code, Errc::kUnsupported);
}

// The CloudEvents headers name the type, the subject and the protobuf content type.
TEST(CodecTest, BuildsCloudEventHeaders) {
  const auto headers = CloudEventHeaders(SampleEnvelope());
  auto find = [&](std::string_view k) {
    for (const auto& h : headers)
      if (h.key == k) return h.value;
    return std::string("<missing>");
  };
  EXPECT_EQ(find("ce_specversion"), "1.0");
  EXPECT_EQ(find("ce_type"), "io.clawvisor.v1.instance_created");
  EXPECT_EQ(find("ce_subject"), "accounts/acc_1/instances/ins_1");
  EXPECT_EQ(find("ce_time"), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(find("content-type"), "application/protobuf");
}

}  // namespace
}  // namespace clawvisor

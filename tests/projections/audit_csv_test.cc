// The CSV writer's safety rules and the event -> row mapping of every event type.

#include "projections/audit_csv.h"

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <set>

#include "events/codec.h"
#include "tests/support/audit_events.h"
#include "tests/support/fake_sealer.h"

namespace clawvisor {
namespace {

std::string Cell(std::string_view value) {
  std::string out;
  CsvWriter::AppendCell(out, value);
  return out;
}

// A strict RFC 4180 reader (records end in CRLF), independent of the writer.
std::vector<std::vector<std::string>> ReadCsv(std::string_view csv) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record(1);
  size_t i = 0;
  bool at_start = true;
  while (i < csv.size()) {
    const char c = csv[i];
    if (at_start && c == '"') {
      ++i;
      while (true) {
        EXPECT_LT(i, csv.size()) << "unterminated quote";
        if (i >= csv.size()) return records;
        if (csv[i] == '"' && i + 1 < csv.size() && csv[i + 1] == '"') {
          record.back() += '"';
          i += 2;
        } else if (csv[i] == '"') {
          ++i;
          break;
        } else {
          record.back() += csv[i++];
        }
      }
      at_start = false;
      continue;
    }
    if (c == ',') {
      record.emplace_back();
      at_start = true;
      ++i;
    } else if (c == '\r' && i + 1 < csv.size() && csv[i + 1] == '\n') {
      records.push_back(std::move(record));
      record.assign(1, "");
      at_start = true;
      i += 2;
    } else {
      EXPECT_NE(c, '"') << "quote in an unquoted cell at " << i;
      EXPECT_NE(c, '\n') << "bare LF at " << i;
      EXPECT_NE(c, '\r') << "bare CR at " << i;
      record.back() += c;
      at_start = false;
      ++i;
    }
  }
  EXPECT_TRUE(record.size() == 1 && record[0].empty()) << "last record lacks its CRLF";
  return records;
}

TEST(CsvWriterTest, PlainCellsAreWrittenAsTheyAre) {
  EXPECT_EQ(Cell("evt-1"), "evt-1");
  EXPECT_EQ(Cell(""), "");
  EXPECT_EQ(Cell("2026-11-21T01:58:03.123456Z"), "2026-11-21T01:58:03.123456Z");
  EXPECT_EQ(Cell("a b"), "a b");
}

TEST(CsvWriterTest, QuotesCellsWithSeparatorsQuotesAndLineBreaks) {
  EXPECT_EQ(Cell("a,b"), "\"a,b\"");
  EXPECT_EQ(Cell("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(Cell("line\nbreak"), "\"line\nbreak\"");
  EXPECT_EQ(Cell("cr\rhere"), "\"cr\rhere\"");
  EXPECT_EQ(Cell("\""), "\"\"\"\"");
  // ';' and TAB are the separators a spreadsheet may split on instead of ','.
  EXPECT_EQ(Cell("Mozilla/5.0;=HYPERLINK(\"x\")"), "\"Mozilla/5.0;=HYPERLINK(\"\"x\"\")\"");
  EXPECT_EQ(Cell("a\t=1"), "\"a\t=1\"");
  EXPECT_EQ(Cell("(X11; Linux x86_64)"), "\"(X11; Linux x86_64)\"");
}

TEST(CsvWriterTest, NeutralizesEveryFormulaStart) {
  EXPECT_EQ(Cell("=1+2"), "'=1+2");
  EXPECT_EQ(Cell("+1"), "'+1");
  EXPECT_EQ(Cell("-1"), "'-1");
  EXPECT_EQ(Cell("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(Cell("\tx"), "\"'\tx\"");  // TAB forces quotes too
  EXPECT_EQ(Cell("\rx"), "\"'\rx\"");  // CR forces quotes too; the quote mark stays inside
  EXPECT_EQ(Cell("=A1,B1"), "\"'=A1,B1\"");
  EXPECT_EQ(Cell("=\"x\""), "\"'=\"\"x\"\"\"");
  // Only the start matters: a formula character later is text.
  EXPECT_EQ(Cell("a=1"), "a=1");
  EXPECT_EQ(Cell("'=already"), "'=already");
}

TEST(CsvWriterTest, ReplacesInvalidUtf8AndNul) {
  EXPECT_EQ(Cell("ok \xC3\xA9"), "ok \xC3\xA9");                            // é
  EXPECT_EQ(Cell("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");                  // 😀
  EXPECT_EQ(Cell("bad \xC3"), "bad \xEF\xBF\xBD");                          // truncated
  EXPECT_EQ(Cell("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(Cell("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(Cell("\xF4\x90\x80\x80").substr(0, 3), "\xEF\xBF\xBD");         // > U+10FFFF
  EXPECT_EQ(Cell(std::string("a\0b", 3)),
            "a\xEF\xBF\xBD"
            "b");
  // A replacement at the start is not a formula; a formula after cleaning still is.
  EXPECT_EQ(Cell("\xFF=1"), "\xEF\xBF\xBD=1");
}

TEST(CsvWriterTest, RecordsEndWithCrlfAndReadBack) {
  std::string out;
  CsvWriter csv(out);
  const std::vector<std::string> a = {"x", "a,b", "=1", "q\"q", "l\nl", ""};
  csv.AddRecord(a);
  csv.AddRecord(std::vector<std::string>{"", ""});
  auto records = ReadCsv(out);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0], (std::vector<std::string>{"x", "a,b", "'=1", "q\"q", "l\nl", ""}));
  EXPECT_EQ(records[1], (std::vector<std::string>{"", ""}));
}

TEST(AuditTimestampTest, FastFormatEqualsTheCodecs) {
  std::string out;
  for (int64_t us : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{951'782'400'000'000},
                     int64_t{1'763'700'123'456'789}, int64_t{4'102'444'799'999'999},
                     int64_t{-62'135'596'800'000'000}, int64_t{253'402'300'799'999'999}}) {
    out.clear();
    AppendTimestampUs(out, us);
    EXPECT_EQ(out, FormatTimestampUs(us)) << us;
  }
  // Every day boundary across leap years and centuries, and random instants.
  for (int64_t us = -2'208'988'800'000'000; us < 4'102'444'800'000'000; us += 86'399'999'997) {
    out.clear();
    AppendTimestampUs(out, us);
    ASSERT_EQ(out, FormatTimestampUs(us)) << us;
  }
}

// Every payload of the Envelope has its own, stable action: adding an event type without an
// action (it would export as "unknown") fails here.
TEST(AuditRowMapperTest, EveryEventTypeHasItsOwnAction) {
  const auto* oneof = v1::Envelope::descriptor()->FindOneofByName("payload");
  std::set<std::string_view> seen;
  for (int i = 0; i < oneof->field_count(); ++i) {
    const auto payload = static_cast<v1::Envelope::PayloadCase>(oneof->field(i)->number());
    const std::string_view action = AuditAction(payload);
    EXPECT_NE(action, "unknown") << oneof->field(i)->name();
    EXPECT_TRUE(seen.insert(action).second) << "duplicate action " << action;
  }
  EXPECT_EQ(AuditAction(v1::Envelope::PAYLOAD_NOT_SET), "unknown");
  EXPECT_EQ(AuditAction(v1::Envelope::kCommandRejected), "command.rejected");
  EXPECT_EQ(AuditAction(v1::Envelope::kInstanceCreated), "instance.created");
}

class MappedEventsTest : public ::testing::Test {
 protected:
  std::string Export(AuditReader reader) {
    AuditRowMapper mapper(&sealer_, reader);
    std::string out;
    CsvWriter csv(out);
    csv.AddRecord(kAuditColumns);
    AuditRow row;
    for (const auto& e : events_) {
      mapper.Map(e, row);
      csv.AddRecord(row);
    }
    return out;
  }
  testing::FakeSealer sealer_;
  std::vector<v1::Envelope> events_ =
      testing::EveryEventType("acct_1", sealer_, 1'763'700'000'000'000);
};

// Hostile values in every free-text field (actor, target, payload strings): every cell reads
// back exactly, no cell starts like a formula, and details is one JSON object per row.
TEST_F(MappedEventsTest, HostileValuesReadBackAndNeverStartAFormula) {
  const std::string csv = Export(AuditReader::kOwner);
  const auto records = ReadCsv(csv);
  ASSERT_EQ(records.size(), events_.size() + 1);
  EXPECT_EQ(records[0], std::vector<std::string>(kAuditColumns.begin(), kAuditColumns.end()));
  for (size_t i = 0; i < events_.size(); ++i) {
    const auto& record = records[i + 1];
    ASSERT_EQ(record.size(), kAuditColumnCount);
    for (const auto& cell : record) EXPECT_FALSE(StartsLikeFormula(cell)) << cell;
    const auto expected = testing::ExpectedRow(events_[i], /*owner=*/true);
    for (size_t col = 0; col < kAuditColumnCount; ++col) {
      auto it = expected.cells.find(std::string(kAuditColumns[col]));
      if (it == expected.cells.end()) continue;
      const std::string want = StartsLikeFormula(it->second) ? "'" + it->second : it->second;
      EXPECT_EQ(record[col], want) << kAuditColumns[col] << " of " << events_[i].event_id();
    }
    EXPECT_TRUE(record[12].starts_with("{") && record[12].ends_with("}")) << record[12];
  }
}

TEST_F(MappedEventsTest, SecretsNeverAppearAndEmailsOnlyForTheOwner) {
  const std::string owner = Export(AuditReader::kOwner);
  const std::string operator_view = Export(AuditReader::kOperator);
  for (const auto& csv : {owner, operator_view}) {
    EXPECT_EQ(csv.find(testing::kAuditTestSecret), std::string::npos);
    // Not even a tail longer than 4 characters of it.
    EXPECT_EQ(csv.find(testing::kAuditTestSecret.substr(testing::kAuditTestSecret.size() - 5)),
              std::string::npos);
  }
  // The owner sees the address (neutralized only where it starts a cell; inside details JSON
  // it is escaped); an operator sees the mask.
  EXPECT_NE(owner.find("@example.com"), std::string::npos);
  EXPECT_EQ(operator_view.find("@example.com"), std::string::npos);
  EXPECT_NE(operator_view.find(MaskEmail(testing::kAuditTestEmail)), std::string::npos);
}

TEST_F(MappedEventsTest, ErasedAccountShowsErased) {
  ASSERT_TRUE(sealer_.DestroyAccountKeys("acct_1").has_value());
  AuditRowMapper mapper(&sealer_, AuditReader::kOwner);
  AuditRow row;
  int emails = 0;
  for (const auto& e : events_) {
    if (!e.has_account_registered() && !e.has_member_invited()) continue;
    mapper.Map(e, row);
    EXPECT_NE(row[12].find("\"email\":\"[erased]\""), std::string::npos) << row[12];
    ++emails;
  }
  EXPECT_EQ(emails, 2);
  EXPECT_EQ(mapper.unreadable(), 0u);
}

TEST_F(MappedEventsTest, OutcomesAndMaskedCredential) {
  AuditRowMapper mapper(&sealer_, AuditReader::kOwner);
  AuditRow row;
  for (const auto& e : events_) {
    mapper.Map(e, row);
    const std::string& outcome = row[11];
    switch (e.payload_case()) {
      case v1::Envelope::kCommandRejected:
        EXPECT_EQ(outcome, "rejected");
        EXPECT_NE(row[12].find("\"reason\":\"invalid_argument\""), std::string::npos) << row[12];
        break;
      case v1::Envelope::kLoginFailed:
      case v1::Envelope::kLoginThrottled:
      case v1::Envelope::kInstanceFailed:
      case v1::Envelope::kInstanceHealthCheckFailed:
      case v1::Envelope::kInstanceQuotaExceeded:
        EXPECT_EQ(outcome, "failure") << e.event_id();
        break;
      case v1::Envelope::kInstanceCredentialSet: {
        EXPECT_EQ(outcome, "success");
        const std::string& last4 = e.instance_credential_set().last4();
        EXPECT_NE(row[12].find("\"value\":\"••••"), std::string::npos) << row[12];
        if (last4.size() > 4) {
          EXPECT_EQ(row[12].find(last4), std::string::npos) << "more than 4 characters shown";
        }
        break;
      }
      default:
        EXPECT_EQ(outcome, "success") << e.event_id();
    }
  }
}

TEST(AuditRowMapperTest, NoSealerShowsSealed) {
  testing::FakeSealer sealer;
  auto events = testing::EveryEventType("acct_2", sealer, 1'000'000);
  AuditRowMapper mapper(nullptr, AuditReader::kOwner);
  AuditRow row;
  for (const auto& e : events) {
    if (!e.has_account_registered()) continue;
    mapper.Map(e, row);
    EXPECT_NE(row[12].find("\"email\":\"[sealed]\""), std::string::npos);
  }
}

}  // namespace
}  // namespace clawvisor

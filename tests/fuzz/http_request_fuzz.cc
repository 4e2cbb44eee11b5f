// libFuzzer target for request decoding and authentication (issue #4): the bytes are one raw
// HTTP/1.1 request, parsed by Beast with the server's limits, turned into an ApiRequest exactly
// as http_api.cc does, authenticated by a ServiceTokenAuthenticator (bearer token, forwarded
// session and client headers) and handled by the real ApiHandler (routing, query parsing, strict
// UTF-8 and JSON checks, protobuf JSON -> command decoding, the permission table) on fake ports.
// The same bytes also go straight to the small parsers, so they are fuzzed even when the HTTP
// framing is broken.
//
// Beyond "no crash, no sanitizer report", it checks properties that hold for every input:
// - every response has a status in 100..599, and a JSON response is one valid JSON object;
// - an error response never echoes the canary value a seed request carries in its body or
//   headers (error messages name fields and offsets, never submitted values);
// - SanitizeUserAgent returns at most kMaxUserAgentBytes of valid UTF-8 without control bytes;
// - PercentDecode never decodes a NUL (%00); FindInvalidUtf8 agrees with Utf8SequenceLength.
//
// Built by tests/fuzz/CMakeLists.txt with clang (-fsanitize=fuzzer,address,undefined) and run
// by ctest for a fixed number of inputs.

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "adapters/http/api_handler.h"
#include "adapters/http/authenticator.h"
#include "adapters/http/beast_request.h"
#include "adapters/http/json_check.h"
#include "adapters/http/request_parsing.h"
#include "adapters/http/service_token_authenticator.h"
#include "engine/clock.h"
#include "tests/adapters/http/fakes.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using namespace clawvisor;

// What the seeds put in bodies and headers; no error response may contain it.
constexpr std::string_view kCanary = "Canary-Secret-7f3a";

// The seeds' tokens file: one token per kind of service.
constexpr std::string_view kTokensFile =
    "web web-1 web-token-0123456789abcdef0123456789abcdef\n"
    "operator ops-1 ops-token-0123456789abcdef0123456789abcdef\n"
    "reconciler host-1 host-token-0123456789abcdef0123456789abcdef\n";

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "http_request_fuzz: %s\n", what);
  std::abort();
}

// The session the seeds forward: one live session of usr_1; anything else is unknown.
class OneSessionResolver final : public SessionResolver {
 public:
  Result<std::string> ResolveUser(std::string_view token) override {
    if (token == "session-token-0123456789abcdef0123456789abcdef") return std::string("usr_1");
    return MakeError(Errc::kNotFound, "no such session");
  }
};

void CheckPureParsers(std::string_view input) {
  // A request target never holds a raw NUL (Beast refuses it), so only a decoded one counts.
  if (auto decoded = PercentDecode(input); decoded && input.find('\0') == std::string_view::npos &&
                                           decoded->find('\0') != std::string::npos) {
    Fail("PercentDecode decoded a NUL");
  }
  (void)ParseQuery(input);
  (void)ParseTimestampUs(input);
  (void)IsJsonContentType(input);
  (void)IsLoopbackHostHeader(input);
  (void)IsIpLiteral(input);

  const auto invalid = FindInvalidUtf8(input);
  size_t at = 0;
  while (at < input.size()) {
    const size_t n = Utf8SequenceLength(input.substr(at));
    if (n == 0) break;
    at += n;
  }
  if ((invalid.has_value() && *invalid != at) || (!invalid && at != input.size())) {
    Fail("FindInvalidUtf8 disagrees with Utf8SequenceLength");
  }
  if (!invalid) (void)CheckJsonObject(input);

  const std::string agent = SanitizeUserAgent(input);
  if (agent.size() > kMaxUserAgentBytes) Fail("SanitizeUserAgent: too long");
  if (FindInvalidUtf8(agent)) Fail("SanitizeUserAgent: invalid UTF-8");
  for (const unsigned char c : agent) {
    if (c < 0x20 || c == 0x7F) Fail("SanitizeUserAgent: control byte");
  }
  (void)ServiceTokenAuthenticator::FromText(input, nullptr);
}

void CheckResponse(const ApiResponse& response) {
  if (response.status < 100 || response.status > 599) Fail("status out of range");
  if (response.content_type == kJsonContentType) {
    if (FindInvalidUtf8(response.body)) Fail("JSON response is not UTF-8");
    if (CheckJsonObject(response.body)) Fail("JSON response is not one JSON object");
  }
  if (response.status >= 400 && response.body.find(kCanary) != std::string::npos) {
    Fail("an error response echoes a submitted value");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckPureParsers(input);

  // The server's framing: HttpApiOptions' default header and body limits.
  http::request_parser<http::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return 0;
  auto req = parser.release();

  // As Session::Dispatch in adapters/http/http_api.cc builds it.
  ApiRequest request = ToApiRequest(std::move(req), "192.0.2.1", /*tls=*/true);

  static auto sessions = std::make_shared<OneSessionResolver>();
  static auto authenticator = ServiceTokenAuthenticator::FromText(kTokensFile, sessions);
  if (!authenticator) Fail("the tokens file does not parse");
  static ManualClock clock(1'767'323'045'000'000);
  static MetricsRegistry metrics;
  clawvisor::testing::FakeCommandService commands;
  clawvisor::testing::FakeReadModel reads;
  // The seeds' user owns acc_1, so authorised requests get past the permission table to the
  // queries (audit paging, time parsing) and to Submit.
  v1::MemberView owner;
  owner.set_account_id("acc_1");
  owner.set_user_id("usr_1");
  owner.set_role(v1::ROLE_OWNER);
  reads.PutMember(owner);
  ApiHandler handler(
      commands, reads, metrics, **authenticator, clock, [] { return true; },
      std::chrono::milliseconds(0), nullptr, sessions.get());
  const ApiResponse response = handler.Handle(request);
  // HTTP_FUZZ_PRINT=1 shows what each input got, to see which paths the seeds reach.
  static const bool print = std::getenv("HTTP_FUZZ_PRINT") != nullptr;
  if (print) {
    std::fprintf(stderr, "%s %s -> %u %s\n", request.info.method.c_str(),
                 request.info.target.c_str(), response.status,
                 response.body.substr(0, 120).c_str());
  }
  CheckResponse(response);
  return 0;
}

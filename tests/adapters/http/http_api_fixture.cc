#include "tests/adapters/http/http_api_fixture.h"

#include <strings.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace clawvisor::http_test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

bool Response::Has(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (SameName(key, name)) return true;
  }
  return false;
}

std::string Response::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (SameName(key, name)) return value;
  }
  return "";
}

std::string Response::ErrorMember(std::string_view prefix) const {
  const size_t error_at = body.find("\"error\":{");
  if (error_at == std::string::npos) return "";
  const size_t at = body.find(prefix, error_at);
  if (at == std::string::npos) return "";
  std::string out;
  for (size_t i = at + prefix.size(); i < body.size() && body[i] != '"'; ++i) {
    if (body[i] == '\\' && i + 1 < body.size()) ++i;
    out += body[i];
  }
  return out;
}

struct Client::Connection {
  asio::io_context ioc;
  tcp::socket socket{ioc};
  beast::flat_buffer buffer;
};

Client::Client(uint16_t port) : connection_(std::make_unique<Connection>()) {
  connection_->socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
}

Client::~Client() = default;

void Client::SendRaw(std::string_view bytes) {
  asio::write(connection_->socket, asio::buffer(bytes));
}

Response Client::Read() {
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  http::read(connection_->socket, connection_->buffer, parser);
  auto raw = parser.release();
  Response r;
  r.status = raw.result_int();
  r.body = raw.body();
  r.keep_alive = raw.keep_alive();
  for (const auto& field : raw) {
    r.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  return r;
}

Response Client::Send(std::string_view method, std::string_view target, std::string_view body,
                      std::string_view content_type, std::string_view extra_headers) {
  std::string req = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  req += "Host: localhost\r\nUser-Agent: clawvisor-test/1.0\r\n";
  if (!content_type.empty()) req += "Content-Type: " + std::string(content_type) + "\r\n";
  req += extra_headers;
  if (method == "POST" || !body.empty()) {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n";
  req += body;
  SendRaw(req);
  return Read();
}

bool Client::ServerClosed() {
  if (connection_->buffer.size() > 0) return false;
  char c;
  beast::error_code ec;
  connection_->socket.read_some(asio::buffer(&c, 1), ec);
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

}  // namespace clawvisor::http_test

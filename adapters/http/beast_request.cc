#include "adapters/http/beast_request.h"

#include "adapters/http/authenticator.h"

namespace clawvisor {
namespace {

namespace http = boost::beast::http;

std::string ToString(boost::beast::string_view s) { return std::string(s.data(), s.size()); }

std::string HeaderValue(const http::request<http::string_body>& req, std::string_view name) {
  return ToString(req[boost::beast::string_view(name.data(), name.size())]);
}

}  // namespace

ApiRequest ToApiRequest(http::request<http::string_body>&& req, std::string peer_ip, bool tls) {
  ApiRequest request;
  request.info.method = ToString(req.method_string());
  request.info.target = ToString(req.target());
  request.info.authorization = ToString(req[http::field::authorization]);
  request.info.user_agent = ToString(req[http::field::user_agent]);
  request.info.peer_ip = std::move(peer_ip);
  request.info.tls = tls;
  request.info.session_token = HeaderValue(req, kSessionHeader);
  request.info.forwarded_client_ip = HeaderValue(req, kClientIpHeader);
  request.info.forwarded_user_agent = HeaderValue(req, kClientUserAgentHeader);
  request.content_type = ToString(req[http::field::content_type]);
  request.body = std::move(req.body());
  return request;
}

}  // namespace clawvisor

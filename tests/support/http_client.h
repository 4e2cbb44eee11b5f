#pragma once

// A minimal blocking HTTP/1.1 client for integration tests (one request per connection).

#include <cstdint>
#include <map>
#include <string>

namespace clawvisor::testing {

struct HttpResponse {
  int status = 0;                              // 0: the connection failed or was cut
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

HttpResponse HttpRequest(uint16_t port, const std::string& method, const std::string& target,
                         const std::string& body = "",
                         const std::string& content_type = "application/json",
                         const std::map<std::string, std::string>& extra_headers = {});

}  // namespace clawvisor::testing

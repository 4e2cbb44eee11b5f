#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

namespace clawvisor::testing {

HttpResponse HttpRequest(uint16_t port, const std::string& method, const std::string& target,
                         const std::string& body, const std::string& content_type,
                         const std::map<std::string, std::string>& extra_headers) {
  HttpResponse response;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return response;
  timeval tv{60, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return response;
  }
  std::string request = method + " " + target + " HTTP/1.1\r\n";
  if (!extra_headers.contains("Host")) request += "Host: 127.0.0.1\r\n";
  request += "User-Agent: clawvisor-tests/1\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST") {
    request += "Content-Type: " + content_type + "\r\n";
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  for (const auto& [k, v] : extra_headers) request += k + ": " + v + "\r\n";
  request += "\r\n" + body;
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer (413) before reading everything
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[16384];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  const auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.size() < 12) return response;
  response.status = std::atoi(raw.substr(9, 3).c_str());
  size_t line_start = raw.find("\r\n") + 2;
  while (line_start < head_end) {
    const size_t line_end = raw.find("\r\n", line_start);
    const std::string line = raw.substr(line_start, line_end - line_start);
    if (auto colon = line.find(':'); colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      response.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    line_start = line_end + 2;
  }
  response.body = raw.substr(head_end + 4);
  if (response.headers["transfer-encoding"] == "chunked") {
    std::string decoded;
    size_t pos = 0;
    while (pos < response.body.size()) {
      const size_t eol = response.body.find("\r\n", pos);
      if (eol == std::string::npos) break;
      const size_t len = std::stoul(response.body.substr(pos, eol - pos), nullptr, 16);
      if (len == 0) break;
      decoded += response.body.substr(eol + 2, len);
      pos = eol + 2 + len + 2;
    }
    response.body = decoded;
  }
  return response;
}

}  // namespace clawvisor::testing

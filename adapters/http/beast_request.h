#pragma once

// A parsed Beast request as the ApiHandler sees it: method, target, the caller's headers and the
// body. One translation for the server (http_api.cc) and the request fuzzer (tests/fuzz), so
// the fuzzer exercises exactly what the server hands on.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>

#include "adapters/http/api_handler.h"

namespace clawvisor {

ApiRequest ToApiRequest(boost::beast::http::request<boost::beast::http::string_body>&& req,
                        std::string peer_ip, bool tls);

}  // namespace clawvisor

#pragma once

// Parsing the API's JSON bodies into protobuf messages in tests.

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace clawvisor::testing {

// Parses `json` (protobuf's JSON mapping) into a Message, ignoring members it does not define
// (a rejection body adds "error"); a body that does not parse fails the test.
template <typename Message>
Message ParseJson(const std::string& json) {
  Message m;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &m, options).ok()) << json;
  return m;
}

// The value of a top-level string member of a JSON object, "" if absent or null. For reading
// one member of an API answer without a schema.
inline std::string JsonStringMember(const std::string& json, const std::string& name) {
  const std::string key = "\"" + name + "\":\"";
  const size_t at = json.find(key);
  if (at == std::string::npos) return "";
  const size_t end = json.find('"', at + key.size());
  return json.substr(at + key.size(), end - at - key.size());
}

// The strings of a top-level array-of-strings member ("" elements dropped), empty if absent.
inline std::vector<std::string> JsonStringArrayMember(const std::string& json,
                                                      const std::string& name) {
  std::vector<std::string> out;
  const std::string key = "\"" + name + "\":[";
  const size_t at = json.find(key);
  if (at == std::string::npos) return out;
  const size_t end = json.find(']', at);
  size_t pos = at + key.size();
  while (true) {
    const size_t open = json.find('"', pos);
    if (open == std::string::npos || open > end) break;
    const size_t close = json.find('"', open + 1);
    if (close == std::string::npos || close > end) break;
    out.push_back(json.substr(open + 1, close - open - 1));
    pos = close + 1;
  }
  return out;
}
}  // namespace clawvisor::testing

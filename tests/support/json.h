#pragma once

// Parsing the API's JSON bodies into protobuf messages in tests.

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <string>

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

}  // namespace clawvisor::testing

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

}  // namespace clawvisor::testing

#pragma once

// The tests' precompiled header (tests/CMakeLists.txt, CLAWVISOR_TEST_PCH): what nearly every
// test file includes, parsed once per build tree instead of once per file.
// Through a precompiled header GCC 12 reports its known -Warray-bounds, -Wstringop-overflow,
// -overread and -Wrestrict false positives on std::string code inlined into a test (they stay
// silent without one), so test targets that use it turn those off (tests/CMakeLists.txt);
// production code keeps them.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/events.pb.h"
#include "clawvisor/v1/views.pb.h"

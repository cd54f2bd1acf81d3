// Helpers shared by the shield's unit tests.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "shield/ip_address.h"

namespace bulwark::shield::testing {

// The address written as `text`; a test failure if it does not parse.
inline IpAddress ip(const std::string& text) {
  IpAddress a;
  EXPECT_TRUE(IpAddress::parse(text, a)) << text;
  return a;
}

}  // namespace bulwark::shield::testing

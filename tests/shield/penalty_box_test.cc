#include "shield/penalty_box.h"

#include <gtest/gtest.h>

#include <string>

#include "test_addresses.h"

namespace bulwark::shield {
namespace {

using testing::ip;

TEST(PenaltyBox, BoxesAfterThresholdStrikesWithinTheWindowAndLetsOutAfterTheDuration) {
  PenaltyBox box(1024);
  PenaltySettings s{3, 10'000, 60'000};
  const IpAddress a = ip("203.0.113.9");
  int64_t now = 1'000'000;
  EXPECT_FALSE(box.strike(a, s, now));
  EXPECT_FALSE(box.strike(a, s, now + 100));
  EXPECT_FALSE(box.boxed(a, now + 100));
  EXPECT_TRUE(box.strike(a, s, now + 200));
  EXPECT_TRUE(box.boxed(a, now + 200));
  EXPECT_FALSE(box.boxed(ip("203.0.113.10"), now + 200));
  EXPECT_TRUE(box.boxed(a, now + 200 + 59'999));
  EXPECT_FALSE(box.boxed(a, now + 200 + 60'000));
  // Out with a clean record: one more strike does not box it again.
  EXPECT_FALSE(box.strike(a, s, now + 70'000));
  EXPECT_FALSE(box.boxed(a, now + 70'000));
}

TEST(PenaltyBox, StrikesSpreadOverMoreThanTheWindowDoNotBox) {
  PenaltyBox box(64);
  PenaltySettings s{3, 9'000, 60'000};
  const IpAddress a = ip("2001:db8::5");
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(box.strike(a, s, 1'000'000 + i * 4'600)) << i;
  EXPECT_FALSE(box.boxed(a, 1'100'000));
}

TEST(PenaltyBox, ManualAddRemoveAndList) {
  PenaltyBox box(64);
  const IpAddress a = ip("198.51.100.1");
  const IpAddress b = ip("::1");
  EXPECT_TRUE(box.add(a, 5'000, 1'000));
  EXPECT_TRUE(box.add(b, 9'000, 1'000));
  auto entries = box.list(1'000);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].address, a);
  EXPECT_EQ(entries[0].untilMs, 5'000);
  EXPECT_EQ(entries[1].address.toString(), "::1");
  EXPECT_TRUE(box.remove(a, 1'000));
  EXPECT_FALSE(box.remove(a, 1'000));
  EXPECT_FALSE(box.boxed(a, 1'000));
  EXPECT_EQ(box.list(1'000).size(), 1u);
  EXPECT_EQ(box.list(9'000).size(), 0u);  // expired
}

TEST(PenaltyBox, ExpiredEntriesMakeRoomInAFullTable) {
  PenaltyBox box(8);
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(box.add(ip("10.9.0." + std::to_string(i)), 2'000, 1'000)) << i;
  }
  EXPECT_FALSE(box.add(ip("10.9.1.1"), 2'000, 1'000));  // all live
  EXPECT_TRUE(box.add(ip("10.9.1.1"), 9'000, 3'000));   // the others expired at 2'000
  EXPECT_TRUE(box.boxed(ip("10.9.1.1"), 3'000));
}

}  // namespace
}  // namespace bulwark::shield

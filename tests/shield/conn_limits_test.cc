#include "shield/conn_limits.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "test_addresses.h"

namespace bulwark::shield {
namespace {

using testing::ip;

TEST(ClientTable, LimitsConnectionsPerAddress) {
  ClientTable table(1024);
  uint32_t slots[3];
  EXPECT_EQ(table.openConnection(ip("10.0.0.1"), 2, slots[0]), ClientTable::Result::kOk);
  EXPECT_EQ(table.openConnection(ip("10.0.0.1"), 2, slots[1]), ClientTable::Result::kOk);
  EXPECT_EQ(slots[0], slots[1]);
  EXPECT_EQ(table.openConnection(ip("10.0.0.1"), 2, slots[2]), ClientTable::Result::kOverLimit);
  EXPECT_EQ(table.connections(ip("10.0.0.1")), 2u);
  uint32_t other = 0;
  EXPECT_EQ(table.openConnection(ip("::1"), 2, other), ClientTable::Result::kOk);
  table.closeConnection(slots[0]);
  EXPECT_EQ(table.openConnection(ip("10.0.0.1"), 2, slots[2]), ClientTable::Result::kOk);
  table.closeConnection(slots[1]);
  table.closeConnection(slots[2]);
  EXPECT_EQ(table.connections(ip("10.0.0.1")), 0u);
}

TEST(ClientTable, LimitsRequestsInFlight) {
  ClientTable table(64);
  uint32_t slot = 0;
  ASSERT_EQ(table.openConnection(ip("10.0.0.2"), 0, slot), ClientTable::Result::kOk);
  EXPECT_EQ(table.startRequest(slot, 2), ClientTable::Result::kOk);
  EXPECT_EQ(table.startRequest(slot, 2), ClientTable::Result::kOk);
  EXPECT_EQ(table.startRequest(slot, 2), ClientTable::Result::kOverLimit);
  table.endRequest(slot);
  EXPECT_EQ(table.startRequest(slot, 2), ClientTable::Result::kOk);
}

TEST(ClientTable, IdleSlotsAreReusedAndAFullWindowIsUntracked) {
  ClientTable table(8);
  std::vector<uint32_t> slots;
  for (int i = 0; i < 8; ++i) {
    uint32_t s = 0;
    ASSERT_EQ(table.openConnection(ip("10.1.0." + std::to_string(i)), 1, s), ClientTable::Result::kOk);
    EXPECT_NE(s, ClientTable::kUntracked);
    slots.push_back(s);
  }
  uint32_t s = 0;
  EXPECT_EQ(table.openConnection(ip("10.2.0.1"), 1, s), ClientTable::Result::kOk);
  EXPECT_EQ(s, ClientTable::kUntracked);
  EXPECT_EQ(table.untracked(), 1u);
  table.closeConnection(slots[3]);
  EXPECT_EQ(table.openConnection(ip("10.2.0.1"), 1, s), ClientTable::Result::kOk);
  EXPECT_EQ(s, slots[3]);
  EXPECT_EQ(table.openConnection(ip("10.2.0.1"), 1, s), ClientTable::Result::kOverLimit);
}

TEST(ClientTable, ExactAcrossThreads) {
  ClientTable table(1024);
  constexpr int kThreads = 4;
  constexpr uint32_t kMax = 100;
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        uint32_t s = 0;
        if (table.openConnection(ip("192.0.2.7"), kMax, s) == ClientTable::Result::kOk) ++accepted;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(accepted.load(), static_cast<int>(kMax));
  EXPECT_EQ(table.connections(ip("192.0.2.7")), kMax);
}

}  // namespace
}  // namespace bulwark::shield

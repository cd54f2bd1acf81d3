// The UDP answer cache: hits only for the same query bytes after the ID, the ID patched in, bounded storage
// that wraps without ever returning another query's answer, clear().
#include "dns/answer_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace bulwark::dns {
namespace {

std::vector<uint8_t> bytes(uint16_t id, const std::string& rest) {
  std::string s = std::string(1, static_cast<char>(id >> 8)) + static_cast<char>(id & 0xFF) + rest;
  if (s.size() < 12) s.resize(12, '\0');
  return std::vector<uint8_t>(s.begin(), s.end());
}

TEST(AnswerCache, HitReturnsTheAnswerWithTheQueryId) {
  AnswerCache c(1 << 20);
  ASSERT_TRUE(c.enabled());
  auto q = bytes(0x1111, "query-for-www.example.com/A");
  auto a = bytes(0x1111, "answer: 192.0.2.10 and more bytes");
  c.store(q.data(), q.size(), a.data(), a.size(), AnswerCache::Meta{1, 0, 1, 42});

  auto again = bytes(0xBEEF, "query-for-www.example.com/A");
  uint8_t out[4096];
  AnswerCache::Meta meta;
  size_t n = c.lookup(again.data(), again.size(), out, sizeof out, meta);
  ASSERT_EQ(n, a.size());
  EXPECT_EQ(out[0], 0xBE);
  EXPECT_EQ(out[1], 0xEF);
  EXPECT_EQ(std::memcmp(out + 2, a.data() + 2, a.size() - 2), 0);
  EXPECT_EQ(meta.qtype, 1);
  EXPECT_EQ(meta.cls, 1);
  EXPECT_EQ(meta.rrlName, 42u);

  // One byte different anywhere after the ID (here: the case of one letter), a byte more or less: a miss.
  auto other = bytes(0xBEEF, "query-for-WWW.example.com/A");
  EXPECT_EQ(c.lookup(other.data(), other.size(), out, sizeof out, meta), 0u);
  auto longer = bytes(0xBEEF, "query-for-www.example.com/A ");
  EXPECT_EQ(c.lookup(longer.data(), longer.size(), out, sizeof out, meta), 0u);
  // An output buffer too small for the answer: a miss, nothing written past it.
  EXPECT_EQ(c.lookup(again.data(), again.size(), out, a.size() - 1, meta), 0u);

  c.clear();
  EXPECT_EQ(c.lookup(again.data(), again.size(), out, sizeof out, meta), 0u);
}

TEST(AnswerCache, TooSmallOrTooLongIsNotCached) {
  AnswerCache off(1000);
  EXPECT_FALSE(off.enabled());
  AnswerCache c(1 << 20);
  std::vector<uint8_t> big(AnswerCache::kMaxQuery + 1, 'q');
  auto a = bytes(1, "answer");
  c.store(big.data(), big.size(), a.data(), a.size(), {});
  uint8_t out[4096];
  AnswerCache::Meta meta;
  EXPECT_EQ(c.lookup(big.data(), big.size(), out, sizeof out, meta), 0u);
  auto q = bytes(1, "query");
  std::vector<uint8_t> huge(AnswerCache::kMaxAnswer + 1, 'a');
  c.store(q.data(), q.size(), huge.data(), huge.size(), {});
  EXPECT_EQ(c.lookup(q.data(), q.size(), out, sizeof out, meta), 0u);
  std::vector<uint8_t> tiny = {1, 2, 3};
  EXPECT_EQ(c.lookup(tiny.data(), tiny.size(), out, sizeof out, meta), 0u);
}

// Far more records than fit: the ring wraps many times and index slots are shared, yet every hit is the
// answer stored for exactly that query, and the most recent records are still found.
TEST(AnswerCache, WrapsAndSharedSlotsNeverMixAnswersUp) {
  AnswerCache c(64 * 1024);  // the smallest: 1,024 slots
  std::map<std::string, std::vector<uint8_t>> stored;
  uint8_t out[4096];
  int hits = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5000; ++i) {
      std::string key = "name-" + std::to_string(i) + ".example/" + std::to_string(i % 7);
      auto q = bytes(static_cast<uint16_t>(i), key);
      AnswerCache::Meta meta;
      size_t n = c.lookup(q.data(), q.size(), out, sizeof out, meta);
      if (n != 0) {
        ++hits;
        const auto& want = stored.at(key);
        ASSERT_EQ(n, want.size()) << key;
        ASSERT_EQ(std::memcmp(out + 2, want.data() + 2, n - 2), 0) << key;
        ASSERT_EQ(meta.rrlName, static_cast<uint64_t>(i)) << key;
        continue;
      }
      // Answers of varied sizes, some large, so records straddle the end of the ring.
      auto a = bytes(0, "answer-for-" + key + std::string(static_cast<size_t>((i * 37) % 1500), 'x'));
      stored[key] = a;
      c.store(q.data(), q.size(), a.data(), a.size(), AnswerCache::Meta{1, 0, 1, static_cast<uint64_t>(i)});
      ASSERT_EQ(c.lookup(q.data(), q.size(), out, sizeof out, meta), a.size()) << key;  // just stored
    }
  }
  // Keys of up to ~1.5 KB in a 64 KiB ring, in order: a key comes back after ~4 MB of others, long
  // overwritten, so hits are rare; the point above is that no lookup returned a wrong answer.
  EXPECT_LT(hits, 100);
  // The newest records are intact after all that wrapping (a few may have lost their slot to another).
  int recent = 0;
  for (int i = 0; i < 30; ++i) {
    auto q = bytes(9, "recent-" + std::to_string(i));
    auto a = bytes(9, "answer-" + std::to_string(i));
    c.store(q.data(), q.size(), a.data(), a.size(), {});
  }
  for (int i = 0; i < 30; ++i) {
    auto q = bytes(10, "recent-" + std::to_string(i));
    AnswerCache::Meta meta;
    size_t n = c.lookup(q.data(), q.size(), out, sizeof out, meta);
    if (n == 0) continue;
    ++recent;
    auto want = bytes(9, "answer-" + std::to_string(i));
    ASSERT_EQ(n, want.size());
    EXPECT_EQ(std::memcmp(out + 2, want.data() + 2, n - 2), 0);
  }
  EXPECT_GE(recent, 25);
}

TEST(AnswerCache, RepeatedWorkingSetIsServedFromTheCache) {
  AnswerCache c(1 << 20);
  uint8_t out[4096];
  AnswerCache::Meta meta;
  for (int i = 0; i < 200; ++i) {
    auto q = bytes(1, "q" + std::to_string(i));
    auto a = bytes(1, "a" + std::to_string(i) + std::string(300, 'x'));
    c.store(q.data(), q.size(), a.data(), a.size(), {});
  }
  int hits = 0;
  for (int i = 0; i < 200; ++i) {
    auto q = bytes(7, "q" + std::to_string(i));
    if (c.lookup(q.data(), q.size(), out, sizeof out, meta) != 0) ++hits;
  }
  EXPECT_GE(hits, 190);  // 200 records in 16,384 slots: a few may share a slot (the newer one wins)
}

}  // namespace
}  // namespace bulwark::dns

#include "shield/redis_client.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "redis_test_server.h"

namespace bulwark::shield {
namespace {

using namespace std::chrono_literals;
using redistest::RedisTestServer;
using redistest::runLoopUntil;

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!redistest::redisServerAvailable())
      GTEST_SKIP() << "no /usr/bin/redis-server (apt-get install redis-server)";
    ASSERT_TRUE(server_.start()) << "redis-server did not start on port " << server_.port();
  }

  RedisClientOptions options() const {
    RedisClientOptions o;
    o.port = server_.port();
    o.commandTimeout = 300ms;
    o.connectTimeout = 500ms;
    o.reconnectMin = 20ms;
    o.reconnectMax = 200ms;
    return o;
  }

  bool waitConnected(RedisClient& client, bool up = true, std::chrono::milliseconds timeout = 3000ms) {
    return runLoopUntil(
        loop_, [&] { return client.connected() == up; }, timeout);
  }

  // Sends one command and runs the loop until its callback ran; returns what the callback saw.
  struct Seen {
    bool called = false;
    RedisStatus status = RedisStatus::kOk;
    long long integer = 0;
    std::string text;
  };
  Seen roundTrip(RedisClient& client, std::initializer_list<std::string_view> args,
                 std::chrono::milliseconds timeout = 3000ms) {
    Seen seen;
    client.command(args, [&](const RedisResult& r) {
      seen.called = true;
      seen.status = r.status;
      seen.integer = r.integer();
      seen.text = std::string(r.text());
    });
    runLoopUntil(
        loop_, [&] { return seen.called; }, timeout);
    return seen;
  }

  // A command Redis holds forever (BLPOP on a list that never fills): `seen` is set when it fails.
  static void sendUnanswerable(RedisClient& client, Seen& seen) {
    client.command({"BLPOP", "never", "0"}, [&seen](const RedisResult& r) {
      seen.called = true;
      seen.status = r.status;
    });
  }

  RedisTestServer server_;
  EventLoop loop_;
};

TEST_F(RedisClientTest, ConnectsAndAnswersCommands) {
  RedisClient client(loop_, options());
  int ups = 0;
  client.setConnectionCallback([&](bool up) { ups += up ? 1 : 0; });
  client.start();
  ASSERT_TRUE(waitConnected(client));
  EXPECT_EQ(ups, 1);

  Seen set = roundTrip(client, {"SET", "greeting", "hello"});
  EXPECT_EQ(set.status, RedisStatus::kOk);
  EXPECT_EQ(set.text, "OK");
  Seen get = roundTrip(client, {"GET", "greeting"});
  EXPECT_EQ(get.text, "hello");
  Seen incr = roundTrip(client, {"INCRBY", "counter", "41"});
  EXPECT_EQ(incr.integer, 41);
  incr = roundTrip(client, {"INCRBY", "counter", "1"});
  EXPECT_EQ(incr.integer, 42);
  Seen wrongType = roundTrip(client, {"INCRBY", "greeting", "1"});
  EXPECT_EQ(wrongType.status, RedisStatus::kReplyError);
  EXPECT_NE(wrongType.text.find("not an integer"), std::string::npos) << wrongType.text;
  EXPECT_EQ(client.inFlight(), 0u);
  EXPECT_EQ(client.stats().connects.load(), 1u);
}

TEST_F(RedisClientTest, PipelinedCommandsAreAnsweredInOrder) {
  RedisClient client(loop_, options());
  client.start();
  ASSERT_TRUE(waitConnected(client));
  constexpr int kCommands = 5000;
  std::vector<long long> seen;
  for (int i = 0; i < kCommands; ++i) {
    ASSERT_TRUE(
        client.command({"INCR", "pipelined"}, [&](const RedisResult& r) { seen.push_back(r.integer()); }));
  }
  ASSERT_TRUE(runLoopUntil(
      loop_, [&] { return seen.size() == kCommands; }, 5000ms));
  for (int i = 0; i < kCommands; ++i) ASSERT_EQ(seen[static_cast<std::size_t>(i)], i + 1);
}

TEST_F(RedisClientTest, ReadsRepliesLargerThanOneHiredisRead) {
  // hiredis reads 16 KiB at a time; with edge-triggered epoll the adapter must keep reading.
  RedisClient client(loop_, options());
  client.start();
  ASSERT_TRUE(waitConnected(client));
  const std::string big(1 << 20, 'b');
  ASSERT_EQ(roundTrip(client, {"SET", "big", big}).status, RedisStatus::kOk);
  Seen got = roundTrip(client, {"GET", "big"});
  EXPECT_EQ(got.text.size(), big.size());
  EXPECT_EQ(got.text, big);
}

TEST_F(RedisClientTest, RefusesCommandsWhenNotConnected) {
  RedisClient client(loop_, options());
  Seen seen = roundTrip(client, {"PING"});
  EXPECT_TRUE(seen.called);
  EXPECT_EQ(seen.status, RedisStatus::kNotConnected);
  EXPECT_EQ(client.stats().refused.load(), 1u);
}

TEST_F(RedisClientTest, BoundsCommandsInFlight) {
  RedisClientOptions o = options();
  o.maxInFlight = 10;
  RedisClient client(loop_, o);
  client.start();
  ASSERT_TRUE(waitConnected(client));
  int ok = 0;
  int overloaded = 0;
  int accepted = 0;
  for (int i = 0; i < 25; ++i) {
    accepted += client.command({"PING"}, [&](const RedisResult& r) {
      ok += r.ok() ? 1 : 0;
      overloaded += r.status == RedisStatus::kOverloaded ? 1 : 0;
    });
  }
  EXPECT_EQ(accepted, 10);
  ASSERT_TRUE(runLoopUntil(
      loop_, [&] { return ok + overloaded == 25; }, 3000ms));
  EXPECT_EQ(ok, 10);
  EXPECT_EQ(overloaded, 15);
}

TEST_F(RedisClientTest, TimesOutWhenRedisStopsAnsweringThenRecovers) {
  RedisClient client(loop_, options());
  client.start();
  ASSERT_TRUE(waitConnected(client));
  server_.pause();
  const auto start = SteadyClock::now();
  std::vector<RedisStatus> statuses;
  for (int i = 0; i < 3; ++i) {
    client.command({"PING"}, [&](const RedisResult& r) { statuses.push_back(r.status); });
  }
  ASSERT_TRUE(runLoopUntil(
      loop_, [&] { return statuses.size() == 3; }, 3000ms));
  const auto waited = SteadyClock::now() - start;
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 2000ms);
  for (RedisStatus s : statuses) EXPECT_EQ(s, RedisStatus::kTimeout);
  EXPECT_FALSE(client.connected());
  EXPECT_EQ(client.stats().timeouts.load(), 1u);
  server_.resume();
  ASSERT_TRUE(waitConnected(client));
  EXPECT_EQ(roundTrip(client, {"PING"}).text, "PONG");
}

TEST_F(RedisClientTest, CountsAsConnectedOnlyOnceRedisAnswers) {
  // A stopped Redis still completes TCP connects (the kernel does): that is not a usable connection.
  server_.pause();
  RedisClient client(loop_, options());
  client.start();
  EXPECT_FALSE(waitConnected(client, true, 800ms));
  EXPECT_GE(client.stats().connectFailures.load(), 1u);  // the 500 ms connect timeout
  server_.resume();
  ASSERT_TRUE(waitConnected(client));
  EXPECT_EQ(roundTrip(client, {"PING"}).text, "PONG");
}

TEST_F(RedisClientTest, ReconnectsAfterRedisIsKilledAndRestarted) {
  RedisClient client(loop_, options());
  std::vector<bool> transitions;
  client.setConnectionCallback([&](bool up) { transitions.push_back(up); });
  client.start();
  ASSERT_TRUE(waitConnected(client));
  Seen pending;
  sendUnanswerable(client, pending);
  runLoopUntil(
      loop_, [] { return false; }, 50ms);  // the command reaches Redis
  server_.kill();
  ASSERT_TRUE(waitConnected(client, false));
  EXPECT_TRUE(pending.called);
  EXPECT_EQ(pending.status, RedisStatus::kDisconnected);
  EXPECT_EQ(roundTrip(client, {"PING"}).status, RedisStatus::kNotConnected);
  // Retries keep failing (refused) while it is down, with backoff; then it comes back on the same port.
  runLoopUntil(
      loop_, [] { return false; }, 300ms);
  EXPECT_GE(client.stats().connectFailures.load(), 2u);
  ASSERT_TRUE(server_.start());
  ASSERT_TRUE(waitConnected(client));
  EXPECT_EQ(roundTrip(client, {"PING"}).text, "PONG");
  EXPECT_EQ(transitions, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(client.stats().disconnects.load(), 1u);
}

TEST_F(RedisClientTest, StopFailsPendingCommandsAndDoesNotReconnect) {
  RedisClient client(loop_, options());
  client.start();
  ASSERT_TRUE(waitConnected(client));
  Seen pending;
  sendUnanswerable(client, pending);
  client.stop();
  EXPECT_TRUE(pending.called);
  EXPECT_EQ(pending.status, RedisStatus::kStopped);
  runLoopUntil(
      loop_, [] { return false; }, 100ms);
  EXPECT_FALSE(client.connected());
  EXPECT_EQ(client.stats().connects.load(), 1u);
}

TEST(RedisAddress, ParsesHostPortForms) {
  std::string host;
  int port = 0;
  ASSERT_TRUE(parseRedisAddress("127.0.0.1:6379", host, port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 6379);
  ASSERT_TRUE(parseRedisAddress("[::1]:7000", host, port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 7000);
  ASSERT_TRUE(parseRedisAddress("redis.internal:6380", host, port));
  EXPECT_EQ(host, "redis.internal");
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", ":6379", "127.0.0.1:0", "127.0.0.1:65536",
                          "::1:6379", "[::1]6379", "[::1]:", "host:12x"}) {
    EXPECT_FALSE(parseRedisAddress(bad, host, port)) << bad;
  }
}

}  // namespace
}  // namespace bulwark::shield

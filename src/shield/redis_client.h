// An asynchronous Redis client on our EventLoop (hiredis' async API with our own event adapter).
//
// Thread-safety: one client lives on one EventLoop thread; every method but the stats() reads and
// connected() must be called on that thread, and every callback runs there. Nothing blocks the loop:
// the connect is non-blocking (a host name is resolved by hiredis with getaddrinfo() on this thread, so
// give an IP address where that matters), and every wait is bounded by a timer.
//
// Guarantees:
//   - each command()'s callback runs exactly once: with the reply, or with the reason it has none
//     (not connected, too many commands in flight, timeout, connection lost, client stopped);
//   - a command unanswered after `commandTimeout` fails the connection (Redis answers in order, so the
//     later ones cannot come first): every pending callback gets kTimeout and the client reconnects;
//   - connected() turns true only once Redis answered a PING on the new connection (a stopped Redis still
//     completes TCP connects), within `connectTimeout`;
//   - after any failure (refused, connect timeout, reset, timeout) the client reconnects by itself with
//     exponential backoff between `reconnectMin` and `reconnectMax`;
//   - at most `maxInFlight` commands are pending; more are refused at once (kOverloaded) and counted,
//     which also bounds hiredis' output buffer.
// Do not destroy the client from inside one of its callbacks (defer it with EventLoop::defer()).
#pragma once

#include <hiredis/async.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "core/event_loop.h"

namespace bulwark::shield {

enum class RedisStatus {
  kOk,            // a reply that is not an error reply
  kReplyError,    // Redis answered with an error reply (e.g. WRONGTYPE); reply() holds it
  kNotConnected,  // refused at once: no connection right now
  kOverloaded,    // refused at once: maxInFlight commands pending
  kTimeout,       // no reply within commandTimeout (or this command was pending when another timed out)
  kDisconnected,  // the connection was lost before the reply came
  kStopped,       // the client was stopped
};
std::string_view redisStatusName(RedisStatus status) noexcept;

// What a command callback receives. `reply` points into hiredis' memory and is valid only during the
// callback; it is non-null exactly for kOk and kReplyError.
struct RedisResult {
  RedisStatus status = RedisStatus::kOk;
  const redisReply* reply = nullptr;

  bool ok() const noexcept { return status == RedisStatus::kOk; }
  bool isInteger() const noexcept { return reply != nullptr && reply->type == REDIS_REPLY_INTEGER; }
  long long integer() const noexcept { return isInteger() ? reply->integer : 0; }
  // The text of a status, string or error reply; empty otherwise.
  std::string_view text() const noexcept;
};
using RedisCallback = std::function<void(const RedisResult&)>;

struct RedisClientOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::chrono::milliseconds connectTimeout{1000};
  std::chrono::milliseconds commandTimeout{1000};
  std::chrono::milliseconds reconnectMin{100};   // first retry after a failure; doubles per failure
  std::chrono::milliseconds reconnectMax{5000};  // the backoff stops growing here
  std::size_t maxInFlight = 65536;
};

// "HOST:PORT" or "[IPV6]:PORT" (port 1-65535). False on anything else.
bool parseRedisAddress(std::string_view text, std::string& host, int& port);

// Counters (relaxed atomics: written on the loop thread, readable from any thread, e.g. /metrics).
struct RedisClientStats {
  std::atomic<uint64_t> connects{0};         // connections established
  std::atomic<uint64_t> connectFailures{0};  // attempts that failed (refused, timeout, error)
  std::atomic<uint64_t> disconnects{0};      // established connections lost (any reason)
  std::atomic<uint64_t> commands{0};         // commands written to a connection
  std::atomic<uint64_t> replies{0};          // replies received (error replies included)
  std::atomic<uint64_t> timeouts{0};         // connections failed because a command timed out
  std::atomic<uint64_t> refused{0};          // commands refused at once (not connected or overloaded)
};

class RedisClient : private IoHandler {
 public:
  RedisClient(EventLoop& loop, RedisClientOptions options);
  ~RedisClient() override;  // as stop()
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Starts connecting (returns at once). Loop thread.
  void start();
  // Closes the connection: pending callbacks get kStopped (the connection callback is not called); no
  // reconnect. Loop thread.
  void stop();

  // Called on the loop thread when the connection comes up (true) or an established one goes down (false).
  void setConnectionCallback(std::function<void(bool up)> callback) { onConnection_ = std::move(callback); }

  bool connected() const noexcept { return connected_.load(std::memory_order_relaxed); }

  // Sends one command given as its arguments (binary-safe). True if written to the connection; false if
  // refused, in which case `callback` runs with the reason at the end of the current loop iteration.
  bool command(std::span<const std::string_view> args, RedisCallback callback);
  bool command(std::initializer_list<std::string_view> args, RedisCallback callback) {
    return command(std::span<const std::string_view>(args.begin(), args.size()), std::move(callback));
  }

  std::size_t inFlight() const noexcept { return pending_.size(); }
  const RedisClientStats& stats() const noexcept { return stats_; }
  const RedisClientOptions& options() const noexcept { return options_; }

 private:
  struct Pending {
    uint64_t seq;
    SteadyClock::time_point deadline;
    RedisCallback callback;
  };

  void connect();
  void scheduleReconnect();
  void onIoEvents(uint32_t events) override;
  void setInterest(bool read, bool write) noexcept;
  void onConnected(int status);
  void onHello(const redisReply* reply);
  void onCleanup();
  void onReply(uint64_t seq, redisReply* reply);
  void armCommandTimer();
  // Frees the connection (outside hiredis callbacks); pending callbacks get `reason`.
  void failConnection(RedisStatus reason);
  void refuse(RedisStatus reason, RedisCallback callback);

  static void hookAddRead(void* self);
  static void hookDelRead(void* self);
  static void hookAddWrite(void* self);
  static void hookDelWrite(void* self);
  static void hookCleanup(void* self);
  static void hookConnect(const redisAsyncContext* ac, int status);
  static void hookReply(redisAsyncContext* ac, void* reply, void* privdata);
  static void hookHello(redisAsyncContext* ac, void* reply, void* privdata);

  EventLoop& loop_;
  const RedisClientOptions options_;
  redisAsyncContext* ac_ = nullptr;
  int fd_ = -1;
  bool wantRead_ = false;
  bool wantWrite_ = false;
  uint32_t registered_ = 0;  // the epoll mask currently set for fd_
  bool stopping_ = false;
  bool established_ = false;            // connected, and onConnection_(true) was called
  std::atomic<bool> connected_{false};  // established_ and not failing: commands are accepted
  RedisStatus failReason_ = RedisStatus::kDisconnected;  // what pending callbacks get when hiredis frees
  std::chrono::milliseconds backoff_;
  uint64_t nextSeq_ = 1;
  std::deque<Pending> pending_;  // in the order sent = the order Redis answers
  Timer connectTimer_;
  Timer commandTimer_;
  Timer reconnectTimer_;
  std::function<void(bool)> onConnection_;
  RedisClientStats stats_;
};

}  // namespace bulwark::shield

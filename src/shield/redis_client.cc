#include "shield/redis_client.h"

#include <sys/epoll.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <charconv>
#include <vector>

#include "core/log.h"

namespace bulwark::shield {

namespace {
// hiredis reads at most 16 KiB per redisAsyncHandleRead(); with edge-triggered epoll the rest of a large
// answer would wait for the next edge, so the reader loops while bytes are queued (up to this many
// reads, then re-arms the fd so the loop's other work is not starved).
constexpr int kMaxReadsPerEvent = 64;
}  // namespace

std::string_view redisStatusName(RedisStatus status) noexcept {
  switch (status) {
    case RedisStatus::kOk:
      return "ok";
    case RedisStatus::kReplyError:
      return "reply_error";
    case RedisStatus::kNotConnected:
      return "not_connected";
    case RedisStatus::kOverloaded:
      return "overloaded";
    case RedisStatus::kTimeout:
      return "timeout";
    case RedisStatus::kDisconnected:
      return "disconnected";
    case RedisStatus::kStopped:
      return "stopped";
  }
  return "unknown";
}

std::string_view RedisResult::text() const noexcept {
  if (reply == nullptr || reply->str == nullptr) return {};
  if (reply->type != REDIS_REPLY_STATUS && reply->type != REDIS_REPLY_STRING &&
      reply->type != REDIS_REPLY_ERROR) {
    return {};
  }
  return {reply->str, reply->len};
}

bool parseRedisAddress(std::string_view text, std::string& host, int& port) {
  std::string_view h;
  std::string_view p;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (h.find(':') != std::string_view::npos) return false;  // IPv6 needs brackets
  }
  int value = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (h.empty() || p.empty() || ec != std::errc() || end != p.data() + p.size() || value < 1 ||
      value > 65535) {
    return false;
  }
  host.assign(h);
  port = value;
  return true;
}

RedisClient::RedisClient(EventLoop& loop, RedisClientOptions options)
    : loop_(loop),
      options_(std::move(options)),
      backoff_(options_.reconnectMin),
      connectTimer_([this] {
        if (ac_ != nullptr && !connected()) {
          stats_.connectFailures.fetch_add(1, std::memory_order_relaxed);
          failConnection(RedisStatus::kTimeout);
        }
      }),
      commandTimer_([this] {
        if (!pending_.empty() && pending_.front().deadline <= SteadyClock::now() && ac_ != nullptr) {
          stats_.timeouts.fetch_add(1, std::memory_order_relaxed);
          failConnection(RedisStatus::kTimeout);
        } else {
          armCommandTimer();
        }
      }),
      reconnectTimer_([this] { connect(); }) {}

RedisClient::~RedisClient() { stop(); }

void RedisClient::start() {
  stopping_ = false;
  if (ac_ == nullptr && !reconnectTimer_.armed()) connect();
}

void RedisClient::stop() {
  stopping_ = true;
  reconnectTimer_.cancel();
  connectTimer_.cancel();
  commandTimer_.cancel();
  if (ac_ != nullptr) failConnection(RedisStatus::kStopped);
}

void RedisClient::connect() {
  if (stopping_ || ac_ != nullptr) return;
  redisAsyncContext* ac = redisAsyncConnect(options_.host.c_str(), options_.port);
  if (ac == nullptr || ac->err != 0) {
    // Failed before any I/O (refused at once, unresolvable host, out of fds): no hooks are attached yet.
    if (ac != nullptr) redisAsyncFree(ac);
    stats_.connectFailures.fetch_add(1, std::memory_order_relaxed);
    scheduleReconnect();
    return;
  }
  ac_ = ac;
  fd_ = ac->c.fd;
  failReason_ = RedisStatus::kDisconnected;
  ac->data = this;
  ac->ev.data = this;
  ac->ev.addRead = hookAddRead;
  ac->ev.delRead = hookDelRead;
  ac->ev.addWrite = hookAddWrite;
  ac->ev.delWrite = hookDelWrite;
  ac->ev.cleanup = hookCleanup;
  redisAsyncSetConnectCallback(ac, hookConnect);
  // The first writable event completes the connect (hiredis checks SO_ERROR then).
  wantRead_ = true;
  wantWrite_ = true;
  registered_ = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
  if (!loop_.add(fd_, registered_, this)) {
    failConnection(RedisStatus::kDisconnected);
    return;
  }
  loop_.arm(connectTimer_, options_.connectTimeout);
}

void RedisClient::scheduleReconnect() {
  if (stopping_) return;
  loop_.arm(reconnectTimer_, backoff_);
  backoff_ = std::min(backoff_ * 2, options_.reconnectMax);
}

void RedisClient::setInterest(bool read, bool write) noexcept {
  wantRead_ = read;
  wantWrite_ = write;
  const uint32_t mask = (read ? EPOLLIN | EPOLLRDHUP : 0u) | (write ? EPOLLOUT : 0u);
  // Only a change is written: EPOLL_CTL_MOD reports a readiness that already holds, which is what an
  // edge-triggered fd needs when hiredis starts wanting to write to an idle, writable socket.
  if (fd_ >= 0 && mask != registered_) {
    registered_ = mask;
    loop_.modify(fd_, mask, this);
  }
}

void RedisClient::onIoEvents(uint32_t events) {
  if (ac_ == nullptr) return;  // an event for a connection freed earlier in this iteration
  const bool error = (events & (EPOLLERR | EPOLLHUP)) != 0;
  if ((events & EPOLLOUT) != 0 || (error && wantWrite_)) {
    redisAsyncHandleWrite(ac_);  // completes the connect, or flushes queued commands
  }
  if (ac_ == nullptr || (!wantRead_ && !error)) return;
  if ((events & (EPOLLIN | EPOLLRDHUP)) == 0 && !error) return;
  for (int i = 0; i < kMaxReadsPerEvent; ++i) {
    redisAsyncHandleRead(ac_);  // may free the context (then the cleanup hook has cleared ac_)
    if (ac_ == nullptr) return;
    int queued = 0;
    if (::ioctl(fd_, FIONREAD, &queued) != 0 || queued <= 0) return;
  }
  registered_ = 0;  // force a re-arm: bytes are still queued
  setInterest(wantRead_, wantWrite_);
}

void RedisClient::onConnected(int status) {
  if (status != REDIS_OK) {
    // hiredis frees the context after this returns; the cleanup hook schedules the reconnect.
    connectTimer_.cancel();
    stats_.connectFailures.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // The kernel completes a TCP connect even to a Redis that is stopped or stuck: the connection counts
  // only once Redis answers a PING (still under the connect timer).
  // (Should it not even be queued, the connect timer fails the attempt.)
  redisAsyncCommand(ac_, hookHello, nullptr, "PING");
}

void RedisClient::onHello(const redisReply* reply) {
  // No reply: the context is being freed (cleanup follows). An error reply (LOADING, NOAUTH): the connect
  // timer fails the connection and the client retries later.
  if (reply == nullptr || reply->type == REDIS_REPLY_ERROR || established_) return;
  connectTimer_.cancel();
  established_ = true;
  connected_.store(true, std::memory_order_relaxed);
  stats_.connects.fetch_add(1, std::memory_order_relaxed);
  backoff_ = options_.reconnectMin;
  if (onConnection_) onConnection_(true);
}

void RedisClient::onCleanup() {
  if (fd_ < 0) return;  // already cleaned up
  loop_.remove(fd_);
  fd_ = -1;
  registered_ = 0;
  ac_ = nullptr;
  const bool wasUp = established_;
  established_ = false;
  connected_.store(false, std::memory_order_relaxed);
  connectTimer_.cancel();
  commandTimer_.cancel();
  // hiredis has run every pending callback (with no reply) before cleaning up; anything left here was
  // never handed to it.
  std::deque<Pending> left;
  left.swap(pending_);
  for (Pending& p : left) p.callback(RedisResult{failReason_, nullptr});
  if (wasUp) stats_.disconnects.fetch_add(1, std::memory_order_relaxed);
  scheduleReconnect();
  if (wasUp && !stopping_ && onConnection_) onConnection_(false);  // not for stop(): the caller knows
}

void RedisClient::failConnection(RedisStatus reason) {
  if (ac_ == nullptr) return;
  failReason_ = reason;
  connected_.store(false, std::memory_order_relaxed);
  redisAsyncContext* ac = ac_;
  redisAsyncFree(ac);         // runs pending callbacks with no reply, then the cleanup hook
  if (fd_ >= 0) onCleanup();  // a context freed before any hook was attached
}

void RedisClient::onReply(uint64_t seq, redisReply* reply) {
  if (pending_.empty() || pending_.front().seq != seq) return;  // cannot happen: Redis answers in order
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  RedisResult result;
  if (reply == nullptr) {
    // The connection is going away (error, timeout or stop): refuse new commands from now on.
    connected_.store(false, std::memory_order_relaxed);
    result.status = failReason_;
  } else {
    stats_.replies.fetch_add(1, std::memory_order_relaxed);
    result.reply = reply;
    result.status = reply->type == REDIS_REPLY_ERROR ? RedisStatus::kReplyError : RedisStatus::kOk;
  }
  armCommandTimer();
  p.callback(result);
}

void RedisClient::armCommandTimer() {
  if (pending_.empty()) {
    commandTimer_.cancel();
  } else if (ac_ != nullptr) {
    loop_.arm(commandTimer_, pending_.front().deadline);
  }
}

void RedisClient::refuse(RedisStatus reason, RedisCallback callback) {
  stats_.refused.fetch_add(1, std::memory_order_relaxed);
  loop_.defer([reason, cb = std::move(callback)] { cb(RedisResult{reason, nullptr}); });
}

bool RedisClient::command(std::span<const std::string_view> args, RedisCallback callback) {
  if (stopping_) {
    refuse(RedisStatus::kStopped, std::move(callback));
    return false;
  }
  if (ac_ == nullptr || !connected()) {
    refuse(RedisStatus::kNotConnected, std::move(callback));
    return false;
  }
  if (pending_.size() >= options_.maxInFlight) {
    refuse(RedisStatus::kOverloaded, std::move(callback));
    return false;
  }
  constexpr std::size_t kInline = 8;
  const char* argvInline[kInline];
  std::size_t lenInline[kInline];
  std::vector<const char*> argvHeap;
  std::vector<std::size_t> lenHeap;
  const char** argv = argvInline;
  std::size_t* lens = lenInline;
  if (args.size() > kInline) {
    argvHeap.resize(args.size());
    lenHeap.resize(args.size());
    argv = argvHeap.data();
    lens = lenHeap.data();
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    argv[i] = args[i].data();
    lens[i] = args[i].size();
  }
  const uint64_t seq = nextSeq_++;
  if (redisAsyncCommandArgv(ac_, hookReply, reinterpret_cast<void*>(static_cast<uintptr_t>(seq)),
                            static_cast<int>(args.size()), argv, lens) != REDIS_OK) {
    refuse(RedisStatus::kNotConnected, std::move(callback));  // the context is disconnecting
    return false;
  }
  stats_.commands.fetch_add(1, std::memory_order_relaxed);
  const bool wasIdle = pending_.empty();
  pending_.push_back(Pending{seq, SteadyClock::now() + options_.commandTimeout, std::move(callback)});
  if (wasIdle) armCommandTimer();
  return true;
}

void RedisClient::hookAddRead(void* self) {
  auto* c = static_cast<RedisClient*>(self);
  c->setInterest(true, c->wantWrite_);
}

void RedisClient::hookDelRead(void* self) {
  auto* c = static_cast<RedisClient*>(self);
  c->setInterest(false, c->wantWrite_);
}

void RedisClient::hookAddWrite(void* self) {
  auto* c = static_cast<RedisClient*>(self);
  c->setInterest(c->wantRead_, true);
}

void RedisClient::hookDelWrite(void* self) {
  auto* c = static_cast<RedisClient*>(self);
  c->setInterest(c->wantRead_, false);
}

void RedisClient::hookCleanup(void* self) { static_cast<RedisClient*>(self)->onCleanup(); }

void RedisClient::hookConnect(const redisAsyncContext* ac, int status) {
  static_cast<RedisClient*>(ac->data)->onConnected(status);
}

void RedisClient::hookHello(redisAsyncContext* ac, void* reply, void*) {
  static_cast<RedisClient*>(ac->data)->onHello(static_cast<const redisReply*>(reply));
}

void RedisClient::hookReply(redisAsyncContext* ac, void* reply, void* privdata) {
  static_cast<RedisClient*>(ac->data)->onReply(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(privdata)),
                                               static_cast<redisReply*>(reply));
}

}  // namespace bulwark::shield

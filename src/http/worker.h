// A worker: one thread, one event loop, its own SO_REUSEPORT listeners, client sessions, origin
// keep-alive connections and load-balancer state. Workers share nothing mutable with each other; the
// control thread talks to a worker only through EventLoop::post() (new snapshot, drain, stop).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/event_loop.h"
#include "core/log.h"
#include "http/h1/parser.h"
#include "http/runtime.h"

namespace bulwark::http {

class HttpSession;
class UpstreamConn;

// Per-worker view of a snapshot: the shared Runtime plus this worker's balancers for its pools.
struct WorkerRuntime {
  std::shared_ptr<const Runtime> rt;
  std::vector<PoolBalancer> balancers;  // index = Runtime::pools index
};

class Worker {
 public:
  Worker(unsigned id, unsigned shard);
  ~Worker();

  // Binds this worker's listeners (SO_REUSEPORT) for `rt` and starts the thread. Returns false with
  // `error` if a listener cannot be bound.
  bool start(std::shared_ptr<const Runtime> rt, std::string& error);
  // Thread-safe: adopt a new snapshot (listeners are reconciled: new ones opened, removed ones closed).
  void publish(std::shared_ptr<const Runtime> rt);
  // Thread-safe: adopt new admin-edited shield lists.
  void publishShieldLists(std::shared_ptr<const shield::AdminLists> lists);
  // Thread-safe: stop accepting, finish in-flight requests, close idle connections; the thread exits when
  // no session is left or after `drain`. onDone runs on the worker thread when it exits the loop.
  void drain(std::chrono::milliseconds drain);
  void join();
  // True once the worker's thread has left its loop (after a drain). Any thread may ask.
  bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }

  // --- worker-thread only ---
  EventLoop& loop() noexcept { return loop_; }
  unsigned shard() const noexcept { return shard_; }
  const std::shared_ptr<WorkerRuntime>& current() const noexcept { return current_; }
  h1::RequestHead& requestScratch() noexcept { return reqScratch_; }
  h1::ResponseHead& responseScratch() noexcept { return respScratch_; }
  AccessLogWriter& accessLog() noexcept { return accessLog_; }
  AccessLogWriter& wafErrorLog() noexcept { return wafErrorLog_; }
  AccessLogWriter& wafAuditLog() noexcept { return wafAuditLog_; }
  AccessLogWriter& shieldEventLog() noexcept { return shieldEventLog_; }
  // True if one more shield event line may be written now (shield.event_log_rate per second per worker).
  // Lines over the budget are counted and reported by one "suppressed" line when the next second starts.
  bool admitShieldEvent() noexcept;
  void rollShieldEventSecond() noexcept;
  // Lists edited through the admin API, as last published to this worker (never null after start()).
  const shield::AdminLists* shieldLists() const noexcept { return shieldLists_.get(); }
  bool draining() const noexcept { return draining_; }

  // Origin keep-alive connections. take() returns an idle connection to `originKey` or nullptr.
  UpstreamConn* takeIdle(const std::string& originKey);
  // Parks a connection for reuse (or closes it if the pool for that origin is full).
  void parkIdle(UpstreamConn* conn, uint32_t maxIdle);
  void forgetIdle(UpstreamConn* conn);  // conn closed while idle

  void sessionClosed(HttpSession* s);
  // Recycled strings for per-request heads, so a request allocates nothing for them and an idle connection
  // keeps none. The pool is bounded; strings that grew large are freed.
  std::string takeString() {
    if (stringPool_.empty()) return {};
    std::string s = std::move(stringPool_.back());
    stringPool_.pop_back();
    s.clear();
    return s;
  }
  void returnString(std::string&& s) {
    if (s.capacity() > 15 && s.capacity() <= 8192 && stringPool_.size() < 256)
      stringPool_.push_back(std::move(s));
    s = std::string();
  }
  // Writes a request id (32 hex chars) into out.
  void newRequestId(char out[32]) noexcept;

 private:
  class ListenSocket;
  void run();
  void adopt(std::shared_ptr<const Runtime> rt);
  bool reconcileListeners(const Runtime& rt, std::string& error);
  void accept(ListenSocket& ls);
  bool admitShield(const Runtime& rt, ListenSocket& ls, const sockaddr_storage& peer, socklen_t len,
                   shield::ConnectionTicket& ticket);
  void maybeFinishDrain();

  unsigned id_;
  unsigned shard_;
  EventLoop loop_;
  std::thread thread_;
  std::shared_ptr<WorkerRuntime> current_;
  std::map<std::string, std::unique_ptr<ListenSocket>> listeners_;  // by address text
  std::vector<HttpSession*> sessions_;                              // index kept in the session
  std::unordered_map<std::string, std::vector<UpstreamConn*>> idle_;
  std::vector<std::string> stringPool_;
  h1::RequestHead reqScratch_;
  h1::ResponseHead respScratch_;
  AccessLogWriter accessLog_;
  int accessLogFd_ = -1;
  std::string accessLogPath_;
  AccessLogWriter wafErrorLog_;
  AccessLogWriter wafAuditLog_;
  std::string wafErrorLogPath_ = "\x01";  // never a real path: forces the first open
  std::string wafAuditLogPath_ = "\x01";
  void reopenWafLogs();
  AccessLogWriter shieldEventLog_;
  int64_t shieldEventSecond_ = 0;  // the second (steady clock) the budget below counts for
  uint64_t shieldEventsThisSecond_ = 0;
  uint64_t shieldEventsSuppressed_ = 0;
  std::string shieldEventLogPath_ = "\x01";
  void reopenShieldEventLog();
  std::shared_ptr<const shield::AdminLists> shieldLists_ = std::make_shared<shield::AdminLists>();
  bool draining_ = false;
  std::atomic<bool> finished_{false};
  Timer drainTimer_;
  Timer trimTimer_;  // returns freed heap pages to the kernel now and then (idle-connection memory)
  uint64_t rng_[2];

  friend class HttpSession;
};

// Opens a listening socket (non-blocking, SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY for v6). -1 on error.
int openListenSocket(const ResolvedAddress& a, std::string& error);

}  // namespace bulwark::http

#include "http/worker.h"

#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/net.h"
#include "http/proxy.h"

namespace bulwark::http {

namespace {
constexpr int kBacklog = 4096;
// How long an origin connection may sit idle in the keep-alive pool. Kept below common origin keep-alive
// timeouts (nginx 75 s, many app servers 5-60 s); a reused connection the origin closed anyway is retried.
constexpr std::chrono::milliseconds kUpstreamIdle{30000};
constexpr std::chrono::milliseconds kAcceptRetry{100};
constexpr std::chrono::milliseconds kTrimInterval{5000};
}  // namespace

class Worker::ListenSocket final : public IoHandler {
 public:
  ListenSocket(Worker& w, int fd, const ListenerRuntime* lr)
      : worker(w), fd(fd), listener(lr), retry([this] { worker.accept(*this); }) {}
  ~ListenSocket() override { retire(); }
  // Stops listening at once; the object may still receive an event already fetched by this loop iteration
  // (it then does nothing), so it is freed only at the end of the iteration.
  void retire() noexcept {
    if (fd < 0) return;
    retry.cancel();
    worker.loop().remove(fd);
    ::close(fd);
    fd = -1;
  }
  void onIoEvents(uint32_t) override {
    if (fd >= 0) worker.accept(*this);
  }

  Worker& worker;
  int fd;
  const ListenerRuntime* listener;  // of the worker's current snapshot; updated on adopt()
  Timer retry;                      // re-try accept() after EMFILE
};

int openListenSocket(const ResolvedAddress& a, std::string& error) {
  int fd = openBoundSocket(reinterpret_cast<const sockaddr*>(&a.addr), a.len, SOCK_STREAM, error);
  if (fd < 0) return -1;
  if (::listen(fd, kBacklog) != 0) {
    error = std::string("listen: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

Worker::Worker(unsigned id, unsigned shard)
    : id_(id),
      shard_(shard),
      drainTimer_([this] {
        // Drain time is over: cut what is left.
        std::vector<HttpSession*> left = sessions_;
        for (HttpSession* s : left) s->abort();
        loop_.stop();
      }),
      trimTimer_([this] {
        // After a burst, freed request buffers are scattered between live connection objects and stay
        // in the RSS. Trimming gives those pages back (madvise), which keeps idle keep-alive connections
        // cheap. Off the request path: once every few seconds.
        ::malloc_trim(0);
        rollShieldEventSecond();  // reports lines suppressed in a burst that has ended since
        loop_.arm(trimTimer_, kTrimInterval);
      }) {
  if (::getrandom(rng_, sizeof rng_, 0) != static_cast<ssize_t>(sizeof rng_)) {
    rng_[0] = 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(::getpid()) << 16) ^ id;
    rng_[1] = 0xD1B54A32D192ED03ull + static_cast<uint64_t>(SteadyClock::now().time_since_epoch().count());
  }
  if ((rng_[0] | rng_[1]) == 0) rng_[1] = 1;
}

Worker::~Worker() {
  join();
  listeners_.clear();
  for (auto& [key, conns] : idle_) {
    for (UpstreamConn* c : conns) delete c;
  }
  idle_.clear();
  if (accessLogFd_ > 2) ::close(accessLogFd_);
}

static std::shared_ptr<WorkerRuntime> makeWorkerRuntime(std::shared_ptr<const Runtime> rt) {
  auto wr = std::make_shared<WorkerRuntime>();
  wr->balancers.reserve(rt->pools.size());
  for (const PoolRuntime& p : rt->pools) wr->balancers.emplace_back(p.shared);
  wr->rt = std::move(rt);
  return wr;
}

bool Worker::start(std::shared_ptr<const Runtime> rt, std::string& error) {
  current_ = makeWorkerRuntime(std::move(rt));
  if (!reconcileListeners(*current_->rt, error)) return false;
  accessLogPath_ = current_->rt->config.accessLog.path;
  accessLogFd_ = openAccessLog(accessLogPath_);
  if (accessLogFd_ == -2) {
    error = "cannot open access log " + accessLogPath_ + ": " + std::strerror(errno);
    return false;
  }
  accessLog_.setFd(accessLogFd_);
  reopenWafLogs();
  reopenShieldEventLog();
  thread_ = std::thread([this] { run(); });
  return true;
}

void Worker::run() {
  loop_.arm(trimTimer_, kTrimInterval);
  loop_.setIterationHook([this] {
    accessLog_.flush();
    wafErrorLog_.flush();
    wafAuditLog_.flush();
    shieldEventLog_.flush();
  });
  loop_.updateTime();
  loop_.run();
  // Loop stopped (drain finished or forced): close whatever is left.
  std::vector<HttpSession*> left = sessions_;
  for (HttpSession* s : left) s->abort();
  listeners_.clear();
  loop_.runDeferred();  // frees what the closes above queued
  accessLog_.flush();
  wafErrorLog_.flush();
  wafAuditLog_.flush();
  shieldEventLog_.flush();
  finished_.store(true, std::memory_order_release);
}

bool Worker::reconcileListeners(const Runtime& rt, std::string& error) {
  std::map<std::string, std::unique_ptr<ListenSocket>> next;
  for (const ListenerRuntime& lr : rt.listeners) {
    const std::string& key = lr.config->address.text;
    auto it = listeners_.find(key);
    if (it != listeners_.end()) {
      it->second->listener = &lr;
      next.emplace(key, std::move(it->second));
      listeners_.erase(it);
      continue;
    }
    int fd = openListenSocket(lr.address, error);
    if (fd < 0) {
      error = "listener " + key + ": " + error;
      // Keep the old sockets: a failed reconcile leaves the worker as it was.
      for (auto& [k, ls] : next) listeners_.emplace(k, std::move(ls));
      return false;
    }
    auto ls = std::make_unique<ListenSocket>(*this, fd, &lr);
    if (!loop_.add(fd, EPOLLIN, ls.get())) {
      error = "listener " + key + ": epoll: " + std::strerror(errno);
      for (auto& [k, s] : next) listeners_.emplace(k, std::move(s));
      return false;
    }
    next.emplace(key, std::move(ls));
  }
  // Sockets no longer configured: closed now, freed after this iteration's remaining events (the reconcile
  // runs from a posted function, and the same epoll batch may still hold an event for one of them).
  for (auto& [key, ls] : listeners_) {
    ls->retire();
    ListenSocket* retired = ls.release();
    loop_.defer([retired] { delete retired; });
  }
  listeners_ = std::move(next);
  return true;
}

void Worker::publish(std::shared_ptr<const Runtime> rt) {
  loop_.post([this, rt = std::move(rt)]() mutable { adopt(std::move(rt)); });
}

void Worker::publishShieldLists(std::shared_ptr<const shield::AdminLists> lists) {
  loop_.post([this, lists = std::move(lists)]() mutable { shieldLists_ = std::move(lists); });
}

void Worker::adopt(std::shared_ptr<const Runtime> rt) {
  current_ = makeWorkerRuntime(std::move(rt));
  std::string error;
  if (!draining_ && !reconcileListeners(*current_->rt, error)) logError("worker reload: " + error);
  reopenWafLogs();
  reopenShieldEventLog();
  const std::string& path = current_->rt->config.accessLog.path;
  if (path != accessLogPath_) {
    int fd = openAccessLog(path);
    if (fd == -2) {
      logError("cannot open access log " + path + "; keeping " + accessLogPath_);
    } else {
      accessLog_.setFd(fd);
      if (accessLogFd_ > 2) ::close(accessLogFd_);
      accessLogFd_ = fd;
      accessLogPath_ = path;
    }
  }
}

// Opens the WAF error and audit logs named by the current snapshot when they changed. Each worker holds
// its own O_APPEND descriptor, so lines (written whole, once per loop iteration) never interleave.
void Worker::reopenWafLogs() {
  const WafConfig& w = current_->rt->config.waf;
  auto reopen = [](AccessLogWriter& writer, std::string& openPath, const std::string& path,
                   bool stderrDefault) {
    if (path == openPath) return;
    int fd = path.empty() ? (stderrDefault ? 2 : -1) : openAccessLog(path);
    if (fd == -2) {
      logError("cannot open WAF log " + path + ": " + std::strerror(errno));
      return;
    }
    writer.setFd(fd);  // the previous descriptor, if a file, is left to the kernel at exit (rare reopen)
    openPath = path;
  };
  if (!w.errorLog.empty()) {
    std::string dir = w.errorLog.substr(0, w.errorLog.rfind('/'));
    if (!dir.empty() && dir != w.errorLog) ::mkdir(dir.c_str(), 0750);
  }
  if (!w.auditLog.empty()) {
    std::string dir = w.auditLog.substr(0, w.auditLog.rfind('/'));
    if (!dir.empty() && dir != w.auditLog) ::mkdir(dir.c_str(), 0750);
  }
  reopen(wafErrorLog_, wafErrorLogPath_, w.errorLog, true);
  reopen(wafAuditLog_, wafAuditLogPath_, w.auditLog, false);
}

// The shield's event log: "stderr" (default), "stdout", "off" or a file (O_APPEND, one per worker).
void Worker::reopenShieldEventLog() {
  const Runtime& rt = *current_->rt;
  const std::string path = rt.shield ? rt.config.shield.eventLog : std::string("off");
  if (path == shieldEventLogPath_) return;
  int fd = path == "stderr" ? 2 : openAccessLog(path);
  if (fd == -2) {
    logError("cannot open shield event log " + path + ": " + std::strerror(errno));
    return;
  }
  shieldEventLog_.setFd(fd);  // a previous file descriptor is left open (rare reopen, as the WAF logs)
  shieldEventLogPath_ = path;
}

void Worker::drain(std::chrono::milliseconds drain) {
  loop_.post([this, drain] {
    draining_ = true;
    listeners_.clear();
    for (auto& [key, conns] : idle_) {
      for (UpstreamConn* c : conns) {
        c->closed = true;
        loop_.remove(c->stream.fd);
        loop_.defer([c] { delete c; });
      }
    }
    idle_.clear();
    std::vector<HttpSession*> all = sessions_;
    for (HttpSession* s : all) s->drainSoon();
    loop_.arm(drainTimer_, drain);
    maybeFinishDrain();
  });
}

void Worker::maybeFinishDrain() {
  if (draining_ && sessions_.empty()) loop_.stop();
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::accept(ListenSocket& ls) {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(ls.fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: edge-triggered epoll will not tell us again, so poll until it clears.
        loop_.arm(ls.retry, kAcceptRetry);
      }
      return;
    }
    const Runtime& rt = *current_->rt;
    shield::ConnectionTicket ticket;
    if (rt.shield && !admitShield(rt, ls, peer, len, ticket)) {
      ::close(fd);  // refused before reading a byte: the cheapest answer there is
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    rt.metrics.acceptedConnections->add(shard_);
    rt.metrics.activeConnections->add(shard_, 1);
    auto* s = new HttpSession(*this, fd, peer, *ls.listener, ticket);
    s->index = sessions_.size();
    sessions_.push_back(s);
    s->start();
  }
}

// The shield's accept-time checks. A PROXY-protocol listener only takes connections from trusted proxies;
// the client it names is judged once the header is read (HttpSession).
bool Worker::admitShield(const Runtime& rt, ListenSocket& ls, const sockaddr_storage& peer, socklen_t len,
                         shield::ConnectionTicket& ticket) {
  shield::IpAddress address;
  if (!shield::IpAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&peer), len, address)) return true;
  if (ls.listener->config->proxyProtocol) {
    if (rt.shield->isTrustedProxy(address)) return true;
    rt.shield->refuseConnection(shield::Refusal::kProxyProtocol, shard_);
    return false;
  }
  shield::Refusal why = shield::Refusal::kCount;
  const int64_t nowMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(loop_.now().time_since_epoch()).count();
  if (rt.shield->admitConnection(address, shieldLists_.get(), nowMs, shard_, ticket, why)) return true;
  if (shieldEventLog_.enabled() && admitShieldEvent()) {
    shield::Shield::appendEvent(shieldEventLog_.buffer(), "refuse_connection", shield::refusalName(why),
                                address.toString(), {}, 0);
    shieldEventLog_.lineDone();
  }
  return false;
}

void Worker::rollShieldEventSecond() noexcept {
  const int64_t second =
      std::chrono::duration_cast<std::chrono::seconds>(loop_.now().time_since_epoch()).count();
  if (second == shieldEventSecond_) return;
  if (shieldEventsSuppressed_ > 0 && shieldEventLog_.enabled()) {
    std::string& b = shieldEventLog_.buffer();
    b += "{\"time\":\"";
    appendUtcTimestamp(b);
    b += "\",\"event\":\"shield\",\"decision\":\"suppressed\",\"count\":";
    b += std::to_string(shieldEventsSuppressed_);
    b += "}\n";
    shieldEventLog_.lineDone();
  }
  shieldEventSecond_ = second;
  shieldEventsThisSecond_ = 0;
  shieldEventsSuppressed_ = 0;
}

bool Worker::admitShieldEvent() noexcept {
  rollShieldEventSecond();
  if (shieldEventsThisSecond_ < current_->rt->config.shield.eventLogRate) {
    ++shieldEventsThisSecond_;
    return true;
  }
  ++shieldEventsSuppressed_;
  return false;
}

void Worker::sessionClosed(HttpSession* s) {
  current_->rt->metrics.activeConnections->add(shard_, -1);
  std::size_t i = s->index;
  if (i < sessions_.size() && sessions_[i] == s) {
    sessions_[i] = sessions_.back();
    sessions_[i]->index = i;
    sessions_.pop_back();
  }
  maybeFinishDrain();
}

UpstreamConn* Worker::takeIdle(const std::string& originKey) {
  auto it = idle_.find(originKey);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  UpstreamConn* c = it->second.back();  // most recently used: least likely to have been closed
  it->second.pop_back();
  c->idleTimer.cancel();
  return c;
}

void Worker::parkIdle(UpstreamConn* c, uint32_t maxIdle) {
  auto& conns = idle_[c->key];
  if (conns.size() >= maxIdle) {
    c->closed = true;
    loop_.remove(c->stream.fd);
    c->stream.close();
    loop_.defer([c] { delete c; });
    return;
  }
  c->reused = false;
  c->in.release();
  c->out.release();
  conns.push_back(c);
  loop_.arm(c->idleTimer, kUpstreamIdle);
}

void Worker::forgetIdle(UpstreamConn* c) {
  if (c->closed) return;
  auto it = idle_.find(c->key);
  if (it != idle_.end()) {
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), c), v.end());
  }
  c->closed = true;
  c->idleTimer.cancel();
  loop_.remove(c->stream.fd);
  c->stream.close();
  loop_.defer([c] { delete c; });
}

void Worker::newRequestId(char out[32]) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int half = 0; half < 2; ++half) {
    // xorshift128+
    uint64_t s1 = rng_[0];
    const uint64_t s0 = rng_[1];
    rng_[0] = s0;
    s1 ^= s1 << 23;
    rng_[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    uint64_t v = rng_[1] + s0;
    for (int i = 0; i < 16; ++i) {
      out[half * 16 + i] = kHex[v & 15];
      v >>= 4;
    }
  }
}

}  // namespace bulwark::http

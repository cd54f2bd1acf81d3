#include "dns/server_secondary.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <random>

#include "core/log.h"

namespace bulwark::dns {

namespace {

socklen_t addrLen(const sockaddr_storage& a) {
  return a.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

// Same address (ports ignored); an IPv4-mapped IPv6 address equals its IPv4 form.
bool sameHost(const sockaddr* a, const sockaddr_storage& b) {
  auto v4of = [](const sockaddr* s, in_addr& out) {
    if (s->sa_family == AF_INET) {
      out = reinterpret_cast<const sockaddr_in*>(s)->sin_addr;
      return true;
    }
    if (s->sa_family == AF_INET6) {
      const in6_addr& a6 = reinterpret_cast<const sockaddr_in6*>(s)->sin6_addr;
      if (IN6_IS_ADDR_V4MAPPED(&a6)) {
        std::memcpy(&out, a6.s6_addr + 12, 4);
        return true;
      }
    }
    return false;
  };
  const sockaddr* bs = reinterpret_cast<const sockaddr*>(&b);
  in_addr x{}, y{};
  bool ax = v4of(a, x), by = v4of(bs, y);
  if (ax || by) return ax && by && x.s_addr == y.s_addr;
  if (a->sa_family != AF_INET6 || bs->sa_family != AF_INET6) return false;
  return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr,
                     &reinterpret_cast<const sockaddr_in6*>(bs)->sin6_addr, 16) == 0;
}

bool sameHostPort(const sockaddr* a, const sockaddr_storage& b) {
  if (!sameHost(a, b)) return false;
  uint16_t pa = a->sa_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(a)->sin6_port
                                         : reinterpret_cast<const sockaddr_in*>(a)->sin_port;
  uint16_t pb = b.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&b)->sin6_port
                                        : reinterpret_cast<const sockaddr_in*>(&b)->sin_port;
  return pa == pb;
}

[[gnu::format(printf, 2, 3)]] void logf(LogLevel level, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  logMessage(level, buf);
}

uint16_t randomId() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return static_cast<uint16_t>(rng());
}

// SOA timers: refresh, retry, expire (seconds) from SOA rdata.
struct SoaTimers {
  uint32_t refresh = 3600, retry = 600, expire = 604800;
};
SoaTimers soaTimers(const Zone& z) {
  SoaTimers t;
  OwnedRecord soa = zoneSoa(z);
  size_t n = soa.rdata.size();
  if (n >= 20) {
    const uint8_t* tail = soa.rdata.data() + n - 20;
    t.refresh = readU32(tail + 4);
    t.retry = readU32(tail + 8);
    t.expire = readU32(tail + 12);
  }
  return t;
}

}  // namespace

bool parseHostPort(std::string_view text, sockaddr_storage& out) {
  std::string host;
  std::string port = "53";
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':' || rest.size() < 2) return false;
      port = std::string(rest.substr(1));
    }
  } else {
    auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') == colon) {
      host = std::string(text.substr(0, colon));
      port = std::string(text.substr(colon + 1));
    } else {
      host = std::string(text);  // bare IPv4 or bare IPv6
    }
  }
  if (port.empty() || port.size() > 5) return false;
  unsigned p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p == 0 || p > 65535) return false;
  sockaddr_storage s{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&s);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&s);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(p));
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(p));
  } else {
    return false;
  }
  out = s;
  return true;
}

std::string hostPortToString(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  return "?";
}

// ---- NOTIFY out -------------------------------------------------------------------------------------------

// One UDP socket per address family; every pending NOTIFY is resent on its timer until the target answers
// with a NOTIFY response of the same id, or the attempts run out.
class XfrService::Notifier : public IoHandler {
 public:
  explicit Notifier(XfrService& svc) : svc_(svc) {}
  ~Notifier() override {
    for (int& fd : fds_) {
      if (fd >= 0) {
        svc_.loop_.remove(fd);
        ::close(fd);
      }
    }
  }

  void notify(const Name& origin, const OwnedRecord& soa, const std::vector<sockaddr_storage>& targets) {
    for (const sockaddr_storage& t : targets) {
      // A newer NOTIFY for the same zone and target replaces a pending one.
      for (auto it = pending_.begin(); it != pending_.end();) {
        if ((*it)->origin.equalsNoCase(origin) &&
            sameHostPort(reinterpret_cast<const sockaddr*>(&t), (*it)->target))
          it = pending_.erase(it);
        else
          ++it;
      }
      auto p = std::make_unique<Pending>(this);
      p->origin = origin;
      p->target = t;
      p->soa = soa;
      p->id = randomId();
      Pending* raw = p.get();
      pending_.push_back(std::move(p));
      send(*raw);
    }
  }

  void onIoEvents(uint32_t) override {
    for (int fd : fds_) {
      if (fd < 0) continue;
      while (true) {
        uint8_t buf[4096];
        sockaddr_storage from{};
        socklen_t flen = sizeof from;
        ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
        if (n < 0) break;
        ReplyHeader h;
        if (!parseReplyHeader(buf, static_cast<size_t>(n), h) || !h.qr() || h.opcode() != kOpcodeNotify)
          continue;
        for (auto it = pending_.begin(); it != pending_.end(); ++it) {
          if ((*it)->id == h.id && sameHostPort(reinterpret_cast<const sockaddr*>(&from), (*it)->target)) {
            logf(LogLevel::kInfo, "dns: NOTIFY for %s acknowledged by %s (rcode %d)",
                 nameToText((*it)->origin).c_str(), hostPortToString((*it)->target).c_str(), h.rcode());
            {
              std::lock_guard<std::mutex> g(svc_.mutex_);
              ++svc_.stats_.notifyAcks;
            }
            pending_.erase(it);
            break;
          }
        }
      }
    }
  }

 private:
  struct Pending {
    explicit Pending(Notifier* n) : timer([this, n] { n->onTimer(this); }) {}
    Name origin;
    sockaddr_storage target{};
    OwnedRecord soa;
    uint16_t id = 0;
    int sent = 0;
    Timer timer;
  };

  int socketFor(int family) {
    int& fd = fds_[family == AF_INET6 ? 1 : 0];
    if (fd >= 0) return fd;
    fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (!svc_.loop_.add(fd, EPOLLIN, this)) {
      ::close(fd);
      fd = -1;
    }
    return fd;
  }

  void send(Pending& p) {
    uint8_t msg[1024];
    size_t n = buildNotify(p.origin, p.id, &p.soa, msg, sizeof msg);
    int fd = socketFor(p.target.ss_family);
    if (n > 0 && fd >= 0) {
      ::sendto(fd, msg, n, 0, reinterpret_cast<const sockaddr*>(&p.target), addrLen(p.target));
      std::lock_guard<std::mutex> g(svc_.mutex_);
      ++svc_.stats_.notifiesSent;
    }
    ++p.sent;
    svc_.loop_.arm(p.timer, svc_.options_.notifyInterval);
  }

  void onTimer(Pending* p) {
    if (p->sent >= svc_.options_.notifyAttempts) {
      logf(LogLevel::kWarn, "dns: NOTIFY for %s to %s not acknowledged after %d attempts",
           nameToText(p->origin).c_str(), hostPortToString(p->target).c_str(), p->sent);
      for (auto it = pending_.begin(); it != pending_.end(); ++it) {
        if (it->get() == p) {
          // Freed at the end of the iteration: we are inside its timer callback.
          auto owned = std::make_shared<std::unique_ptr<Pending>>(std::move(*it));
          pending_.erase(it);
          svc_.loop_.defer([owned] {});
          break;
        }
      }
      return;
    }
    send(*p);
  }

  XfrService& svc_;
  int fds_[2] = {-1, -1};
  std::vector<std::unique_ptr<Pending>> pending_;
};

// ---- secondary zones
// ----------------------------------------------------------------------------------------

class XfrService::Secondary : public IoHandler {
 public:
  Secondary(XfrService& svc, const XfrZoneConfig& cfg)
      : svc_(svc),
        origin_(cfg.origin),
        primary_(cfg.primary),
        refreshTimer_([this] { refresh(); }),
        ioTimer_([this] { onTimeout(); }),
        expireTimer_([this] { onExpire(); }) {}

  ~Secondary() override { closeSockets(); }

  const sockaddr_storage& primary() const { return primary_; }
  const std::shared_ptr<const Zone>& zone() const { return zone_; }

  // `initial`: the data of a secondary that was re-pointed to another primary (kept, refreshed from the new
  // one). Without data the zone is announced as having none (the server answers SERVFAIL, like NSD and
  // Knot for a zone not transferred yet) until the first transfer.
  void start(std::shared_ptr<const Zone> initial) {
    zone_ = std::move(initial);
    if (zone_) {
      contact();
    } else {
      setExpired(true);
      svc_.onZone_(origin_, nullptr);
    }
    refresh();
  }

  // Refresh now (timer, NOTIFY): SOA query, then a transfer when the primary's serial is newer. A refresh
  // requested while one runs is remembered and runs after it.
  void refresh() {
    if (phase_ != Phase::Idle) {
      again_ = true;
      return;
    }
    // NOTIFYs (which anybody can forge over UDP) never make us query the primary more often than this.
    SteadyClock::time_point earliest = lastRefresh_ + svc_.options_.refreshHoldoff;
    if (refreshed_ && svc_.loop_.now() < earliest) {
      svc_.loop_.arm(refreshTimer_, earliest);
      return;
    }
    refreshed_ = true;
    lastRefresh_ = svc_.loop_.now();
    refreshTimer_.cancel();
    again_ = false;
    if (!zone_) {
      startTransfer(kTypeAXFR);
      return;
    }
    startSoaQuery();
  }

  void onIoEvents(uint32_t events) override {
    if (phase_ == Phase::Soa)
      onSoaReadable();
    else if (phase_ == Phase::Transfer)
      onTcpEvents(events);
  }

 private:
  enum class Phase { Idle, Soa, Transfer };

  std::string name() const { return nameToText(origin_); }

  // -- SOA query over UDP --
  void startSoaQuery() {
    phase_ = Phase::Soa;
    soaTries_ = 0;
    udp_ = ::socket(primary_.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (udp_ < 0 || ::connect(udp_, reinterpret_cast<const sockaddr*>(&primary_), addrLen(primary_)) != 0 ||
        !svc_.loop_.add(udp_, EPOLLIN, this)) {
      fail("cannot open a UDP socket to the primary", false);
      return;
    }
    sendSoaQuery();
  }

  void sendSoaQuery() {
    id_ = randomId();
    uint8_t msg[512];
    size_t n = buildQuery(origin_, kTypeSOA, id_, nullptr, msg, sizeof msg);
    ++soaTries_;
    if (n == 0 || ::send(udp_, msg, n, 0) < 0) {
      // ECONNREFUSED from an earlier ICMP and the like: counts as an unanswered try.
    }
    svc_.loop_.arm(ioTimer_, svc_.options_.soaTimeout);
  }

  void onSoaReadable() {
    while (phase_ == Phase::Soa) {
      uint8_t buf[4096];
      ssize_t n = ::recv(udp_, buf, sizeof buf, 0);
      if (n < 0) return;
      ReplyHeader h;
      if (!parseReplyHeader(buf, static_cast<size_t>(n), h) || !h.qr() || h.id != id_) continue;
      if (h.rcode() != 0 || (h.flags & kFlagTC)) {
        // TC on an SOA answer is odd but harmless: go straight to the transfer.
        if (h.flags & kFlagTC) {
          closeSockets();
          phase_ = Phase::Idle;
          startTransfer(kTypeIXFR);
          return;
        }
        fail("primary answered the SOA query with rcode " + std::to_string(h.rcode()), false);
        return;
      }
      std::vector<OwnedRecord> recs;
      uint32_t serial = 0;
      bool found = false;
      if (parseAnswerRecords(buf, static_cast<size_t>(n), recs, 64)) {
        for (const OwnedRecord& r : recs) {
          if (r.type == kTypeSOA && r.owner.equalsNoCase(origin_) &&
              soaSerial(r.rdata.data(), r.rdata.size(), serial)) {
            found = true;
            break;
          }
        }
      }
      if (!found) {
        fail("no SOA in the primary's answer", false);
        return;
      }
      closeSockets();
      phase_ = Phase::Idle;
      if (zone_ && !serialGreater(serial, zone_->serial())) {
        contact();
        scheduleRefresh(false);
        return;
      }
      logf(LogLevel::kInfo, "dns: secondary %s: primary %s has serial %u (ours %u), transferring",
           name().c_str(), hostPortToString(primary_).c_str(), serial, zone_ ? zone_->serial() : 0);
      startTransfer(zone_ ? kTypeIXFR : kTypeAXFR);
      return;
    }
  }

  // -- transfer over TCP --
  void startTransfer(uint16_t qtype) {
    phase_ = Phase::Transfer;
    qtype_ = qtype;
    id_ = randomId();
    rx_ = std::make_unique<XfrReceiver>(origin_, qtype, id_, zone_ != nullptr, zone_ ? zone_->serial() : 0,
                                        svc_.options_.inLimits);
    inbuf_.clear();
    out_.assign(2, 0);
    out_.resize(2 + 1024);
    OwnedRecord soa;
    if (qtype == kTypeIXFR) soa = zoneSoa(*zone_);
    size_t n = buildQuery(origin_, qtype, id_, qtype == kTypeIXFR ? &soa : nullptr, out_.data() + 2, 1024);
    if (n == 0) {
      fail("cannot build the transfer query", false);
      return;
    }
    writeU16(out_.data(), static_cast<uint16_t>(n));
    out_.resize(2 + n);
    outPos_ = 0;
    tcp_ = ::socket(primary_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (tcp_ < 0) {
      fail("cannot open a TCP socket", false);
      return;
    }
    int rc = ::connect(tcp_, reinterpret_cast<const sockaddr*>(&primary_), addrLen(primary_));
    if (rc != 0 && errno != EINPROGRESS) {
      fail(std::string("connect to the primary failed: ") + std::strerror(errno), false);
      return;
    }
    if (!svc_.loop_.add(tcp_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this)) {
      fail("cannot watch the TCP socket", false);
      return;
    }
    transferDeadline_ = svc_.loop_.now() + svc_.options_.transferTimeout;
    svc_.loop_.arm(ioTimer_, svc_.options_.tcpIdleTimeout);
  }

  void onTcpEvents(uint32_t events) {
    if (events & EPOLLERR) {
      int err = 0;
      socklen_t el = sizeof err;
      ::getsockopt(tcp_, SOL_SOCKET, SO_ERROR, &err, &el);
      transferFailed(std::string("TCP error: ") + std::strerror(err ? err : EIO));
      return;
    }
    if (outPos_ < out_.size()) {
      while (outPos_ < out_.size()) {
        ssize_t n = ::send(tcp_, out_.data() + outPos_, out_.size() - outPos_, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN) break;
          transferFailed(std::string("send to the primary failed: ") + std::strerror(errno));
          return;
        }
        outPos_ += static_cast<size_t>(n);
        progress();
      }
      if (outPos_ == out_.size()) svc_.loop_.modify(tcp_, EPOLLIN | EPOLLRDHUP, this);
    }
    // Read whatever arrived; frames are 2-byte length prefixed messages.
    bool eof = false;
    while (true) {
      size_t old = inbuf_.size();
      inbuf_.resize(old + 65536);
      ssize_t n = ::recv(tcp_, inbuf_.data() + old, 65536, 0);
      if (n <= 0) {
        inbuf_.resize(old);
        if (n == 0)
          eof = true;
        else if (errno != EAGAIN && errno != EWOULDBLOCK) {
          transferFailed(std::string("receive from the primary failed: ") + std::strerror(errno));
          return;
        }
        break;
      }
      inbuf_.resize(old + static_cast<size_t>(n));
      progress();
      size_t pos = 0;
      while (inbuf_.size() - pos >= 2) {
        size_t len = readU16(inbuf_.data() + pos);
        if (inbuf_.size() - pos < 2 + len) break;
        XfrReceiver::State st = rx_->feed(inbuf_.data() + pos + 2, len);
        pos += 2 + len;
        if (st == XfrReceiver::State::Error) {
          transferFailed(rx_->error());
          return;
        }
        if (st == XfrReceiver::State::Done) {
          transferDone();
          return;
        }
      }
      inbuf_.erase(inbuf_.begin(), inbuf_.begin() + static_cast<std::ptrdiff_t>(pos));
    }
    if (eof) transferFailed("primary closed the connection before the end of the transfer");
  }

  void progress() {
    if (svc_.loop_.now() >= transferDeadline_) return;  // the timeout callback fails it
    svc_.loop_.arm(ioTimer_, std::min(svc_.loop_.now() + svc_.options_.tcpIdleTimeout, transferDeadline_));
  }

  void transferDone() {
    closeSockets();
    phase_ = Phase::Idle;
    if (rx_->kind() == XfrReceiver::Kind::UpToDate) {
      contact();
      rx_.reset();
      scheduleRefresh(false);
      return;
    }
    std::string error;
    std::shared_ptr<const Zone> z = rx_->buildZone(zone_.get(), error);
    bool wasIxfr = rx_->kind() == XfrReceiver::Kind::Incremental;
    rx_.reset();
    if (!z) {
      if (wasIxfr) {
        logf(LogLevel::kWarn, "dns: secondary %s: IXFR could not be applied (%s); trying AXFR",
             name().c_str(), error.c_str());
        startTransfer(kTypeAXFR);
        return;
      }
      fail("transferred zone rejected: " + error, true);
      return;
    }
    {
      std::lock_guard<std::mutex> g(svc_.mutex_);
      ++svc_.stats_.transfersIn;
      ++(wasIxfr ? svc_.stats_.ixfrIn : svc_.stats_.axfrIn);
    }
    logf(LogLevel::kInfo, "dns: secondary %s: %s from %s, serial %u, %zu records", name().c_str(),
         wasIxfr ? "IXFR" : "AXFR", hostPortToString(primary_).c_str(), z->serial(), z->recordCount());
    std::shared_ptr<const Zone> previous = std::move(zone_);
    zone_ = std::move(z);
    setExpired(false);
    contact();
    svc_.onZone_(origin_, zone_);
    // Our own secondaries (a chain of transfers) hear about the new version too.
    if (previous) svc_.onZoneLoaded(previous, zone_);
    scheduleRefresh(false);
  }

  void transferFailed(const std::string& why) {
    // IXFR refused or not understood, or a broken incremental reply: AXFR instead.
    if (qtype_ == kTypeIXFR) {
      logf(LogLevel::kInfo, "dns: secondary %s: IXFR failed (%s); trying AXFR", name().c_str(), why.c_str());
      closeSockets();
      phase_ = Phase::Idle;
      rx_.reset();
      startTransfer(kTypeAXFR);
      return;
    }
    fail(why, true);
  }

  void onTimeout() {
    if (phase_ == Phase::Soa) {
      if (soaTries_ < svc_.options_.soaAttempts) {
        sendSoaQuery();
        return;
      }
      fail("SOA query timed out", false);
      return;
    }
    if (phase_ == Phase::Transfer) transferFailed("transfer timed out");
  }

  void fail(const std::string& why, bool transfer) {
    logf(LogLevel::kWarn, "dns: secondary %s: %s (primary %s)", name().c_str(), why.c_str(),
         hostPortToString(primary_).c_str());
    if (transfer) {
      std::lock_guard<std::mutex> g(svc_.mutex_);
      ++svc_.stats_.transferFailures;
    }
    closeSockets();
    rx_.reset();
    phase_ = Phase::Idle;
    scheduleRefresh(true);
  }

  void scheduleRefresh(bool retry) {
    if (again_) {
      // A NOTIFY arrived meanwhile: go again at once (after this iteration).
      again_ = false;
      svc_.loop_.arm(refreshTimer_, std::chrono::milliseconds(0));
      return;
    }
    SoaTimers t;
    if (zone_)
      t = soaTimers(*zone_);
    else
      t.retry = 5;  // nothing to serve yet: keep trying
    uint64_t secs = retry ? t.retry : t.refresh;
    secs = std::clamp<uint64_t>(secs, static_cast<uint64_t>(svc_.options_.minRefresh.count()),
                                static_cast<uint64_t>(svc_.options_.maxRefresh.count()));
    svc_.loop_.arm(refreshTimer_, std::chrono::milliseconds(secs * 1000));
  }

  // The primary answered: the expire clock starts over.
  void contact() {
    if (!zone_) return;
    uint32_t expire = soaTimers(*zone_).expire;
    svc_.loop_.arm(expireTimer_, std::chrono::milliseconds(std::max<uint64_t>(expire, 1) * 1000));
    if (expired_) {
      setExpired(false);
      svc_.onZone_(origin_, zone_);
    }
  }

  void onExpire() {
    logf(LogLevel::kWarn, "dns: secondary %s expired: no contact with primary %s within the SOA expire time",
         name().c_str(), hostPortToString(primary_).c_str());
    setExpired(true);
    svc_.onZone_(origin_, nullptr);
  }

  void setExpired(bool e) {
    expired_ = e;
    std::lock_guard<std::mutex> g(svc_.mutex_);
    svc_.expired_[XfrService::key(origin_)] = e;
  }

  void closeSockets() {
    ioTimer_.cancel();
    if (udp_ >= 0) {
      svc_.loop_.remove(udp_);
      ::close(udp_);
      udp_ = -1;
    }
    if (tcp_ >= 0) {
      svc_.loop_.remove(tcp_);
      ::close(tcp_);
      tcp_ = -1;
    }
  }

  XfrService& svc_;
  Name origin_;
  sockaddr_storage primary_;
  std::shared_ptr<const Zone> zone_;
  Phase phase_ = Phase::Idle;
  bool again_ = false;
  bool refreshed_ = false;
  SteadyClock::time_point lastRefresh_{};
  bool expired_ = false;
  int udp_ = -1, tcp_ = -1;
  uint16_t id_ = 0, qtype_ = 0;
  int soaTries_ = 0;
  std::unique_ptr<XfrReceiver> rx_;
  std::vector<uint8_t> inbuf_, out_;
  size_t outPos_ = 0;
  SteadyClock::time_point transferDeadline_{};
  Timer refreshTimer_, ioTimer_, expireTimer_;
};

// ---- the service
// ---------------------------------------------------------------------------------------------

std::string XfrService::key(const Name& n) {
  Name low = n.lowered();
  return std::string(reinterpret_cast<const char*>(low.data), low.len);
}

XfrService::XfrService(EventLoop& loop, ZoneCallback onZone, XfrServiceOptions options)
    : loop_(loop),
      onZone_(std::move(onZone)),
      options_(options),
      alive_(std::make_shared<bool>(true)),
      notifier_(std::make_unique<Notifier>(*this)) {}

XfrService::~XfrService() {
  *alive_ = false;
  secondaries_.clear();
  notifier_.reset();
}

std::shared_ptr<const XfrService::ZoneState> XfrService::state(const Name& origin) const {
  std::lock_guard<std::mutex> g(mutex_);
  auto it = zones_.find(key(origin));
  return it == zones_.end() ? nullptr : it->second;
}

void XfrService::configure(std::vector<XfrZoneConfig> zones) {
  {
    std::lock_guard<std::mutex> g(mutex_);
    std::map<std::string, std::shared_ptr<const ZoneState>> next;
    for (const XfrZoneConfig& c : zones) {
      auto st = std::make_shared<ZoneState>();
      st->config = c;
      auto old = zones_.find(key(c.origin));
      st->journal = old != zones_.end() && old->second->journal
                        ? old->second->journal
                        : std::make_shared<const Journal>(options_.journalVersions, options_.journalBytes);
      next[key(c.origin)] = std::move(st);
    }
    zones_ = std::move(next);
  }
  std::weak_ptr<bool> alive = alive_;
  loop_.post([this, alive, zones = std::move(zones)]() mutable {
    if (auto a = alive.lock(); a && *a) applyConfig(std::move(zones));
  });
}

void XfrService::applyConfig(std::vector<XfrZoneConfig> zones) {
  std::map<std::string, std::unique_ptr<Secondary>> next;
  std::vector<std::pair<Secondary*, std::shared_ptr<const Zone>>> started;
  for (const XfrZoneConfig& c : zones) {
    if (!c.secondary) continue;
    std::string k = key(c.origin);
    auto it = secondaries_.find(k);
    std::shared_ptr<const Zone> data;
    if (it != secondaries_.end()) {
      if (sameHostPort(reinterpret_cast<const sockaddr*>(&c.primary), it->second->primary())) {
        next[k] = std::move(it->second);
        secondaries_.erase(it);
        continue;
      }
      data = it->second->zone();  // re-pointed: keep serving what we have
    }
    auto s = std::make_unique<Secondary>(*this, c);
    started.emplace_back(s.get(), std::move(data));
    next[k] = std::move(s);
  }
  // Removed (or re-pointed) secondaries are freed after this iteration: one of their callbacks may be
  // running.
  for (auto& [k, s] : secondaries_) {
    auto owned = std::make_shared<std::unique_ptr<Secondary>>(std::move(s));
    loop_.defer([owned] {});
  }
  secondaries_ = std::move(next);
  {
    std::lock_guard<std::mutex> g(mutex_);
    std::erase_if(expired_, [this](const auto& e) { return !secondaries_.count(e.first); });
  }
  for (auto& [s, data] : started) s->start(std::move(data));
}

void XfrService::onZoneLoaded(std::shared_ptr<const Zone> oldZone, std::shared_ptr<const Zone> newZone) {
  if (!newZone) return;
  std::vector<sockaddr_storage> targets;
  {
    std::lock_guard<std::mutex> g(mutex_);
    auto it = zones_.find(key(newZone->origin()));
    if (it == zones_.end()) return;
    auto st = std::make_shared<ZoneState>(*it->second);
    if (options_.keepJournals && oldZone && oldZone->serial() != newZone->serial()) {
      auto j = std::make_shared<Journal>(*st->journal);
      j->onNewVersion(*oldZone, *newZone);
      st->journal = std::move(j);
    }
    if (!oldZone || serialGreater(newZone->serial(), oldZone->serial())) targets = st->config.notify;
    it->second = std::move(st);
  }
  if (!oldZone || targets.empty()) return;  // first load: secondaries pull on their own schedule
  Name origin = newZone->origin();
  OwnedRecord soa = zoneSoa(*newZone);
  std::weak_ptr<bool> alive = alive_;
  loop_.post([this, alive, origin, soa = std::move(soa), targets = std::move(targets)] {
    if (auto a = alive.lock(); a && *a) notifier_->notify(origin, soa, targets);
  });
}

XfrService::Result XfrService::handleTransfer(const Zone& zone, const ParsedQuery& q, const uint8_t* pkt,
                                              size_t len, const sockaddr* client, bool tcp, size_t udpSize,
                                              const MessageSink& sink, std::unique_ptr<AxfrCursor>* stream) {
  std::shared_ptr<const ZoneState> st = state(zone.origin());
  if (!st || !transferAllowed(client, st->config.allowTransfer) || (q.qtype == kTypeAXFR && !tcp)) {
    std::lock_guard<std::mutex> g(mutex_);
    ++stats_.transfersRefused;
    return Result::Refused;
  }
  {
    std::lock_guard<std::mutex> g(mutex_);
    ++stats_.transfersOut;
  }
  if (q.qtype == kTypeAXFR) {
    if (stream != nullptr) {
      *stream = std::make_unique<AxfrCursor>(zone, q);
      return Result::Sent;
    }
    return buildAxfr(zone, q, sink) ? Result::Sent : Result::Aborted;
  }
  uint32_t clientSerial = 0;
  if (!ixfrClientSerial(pkt, len, q, clientSerial)) return Result::FormErr;
  if (tcp && stream != nullptr && ixfrNeedsFullZone(st->journal.get(), zone, clientSerial)) {
    *stream = std::make_unique<AxfrCursor>(zone, q);  // the whole zone, AXFR-style (RFC 1995 §4)
    return Result::Sent;
  }
  return buildIxfr(st->journal.get(), zone, q, clientSerial, tcp, udpSize, sink) ? Result::Sent
                                                                                 : Result::Aborted;
}

size_t XfrService::handleNotify(const ParsedQuery& q, const uint8_t* pkt, size_t len, const sockaddr* from,
                                uint8_t* out, size_t cap) {
  std::shared_ptr<const ZoneState> st = state(q.qname);
  Rcode rc;
  if (!st) {
    rc = Rcode::NotAuth;
  } else if (!st->config.secondary || !sameHost(from, st->config.primary)) {
    rc = Rcode::Refused;
  } else {
    rc = Rcode::NoError;
  }
  {
    std::lock_guard<std::mutex> g(mutex_);
    ++stats_.notifiesReceived;
    if (rc != Rcode::NoError) ++stats_.notifiesRefused;
  }
  if (rc == Rcode::NoError) refreshNow(q.qname);
  return buildNotifyResponse(pkt, len, q, rc, out, cap);
}

void XfrService::refreshNow(const Name& origin) {
  // A flood of NOTIFYs (UDP sources are easy to forge) must not grow the loop's queue: a refresh that is
  // already queued or running covers the later ones (Secondary::refresh coalesces them too).
  constexpr int kMaxPendingRefreshes = 64;
  if (pendingRefreshes_.fetch_add(1, std::memory_order_relaxed) >= kMaxPendingRefreshes) {
    pendingRefreshes_.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  std::string k = key(origin);
  auto run = [this, alive, k] {
    auto a = alive.lock();
    if (!a || !*a) return;
    pendingRefreshes_.fetch_sub(1, std::memory_order_relaxed);
    auto it = secondaries_.find(k);
    if (it != secondaries_.end()) it->second->refresh();
  };
  loop_.post(run);
}

bool XfrService::expired(const Name& origin) const {
  std::lock_guard<std::mutex> g(mutex_);
  auto it = expired_.find(key(origin));
  return it != expired_.end() && it->second;
}

bool XfrService::isSecondary(const Name& origin) const {
  std::shared_ptr<const ZoneState> st = state(origin);
  return st && st->config.secondary;
}

XfrService::Stats XfrService::stats() const {
  std::lock_guard<std::mutex> g(mutex_);
  return stats_;
}

std::shared_ptr<const Journal> XfrService::journal(const Name& origin) const {
  std::shared_ptr<const ZoneState> st = state(origin);
  return st ? st->journal : nullptr;
}

}  // namespace bulwark::dns

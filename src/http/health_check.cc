#include "http/health_check.h"

#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "core/buffer.h"
#include "core/log.h"
#include "http/proxy.h"

namespace bulwark::http {

class HealthChecker::Probe final : public IoHandler {
 public:
  Probe(EventLoop& loop, std::shared_ptr<const Runtime> rt, std::size_t pool, std::size_t origin)
      : loop_(loop),
        rt_(std::move(rt)),
        pool_(rt_->pools[pool]),
        origin_(origin),
        cfg_(*pool_.shared->config.healthCheck),
        next_([this] { begin(); }),
        deadline_([this] { finish(false, "timeout"); }) {
    // Spread the first probes over the interval so a large pool does not probe all at once.
    auto jitter = std::chrono::milliseconds(std::rand() % (cfg_.interval.count() / 4 + 1));
    loop_.arm(next_, jitter);
  }
  ~Probe() override { closeSocket(); }

  void onIoEvents(uint32_t events) override {
    if (stream_.fd < 0) return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) stream_.readable = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) stream_.writable = true;
    step();
  }

 private:
  void begin() {
    const OriginRuntime& o = pool_.origins[origin_];
    const sockaddr* sa = reinterpret_cast<const sockaddr*>(&o.address.addr);
    int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      finish(false, "socket failed");
      return;
    }
    int rc = ::connect(fd, sa, o.address.len);
    if (rc < 0 && errno != EINPROGRESS) {
      ::close(fd);
      finish(false, "connect failed");
      return;
    }
    stream_ = Stream{};
    stream_.fd = fd;
    stream_.readable = false;
    stream_.writable = false;
    connected_ = false;
    const Origin& oc = pool_.shared->config.origins[origin_];
    if (pool_.tls) {
      stream_.ssl = pool_.tls->newSession(fd, oc.address.host);
      stream_.handshakeDone = false;
    }
    out_.clear();
    in_.clear();
    std::string req = "GET " + cfg_.path + " HTTP/1.1\r\nHost: " + (cfg_.host.empty() ? oc.address.text : cfg_.host) +
                      "\r\nUser-Agent: bulwark-health-check\r\nConnection: close\r\n\r\n";
    out_.append(req);
    loop_.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
    loop_.arm(deadline_, cfg_.timeout);
  }

  void step() {
    if (!connected_) {
      if (!stream_.writable) return;
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(stream_.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        finish(false, "connect failed");
        return;
      }
      connected_ = true;
      stream_.readable = true;
    }
    if (!stream_.handshakeDone) {
      Stream::Io r = stream_.handshake();
      if (r == Stream::Io::kAgain) return;
      if (r != Stream::Io::kOk) {
        finish(false, "TLS handshake failed");
        return;
      }
    }
    std::size_t n = 0;
    if (!out_.empty() && stream_.flush(out_, n) == Stream::Io::kError) {
      finish(false, "write failed");
      return;
    }
    for (;;) {
      Stream::Io r = stream_.readSome(in_, 4096, n);
      if (r == Stream::Io::kAgain) return;
      std::string_view v = in_.view();
      // "HTTP/1.1 200 ..." is enough to decide.
      if (v.size() >= 12 || r != Stream::Io::kOk) {
        if (v.size() >= 12 && v.substr(0, 7) == "HTTP/1." && v[8] == ' ') {
          int status = std::atoi(std::string(v.substr(9, 3)).c_str());
          if (status == cfg_.expectStatus) {
            finish(true, "");
          } else {
            finish(false, "status " + std::to_string(status));
          }
        } else {
          finish(false, r == Stream::Io::kOk ? "malformed response" : "closed without a response");
        }
        return;
      }
    }
  }

  void closeSocket() {
    if (stream_.fd >= 0) loop_.remove(stream_.fd);
    stream_.close();
  }

  void finish(bool ok, const std::string& why) {
    closeSocket();
    deadline_.cancel();
    OriginHealth& h = *pool_.shared->health[origin_];
    const std::string& addr = pool_.shared->config.origins[origin_].address.text;
    if (ok) {
      h.consecutiveFail.store(0, std::memory_order_relaxed);
      uint32_t n = h.consecutiveOk.load(std::memory_order_relaxed) + 1;
      h.consecutiveOk.store(n, std::memory_order_relaxed);
      if (!h.healthy.load(std::memory_order_relaxed) && n >= cfg_.rise) {
        h.healthy.store(true, std::memory_order_relaxed);
        logInfo("health: origin " + addr + " of pool " + pool_.name + " is healthy again");
      }
    } else {
      h.consecutiveOk.store(0, std::memory_order_relaxed);
      uint32_t n = h.consecutiveFail.load(std::memory_order_relaxed) + 1;
      h.consecutiveFail.store(n, std::memory_order_relaxed);
      if (h.healthy.load(std::memory_order_relaxed) && n >= cfg_.fall) {
        h.healthy.store(false, std::memory_order_relaxed);
        logWarn("health: origin " + addr + " of pool " + pool_.name + " is unhealthy (" + why + ")");
      }
    }
    pool_.origins[origin_].healthyGauge->set(h.healthy.load(std::memory_order_relaxed) ? 1 : 0);
    loop_.arm(next_, cfg_.interval);
  }

  EventLoop& loop_;
  std::shared_ptr<const Runtime> rt_;
  const PoolRuntime& pool_;
  std::size_t origin_;
  const HealthCheck& cfg_;
  Stream stream_;
  Buffer out_;
  Buffer in_;
  bool connected_ = false;
  Timer next_;
  Timer deadline_;
};

HealthChecker::HealthChecker(EventLoop& loop) : loop_(loop) {}
HealthChecker::~HealthChecker() = default;

void HealthChecker::setRuntime(std::shared_ptr<const Runtime> rt) {
  probes_.clear();
  for (std::size_t p = 0; p < rt->pools.size(); ++p) {
    if (!rt->pools[p].shared->config.healthCheck) continue;
    for (std::size_t o = 0; o < rt->pools[p].origins.size(); ++o) {
      probes_.push_back(std::make_unique<Probe>(loop_, rt, p, o));
    }
  }
}

void HealthChecker::stop() { probes_.clear(); }

}  // namespace bulwark::http

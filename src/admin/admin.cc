#include "admin/admin.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/buffer.h"
#include "core/log.h"
#include "http/h1/parser.h"
#include "http/proxy.h"
#include "http/worker.h"

namespace bulwark::admin {

namespace {
constexpr std::size_t kMaxHead = 8192;
constexpr std::chrono::milliseconds kRequestTimeout{5000};

std::string response(int status, std::string_view reason, std::string_view type, std::string_view body) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " ";
  r += reason;
  r += "\r\nContent-Type: ";
  r += type;
  r += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  r += body;
  return r;
}
}  // namespace

class AdminServer::Conn final : public IoHandler {
 public:
  Conn(AdminServer& server, int fd) : server_(server), timer_([this] { done(); }) {
    stream_.fd = fd;
    server_.loop_.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
    server_.loop_.arm(timer_, kRequestTimeout);
  }
  ~Conn() override { stream_.close(); }

  void onIoEvents(uint32_t events) override {
    if (closed_) return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) stream_.readable = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) stream_.writable = true;
    if (!answered_) {
      std::size_t n = 0;
      for (;;) {
        http::Stream::Io r = stream_.readSome(in_, 4096, n);
        if (r == http::Stream::Io::kAgain) break;
        if (r != http::Stream::Io::kOk) {
          done();
          return;
        }
        if (in_.size() > kMaxHead) break;
      }
      h1::Limits limits;
      limits.maxHeaderBytes = kMaxHead;
      h1::RequestHead head;
      h1::ParseResult pr = h1::parseRequestHead(in_.view(), limits, head);
      if (pr.status == h1::ParseStatus::kIncomplete && in_.size() <= kMaxHead) return;
      std::string resp;
      if (pr.status == h1::ParseStatus::kComplete) {
        std::string_view path = head.target.substr(0, head.target.find('?'));
        resp = server_.handle(head.method, path);
      } else {
        resp = response(400, "Bad Request", "text/plain", "bad request\n");
      }
      out_.append(resp);
      answered_ = true;
    }
    std::size_t n = 0;
    if (stream_.flush(out_, n) == http::Stream::Io::kError || out_.empty()) done();
  }

 private:
  void done() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    server_.loop_.remove(stream_.fd);
    stream_.close();
    server_.loop_.defer([this] { delete this; });
  }

  AdminServer& server_;
  http::Stream stream_;
  Buffer in_;
  Buffer out_;
  bool answered_ = false;
  bool closed_ = false;
  Timer timer_;
};

class AdminServer::Listener final : public IoHandler {
 public:
  Listener(AdminServer& server, int fd) : server_(server), fd_(fd) {}
  ~Listener() override {
    server_.loop_.remove(fd_);
    ::close(fd_);
  }
  void onIoEvents(uint32_t) override {
    for (;;) {
      int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      new Conn(server_, fd);
    }
  }
  int fd() const { return fd_; }

 private:
  AdminServer& server_;
  int fd_;
};

AdminServer::AdminServer(EventLoop& loop, MetricsRegistry& metrics, AdminHooks hooks)
    : loop_(loop), metrics_(metrics), hooks_(std::move(hooks)) {}

AdminServer::~AdminServer() = default;

bool AdminServer::listen(const http::ResolvedAddress& addr, std::string& error) {
  int fd = http::openListenSocket(addr, error);
  if (fd < 0) return false;
  listener_ = std::make_unique<Listener>(*this, fd);
  if (!loop_.add(fd, EPOLLIN, listener_.get())) {
    error = "epoll add failed";
    listener_.reset();
    return false;
  }
  return true;
}

void AdminServer::close() { listener_.reset(); }

std::string AdminServer::statusJson() const {
  auto rt = hooks_.current();
  std::string j = "{\"generation\":" + std::to_string(rt->generation) + ",\"config\":\"";
  appendJsonEscaped(j, rt->config.file);
  j += "\",\"workers\":" + std::to_string(hooks_.workers);
  j += ",\"draining\":";
  j += hooks_.draining() ? "true" : "false";
  j += ",\"pools\":[";
  for (std::size_t p = 0; p < rt->pools.size(); ++p) {
    const http::PoolRuntime& pool = rt->pools[p];
    if (p) j += ',';
    j += "{\"name\":\"";
    appendJsonEscaped(j, pool.name);
    j += "\",\"origins\":[";
    for (std::size_t o = 0; o < pool.origins.size(); ++o) {
      const Origin& oc = pool.shared->config.origins[o];
      const http::OriginHealth& h = *pool.shared->health[o];
      if (o) j += ',';
      j += "{\"address\":\"";
      appendJsonEscaped(j, oc.address.text);
      j += "\",\"weight\":" + std::to_string(oc.weight) + ",\"priority\":" + std::to_string(oc.priority);
      j += ",\"healthy\":";
      j += h.healthy.load(std::memory_order_relaxed) ? "true" : "false";
      j += ",\"health_checked\":";
      j += pool.shared->config.healthCheck ? "true" : "false";
      j += '}';
    }
    j += "]}";
  }
  j += "]}\n";
  return j;
}

std::string AdminServer::handle(std::string_view method, std::string_view path) {
  if (path == "/healthz") {
    if (hooks_.draining()) return response(503, "Service Unavailable", "text/plain", "draining\n");
    return response(200, "OK", "text/plain", "ok\n");
  }
  if (path == "/metrics" && method == "GET") {
    return response(200, "OK", "text/plain; version=0.0.4", metrics_.render());
  }
  if (path == "/status" && method == "GET") return response(200, "OK", "application/json", statusJson());
  if (path == "/reload") {
    if (method != "POST") return response(405, "Method Not Allowed", "text/plain", "use POST\n");
    std::string error;
    if (hooks_.reload(error)) return response(200, "OK", "text/plain", "reloaded\n");
    return response(400, "Bad Request", "text/plain", "reload failed, old config kept:\n" + error + "\n");
  }
  return response(404, "Not Found", "text/plain", "not found\n");
}

}  // namespace bulwark::admin

#include "admin/admin.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>

#include "core/buffer.h"
#include "core/log.h"
#include "http/h1/parser.h"
#include "http/proxy.h"
#include "http/worker.h"

namespace bulwark::admin {

namespace {
constexpr std::size_t kMaxHead = 8192;
constexpr std::chrono::milliseconds kRequestTimeout{5000};

// The value of `name` in a query string, percent-decoded ("%2F" -> "/", '+' -> ' '); empty if absent.
std::string queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name || eq == std::string_view::npos) continue;
    auto hex = [](char c) {
      return c >= '0' && c <= '9'   ? c - '0'
             : c >= 'a' && c <= 'f' ? c - 'a' + 10
             : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                    : -1;
    };
    std::string out;
    std::string_view v = pair.substr(eq + 1);
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '%' && i + 2 < v.size() && hex(v[i + 1]) >= 0 && hex(v[i + 2]) >= 0) {
        out += static_cast<char>(hex(v[i + 1]) * 16 + hex(v[i + 2]));
        i += 2;
      } else {
        out += v[i] == '+' ? ' ' : v[i];
      }
    }
    return out;
  }
  return {};
}

int64_t steadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now().time_since_epoch()).count();
}

std::string jsonError(std::string_view message) {
  std::string j = "{\"error\":\"";
  appendJsonEscaped(j, message);
  return j + "\"}\n";
}

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
        resp = server_.handle(head.method, head.target);
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
  if (rt->waf) {
    // The compiled rules and their Hyperscan prefilter (docs/waf-prefilter.md): "building" right after a
    // start or reload, "ready" once the databases are loaded or compiled.
    j += ",\"waf\":{\"rules\":" + std::to_string(rt->waf->ruleCount) + ",\"prefilter\":\"";
    j += rt->waf->prefilter ? rt->waf->prefilter->stateName() : "off";
    j += '"';
    if (const waf::PrefilterSet* set = rt->waf->prefilter ? rt->waf->prefilter->peek() : nullptr) {
      const waf::PrefilterStats& st = set->stats();
      j += ",\"prefilter_patterns\":" + std::to_string(st.patterns) +
           ",\"prefilter_pcre_only\":" + std::to_string(st.unsupported) +
           ",\"prefilter_databases_from_cache\":" + std::to_string(st.cacheHits);
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.3f", st.seconds);
      j += ",\"prefilter_build_seconds\":";
      j += secs;
    }
    j += '}';
  }
  if (hooks_.dnsStatus) {
    const std::string dns = hooks_.dnsStatus();
    if (!dns.empty()) j += ",\"dns\":" + dns;
  }
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

std::string AdminServer::handle(std::string_view method, std::string_view target) {
  const std::size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  if (path.starts_with("/shield/")) return handleShield(method, path, query);
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

// /shield/penalty                  GET: boxed clients; POST ?ip=A[&seconds=N]: box A; DELETE ?ip=A: let out
// /shield/lists                    GET: the lists edited here ({"allow":[...],"deny":[...]})
// /shield/lists/{allow,deny}       POST / DELETE ?prefix=CIDR: add / remove an entry
// Answers are JSON; entries added here survive reloads (they live in the server, not in a snapshot).
std::string AdminServer::handleShield(std::string_view method, std::string_view path,
                                      std::string_view query) {
  constexpr std::string_view kJson = "application/json";
  shield::ShieldState* state = hooks_.shield;
  if (state == nullptr) return response(404, "Not Found", kJson, jsonError("no shield"));
  const int64_t now = steadyMillis();
  if (path == "/shield/penalty") {
    if (method == "GET") {
      std::string j = "{\"entries\":[";
      bool first = true;
      for (const shield::PenaltyBox::Entry& e : state->penalty().list(now)) {
        if (!first) j += ',';
        first = false;
        j += "{\"ip\":\"" + e.address.toString() +
             "\",\"expires_in\":" + std::to_string((e.untilMs - now + 999) / 1000) + "}";
      }
      return response(200, "OK", kJson, j + "]}\n");
    }
    shield::IpAddress address;
    if (!shield::IpAddress::parse(queryParam(query, "ip"), address)) {
      return response(400, "Bad Request", kJson, jsonError("ip=ADDRESS is required"));
    }
    if (method == "POST") {
      uint64_t seconds = 600;
      auto rt = hooks_.current();
      if (rt->config.shield.penalty.enabled)
        seconds = static_cast<uint64_t>(rt->config.shield.penalty.duration.count() / 1000);
      std::string text = queryParam(query, "seconds");
      if (!text.empty()) {
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
        if (ec != std::errc() || end != text.data() + text.size() || seconds == 0 ||
            seconds > 365ull * 86400) {
          return response(400, "Bad Request", kJson,
                          jsonError("seconds must be an integer from 1 to 31536000"));
        }
      }
      if (!state->penalty().add(address, now + static_cast<int64_t>(seconds) * 1000, now)) {
        return response(503, "Service Unavailable", kJson, jsonError("penalty box table full"));
      }
      return response(
          200, "OK", kJson,
          "{\"ip\":\"" + address.toString() + "\",\"expires_in\":" + std::to_string(seconds) + "}\n");
    }
    if (method == "DELETE") {
      if (!state->penalty().remove(address, now))
        return response(404, "Not Found", kJson, jsonError("not in the penalty box"));
      return response(200, "OK", kJson, "{\"ip\":\"" + address.toString() + "\",\"removed\":true}\n");
    }
    return response(405, "Method Not Allowed", kJson, jsonError("use GET, POST or DELETE"));
  }
  if (path == "/shield/lists" && method == "GET") {
    auto lists = state->adminLists();
    std::string j = "{";
    for (bool deny : {false, true}) {
      j += deny ? ",\"deny\":[" : "\"allow\":[";
      bool first = true;
      for (const shield::IpPrefix& p : (deny ? lists->deny : lists->allow).entries()) {
        if (!first) j += ',';
        first = false;
        j += "\"" + p.toString() + "\"";
      }
      j += ']';
    }
    return response(200, "OK", kJson, j + "}\n");
  }
  if (path == "/shield/lists/deny" || path == "/shield/lists/allow") {
    const bool deny = path == "/shield/lists/deny";
    const std::string prefix = queryParam(query, "prefix");
    std::string error;
    bool ok = false;
    if (method == "POST") {
      ok = state->addListEntry(deny, prefix, error);
    } else if (method == "DELETE") {
      ok = state->removeListEntry(deny, prefix, error);
    } else {
      return response(405, "Method Not Allowed", kJson, jsonError("use POST or DELETE"));
    }
    if (!ok)
      return response(error == "not listed" ? 404 : 400, error == "not listed" ? "Not Found" : "Bad Request",
                      kJson, jsonError(error));
    if (hooks_.shieldListsChanged) hooks_.shieldListsChanged();
    std::string j = "{\"prefix\":\"";
    appendJsonEscaped(j, prefix);
    j += std::string("\",\"list\":\"") + (deny ? "deny" : "allow") + "\"}\n";
    return response(200, "OK", kJson, j);
  }
  return response(404, "Not Found", kJson, jsonError("not found"));
}

}  // namespace bulwark::admin

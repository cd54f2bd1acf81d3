#include "http/proxy.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "core/log.h"
#include "shield/proxy_protocol.h"
#include "waf/log/log.h"

namespace bulwark::http {

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kHighWatermark = 64 * 1024;  // stop reading the other side above this
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr uint32_t kEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
constexpr std::string_view kServerToken = "1.1 bulwark";

using h1::iequals;

// Hop-by-hop headers (RFC 9110 7.6.1) and headers the proxy sets itself: never copied through.
bool isRequestHeaderWeSet(std::string_view name) noexcept {
  static constexpr std::string_view kNames[] = {
      "connection",   "keep-alive",         "proxy-connection",  "te",
      "trailer",      "transfer-encoding",  "upgrade",           "content-length",
      "expect",       "x-forwarded-for",    "x-forwarded-proto", "x-forwarded-host",
      "x-request-id", "proxy-authorization"};
  for (std::string_view n : kNames) {
    if (iequals(name, n)) return true;
  }
  return false;
}

bool isResponseHopByHop(std::string_view name) noexcept {
  static constexpr std::string_view kNames[] = {"connection", "keep-alive",  "proxy-connection",
                                                "te",         "trailer",     "transfer-encoding",
                                                "upgrade",    "x-request-id"};
  for (std::string_view n : kNames) {
    if (iequals(name, n)) return true;
  }
  return false;
}

// Connection-header tokens name further hop-by-hop headers (RFC 9110 7.6.1).
struct ConnectionTokens {
  std::string_view items[16];
  std::size_t count = 0;
  void collect(const std::vector<h1::Header>& headers) {
    for (const h1::Header& h : headers) {
      if (!iequals(h.name, "connection")) continue;
      std::string_view v = h.value;
      while (!v.empty() && count < 16) {
        std::size_t comma = v.find(',');
        std::string_view t = v.substr(0, comma);
        while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
        while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
        if (!t.empty()) items[count++] = t;
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
      }
    }
  }
  bool contains(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < count; ++i) {
      if (iequals(items[i], name)) return true;
    }
    return false;
  }
};

bool inList(const std::vector<std::string>& names, std::string_view name) noexcept {
  for (const std::string& n : names) {
    if (iequals(n, name)) return true;
  }
  return false;
}

bool addedByEdits(const HeaderEdits& e, std::string_view name) noexcept {
  for (const auto& [n, v] : e.add) {
    if (iequals(n, name)) return true;
  }
  return false;
}

// Out is std::string or Buffer: heads are written straight into the output buffer, no temporary.
template <typename Out>
void appendHeader(Out& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(std::string_view(": "));
  out.append(value);
  out.append(std::string_view("\r\n"));
}

template <typename Out>
void appendDecimal(Out& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
}

void appendChunk(Buffer& out, std::string_view data) {
  if (data.empty()) return;
  char head[24];
  std::size_t n = h1::writeChunkHeader(data.size(), head);
  out.append(head, n);
  out.append(data);
  out.append("\r\n", 2);
}

std::string_view reasonPhrase(int status) noexcept {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error" : "Server Error";
  }
}

bool validRequestId(std::string_view v) noexcept {
  if (v.empty() || v.size() > 64) return false;
  for (char c : v) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
              c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

bool isIdempotent(std::string_view m) noexcept {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

RejectReason reasonForParseError(h1::ParseError e) noexcept {
  switch (e) {
    case h1::ParseError::kRequestLineTooLong:
      return RejectReason::kUriTooLong;
    case h1::ParseError::kHeadersTooLarge:
    case h1::ParseError::kTooManyHeaders:
      return RejectReason::kHeadersTooLarge;
    default:
      return RejectReason::kParseError;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Stream

Stream::Io Stream::readSome(Buffer& buf, std::size_t max, std::size_t& got) {
  got = 0;
  if (!readable) return Io::kAgain;
  char* p = buf.reserve(max);
  if (ssl != nullptr) {
    std::size_t n = 0;
    switch (tlsRead(ssl, p, max, n)) {
      case TlsIo::kOk:
        buf.commit(n);
        got = n;
        return Io::kOk;
      case TlsIo::kWantRead:
        readable = false;
        return Io::kAgain;
      case TlsIo::kWantWrite:
        return Io::kAgain;  // retried on the next event of either kind
      case TlsIo::kClosed:
        return Io::kEof;
      case TlsIo::kError:
        return Io::kError;
    }
    return Io::kError;
  }
  for (;;) {
    ssize_t n = ::read(fd, p, max);
    if (n > 0) {
      buf.commit(static_cast<std::size_t>(n));
      got = static_cast<std::size_t>(n);
      // A short read drained the socket: with edge-triggered epoll the next arrival raises a new edge,
      // so skip the read that would only return EAGAIN (saves one syscall per message).
      if (got < max && !peerClosed) readable = false;
      return Io::kOk;
    }
    if (n == 0) return Io::kEof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      readable = false;
      return Io::kAgain;
    }
    return Io::kError;
  }
}

Stream::Io Stream::flush(Buffer& buf, std::size_t& wrote) {
  wrote = 0;
  while (!buf.empty()) {
    if (!writable) return Io::kAgain;
    if (ssl != nullptr) {
      std::size_t n = 0;
      std::size_t len = buf.size() < kReadChunk ? buf.size() : kReadChunk;
      switch (tlsWrite(ssl, buf.data(), len, n)) {
        case TlsIo::kOk:
          buf.consume(n);
          wrote += n;
          continue;
        case TlsIo::kWantWrite:
          writable = false;
          return Io::kAgain;
        case TlsIo::kWantRead:
          return Io::kAgain;
        case TlsIo::kClosed:
        case TlsIo::kError:
          return Io::kError;
      }
      return Io::kError;
    }
    ssize_t n = ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
    if (n > 0) {
      buf.consume(static_cast<std::size_t>(n));
      wrote += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      writable = false;
      return Io::kAgain;
    }
    return Io::kError;
  }
  return Io::kOk;
}

Stream::Io Stream::handshake() {
  switch (tlsHandshake(ssl)) {
    case TlsIo::kOk:
      handshakeDone = true;
      return Io::kOk;
    case TlsIo::kWantRead:
      readable = false;
      return Io::kAgain;
    case TlsIo::kWantWrite:
      writable = false;
      return Io::kAgain;
    case TlsIo::kClosed:
      return Io::kEof;
    case TlsIo::kError:
      return Io::kError;
  }
  return Io::kError;
}

void Stream::close() {
  if (ssl != nullptr) {
    SSL_free(ssl);
    ssl = nullptr;
  }
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

// ---------------------------------------------------------------------------------------------------------
// UpstreamConn

UpstreamConn::UpstreamConn(Worker& w, std::string k, int p, int o)
    : worker(w), key(std::move(k)), pool(p), origin(o), idleTimer([this] {
        // Idle too long in the keep-alive pool: close it before the origin does.
        worker.forgetIdle(this);
      }) {}

UpstreamConn::~UpstreamConn() { stream.close(); }

void UpstreamConn::onIoEvents(uint32_t events) {
  if (closed) return;
  if (owner != nullptr) {
    owner->onUpstreamEvents(events);
    return;
  }
  // Idle in the pool: the origin closed it or sent something unsolicited. Either way it is not reusable.
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) worker.forgetIdle(this);
}

// ---------------------------------------------------------------------------------------------------------
// HttpSession

HttpSession::HttpSession(Worker& worker, int fd, const sockaddr_storage& peer,
                         const ListenerRuntime& listener, const shield::ConnectionTicket& ticket)
    : worker_(worker),
      listener_(&listener),
      acceptedRt_(worker.current()),
      timer_([this] { onTimer(); }),
      ticket_(ticket),
      awaitingProxyHeader_(listener.config->proxyProtocol),
      clientAllowListed_(ticket.allowListed) {
  stream_.fd = fd;
  char ip[INET6_ADDRSTRLEN] = {0};
  if (peer.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&peer);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      ::inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, sizeof ip);
    } else {
      ::inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    }
    clientPort_ = ntohs(a->sin6_port);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&peer);
    ::inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    clientPort_ = ntohs(a->sin_port);
  }
  clientIp_ = ip;
  shield::IpAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&peer), sizeof peer, connAddr_);
  clientAddr_ = connAddr_;
  if (listener.tls) {
    stream_.ssl = listener.tls->newSession(fd);
    stream_.handshakeDone = false;
  }
}

HttpSession::~HttpSession() { stream_.close(); }

void HttpSession::start() {
  const Runtime& rt = *acceptedRt_->rt;
  if (listener_->tls && stream_.ssl == nullptr) {
    closeNow();
    return;
  }
  if (!worker_.loop().add(stream_.fd, kEvents, this)) {
    closeNow();
    return;
  }
  setTimer(TimerKind::kHeader, rt.config.clientTimeouts.header);
  drive();
}

void HttpSession::onIoEvents(uint32_t events) {
  if (closed_) return;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) stream_.peerClosed = true;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) stream_.readable = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) stream_.writable = true;
  drive();
}

void HttpSession::onUpstreamEvents(uint32_t events) {
  if (closed_ || up_ == nullptr) return;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) up_->stream.peerClosed = true;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) up_->stream.readable = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) up_->stream.writable = true;
  drive();
}

void HttpSession::drive() {
  // Pump both directions until nothing moves. Each step returns whether it made progress; the bound on
  // iterations is a safety net, never reached in practice (every step consumes input or output).
  for (int i = 0; i < 10000 && !closed_; ++i) {
    bool progress = false;
    if (awaitingProxyHeader_) {
      if (!readProxyHeader() || awaitingProxyHeader_) return;  // refused, or more header bytes to come
      progress = true;
    }
    if (!stream_.handshakeDone) {
      Stream::Io r = stream_.handshake();
      if (r == Stream::Io::kError || r == Stream::Io::kEof) {
        closeNow();
        return;
      }
      if (r != Stream::Io::kOk) return;
      progress = true;
    }
    // Consume input before writing output so that a response head and its body leave in one send().
    progress |= readClient();
    if (closed_) return;
    progress |= processClientInput();
    if (closed_) return;
    if (up_ != nullptr) {
      progress |= flushUpstream();
      if (closed_) return;
      progress |= readUpstream();
      if (closed_) return;
      progress |= processUpstreamInput();
      if (closed_) return;
    }
    progress |= flushClient();
    if (closed_) return;
    if (closeWhenFlushed_ && out_.empty() && !closing_) {
      beginLingeringClose();
      progress = true;
    }
    if (!progress) break;
  }
}

bool HttpSession::clientWantsRead() const noexcept {
  if (closed_ || clientEof_) return false;
  if (closing_) return true;
  switch (reqState_) {
    case ReqState::kHead: {
      const Runtime& rt = *worker_.current()->rt;
      return in_.size() <= rt.limits.maxHeaderBytes && out_.size() < kHighWatermark;
    }
    case ReqState::kBody:
      if (wafHoldBody_) return in_.size() < kHighWatermark;
      return up_ != nullptr && up_->out.size() < kHighWatermark && in_.size() < kHighWatermark;
    case ReqState::kDone:
      return in_.size() < kReadChunk;  // a little read-ahead for pipelined requests and EOF detection
  }
  return false;
}

bool HttpSession::readClient() {
  if (!clientWantsRead()) return false;
  std::size_t got = 0;
  switch (stream_.readSome(in_, kReadChunk, got)) {
    case Stream::Io::kOk:
      if (closing_) {
        in_.clear();
      } else if (timerKind_ == TimerKind::kKeepAlive) {
        setTimer(TimerKind::kHeader, worker_.current()->rt->config.clientTimeouts.header);
      }
      return true;
    case Stream::Io::kAgain:
      return false;
    case Stream::Io::kEof:
      clientEof_ = true;
      // Idle or lingering: done. Mid-body: the request can never complete, so give up on it now (logged
      // as 499) instead of holding the origin connection until a timeout. After a complete request a
      // half-close is legal: the response is still sent.
      if (closing_ || (reqState_ == ReqState::kHead && in_.empty()) || reqState_ == ReqState::kBody)
        closeNow();
      return true;
    case Stream::Io::kError:
      closeNow();
      return true;
  }
  return false;
}

bool HttpSession::processClientInput() {
  if (closing_) {
    in_.clear();
    return false;
  }
  if (reqState_ == ReqState::kBody) return forwardRequestBody();
  if (reqState_ != ReqState::kHead || respState_ != RespState::kNone) return false;
  if (in_.empty()) return false;
  const Runtime& rt = *worker_.current()->rt;
  h1::RequestHead& head = worker_.requestScratch();
  h1::ParseResult r = h1::parseRequestHead(in_.view(), rt.limits, head);
  if (r.status == h1::ParseStatus::kIncomplete) {
    if (clientEof_) closeNow();  // the client gave up mid-head: nothing to answer
    return false;
  }
  if (r.status == h1::ParseStatus::kError) {
    rejectParse(r.error);
    return true;
  }
  // The head's views point into in_: it is consumed only after startRequest() is done with them.
  pendingHeadBytes_ = r.consumed;
  startRequest(head, r.consumed);
  in_.consume(r.consumed);
  pendingHeadBytes_ = 0;
  if (in_.empty() && reqState_ == ReqState::kHead && !closed_) in_.release();
  return true;
}

void HttpSession::rejectParse(h1::ParseError err) {
  reqStart_ = worker_.loop().now();
  logged_ = false;
  worker_.newRequestId(requestId_);
  requestIdLen_ = 32;
  decision_ = "reject";
  std::string body = "bad request: ";
  body += h1::errorName(err);
  in_.clear();
  sendLocal(h1::httpStatus(err), body, reasonForParseError(err), true);
}

void HttpSession::startRequest(const h1::RequestHead& head, std::size_t headBytes) {
  rt_ = worker_.current();
  const Runtime& rt = *rt_->rt;
  reqStart_ = worker_.loop().now();
  logged_ = false;
  status_ = 0;
  attempts_ = 0;
  freeRetryUsed_ = false;
  excludeOrigin_ = -1;
  origin_ = -1;
  route_ = nullptr;
  upstreamGotBytes_ = false;
  responseStarted_ = false;
  requestSent_ = false;
  rejectReason_ = RejectReason::kCount;
  reqBodyBytes_ = 0;
  bytesIn_ = headBytes;
  bytesOut_ = 0;
  decision_ = "proxy";
  method_.assign(head.method);
  clientHttp10_ = head.versionMinor == 0;
  clientKeepAlive_ = head.keepAlive;
  headIsHead_ = head.method == "HEAD";
  idempotent_ = isIdempotent(head.method);
  reqFraming_ = head.framing;
  reqRemaining_ = head.contentLength;
  expectContinue_ = head.expectContinue;
  reqChunks_.reset();
  respChunks_.reset();
  retryAfter_ = 0;
  shieldRule_ = {};
  if (!forwardedFor_.empty()) {
    forwardedFor_.clear();
    clientIp_ = connAddr_.toString();
    clientAddr_ = connAddr_;
    clientAllowListed_ = ticket_.allowListed;
  }

  // Absolute-form targets carry the authority, which takes precedence over Host (RFC 9112 3.2.2).
  std::string_view target = head.target;
  std::string_view host = head.host;
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (target.size() > scheme.size() && iequals(target.substr(0, scheme.size()), scheme)) {
      std::string_view rest = target.substr(scheme.size());
      std::size_t slash = rest.find_first_of("/?");
      host = rest.substr(0, slash);
      target = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
      break;
    }
  }
  if (target.size() > 15 && target_.capacity() <= 15) target_ = worker_.takeString();
  target_.assign(target);
  host_.assign(host);

  requestIdLen_ = 0;
  for (const h1::Header& h : head.headers) {
    if (iequals(h.name, "x-request-id") && validRequestId(h.value)) {
      std::memcpy(requestId_, h.value.data(), h.value.size());
      requestIdLen_ = static_cast<uint8_t>(h.value.size());
      break;
    }
  }
  if (requestIdLen_ == 0) {
    worker_.newRequestId(requestId_);
    requestIdLen_ = 32;
  }

  // `Content-Length: 0` frames an empty body: nothing to stream or hold.
  zeroLengthBody_ = reqFraming_ == h1::BodyFraming::kContentLength && reqRemaining_ == 0;
  if (zeroLengthBody_) reqFraming_ = h1::BodyFraming::kNone;
  const bool hasBody = reqFraming_ != h1::BodyFraming::kNone;
  reqState_ = hasBody ? ReqState::kBody : ReqState::kDone;

  int ri = rt.router.match(host_, target_);
  if (rt.shield && !shieldRequest(head, ri)) return;
  if (hasBody && rt.shield && rt.shield->config().connections.minBodyRate > 0) {
    bodyRateMark_ = bytesIn_;
    if (!bodyRateTimer_) bodyRateTimer_ = std::make_unique<Timer>([this] { checkBodyRate(); });
    worker_.loop().arm(*bodyRateTimer_, rt.shield->config().connections.bodyRateWindow);
  }
  if (ri < 0) {
    decision_ = "no_route";
    sendLocal(404, "no route for this host and path", RejectReason::kNoRoute, hasBody);
    return;
  }
  route_ = &rt.routes[static_cast<std::size_t>(ri)];
  const Route& route = *route_->config;
  if (route.respond) {
    decision_ = "direct";
    sendLocalResponse(route.respond->status, route.respond->contentType, route.respond->body, hasBody);
    return;
  }
  if (route_->maxBodyBytes > 0 && reqFraming_ == h1::BodyFraming::kContentLength &&
      head.contentLength > route_->maxBodyBytes) {
    decision_ = "reject";
    sendLocal(413, "request body too large", RejectReason::kBodyTooLarge, true);
    return;
  }

  if (rt.waf && !startWaf(head)) return;  // blocked in phase 1 (or 2 for a body-less request)

  // The request head as the origin will see it: hop-by-hop headers dropped, proxy headers set by us.
  ConnectionTokens tokens;
  tokens.collect(head.headers);
  const HeaderEdits& edits = route.requestHeaders;
  const PoolRuntime& pool = rt.pools[static_cast<std::size_t>(route_->pool)];
  if (upstreamHead_.capacity() <= 15) upstreamHead_ = worker_.takeString();
  std::string& h = upstreamHead_;
  h.clear();
  h += head.method;
  h += ' ';
  h += target;
  h += " HTTP/1.1\r\n";
  bool sawHost = false;
  hashKey_.clear();
  for (const h1::Header& hd : head.headers) {
    if (!pool.shared->config.hashHeader.empty() && iequals(hd.name, pool.shared->config.hashHeader)) {
      hashKey_.assign(hd.value);
    }
    if (isRequestHeaderWeSet(hd.name) || tokens.contains(hd.name)) continue;
    if (inList(edits.remove, hd.name) || addedByEdits(edits, hd.name)) continue;
    if (iequals(hd.name, "host")) {
      sawHost = true;
      appendHeader(h, "Host", host);  // the authority of an absolute-form target wins (RFC 9112 3.2.2)
      continue;
    }
    appendHeader(h, hd.name, hd.value);
  }
  if (!sawHost) {
    appendHeader(h, "Host",
                 host.empty() ? std::string_view(pool.shared->config.origins.front().address.text) : host);
  }
  if (forwardedFor_.empty()) {
    appendHeader(h, "X-Forwarded-For", clientIp_);  // the connection's address (no trusted proxy in front)
  } else {
    // From a trusted proxy: its chain goes on, with the proxy itself as the last hop.
    h += "X-Forwarded-For: ";
    h += forwardedFor_;
    h += ", ";
    h += connAddr_.toString();
    h += "\r\n";
  }
  appendHeader(h, "X-Forwarded-Proto", listener_->tls ? "https" : "http");
  if (!host.empty()) appendHeader(h, "X-Forwarded-Host", host);
  appendHeader(h, "Via", kServerToken);
  appendHeader(h, "X-Request-Id", std::string_view(requestId_, requestIdLen_));
  for (const auto& [n, v] : edits.add) appendHeader(h, n, v);
  if (pool.shared->config.hashHeader.empty()) hashKey_ = clientIp_;
  if (expectContinue_ && hasBody) out_.append("HTTP/1.1 100 Continue\r\n\r\n");
  if (wafHoldBody_) return;  // the body is held for WAF phase 2; the origin is chosen after it
  pickOriginAndConnect();
}

void HttpSession::finishUpstreamHead() {
  std::string& h = upstreamHead_;
  if (heldBodyDone_) {
    // The WAF read the whole body: send it with a Content-Length, whatever framing the client used.
    h += "Content-Length: ";
    appendDecimal(h, heldReqBody_.size());
    h += "\r\n";
  } else if (reqFraming_ == h1::BodyFraming::kContentLength) {
    h += "Content-Length: ";
    appendDecimal(h, reqRemaining_ + heldReqBody_.size());
    h += "\r\n";
  } else if (reqFraming_ == h1::BodyFraming::kChunked) {
    h += "Transfer-Encoding: chunked\r\n";
  } else if (zeroLengthBody_) {
    h += "Content-Length: 0\r\n";  // kept: some origins answer 411 to a POST without a length
  }
  h += "\r\n";
}

void HttpSession::pickOriginAndConnect() {
  const Runtime& rt = *rt_->rt;
  const PoolRuntime& pool = rt.pools[static_cast<std::size_t>(route_->pool)];
  const bool hasBody = reqFraming_ != h1::BodyFraming::kNone;
  finishUpstreamHead();
  PoolBalancer& balancer = rt_->balancers[static_cast<std::size_t>(route_->pool)];
  int origin = balancer.pick(hashKey_, worker_.loop().now());
  if (origin < 0) {
    pool.noOrigin->add(worker_.shard());
    decision_ = "no_origin";
    sendLocal(503, "no healthy origin", RejectReason::kNoOrigin, hasBody && reqState_ != ReqState::kDone);
    return;
  }
  respState_ = RespState::kWaitHead;
  connectUpstream(origin);
}

bool HttpSession::connectUpstream(int origin) {
  const Runtime& rt = *rt_->rt;
  const PoolRuntime& pool = rt.pools[static_cast<std::size_t>(route_->pool)];
  const OriginRuntime& o = pool.origins[static_cast<std::size_t>(origin)];
  PoolBalancer& balancer = rt_->balancers[static_cast<std::size_t>(route_->pool)];
  ++attempts_;
  origin_ = origin;
  upstreamStart_ = worker_.loop().now();
  upstreamGotBytes_ = false;
  requestSent_ = false;

  UpstreamConn* c = worker_.takeIdle(o.key);
  if (c != nullptr) {
    c->reused = true;
  } else {
    const sockaddr* sa = reinterpret_cast<const sockaddr*>(&o.address.addr);
    int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      logWarn(std::string("socket(): ") + std::strerror(errno));
      sendLocal(502, "cannot open a connection to the origin", RejectReason::kOriginConnect, true);
      return false;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = ::connect(fd, sa, o.address.len);
    c = new UpstreamConn(worker_, o.key, route_->pool, origin);
    c->stream.fd = fd;
    c->stream.readable = false;
    c->stream.writable = rc == 0;
    c->tcpConnected = rc == 0;
    if (pool.tls) {
      c->stream.ssl = pool.tls->newSession(
          fd, pool.shared->config.origins[static_cast<std::size_t>(origin)].address.host);
      c->stream.handshakeDone = false;
    }
    if ((rc < 0 && errno != EINPROGRESS) || (pool.tls && c->stream.ssl == nullptr) ||
        !worker_.loop().add(fd, kEvents, c)) {
      // Immediate failure (e.g. connection refused on loopback): account it like an asynchronous one.
      c->owner = this;
      up_ = c;
      balancer.started(origin);
      upstreamFailed(502, RejectReason::kOriginConnect, "connect failed", true);
      return false;
    }
  }
  c->owner = this;
  up_ = c;
  balancer.started(origin);
  c->out.append(upstreamHead_);
  if (!heldReqBody_.empty()) {
    if (reqFraming_ == h1::BodyFraming::kChunked && !heldBodyDone_) {
      appendChunk(c->out, heldReqBody_);
    } else {
      c->out.append(heldReqBody_);
    }
  }
  if (c->connecting) {
    setTimer(TimerKind::kConnect, route_->timeouts.connect);
  } else {
    setTimer(TimerKind::kFirstByte, route_->timeouts.firstByte);
  }
  return true;
}

bool HttpSession::flushUpstream() {
  UpstreamConn* c = up_;
  if (c == nullptr) return false;
  if (c->connecting) {
    if (!c->tcpConnected) {
      if (!c->stream.writable) return false;
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c->stream.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        upstreamFailed(502, RejectReason::kOriginConnect, "connect failed", true);
        return true;
      }
      c->tcpConnected = true;
      c->stream.readable = true;
    }
    if (!c->stream.handshakeDone) {
      Stream::Io r = c->stream.handshake();
      if (r == Stream::Io::kAgain) return false;
      if (r != Stream::Io::kOk) {
        logWarn("origin TLS handshake failed: " + tlsLastError(c->stream.ssl));
        upstreamFailed(502, RejectReason::kOriginConnect, "TLS handshake failed", true);
        return true;
      }
    }
    c->connecting = false;
    setTimer(TimerKind::kFirstByte, route_->timeouts.firstByte);
  }
  if (c->out.empty()) return false;
  std::size_t wrote = 0;
  Stream::Io r = c->stream.flush(c->out, wrote);
  if (r == Stream::Io::kError) {
    upstreamFailed(502, RejectReason::kOriginConnect, "write to origin failed", !c->reused);
    return true;
  }
  if (wrote > 0 && respState_ == RespState::kWaitHead) {
    setTimer(TimerKind::kFirstByte, route_->timeouts.firstByte);
  }
  if (c->out.empty() && reqState_ == ReqState::kDone) requestSent_ = true;
  return wrote > 0;
}

bool HttpSession::holdRequestBody() {
  if (in_.empty()) return false;
  const uint64_t limit = waf_->requestBodyLimit();
  std::size_t used = 0;
  if (reqFraming_ == h1::BodyFraming::kContentLength) {
    used = in_.size() < reqRemaining_ ? in_.size() : static_cast<std::size_t>(reqRemaining_);
    heldReqBody_.append(in_.data(), used);
    reqRemaining_ -= used;
    if (reqRemaining_ == 0) reqState_ = ReqState::kDone;
  } else {
    std::string& held = heldReqBody_;
    used = reqChunks_.feed(in_.view(), [&held](std::string_view d) { held.append(d); });
    if (reqChunks_.failed()) {
      in_.consume(used);
      decision_ = "reject";
      sendLocal(400, "bad request: malformed chunked body", RejectReason::kBadChunk, true);
      return true;
    }
    if (reqChunks_.done()) reqState_ = ReqState::kDone;
  }
  in_.consume(used);
  reqBodyBytes_ += used;
  bytesIn_ += used;
  if (route_->maxBodyBytes > 0 && heldReqBody_.size() > route_->maxBodyBytes) {
    decision_ = "reject";
    sendLocal(413, "request body too large", RejectReason::kBodyTooLarge, true);
    return true;
  }
  if (reqState_ == ReqState::kDone || heldReqBody_.size() >= limit) {
    if (reqState_ != ReqState::kDone && waf_->requestBodyLimitReject()) {
      decision_ = "reject";
      sendLocal(413, "request body exceeds the WAF inspection limit", RejectReason::kBodyTooLarge, true);
      return true;
    }
    releaseHeldBody();
  }
  return used > 0;
}

void HttpSession::releaseHeldBody() {
  wafHoldBody_ = false;
  heldBodyDone_ = reqState_ == ReqState::kDone;
  waf_->appendRequestBody(heldReqBody_);
  waf_->processRequestBody();
  if (wafBlocked()) return;
  pickOriginAndConnect();
}

bool HttpSession::forwardRequestBody() {
  if (wafHoldBody_) return holdRequestBody();
  if (up_ == nullptr || in_.empty() || up_->out.size() >= kHighWatermark) return false;
  if (reqFraming_ == h1::BodyFraming::kContentLength) {
    std::size_t n = in_.size() < reqRemaining_ ? in_.size() : static_cast<std::size_t>(reqRemaining_);
    up_->out.append(in_.data(), n);
    in_.consume(n);
    reqRemaining_ -= n;
    reqBodyBytes_ += n;
    bytesIn_ += n;
    if (reqRemaining_ == 0) reqState_ = ReqState::kDone;
    return n > 0;
  }
  // Chunked: decode strictly and re-encode, so the origin sees exactly the framing we parsed.
  Buffer& out = up_->out;
  std::size_t used = reqChunks_.feed(in_.view(), [&out](std::string_view d) { appendChunk(out, d); });
  in_.consume(used);
  bytesIn_ += used;
  reqBodyBytes_ = reqChunks_.bodyBytes();
  if (reqChunks_.failed()) {
    decision_ = "reject";
    sendLocal(400, "bad request: malformed chunked body", RejectReason::kBadChunk, true);
    return true;
  }
  if (route_->maxBodyBytes > 0 && reqBodyBytes_ > route_->maxBodyBytes) {
    decision_ = "reject";
    sendLocal(413, "request body too large", RejectReason::kBodyTooLarge, true);
    return true;
  }
  if (reqChunks_.done()) {
    out.append("0\r\n\r\n", 5);
    reqState_ = ReqState::kDone;
  }
  return used > 0;
}

bool HttpSession::readUpstream() {
  UpstreamConn* c = up_;
  if (c == nullptr || c->connecting) return false;
  if (respState_ != RespState::kWaitHead && respState_ != RespState::kBody) return false;
  if (out_.size() >= kHighWatermark || c->in.size() >= kHighWatermark) return false;
  std::size_t got = 0;
  switch (c->stream.readSome(c->in, kReadChunk, got)) {
    case Stream::Io::kOk:
      upstreamGotBytes_ = true;
      return true;
    case Stream::Io::kAgain:
      return false;
    case Stream::Io::kEof:
    case Stream::Io::kError:
      // The origin closed. What that means depends on where the response is: processUpstreamInput decides.
      // Over TLS only a close_notify ends a close-delimited body; a bare EOF may be a truncation attack.
      c->cleanEof = c->stream.ssl == nullptr || tlsPeerClosedCleanly(c->stream.ssl);
      c->closed = true;
      c->stream.readable = false;
      return processUpstreamInput();
  }
  return false;
}

bool HttpSession::processUpstreamInput() {
  UpstreamConn* c = up_;
  if (c == nullptr) return false;
  const bool eof = c->closed;
  if (respState_ == RespState::kWaitHead) {
    if (c->in.empty()) {
      if (eof) {
        // Closed before any response byte: safe to retry an idempotent request elsewhere.
        upstreamFailed(502, RejectReason::kOriginConnect, "origin closed the connection", !c->reused);
        return true;
      }
      return false;
    }
    h1::ResponseHead& head = worker_.responseScratch();
    h1::ParseResult r = h1::parseResponseHead(c->in.view(), rt_->rt->limits, method_, head);
    if (r.status == h1::ParseStatus::kIncomplete) {
      if (!eof) return false;
      upstreamFailed(502, RejectReason::kOriginBadResponse, "origin closed mid-head", true);
      return true;
    }
    if (r.status == h1::ParseStatus::kError || head.status == 101) {
      upstreamGotBytes_ = true;
      upstreamFailed(502, RejectReason::kOriginBadResponse, "malformed response from origin", true);
      return true;
    }
    if (head.status < 200) {  // interim response (100 Continue etc.): we already answered Expect ourselves
      c->in.consume(r.consumed);
      return true;
    }
    if (waf_ && !wafResponseHeaders(head, c->in.view().substr(0, r.consumed))) return true;
    // Consume first: beginResponse() may finish the transaction and park the connection (releasing its
    // buffer). The head's views stay valid: consume() only moves offsets, and nothing writes to c->in here.
    c->in.consume(r.consumed);
    if (!wafHoldResp_) beginResponse(head);
    if (respState_ != RespState::kBody || closed_) return true;
    // Fall through: move the body bytes that came with the head, so head and body leave in one send().
  }
  if (respState_ != RespState::kBody) return false;
  if (out_.size() >= kHighWatermark && !eof) return false;
  bool moved = false;
  switch (respFraming_) {
    case h1::BodyFraming::kContentLength: {
      std::size_t n = c->in.size() < respRemaining_ ? c->in.size() : static_cast<std::size_t>(respRemaining_);
      emitResponseBody(std::string_view(c->in.data(), n));
      c->in.consume(n);
      respRemaining_ -= n;
      moved = n > 0;
      if (respRemaining_ == 0) respState_ = RespState::kDone;
      break;
    }
    case h1::BodyFraming::kChunked: {
      std::size_t used = respChunks_.feed(c->in.view(), [this](std::string_view d) { emitResponseBody(d); });
      c->in.consume(used);
      moved = used > 0;
      if (respChunks_.failed()) {
        logWarn("origin sent a malformed chunked body; closing the client connection");
        closeNow();
        return true;
      }
      if (respChunks_.done()) {
        emitResponseEnd();
        respState_ = RespState::kDone;
      }
      break;
    }
    case h1::BodyFraming::kUntilClose: {
      if (!c->in.empty()) {
        emitResponseBody(c->in.view());
        c->in.clear();
        moved = true;
      }
      if (eof) {
        if (!c->cleanEof) {
          logWarn("origin TLS connection ended without close_notify mid-body; closing the client connection");
          closeNow();
          return true;
        }
        emitResponseEnd();
        respState_ = RespState::kDone;
      }
      break;
    }
    case h1::BodyFraming::kNone:
      respState_ = RespState::kDone;
      break;
  }
  if (moved) setTimer(TimerKind::kIdle, route_->timeouts.idle);
  if (wafHoldResp_ && (respState_ == RespState::kDone || heldRespBody_.size() >= waf_->responseBodyLimit())) {
    if (respState_ != RespState::kDone && waf_->responseBodyLimitReject()) {
      // SecResponseBodyLimitAction Reject: a response that cannot be inspected whole is not delivered.
      upstreamGotBytes_ = true;
      wafHoldResp_ = false;
      decision_ = "waf_block";
      waf_->processResponseBody();
      wafResponseBodyDone_ = true;
      const Runtime& rt = *rt_->rt;
      rt.metrics.wafBlocked->add(worker_.shard());
      sendLocal(rt.config.waf.blockStatus, "response body exceeds the WAF inspection limit",
                RejectReason::kWafBlocked, reqState_ != ReqState::kDone);
      return true;
    }
    releaseHeldResponse();
    return true;
  }
  if (respState_ == RespState::kDone) {
    finishTransaction();
    return true;
  }
  if (eof) {
    // The origin closed mid-body: the client cannot be told after the head went out, so cut it off too.
    logWarn("origin closed mid-response; closing the client connection");
    closeNow();
    return true;
  }
  return moved;
}

void HttpSession::emitResponseBody(std::string_view d) {
  if (wafHoldResp_) {
    heldRespBody_.append(d);
  } else if (respChunkedToClient_) {
    appendChunk(out_, d);
  } else {
    out_.append(d);
  }
}

void HttpSession::emitResponseEnd() {
  if (!wafHoldResp_ && respChunkedToClient_) out_.append("0\r\n\r\n", 5);
}

// --- WAF -------------------------------------------------------------------------------------------------

bool HttpSession::startWaf(const h1::RequestHead& head) {
  const Runtime& rt = *rt_->rt;
  const WafMode mode = route_->config->waf.value_or(rt.config.waf.mode);
  if (mode == WafMode::kOff) return true;
  waf::TxInfo info;
  info.clientAddress = clientIp_;
  info.clientPort = clientPort_;
  info.serverAddress = listener_->config->address.host;
  info.serverPort = listener_->config->address.port;
  info.uniqueId.assign(requestId_, requestIdLen_);
  info.serverName = std::string(Router::hostWithoutPort(host_));
  waf_ = std::make_unique<waf::Transaction>(rt.waf, std::move(info));
  if (waf_->mode() != waf::EngineMode::kOff) {
    waf_->forceMode(mode == WafMode::kBlock ? waf::EngineMode::kOn : waf::EngineMode::kDetectionOnly);
  }
  waf_->setRequestLine(head.method, head.target, head.versionMinor == 0 ? "HTTP/1.0" : "HTTP/1.1");
  for (const h1::Header& h : head.headers) waf_->addRequestHeader(h.name, h.value);
  waf_->processRequestHeaders();
  if (wafBlocked()) return false;
  if (reqFraming_ != h1::BodyFraming::kNone && waf_->requestBodyAccess()) {
    wafHoldBody_ = true;  // phase 2 runs when the body is in (see holdRequestBody)
    return true;
  }
  waf_->processRequestBody();
  return !wafBlocked();
}

bool HttpSession::wafBlocked() {
  if (!waf_ || !waf_->intervention().disrupted) return false;
  const Runtime& rt = *rt_->rt;
  const waf::Intervention& iv = waf_->intervention();
  decision_ = "waf_block";
  rt.metrics.wafBlocked->add(worker_.shard());
  wafHoldBody_ = false;
  wafHoldResp_ = false;
  shieldStrike();
  if (iv.drop) {
    closeNow();
    return true;
  }
  const int status = iv.status != 403 ? iv.status : rt.config.waf.blockStatus;
  sendLocal(status, rt.config.waf.blockBody, RejectReason::kWafBlocked, reqState_ != ReqState::kDone);
  return true;
}

bool HttpSession::wafResponseHeaders(const h1::ResponseHead& head, std::string_view rawHead) {
  waf_->setResponseStatus(head.status, head.versionMinor == 0 ? "HTTP/1.0" : "HTTP/1.1");
  for (const h1::Header& h : head.headers) waf_->addResponseHeader(h.name, h.value);
  waf_->processResponseHeaders();
  wafResponseSeen_ = true;
  if (waf_->intervention().disrupted) {
    upstreamGotBytes_ = true;
    wafBlocked();
    return false;
  }
  const bool hasBody = head.framing != h1::BodyFraming::kNone &&
                       !(head.framing == h1::BodyFraming::kContentLength && head.contentLength == 0);
  if (hasBody && waf_->wantsResponseBody()) {
    // Phase 4 needs the body before the client sees any of it: hold head and body (bounded).
    wafHoldResp_ = true;
    heldRespHead_.assign(rawHead);
    heldRespBody_.clear();
    status_ = head.status;
    firstByteAt_ = worker_.loop().now();
    respFraming_ = head.framing;
    respRemaining_ = head.contentLength;
    respChunkedToClient_ = false;
    respState_ = RespState::kBody;
  }
  return true;
}

void HttpSession::releaseHeldResponse() {
  wafHoldResp_ = false;
  waf_->appendResponseBody(heldRespBody_);
  waf_->processResponseBody();
  wafResponseBodyDone_ = true;
  if (wafBlocked()) return;
  h1::ResponseHead& head = worker_.responseScratch();
  h1::ParseResult r = h1::parseResponseHead(heldRespHead_, rt_->rt->limits, method_, head);
  if (r.status != h1::ParseStatus::kComplete) {  // cannot happen: these bytes parsed before
    closeNow();
    return;
  }
  const bool done = respState_ == RespState::kDone;
  const uint64_t remaining = respRemaining_;
  beginResponse(head);
  if (closed_ || respState_ == RespState::kDone) return;
  respRemaining_ = remaining;
  emitResponseBody(heldRespBody_);
  std::string().swap(heldRespBody_);
  if (done) {
    emitResponseEnd();
    respState_ = RespState::kDone;
    finishTransaction();
  }
}

void HttpSession::finishWaf() {
  if (!waf_) return;
  if (wafResponseSeen_ && !wafResponseBodyDone_) waf_->processResponseBody();
  waf_->processLogging();
  AccessLogWriter& errors = worker_.wafErrorLog();
  for (const waf::RuleMatch& m : waf_->matches()) {
    if (!m.log) continue;
    waf::appendErrorLogLine(errors.buffer(), *waf_, m);
    errors.lineDone();
  }
  AccessLogWriter& audit = worker_.wafAuditLog();
  if (audit.enabled() && waf_->auditRecordWanted(status_)) {
    waf::appendAuditRecord(audit.buffer(), *waf_, status_);
    audit.lineDone();
  }
  // Security events are written before the response leaves (one write per transaction that has some):
  // a reader that has seen the response finds its log lines, and a crash cannot lose them.
  errors.flush();
  audit.flush();
  waf_.reset();
  wafResponseSeen_ = false;
  wafResponseBodyDone_ = false;
  wafHoldBody_ = false;
  wafHoldResp_ = false;
  heldBodyDone_ = false;
  std::string().swap(heldReqBody_);
  std::string().swap(heldRespHead_);
  std::string().swap(heldRespBody_);
}

// --- Shield ----------------------------------------------------------------------------------------------

class HttpSession::Headers final : public shield::HeaderSource {
 public:
  explicit Headers(const std::vector<h1::Header>& headers) : headers_(headers) {}
  bool find(std::string_view name, std::string_view& value) const noexcept override {
    for (const h1::Header& h : headers_) {
      if (iequals(h.name, name)) {
        value = h.value;
        return true;
      }
    }
    return false;
  }

 private:
  const std::vector<h1::Header>& headers_;
};

int64_t HttpSession::nowMs() const noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(worker_.loop().now().time_since_epoch())
      .count();
}

// A PROXY protocol header (v1 or v2) starts every connection of a `proxy_protocol` listener; the worker
// only accepted the connection from a trusted proxy. The header is peeked, parsed, and exactly its bytes
// are consumed, so what follows (TLS or HTTP) is read as usual. Returns false when the connection was
// closed; awaitingProxyHeader_ stays true while the header is incomplete.
bool HttpSession::readProxyHeader() {
  char buf[shield::kProxyDefaultMaxBytes];
  ssize_t n = ::recv(stream_.fd, buf, sizeof buf, MSG_PEEK);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    closeNow();
    return false;
  }
  if (n < 0) return true;  // nothing yet: the next arrival raises a new edge
  shield::ProxyHeader header;
  std::size_t consumed = 0;
  std::string error;
  shield::ProxyParseStatus status =
      shield::parseProxyHeader(std::string_view(buf, static_cast<std::size_t>(n)), header, consumed, error);
  const shield::Shield* sh = acceptedRt_->rt->shield.get();
  if (status == shield::ProxyParseStatus::kNeedMore && static_cast<std::size_t>(n) < sizeof buf) return true;
  if (status != shield::ProxyParseStatus::kDone ||
      ::recv(stream_.fd, buf, consumed, 0) != static_cast<ssize_t>(consumed)) {
    if (sh != nullptr) sh->refuseConnection(shield::Refusal::kProxyProtocol, worker_.shard());
    shieldEvent("refuse_connection", shield::refusalName(shield::Refusal::kProxyProtocol));
    closeNow();
    return false;
  }
  awaitingProxyHeader_ = false;
  if (header.hasAddresses && !header.local) {
    connAddr_ = header.src;
    clientIp_ = header.src.toString();
    clientPort_ = header.srcPort;
    clientAddr_ = connAddr_;
  }
  if (sh == nullptr) return true;
  shield::Refusal why = shield::Refusal::kCount;
  if (!sh->admitConnection(connAddr_, worker_.shieldLists(), nowMs(), worker_.shard(), ticket_, why)) {
    shieldEvent("refuse_connection", shield::refusalName(why));
    closeNow();
    return false;
  }
  clientAllowListed_ = ticket_.allowListed;
  return true;
}

// The shield's request checks, in order: the client named by X-Forwarded-For (when a trusted proxy sent
// it) against the lists and the penalty box, requests in flight per client, then the rate-limit rules.
bool HttpSession::shieldRequest(const h1::RequestHead& head, int route) {
  const Runtime& rt = *rt_->rt;
  const shield::Shield& sh = *rt.shield;
  const unsigned shard = worker_.shard();
  if (sh.usesForwardedFor() && sh.isTrustedProxy(connAddr_)) {
    for (const h1::Header& h : head.headers) {
      if (!iequals(h.name, "x-forwarded-for")) continue;
      if (!forwardedFor_.empty()) forwardedFor_ += ", ";
      forwardedFor_.append(h.value);
    }
    if (!forwardedFor_.empty()) {
      clientAddr_ = sh.clientFromForwardedFor(connAddr_, forwardedFor_);
      clientIp_ = clientAddr_.toString();
      shield::Refusal why = shield::Refusal::kCount;
      if (!sh.admitForwardedClient(clientAddr_, worker_.shieldLists(), nowMs(), shard, clientAllowListed_,
                                   why)) {
        sh.countDeniedRequest(why, shard);
        shieldRefuse(403, "request denied", RejectReason::kShieldDenied, shield::refusalName(why),
                     "shield_deny");
        return false;
      }
    }
  }
  if (forwardedFor_.empty() && !clientAllowListed_ && sh.boxed(clientAddr_, nowMs())) {
    // Boxed while this connection was open: refused at its next request.
    sh.countDeniedRequest(shield::Refusal::kPenaltyBox, shard);
    shieldRefuse(403, "request denied", RejectReason::kShieldDenied, "penalty_box", "shield_deny");
    return false;
  }
  const shield::Shield* connShield = acceptedRt_->rt->shield.get();
  if (connShield != nullptr) {
    if (!connShield->startRequest(ticket_, shard)) {
      retryAfter_ = 1;
      shieldRefuse(429, "too many requests in flight", RejectReason::kRequestsInFlight, "max_requests_per_ip",
                   "rate_limited");
      return false;
    }
    shieldRequestCounted_ = true;
  }
  Headers headers(head.headers);
  shield::RequestFacts facts{head.method, host_, target_, route, &headers};
  const int64_t nowNs =
      std::chrono::duration_cast<std::chrono::nanoseconds>(worker_.loop().now().time_since_epoch()).count();
  shield::RequestVerdict verdict = sh.checkRequest(facts, clientAddr_, clientAllowListed_, nowNs, shard);
  if (verdict.kind == shield::RequestVerdict::Kind::kRateLimited) {
    retryAfter_ = verdict.retryAfterSeconds;
    shieldStrike();
    shieldRefuse(429, "too many requests", RejectReason::kRateLimited, sh.ruleName(verdict.rule),
                 "rate_limited");
    return false;
  }
  if (verdict.kind == shield::RequestVerdict::Kind::kUnavailable) {
    retryAfter_ = verdict.retryAfterSeconds;
    shieldRefuse(503, "rate limit service unavailable", RejectReason::kShieldUnavailable,
                 sh.ruleName(verdict.rule), "shield_unavailable");
    return false;
  }
  if (verdict.rule >= 0) {  // a log-only rule was over its limit
    shieldRule_ = sh.ruleName(verdict.rule);
    retryAfter_ = verdict.retryAfterSeconds;
    shieldEvent("rate_limit_log", shieldRule_);
    retryAfter_ = 0;
  }
  return true;
}

void HttpSession::shieldRefuse(int status, std::string_view body, RejectReason reason, std::string_view rule,
                               std::string_view decision) {
  decision_ = decision.data();
  shieldRule_ = rule;
  shieldEvent(decision, rule);
  sendLocal(status, body, reason, reqState_ != ReqState::kDone);
}

// A block of this client (rate limit or WAF) counts towards the penalty box; the strike that boxes it is an
// event of its own.
void HttpSession::shieldStrike() {
  const Runtime& rt = *rt_->rt;
  if (!rt.shield || clientAllowListed_) return;
  if (rt.shield->strike(clientAddr_, nowMs(), worker_.shard())) shieldEvent("penalty_box", "penalty_box");
}

void HttpSession::shieldEvent(std::string_view decision, std::string_view rule) {
  AccessLogWriter& log = worker_.shieldEventLog();
  if (!log.enabled() || !worker_.admitShieldEvent()) return;
  shield::Shield::appendEvent(log.buffer(), decision, rule, clientIp_,
                              std::string_view(requestId_, requestIdLen_), retryAfter_);
  log.lineDone();
}

void HttpSession::endShieldRequest() {
  if (!shieldRequestCounted_) return;
  shieldRequestCounted_ = false;
  if (const shield::Shield* sh = acceptedRt_->rt->shield.get()) sh->endRequest(ticket_);
}

// Slow POST: every body_rate_window, the body must have advanced by min_body_rate * window. A window in
// which the gateway itself stopped reading (the origin is slower than the client) is not held against it.
void HttpSession::checkBodyRate() {
  if (closed_ || reqState_ != ReqState::kBody || !rt_ || !rt_->rt->shield) return;
  const ShieldConnections& limits = rt_->rt->shield->config().connections;
  const uint64_t need = limits.minBodyRate * static_cast<uint64_t>(limits.bodyRateWindow.count()) / 1000;
  const uint64_t got = bytesIn_ + in_.size() - bodyRateMark_;
  if (got < need && clientWantsRead()) {
    shieldRule_ = "min_body_rate";
    decision_ = "reject";
    shieldEvent("slow_body", shieldRule_);
    sendLocal(408, "request body too slow", RejectReason::kSlowBody, true);
    drive();
    return;
  }
  bodyRateMark_ = bytesIn_ + in_.size();
  worker_.loop().arm(*bodyRateTimer_, limits.bodyRateWindow);
}

void HttpSession::beginResponse(const h1::ResponseHead& head) {
  const Route& route = *route_->config;
  const HeaderEdits& edits = route.responseHeaders;
  status_ = head.status;
  firstByteAt_ = worker_.loop().now();
  respFraming_ = head.framing;
  respRemaining_ = head.contentLength;
  respChunkedToClient_ = false;
  if (reqState_ != ReqState::kDone || worker_.draining() || !clientKeepAlive_) closeAfterResponse_ = true;
  if ((respFraming_ == h1::BodyFraming::kChunked || respFraming_ == h1::BodyFraming::kUntilClose)) {
    if (clientHttp10_) {
      closeAfterResponse_ = true;  // HTTP/1.0 has no chunked coding: the close delimits the body
    } else {
      respChunkedToClient_ = true;
    }
  }
  // An interim body-less status or HEAD keeps the origin's Content-Length (it describes the resource).
  const bool keepLength = respFraming_ == h1::BodyFraming::kNone;
  ConnectionTokens tokens;
  tokens.collect(head.headers);

  Buffer& h = out_;
  h.append(std::string_view("HTTP/1.1 "));
  appendDecimal(h, static_cast<uint64_t>(head.status));
  h.append(std::string_view(" "));
  h.append(std::string_view(head.reason.empty() ? reasonPhrase(head.status) : head.reason));
  h.append(std::string_view("\r\n"));
  for (const h1::Header& hd : head.headers) {
    if (isResponseHopByHop(hd.name) || tokens.contains(hd.name)) continue;
    if (iequals(hd.name, "content-length") && !keepLength) continue;
    if (inList(edits.remove, hd.name) || addedByEdits(edits, hd.name)) continue;
    appendHeader(h, hd.name, hd.value);
  }
  appendHeader(h, "Via", kServerToken);
  appendHeader(h, "X-Request-Id", std::string_view(requestId_, requestIdLen_));
  for (const auto& [n, v] : edits.add) appendHeader(h, n, v);
  if (respFraming_ == h1::BodyFraming::kContentLength) {
    h.append(std::string_view("Content-Length: "));
    appendDecimal(h, head.contentLength);
    h.append(std::string_view("\r\n"));
  } else if (respChunkedToClient_) {
    h.append(std::string_view("Transfer-Encoding: chunked\r\n"));
  }
  if (closeAfterResponse_) {
    h.append(std::string_view("Connection: close\r\n"));
  } else if (clientHttp10_) {
    h.append(std::string_view("Connection: keep-alive\r\n"));
  }
  h.append(std::string_view("\r\n"));
  responseStarted_ = true;
  // Whether the origin connection can be reused once the body is read; decided in finishTransaction.
  upstreamKeepAlive_ = head.keepAlive;
  if (respFraming_ == h1::BodyFraming::kNone ||
      (respFraming_ == h1::BodyFraming::kContentLength && respRemaining_ == 0)) {
    respState_ = RespState::kDone;
    finishTransaction();
    return;
  }
  respState_ = RespState::kBody;
  setTimer(TimerKind::kIdle, route_->timeouts.idle);
}

void HttpSession::upstreamFailed(int status, RejectReason reason, const char* why,
                                 bool countAsOriginFailure) {
  const Runtime& rt = *rt_->rt;
  const PoolRuntime& pool = rt.pools[static_cast<std::size_t>(route_->pool)];
  PoolBalancer& balancer = rt_->balancers[static_cast<std::size_t>(route_->pool)];
  const int failed = origin_;
  const bool wasReused = up_ != nullptr && up_->reused;
  const auto now = worker_.loop().now();
  if (countAsOriginFailure) {
    if (reason == RejectReason::kOriginConnect)
      pool.origins[static_cast<std::size_t>(failed)].connectFailures->add(worker_.shard());
    bool wasEjected = balancer.ejected(failed, now);
    balancer.report(failed, false, now);
    if (!wasEjected && balancer.ejected(failed, now)) {
      pool.origins[static_cast<std::size_t>(failed)].ejections->add(worker_.shard());
      logWarn("origin " + pool.shared->config.origins[static_cast<std::size_t>(failed)].address.text +
              " of pool " + pool.name + " ejected after consecutive failures");
    }
  }
  releaseUpstream(false);
  // Retry only what cannot have reached the application twice with different effects: idempotent, without
  // a body, and before any response byte. A reused keep-alive connection that the origin had closed gets
  // one extra attempt, since that race says nothing about the origin's health.
  const bool freeRetry = wasReused && !freeRetryUsed_;
  if (freeRetry) {
    freeRetryUsed_ = true;
    --attempts_;  // the stale-connection race does not use up the configured retries
  }
  const uint32_t maxAttempts = pool.shared->config.retries + 1;
  if (!responseStarted_ && !upstreamGotBytes_ && idempotent_ && reqFraming_ == h1::BodyFraming::kNone &&
      attempts_ < maxAttempts) {
    int next = balancer.pick(hashKey_, now, freeRetry ? -1 : failed);
    if (next >= 0) {
      pool.retries->add(worker_.shard());
      connectUpstream(next);
      return;
    }
  }
  decision_ = "origin_error";
  std::string body = status == 504 ? "gateway timeout: " : "bad gateway: ";
  body += why;
  sendLocal(status, body, reason, reqState_ != ReqState::kDone);
}

void HttpSession::releaseUpstream(bool reusable) {
  UpstreamConn* c = up_;
  if (c == nullptr) return;
  up_ = nullptr;
  if (rt_ && route_ != nullptr && route_->pool >= 0 && origin_ >= 0) {
    rt_->balancers[static_cast<std::size_t>(route_->pool)].finished(origin_);
  }
  c->owner = nullptr;
  if (reusable && !c->closed && !worker_.draining()) {
    const Runtime& rt = *rt_->rt;
    worker_.parkIdle(c, rt.pools[static_cast<std::size_t>(route_->pool)].shared->config.maxIdlePerOrigin);
    return;
  }
  c->closed = true;
  worker_.loop().remove(c->stream.fd);
  c->stream.close();
  worker_.loop().defer([c] { delete c; });
}

void HttpSession::finishTransaction() {
  if (up_ != nullptr) {
    const bool reusable = upstreamKeepAlive_ && reqState_ == ReqState::kDone && up_->out.empty() &&
                          up_->in.empty() && !up_->closed && respFraming_ != h1::BodyFraming::kUntilClose;
    if (route_ != nullptr && origin_ >= 0) {
      rt_->balancers[static_cast<std::size_t>(route_->pool)].report(origin_, status_ < 500,
                                                                    worker_.loop().now());
    }
    releaseUpstream(reusable);
  }
  if (reqState_ != ReqState::kDone) closeAfterResponse_ = true;  // unread body: framing is lost
  finishWaf();
  endShieldRequest();
  if (bodyRateTimer_) bodyRateTimer_->cancel();
  logAndCount();
  if (closeAfterResponse_ || !clientKeepAlive_ || worker_.draining() || clientEof_) {
    closeWhenFlushed_ = true;
    timer_.cancel();
    timerKind_ = TimerKind::kNone;
    return;
  }
  resetForNextRequest();
}

void HttpSession::resetForNextRequest() {
  reqState_ = ReqState::kHead;
  respState_ = RespState::kNone;
  rt_.reset();
  route_ = nullptr;
  origin_ = -1;
  // Idle keep-alive connections must cost little memory: drop the per-request strings' heap storage.
  worker_.returnString(std::move(upstreamHead_));
  worker_.returnString(std::move(target_));
  std::string().swap(host_);
  std::string().swap(hashKey_);
  const Runtime& rt = *worker_.current()->rt;
  if (in_.size() == pendingHeadBytes_) {  // nothing pipelined behind this request
    if (pendingHeadBytes_ == 0) in_.release();
    setTimer(TimerKind::kKeepAlive, rt.config.clientTimeouts.keepAlive);
  } else {
    setTimer(TimerKind::kHeader, rt.config.clientTimeouts.header);
  }
}

void HttpSession::sendLocal(int status, std::string_view body, RejectReason reason, bool close) {
  if (reason != RejectReason::kCount) {
    rejectReason_ = reason;
    const Runtime& rt = rt_ ? *rt_->rt : *worker_.current()->rt;
    rt.metrics.rejectedByReason[static_cast<int>(reason)]->add(worker_.shard());
  }
  std::string text(body);
  text += " (request id ";
  text.append(requestId_, requestIdLen_);
  text += ")\n";
  sendLocalResponse(status, "text/plain", text, close);
}

void HttpSession::sendLocalResponse(int status, std::string_view contentType, std::string_view body,
                                    bool close) {
  if (responseStarted_) {
    closeNow();  // the head already went out: the only honest signal left is to cut the connection
    return;
  }
  if (up_ != nullptr) releaseUpstream(false);
  status_ = status;
  if (close) closeAfterResponse_ = true;
  if (worker_.draining() || !clientKeepAlive_) closeAfterResponse_ = true;
  Buffer& h = out_;
  h.append(std::string_view("HTTP/1.1 "));
  appendDecimal(h, static_cast<uint64_t>(status));
  h.append(std::string_view(" "));
  h.append(std::string_view(reasonPhrase(status)));
  h.append(std::string_view("\r\n"));
  appendHeader(h, "Content-Type", contentType);
  h.append(std::string_view("Content-Length: "));
  appendDecimal(h, body.size());
  h.append(std::string_view("\r\n"));
  appendHeader(h, "X-Request-Id", std::string_view(requestId_, requestIdLen_));
  if (retryAfter_ != 0) {
    h.append(std::string_view("Retry-After: "));
    appendDecimal(h, retryAfter_);
    h.append(std::string_view("\r\n"));
  }
  if (route_ != nullptr) {
    for (const auto& [n, v] : route_->config->responseHeaders.add) appendHeader(h, n, v);
  }
  if (closeAfterResponse_) {
    h.append(std::string_view("Connection: close\r\n"));
  } else if (clientHttp10_) {
    h.append(std::string_view("Connection: keep-alive\r\n"));
  }
  h.append(std::string_view("\r\n"));
  if (!headIsHead_) out_.append(body);
  responseStarted_ = true;
  respState_ = RespState::kDone;
  finishTransaction();
}

bool HttpSession::flushClient() {
  if (out_.empty()) return false;
  std::size_t wrote = 0;
  Stream::Io r = stream_.flush(out_, wrote);
  bytesOut_ += wrote;
  if (r == Stream::Io::kError) {
    closeNow();
    return true;
  }
  if (out_.empty() && reqState_ == ReqState::kHead && respState_ == RespState::kNone) out_.release();
  return wrote > 0;
}

void HttpSession::setTimer(TimerKind kind, std::chrono::milliseconds after) {
  timerKind_ = kind;
  worker_.loop().arm(timer_, after);
}

void HttpSession::onTimer() {
  if (closed_) return;
  TimerKind kind = timerKind_;
  timerKind_ = TimerKind::kNone;
  switch (kind) {
    case TimerKind::kNone:
      return;
    case TimerKind::kKeepAlive:
    case TimerKind::kLinger:
      closeNow();
      return;
    case TimerKind::kHeader:
      if (in_.empty() && reqState_ == ReqState::kHead) {
        closeNow();
        return;
      }
      if (reqState_ == ReqState::kHead) {
        reqStart_ = worker_.loop().now();
        logged_ = false;
        worker_.newRequestId(requestId_);
        requestIdLen_ = 32;
        decision_ = "reject";
        sendLocal(408, "request header timeout", RejectReason::kHeaderTimeout, true);
      }
      break;
    case TimerKind::kConnect:
      upstreamFailed(504, RejectReason::kOriginTimeout, "origin connect timeout", true);
      break;
    case TimerKind::kFirstByte:
      if (reqState_ != ReqState::kDone) {
        decision_ = "reject";
        sendLocal(408, "request body timeout", RejectReason::kHeaderTimeout, true);
        break;
      }
      // The origin may have acted on the request: never retried.
      upstreamGotBytes_ = true;
      upstreamFailed(504, RejectReason::kOriginTimeout, "origin did not answer in time", true);
      break;
    case TimerKind::kIdle:
      if (responseStarted_) {
        closeNow();
      } else {
        upstreamGotBytes_ = true;
        upstreamFailed(504, RejectReason::kOriginTimeout, "origin idle timeout", true);
      }
      break;
  }
  drive();
}

void HttpSession::beginLingeringClose() {
  // Half-close and discard what the client still sends for a moment, so that our final response is not
  // destroyed by a TCP reset caused by unread request bytes.
  closing_ = true;
  in_.clear();
  if (stream_.ssl != nullptr) tlsShutdown(stream_.ssl);
  ::shutdown(stream_.fd, SHUT_WR);
  setTimer(TimerKind::kLinger, kLingerTime);
  if (clientEof_) closeNow();
}

void HttpSession::drainSoon() {
  if (closed_) return;
  if (reqState_ == ReqState::kHead && respState_ == RespState::kNone && in_.empty() && out_.empty()) {
    closeNow();
    return;
  }
  closeAfterResponse_ = true;
}

void HttpSession::logAndCount() {
  if (logged_) return;
  logged_ = true;
  const Runtime& rt = rt_ ? *rt_->rt : *worker_.current()->rt;
  int cls = status_ / 100;
  if (cls < 1 || cls > 5) cls = 5;
  const auto now = worker_.loop().now();
  const uint64_t micros =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - reqStart_).count());
  if (route_ != nullptr) {
    route_->byClass[cls]->add(worker_.shard());
    route_->latency->observeMicros(worker_.shard(), micros);
  } else {
    rt.metrics.unmatchedByClass[cls]->add(worker_.shard());
  }
  AccessLogWriter& log = worker_.accessLog();
  if (!log.enabled()) return;
  std::string& b = log.buffer();
  b += "{\"time\":\"";
  appendUtcTimestamp(b);
  b += "\",\"request_id\":\"";
  appendJsonEscaped(b, std::string_view(requestId_, requestIdLen_));
  b += "\",\"client\":\"";
  appendJsonEscaped(b, clientIp_);
  b += "\",\"client_port\":";
  appendDecimal(b, clientPort_);
  b += ",\"method\":\"";
  appendJsonEscaped(b, method_);
  b += "\",\"host\":\"";
  appendJsonEscaped(b, host_);
  b += "\",\"path\":\"";
  // PCI DSS: card numbers in query strings never reach the access log (cheap digit count first).
  if (std::count_if(target_.begin(), target_.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) >= 13) {
    appendJsonEscaped(b, waf::maskCardNumbers(target_));
  } else {
    appendJsonEscaped(b, target_);
  }
  b += "\",\"status\":";
  appendDecimal(b, static_cast<uint64_t>(status_));
  b += ",\"bytes_in\":";
  appendDecimal(b, bytesIn_);
  b += ",\"bytes_out\":";
  appendDecimal(b, bytesOut_ + out_.size());
  b += ",\"duration_ms\":";
  char num[32];
  std::snprintf(num, sizeof num, "%.3f", static_cast<double>(micros) / 1000.0);
  b += num;
  b += ",\"upstream_ms\":";
  if (origin_ >= 0 && firstByteAt_ >= upstreamStart_ && responseStarted_ &&
      decision_ == std::string_view("proxy")) {
    std::snprintf(num, sizeof num, "%.3f",
                  std::chrono::duration<double, std::milli>(firstByteAt_ - upstreamStart_).count());
    b += num;
  } else {
    b += "null";
  }
  b += ",\"route\":\"";
  if (route_ != nullptr) appendJsonEscaped(b, route_->config->name);
  b += "\",\"pool\":\"";
  if (route_ != nullptr && route_->pool >= 0) appendJsonEscaped(b, route_->config->pool);
  b += "\",\"origin\":\"";
  if (route_ != nullptr && route_->pool >= 0 && origin_ >= 0) {
    appendJsonEscaped(b, rt.pools[static_cast<std::size_t>(route_->pool)]
                             .shared->config.origins[static_cast<std::size_t>(origin_)]
                             .address.text);
  }
  b += "\",\"tls\":";
  b += listener_->tls ? "true" : "false";
  b += ",\"decision\":\"";
  b += decision_;
  b += '"';
  if (rejectReason_ != RejectReason::kCount) {
    b += ",\"reason\":\"";
    b += rejectReasonName(rejectReason_);
    b += '"';
  }
  if (!shieldRule_.empty()) {
    b += ",\"rule\":\"";
    appendJsonEscaped(b, shieldRule_);
    b += '"';
  }
  b += "}\n";
  log.lineDone();
}

void HttpSession::closeNow() {
  if (closed_) return;
  closed_ = true;
  if (!logged_ && (reqState_ != ReqState::kHead || respState_ != RespState::kNone)) {
    if (status_ == 0) status_ = 499;  // client went away, or the response was cut (nginx's convention)
    if (decision_ == std::string_view("proxy")) decision_ = "aborted";
    finishWaf();
    logAndCount();
  }
  if (waf_) finishWaf();
  endShieldRequest();
  if (const shield::Shield* sh = acceptedRt_->rt->shield.get()) sh->connectionClosed(ticket_);
  if (bodyRateTimer_) bodyRateTimer_->cancel();
  releaseUpstream(false);
  timer_.cancel();
  worker_.loop().remove(stream_.fd);
  stream_.close();
  worker_.sessionClosed(this);
  worker_.loop().defer([this] { delete this; });
}

}  // namespace bulwark::http

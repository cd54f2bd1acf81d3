// The HTTP/1.1 proxy state machine: one HttpSession per client connection, one UpstreamConn per origin
// connection. Both run on their worker's thread only.
//
// Flow of one request: read the head -> parse (strict; errors are answered and the connection closed) ->
// route -> direct answer, or pick an origin -> take a kept-alive origin connection or connect -> send
// the rewritten head and stream the body (re-framed exactly as parsed) -> parse the response head ->
// stream the response body back -> park the origin connection, log, and go on with the next (pipelined)
// request. Buffers in both directions stop reading at a watermark, so memory per connection is bounded
// whatever the body sizes. Every path that gives up closes the origin connection (never reused after an
// error) so no response can be attributed to the wrong request.
#pragma once

#include <netinet/in.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "http/h1/chunked.h"
#include "http/h1/parser.h"
#include "http/worker.h"
#include "waf/engine/transaction.h"

namespace bulwark::http {

// A non-blocking socket, plain or TLS. Edge-triggered: readable_/writable_ remember readiness until an
// operation reports EAGAIN (or the TLS equivalent).
struct Stream {
  enum class Io { kOk, kAgain, kEof, kError };

  int fd = -1;
  SSL* ssl = nullptr;
  bool readable = true;
  bool writable = true;
  bool handshakeDone = true;
  bool peerClosed = false;  // EPOLLRDHUP/EPOLLHUP seen: read until EOF, a short read may not be the end

  // Reads up to `max` bytes into `buf`.
  Io readSome(Buffer& buf, std::size_t max, std::size_t& got);
  // Writes as much of `buf` as the socket takes, consuming what was written.
  Io flush(Buffer& buf, std::size_t& wrote);
  // Drives the TLS handshake; kOk when done.
  Io handshake();
  void close();
};

class UpstreamConn final : public IoHandler {
 public:
  UpstreamConn(Worker& worker, std::string key, int pool, int origin);
  ~UpstreamConn() override;

  void onIoEvents(uint32_t events) override;

  Worker& worker;
  Stream stream;
  Buffer in;
  Buffer out;
  std::string key;
  int pool;
  int origin;
  bool connecting = true;     // TCP connect (and TLS handshake) not yet finished
  bool tcpConnected = false;  // TCP part done (a TLS handshake may still be running)
  bool reused = false;        // taken from the keep-alive pool
  bool closed = false;
  bool cleanEof = true;          // the origin's close was clean (TLS close_notify, or plain TCP)
  HttpSession* owner = nullptr;  // null while idle in the keep-alive pool
  Timer idleTimer;               // closes the connection when it has sat idle in the pool too long
};

class HttpSession final : public IoHandler {
 public:
  HttpSession(Worker& worker, int fd, const sockaddr_storage& peer, const ListenerRuntime& listener,
              const shield::ConnectionTicket& ticket);
  ~HttpSession() override;

  void onIoEvents(uint32_t events) override;
  void onUpstreamEvents(uint32_t events);
  // Starts the connection (TLS handshake or first read).
  void start();
  // Drain: close now if idle between requests, else close after the current response.
  void drainSoon();
  // Closes the connection now (drain time over, or the worker is stopping).
  void abort() { closeNow(); }
  std::size_t index = 0;  // position in Worker::sessions_

 private:
  enum class ReqState : uint8_t { kHead, kBody, kDone };
  enum class RespState : uint8_t { kNone, kWaitHead, kBody, kDone };
  enum class TimerKind : uint8_t { kNone, kKeepAlive, kHeader, kConnect, kFirstByte, kIdle, kLinger };
  class Headers;

  void drive();
  bool readClient();
  bool processClientInput();
  bool forwardRequestBody();
  bool readUpstream();
  bool processUpstreamInput();
  bool flushClient();
  bool flushUpstream();
  void startRequest(const h1::RequestHead& head, std::size_t headBytes);
  bool connectUpstream(int origin);
  void sendRequestHeadUpstream();
  void onUpstreamConnected();
  void upstreamFailed(int status, RejectReason reason, const char* why, bool countAsOriginFailure);
  void beginResponse(const h1::ResponseHead& head);
  void finishUpstreamHead();
  void pickOriginAndConnect();
  bool holdRequestBody();
  void releaseHeldBody();
  void emitResponseBody(std::string_view d);
  void emitResponseEnd();
  // WAF: each returns false (or true for wafBlocked) when the request was blocked and answered.
  bool startWaf(const h1::RequestHead& head);
  bool wafBlocked();
  bool wafResponseHeaders(const h1::ResponseHead& head, std::string_view rawHead);
  void releaseHeldResponse();
  void finishWaf();
  void finishTransaction();
  // Shield: each returns false when the connection or request was refused (and answered or closed).
  bool readProxyHeader();
  bool shieldRequest(const h1::RequestHead& head, int route);
  void shieldRefuse(int status, std::string_view body, RejectReason reason, std::string_view rule,
                    std::string_view decision);
  void shieldStrike();
  void shieldEvent(std::string_view decision, std::string_view rule);
  void endShieldRequest();
  void checkBodyRate();
  int64_t nowMs() const noexcept;
  void releaseUpstream(bool reusable);
  void sendLocal(int status, std::string_view body, RejectReason reason, bool close);
  void sendLocalResponse(int status, std::string_view contentType, std::string_view body, bool close);
  void rejectParse(h1::ParseError err);
  void setTimer(TimerKind kind, std::chrono::milliseconds after);
  void onTimer();
  void closeNow();
  void beginLingeringClose();
  void logAndCount();
  void resetForNextRequest();
  bool clientWantsRead() const noexcept;

  Worker& worker_;
  Stream stream_;
  Buffer in_;
  Buffer out_;
  const ListenerRuntime* listener_;  // valid while the snapshot that accepted it lives (held below)
  std::shared_ptr<WorkerRuntime> acceptedRt_;
  std::shared_ptr<WorkerRuntime> rt_;  // snapshot of the current request
  const RouteRuntime* route_ = nullptr;
  UpstreamConn* up_ = nullptr;
  Timer timer_;
  TimerKind timerKind_ = TimerKind::kNone;

  ReqState reqState_ = ReqState::kHead;
  RespState respState_ = RespState::kNone;
  h1::BodyFraming reqFraming_ = h1::BodyFraming::kNone;
  h1::BodyFraming respFraming_ = h1::BodyFraming::kNone;
  bool respChunkedToClient_ = false;
  bool clientKeepAlive_ = true;
  bool clientHttp10_ = false;
  bool closeAfterResponse_ = false;
  bool closing_ = false;  // lingering close in progress: only discard input
  bool closed_ = false;
  bool clientEof_ = false;
  bool expectContinue_ = false;
  bool headIsHead_ = false;  // request method is HEAD
  bool idempotent_ = false;
  bool responseStarted_ = false;  // response bytes were queued to the client
  bool upstreamGotBytes_ = false;
  bool upstreamHeadSent_ = false;
  uint8_t attempts_ = 0;
  bool freeRetryUsed_ = false;
  bool zeroLengthBody_ = false;  // the client sent `Content-Length: 0`  // the one extra attempt after a
                                 // reused keep-alive connection failed
  int origin_ = -1;
  int excludeOrigin_ = -1;
  int status_ = 0;
  RejectReason rejectReason_ = RejectReason::kCount;
  uint64_t reqRemaining_ = 0;
  uint64_t respRemaining_ = 0;
  uint64_t bytesIn_ = 0;
  uint64_t bytesOut_ = 0;
  uint64_t reqBodyBytes_ = 0;
  h1::ChunkedDecoder reqChunks_;
  h1::ChunkedDecoder respChunks_;
  SteadyClock::time_point reqStart_{};
  SteadyClock::time_point upstreamStart_{};
  SteadyClock::time_point firstByteAt_{};
  std::string clientIp_;  // the client as logged and shown to the WAF (X-Forwarded-For/PROXY aware)
  uint16_t clientPort_ = 0;
  shield::IpAddress connAddr_;       // the address the connection is known by (TCP peer or PROXY source)
  shield::IpAddress clientAddr_;     // clientIp_ as an address
  shield::ConnectionTicket ticket_;  // counts in the shield's tables; given back when the session ends
  bool awaitingProxyHeader_ = false;
  bool shieldRequestCounted_ = false;  // counted in max_requests_per_ip until the transaction ends
  bool clientAllowListed_ = false;
  uint32_t retryAfter_ = 0;               // Retry-After of the local response being sent (0: none)
  std::string_view shieldRule_;           // the shield rule that decided this request (for the access log)
  std::string forwardedFor_;              // X-Forwarded-For received from a trusted proxy (joined)
  uint64_t bodyRateMark_ = 0;             // request body bytes read when the current rate window began
  std::unique_ptr<Timer> bodyRateTimer_;  // checks shield.connections.min_body_rate (made on first use)
  std::string method_;
  std::string target_;
  std::string host_;
  std::string upstreamHead_;  // kept until the response starts, for a retry on another origin
  std::string hashKey_;       // consistent-hash key of the current request
  char requestId_[64];
  uint8_t requestIdLen_ = 0;
  bool closeWhenFlushed_ = false;
  std::size_t pendingHeadBytes_ = 0;  // head bytes still in in_ while startRequest() runs
  bool logged_ = true;                // the current transaction was logged (true between transactions)
  bool requestSent_ = false;          // request head and body fully written to the origin
  bool upstreamKeepAlive_ = false;    // the origin's response allows reusing its connection
  const char* decision_ = "";
  // WAF state of the current request (null when the route's WAF mode is off).
  std::unique_ptr<waf::Transaction> waf_;
  bool wafHoldBody_ = false;          // request body held for phase 2
  bool heldBodyDone_ = false;         // the held body is the whole body (sent with Content-Length)
  bool wafHoldResp_ = false;          // response head and body held for phase 4
  bool wafResponseSeen_ = false;      // phase 3 ran
  bool wafResponseBodyDone_ = false;  // phase 4 ran
  std::string heldReqBody_;
  std::string heldRespHead_;
  std::string heldRespBody_;
};

}  // namespace bulwark::http

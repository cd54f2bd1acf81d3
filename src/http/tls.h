// TLS contexts for the gateway: one server context per listener, one client context per TLS origin pool,
// and non-blocking I/O helpers that turn OpenSSL's error codes into a five-way result.
//
// Threading: a context is immutable once create() returns and is shared by every worker thread; only
// newSession() is called on it, concurrently (SSL_new on a shared SSL_CTX is thread-safe). An SSL session
// belongs to the worker that created it and is used from that thread only.
// Lifetime: a session keeps the OpenSSL state it needs alive by reference counting, so a context may be
// destroyed (config reload) while sessions it created are still in their handshake or in use.
// Errors: create() reports configuration problems as text; the data plane never throws. After kError the
// reason sits in this thread's OpenSSL error queue until tlsLastError() takes it.
//
// Policy (see docs/tls.md): TLS 1.2 and 1.3 only; for TLS 1.2 only ECDHE key exchange with AEAD ciphers;
// no compression, no renegotiation; session tickets on, no server-side session cache.
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"

namespace bulwark::http {

// Frees an SSL session; for callers that want RAII ownership of what newSession() returns.
struct SslDeleter {
  void operator()(SSL* ssl) const noexcept;
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// Terminates TLS on a listener. Every configured certificate gets its own SSL_CTX; the one to present is
// chosen from the client's SNI (exact name first, then a one-label wildcard), falling back to the first
// certificate. ALPN picks the first protocol of ListenerTls::alpn the client also offers; a client whose
// offer has no overlap continues without ALPN (HTTP/1.1) instead of being refused.
class TlsServerContext {
 public:
  static constexpr std::size_t kDefaultCertificate = 0;

  // Loads and checks every certificate and key. On failure returns nullptr and sets `error`, e.g.
  // "cert /etc/bulwark/a.pem: No such file or directory" or "key /etc/bulwark/a.key: does not match cert
  // /etc/bulwark/a.pem". Encrypted keys are refused rather than prompting for a passphrase. Also refused:
  // a server name claimed by two certificates' server_names, and a certificate after the first that has
  // no usable name (SNI could never select it). A name from server_names wins over one read from a
  // certificate; among names read from certificates the earlier certificate wins.
  static std::unique_ptr<TlsServerContext> create(const ListenerTls& cfg, std::string& error);

  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // A server-side session on the accepted socket `fd`, in accept state (the handshake runs on the first
  // tlsHandshake()). nullptr if OpenSSL cannot allocate. The caller owns the result (SSL_free / SslPtr).
  SSL* newSession(int fd) const noexcept;

  // Index into ListenerTls::certificates of the certificate served for `serverName` (SNI as sent, any
  // case, optional trailing dot). Exposed for tests and the admin page; the handshake uses the same lookup.
  std::size_t certificateFor(std::string_view serverName) const noexcept;

  // The names each certificate serves: ListenerTls::certificates[i].serverNames, or those read from the
  // certificate (lower-cased). Wildcards are kept as written ("*.example.com").
  const std::vector<std::vector<std::string>>& serverNames() const noexcept;

  // Shared with the OpenSSL callbacks; its lifetime follows the default SSL_CTX (see the file comment).
  struct Selector;

 private:
  TlsServerContext(SSL_CTX* defaultCtx, const Selector* selector) noexcept;

  SSL_CTX* defaultCtx_;       // owned reference; sessions start on it and may switch after SNI
  const Selector* selector_;  // owned by defaultCtx_ (freed with it)
};

// Originates TLS to the origins of one pool: TLS 1.2+, ALPN "http/1.1", and, when OriginTls::verify is
// set, the origin's chain is verified against OriginTls::caFile (or the system trust store) and its name
// against OriginTls::sni or the origin host.
class TlsClientContext {
 public:
  // nullptr and `error` ("ca FILE: reason") when the CA bundle cannot be loaded.
  static std::unique_ptr<TlsClientContext> create(const OriginTls& cfg, std::string& error);

  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  // A client-side session on the connected socket `fd`, in connect state. The name sent as SNI and
  // verified is OriginTls::sni if set, else `originHost`; an IP literal ("10.0.0.5", "::1", "[::1]") is
  // never sent as SNI (RFC 6066) and is verified against the certificate's IP addresses. nullptr if
  // OpenSSL cannot allocate or the name is unusable.
  SSL* newSession(int fd, const std::string& originHost) const noexcept;

 private:
  TlsClientContext(SSL_CTX* ctx, const OriginTls& cfg);

  SSL_CTX* ctx_;  // owned reference
  std::string sni_;
  bool verify_;
};

// Result of one non-blocking TLS operation.
enum class TlsIo {
  kOk,         // done (handshake complete / `n` bytes moved, n > 0 unless 0 were asked for)
  kWantRead,   // wait until the socket is readable, then call the same function again
  kWantWrite,  // wait until the socket is writable, then call the same function again (same buffer)
  kClosed,     // the peer ended the stream; tlsPeerClosedCleanly() tells close_notify from a bare EOF
  kError,      // protocol or socket error: free the session without tlsShutdown(); see tlsLastError()
};

// Each helper clears this thread's OpenSSL error queue first, so a result never reflects an old error.
TlsIo tlsHandshake(SSL* ssl) noexcept;
TlsIo tlsRead(SSL* ssl, char* buf, std::size_t cap, std::size_t& n) noexcept;
// With partial writes enabled, kOk may report n < len; after kWantRead/kWantWrite pass the same bytes again.
TlsIo tlsWrite(SSL* ssl, const char* data, std::size_t len, std::size_t& n) noexcept;
// Sends close_notify without waiting for the peer's; kOk once it is sent. Call it before freeing a healthy
// session: OpenSSL marks a session freed without close_notify as not resumable.
TlsIo tlsShutdown(SSL* ssl) noexcept;

// True if the peer sent close_notify. A bare TCP EOF is also reported as kClosed (clients commonly close
// that way); a body delimited only by connection close must check this, since a bare EOF may be a
// truncation.
bool tlsPeerClosedCleanly(const SSL* ssl) noexcept;

// Views valid while the session lives; empty when absent.
std::string_view negotiatedAlpn(const SSL* ssl) noexcept;
std::string_view sniName(const SSL* ssl) noexcept;     // the server name the client sent (server side)
std::string_view tlsVersion(const SSL* ssl) noexcept;  // "TLSv1.3", for the access log
std::string_view tlsCipher(const SSL* ssl) noexcept;   // "TLS_AES_128_GCM_SHA256"

// Drains this thread's OpenSSL error queue into one line ("reason; reason"), adding the certificate
// verification result of `ssl` when it failed ("certificate verify failed (Hostname mismatch)").
// Returns "unknown TLS error" when there is nothing to report.
std::string tlsLastError(const SSL* ssl = nullptr);

}  // namespace bulwark::http

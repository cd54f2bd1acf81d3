#include "http/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <system_error>
#include <utility>

namespace bulwark::http {
namespace {

// TLS 1.2 suites: ECDHE only (forward secrecy) and AEAD only (no CBC padding oracles); ECDSA before RSA
// and AES-128-GCM first since it is as safe and cheaper. TLS 1.3 suites are all AEAD; OpenSSL's default
// list is kept.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";

// One value for every server SSL_CTX, so that a session moved to another SSL_CTX by SNI keeps a context
// its ticket is resumed under. Tickets never cross listeners anyway: each listener has its own ticket keys.
constexpr const unsigned char kSessionIdContext[] = "bulwark";

// DNS names are at most 253 characters (255 octets on the wire); longer SNI cannot match anything.
constexpr std::size_t kMaxHostName = 253;

constexpr std::string_view kOriginAlpn = "\x08http/1.1";

struct CtxFree {
  void operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

// Encrypted keys would otherwise make OpenSSL prompt on the terminal and block start-up. `userdata`, when
// set, is a bool raised so that the caller can name the problem.
int refusePassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* userdata) {
  if (userdata != nullptr) *static_cast<bool*>(userdata) = true;
  return -1;
}

char toLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Lower-cases and drops one trailing dot, the forms in which SNI and certificate names are compared.
std::string normalizeName(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  for (char& c : out) c = toLowerAscii(c);
  return out;
}

bool isHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

// A normalized host name, or "*." followed by one: the only wildcard form we match (one whole label).
bool isUsableServerName(std::string_view name) {
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.empty() || name.size() > kMaxHostName || name.front() == '.' || name.find("..") != name.npos) {
    return false;
  }
  for (char c : name) {
    if (!isHostNameChar(c)) return false;
  }
  return true;
}

bool isIpLiteral(const char* host) {
  unsigned char addr[sizeof(in6_addr)];
  return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

// DNS names from the subjectAltName extension; the subject CN only when there are none (RFC 6125 6.4.4).
std::vector<std::string> namesFromCertificate(X509* cert) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type != GEN_DNS) continue;
      const ASN1_IA5STRING* dns = gn->d.dNSName;
      std::string_view raw(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                           static_cast<std::size_t>(ASN1_STRING_length(dns)));
      std::string name = normalizeName(raw);
      if (isUsableServerName(name)) names.push_back(std::move(name));
    }
    GENERAL_NAMES_free(sans);
  }
  if (!names.empty()) return names;

  X509_NAME* subject = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return names;
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
  if (len > 0) {
    std::string name = normalizeName(std::string_view(reinterpret_cast<const char*>(utf8), len));
    if (isUsableServerName(name)) names.push_back(std::move(name));
  }
  OPENSSL_free(utf8);
  return names;
}

// Settings shared by server and client contexts.
bool configureCommon(SSL_CTX* ctx, int minVersion) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Idle connections dominate memory: RELEASE_BUFFERS frees the record buffers between reads/writes.
  // PARTIAL_WRITE + MOVING_WRITE_BUFFER let the event loop write from whatever buffer it holds when retried.
  SSL_CTX_set_mode(
      ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return SSL_CTX_set_min_proto_version(ctx, minVersion) == 1 &&
         SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
         SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) == 1 && SSL_CTX_set1_groups_list(ctx, kGroups) == 1;
}

std::string alpnWireFormat(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) {
    wire.push_back(static_cast<char>(p.size()));
    wire += p;
  }
  return wire;
}

TlsIo mapSslResult(SSL* ssl, int ret) noexcept {
  switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
      return TlsIo::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return TlsIo::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      return TlsIo::kClosed;
    case SSL_ERROR_SSL: {
      // OpenSSL 3 reports a TCP EOF without close_notify as a protocol error. It is how most clients hang
      // up, so it counts as a close; tlsPeerClosedCleanly() still tells the two apart.
      unsigned long e = ERR_peek_error();
      if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        return TlsIo::kClosed;
      }
      return TlsIo::kError;
    }
    default:  // SSL_ERROR_SYSCALL (reset, broken pipe) and callback states we never enable
      return TlsIo::kError;
  }
}

// "PEM lib", "system lib": common reasons that only say a lower layer failed, which its own entry in the
// queue already describes.
bool isForwardingError(unsigned long e) {
  int base = ERR_GET_REASON(e) & ((1 << ERR_RFLAGS_OFFSET) - 1);
  return ERR_COMMON_ERROR(e) && base > 0 && base < ERR_LIB_USER;
}

// OpenSSL often stacks the same reason at several layers ("No such file or directory; no such file").
bool repeatsEarlierError(std::string_view earlier, std::string_view item) {
  auto lower = [](std::string_view text) {
    std::string out(text);
    for (char& c : out) c = toLowerAscii(c);
    return out;
  };
  return lower(earlier).find(lower(item)) != std::string::npos;
}

std::string_view cStringView(const char* s) {
  return s == nullptr ? std::string_view() : std::string_view(s);
}

}  // namespace

void SslDeleter::operator()(SSL* ssl) const noexcept { SSL_free(ssl); }

// The SNI table and ALPN list, reached from the OpenSSL callbacks. Owned by the default SSL_CTX through
// ex_data, so it lives as long as any session (each session holds a reference to its initial SSL_CTX).
struct TlsServerContext::Selector {
  std::vector<SSL_CTX*> ctxs;  // index = certificate; [0] is the owner (not referenced), others referenced
  std::map<std::string, std::size_t, std::less<>> exact;
  std::map<std::string, std::size_t, std::less<>> wildcard;  // key: the part after "*."
  std::vector<std::vector<std::string>> names;
  std::string alpnWire;  // ListenerTls::alpn in ALPN wire format, server preference order

  Selector() = default;
  Selector(const Selector&) = delete;
  Selector& operator=(const Selector&) = delete;
  ~Selector() {
    for (std::size_t i = 1; i < ctxs.size(); ++i) SSL_CTX_free(ctxs[i]);
  }

  std::size_t find(std::string_view serverName) const noexcept {
    if (!serverName.empty() && serverName.back() == '.') serverName.remove_suffix(1);
    if (serverName.empty() || serverName.size() > kMaxHostName) return kDefaultCertificate;
    std::array<char, kMaxHostName> buf;
    for (std::size_t i = 0; i < serverName.size(); ++i) buf[i] = toLowerAscii(serverName[i]);
    std::string_view name(buf.data(), serverName.size());
    if (auto it = exact.find(name); it != exact.end()) return it->second;
    std::size_t dot = name.find('.');
    if (dot == 0 || dot == name.npos) return kDefaultCertificate;
    if (auto it = wildcard.find(name.substr(dot + 1)); it != wildcard.end()) return it->second;
    return kDefaultCertificate;
  }
};

namespace {

void freeSelector(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                  void* /*argp*/) {
  delete static_cast<TlsServerContext::Selector*>(ptr);
}

int selectorIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, freeSelector);
  return index;
}

// Runs once per ClientHello, before the certificate is chosen: moves the session to the SSL_CTX holding
// the certificate for the requested name. No SNI or an unknown name keeps the default certificate.
int onServerName(SSL* ssl, int* alert, void* arg) {
  const auto* selector = static_cast<const TlsServerContext::Selector*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  SSL_CTX* target = selector->ctxs[selector->find(name)];
  if (SSL_get_SSL_CTX(ssl) != target && SSL_set_SSL_CTX(ssl, target) == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

// Server preference: the first of our protocols the client offers. No overlap is not fatal (NOACK): the
// client then speaks HTTP/1.1, which every client offering ALPN to an HTTP gateway understands.
int onAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
           unsigned int inlen, void* arg) {
  const std::string& ours = static_cast<const TlsServerContext::Selector*>(arg)->alpnWire;
  for (std::size_t i = 0; i < ours.size(); i += 1 + static_cast<unsigned char>(ours[i])) {
    std::string_view proto(ours.data() + i + 1, static_cast<unsigned char>(ours[i]));
    for (unsigned int j = 0; j < inlen; j += 1 + in[j]) {
      unsigned int len = in[j];
      if (j + 1 + len > inlen) break;
      if (len == proto.size() && std::memcmp(in + j + 1, proto.data(), len) == 0) {
        *out = in + j + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// A server SSL_CTX with the listener's policy and callbacks but no certificate yet.
CtxPtr newServerCtx(int minVersion, TlsServerContext::Selector* selector) {
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx || !configureCommon(ctx.get(), minVersion)) return nullptr;
  SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_clear_options(ctx.get(), SSL_OP_NO_TICKET);
  // Resumption comes from stateless tickets; a server-side cache would cost memory and a lock shared by
  // all workers. Ticket keys belong to the default SSL_CTX, so they hold whichever certificate SNI chose.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_default_passwd_cb(ctx.get(), refusePassphrase);
  if (SSL_CTX_set_session_id_context(ctx.get(), kSessionIdContext, sizeof(kSessionIdContext) - 1) != 1) {
    return nullptr;
  }
  SSL_CTX_set_tlsext_servername_callback(ctx.get(), onServerName);
  SSL_CTX_set_tlsext_servername_arg(ctx.get(), selector);
  if (!selector->alpnWire.empty()) SSL_CTX_set_alpn_select_cb(ctx.get(), onAlpn, selector);
  return ctx;
}

bool parseMinVersion(const std::string& text, int& version) {
  if (text == "1.2") {
    version = TLS1_2_VERSION;
  } else if (text == "1.3") {
    version = TLS1_3_VERSION;
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<TlsServerContext> TlsServerContext::create(const ListenerTls& cfg, std::string& error) {
  int minVersion = 0;
  if (!parseMinVersion(cfg.minVersion, minVersion)) {
    error = "min_version \"" + cfg.minVersion + "\": expected \"1.2\" or \"1.3\"";
    return nullptr;
  }
  if (cfg.certificates.empty()) {
    error = "tls: at least one certificate is required";
    return nullptr;
  }
  for (const std::string& p : cfg.alpn) {
    if (p.empty() || p.size() > 255) {
      error = "alpn \"" + p + "\": a protocol name is 1 to 255 bytes";
      return nullptr;
    }
  }

  auto selector = std::make_unique<Selector>();
  selector->alpnWire = alpnWireFormat(cfg.alpn);
  selector->ctxs.reserve(cfg.certificates.size());  // push_back below must not throw while holding a ref
  CtxPtr defaultCtx;
  ERR_clear_error();
  for (const TlsCertificate& cert : cfg.certificates) {
    CtxPtr ctx = newServerCtx(minVersion, selector.get());
    if (!ctx) {
      error = "tls: cannot create context: " + tlsLastError();
      return nullptr;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.certFile.c_str()) != 1) {
      error = "cert " + cert.certFile + ": " + tlsLastError();
      return nullptr;
    }
    // Loading the key already compares it with the certificate; say so plainly when that is the failure.
    bool askedPassphrase = false;
    SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), &askedPassphrase);
    int loaded = SSL_CTX_use_PrivateKey_file(ctx.get(), cert.keyFile.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), nullptr);
    if (loaded != 1) {
      if (askedPassphrase) {
        ERR_clear_error();
        error = "key " + cert.keyFile + ": encrypted private keys are not supported";
      } else if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
        error =
            "key " + cert.keyFile + ": does not match cert " + cert.certFile + " (" + tlsLastError() + ")";
      } else {
        error = "key " + cert.keyFile + ": " + tlsLastError();
      }
      return nullptr;
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
      error = "key " + cert.keyFile + ": does not match cert " + cert.certFile + " (" + tlsLastError() + ")";
      return nullptr;
    }
    if (!defaultCtx) {
      selector->ctxs.push_back(ctx.get());
      defaultCtx = std::move(ctx);
    } else {
      selector->ctxs.push_back(ctx.release());
    }
  }

  // Names given in the config win over names read from certificates; among read names the earlier
  // certificate wins, as an operator listing overlapping certificates would expect.
  selector->names.resize(cfg.certificates.size());
  std::map<std::string, std::size_t> configuredBy;
  for (std::size_t i = 0; i < cfg.certificates.size(); ++i) {
    const TlsCertificate& cert = cfg.certificates[i];
    for (const std::string& written : cert.serverNames) {
      std::string name = normalizeName(written);
      if (!isUsableServerName(name)) {
        error = "cert " + cert.certFile + ": server name \"" + written +
                "\" is neither a host name nor a \"*.domain\" wildcard";
        return nullptr;
      }
      if (auto [it, inserted] = configuredBy.emplace(name, i); !inserted) {
        error = "cert " + cert.certFile + ": server name \"" + written + "\" is already served by cert " +
                cfg.certificates[it->second].certFile;
        return nullptr;
      }
      selector->names[i].push_back(name);
    }
  }
  for (std::size_t i = 0; i < cfg.certificates.size(); ++i) {
    if (!cfg.certificates[i].serverNames.empty()) continue;
    selector->names[i] = namesFromCertificate(SSL_CTX_get0_certificate(selector->ctxs[i]));
    if (selector->names[i].empty() && i != kDefaultCertificate) {
      error = "cert " + cfg.certificates[i].certFile +
              ": no DNS name in subjectAltName or CN, so SNI can never select it; set server_names";
      return nullptr;
    }
  }
  for (bool configured : {true, false}) {
    for (std::size_t i = 0; i < selector->names.size(); ++i) {
      if (cfg.certificates[i].serverNames.empty() == configured) continue;
      for (const std::string& name : selector->names[i]) {
        if (name.starts_with("*.")) {
          selector->wildcard.emplace(name.substr(2), i);
        } else {
          selector->exact.emplace(name, i);
        }
      }
    }
  }

  if (SSL_CTX_set_ex_data(defaultCtx.get(), selectorIndex(), selector.get()) != 1) {
    error = "tls: cannot attach SNI table: " + tlsLastError();
    return nullptr;
  }
  const Selector* owned = selector.release();
  return std::unique_ptr<TlsServerContext>(new TlsServerContext(defaultCtx.release(), owned));
}

TlsServerContext::TlsServerContext(SSL_CTX* defaultCtx, const Selector* selector) noexcept
    : defaultCtx_(defaultCtx), selector_(selector) {}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(defaultCtx_); }

SSL* TlsServerContext::newSession(int fd) const noexcept {
  SslPtr ssl(SSL_new(defaultCtx_));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) return nullptr;
  SSL_set_accept_state(ssl.get());
  return ssl.release();
}

std::size_t TlsServerContext::certificateFor(std::string_view serverName) const noexcept {
  return selector_->find(serverName);
}

const std::vector<std::vector<std::string>>& TlsServerContext::serverNames() const noexcept {
  return selector_->names;
}

std::unique_ptr<TlsClientContext> TlsClientContext::create(const OriginTls& cfg, std::string& error) {
  ERR_clear_error();
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx || !configureCommon(ctx.get(), TLS1_2_VERSION) ||
      SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(kOriginAlpn.data()),
                              kOriginAlpn.size()) != 0) {  // 0 is success for this one
    error = "tls: cannot create origin context: " + tlsLastError();
    return nullptr;
  }
  if (cfg.verify) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (!cfg.caFile.empty()) {
      if (SSL_CTX_load_verify_locations(ctx.get(), cfg.caFile.c_str(), nullptr) != 1) {
        error = "ca " + cfg.caFile + ": " + tlsLastError();
        return nullptr;
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      error = "ca (system default): " + tlsLastError();
      return nullptr;
    }
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  return std::unique_ptr<TlsClientContext>(new TlsClientContext(ctx.release(), cfg));
}

TlsClientContext::TlsClientContext(SSL_CTX* ctx, const OriginTls& cfg)
    : ctx_(ctx), sni_(cfg.sni), verify_(cfg.verify) {}

TlsClientContext::~TlsClientContext() { SSL_CTX_free(ctx_); }

SSL* TlsClientContext::newSession(int fd, const std::string& originHost) const noexcept {
  std::string_view written = sni_.empty() ? std::string_view(originHost) : std::string_view(sni_);
  if (written.size() >= 2 && written.front() == '[' && written.back() == ']') {
    written = written.substr(1, written.size() - 2);
  }
  if (!written.empty() && written.back() == '.') written.remove_suffix(1);
  if (written.find('\0') != written.npos) return nullptr;  // would be silently cut short below
  // A stack copy: the C APIs below want a terminated string and the data plane does not allocate here.
  std::array<char, kMaxHostName + 1> name{};
  if (written.size() > kMaxHostName) return nullptr;
  for (std::size_t i = 0; i < written.size(); ++i) name[i] = toLowerAscii(written[i]);
  // Without a name there is nothing to check the certificate against: refuse rather than accept any.
  if (verify_ && written.empty()) return nullptr;
  bool ip = isIpLiteral(name.data());

  SslPtr ssl(SSL_new(ctx_));
  if (!ssl) return nullptr;
  if (!ip && !written.empty() && SSL_set_tlsext_host_name(ssl.get(), name.data()) != 1) return nullptr;
  if (verify_) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.data())
                : X509_VERIFY_PARAM_set1_host(param, name.data(), written.size());
    if (ok != 1) return nullptr;
  }
  if (SSL_set_fd(ssl.get(), fd) != 1) return nullptr;
  SSL_set_connect_state(ssl.get());
  return ssl.release();
}

TlsIo tlsHandshake(SSL* ssl) noexcept {
  ERR_clear_error();
  int ret = SSL_do_handshake(ssl);
  return ret == 1 ? TlsIo::kOk : mapSslResult(ssl, ret);
}

TlsIo tlsRead(SSL* ssl, char* buf, std::size_t cap, std::size_t& n) noexcept {
  n = 0;
  if (cap == 0) return TlsIo::kOk;
  ERR_clear_error();
  int ret = SSL_read_ex(ssl, buf, cap, &n);
  return ret == 1 ? TlsIo::kOk : mapSslResult(ssl, ret);
}

TlsIo tlsWrite(SSL* ssl, const char* data, std::size_t len, std::size_t& n) noexcept {
  n = 0;
  if (len == 0) return TlsIo::kOk;
  ERR_clear_error();
  int ret = SSL_write_ex(ssl, data, len, &n);
  return ret == 1 ? TlsIo::kOk : mapSslResult(ssl, ret);
}

TlsIo tlsShutdown(SSL* ssl) noexcept {
  ERR_clear_error();
  int ret = SSL_shutdown(ssl);  // 0: our close_notify is sent, the peer's not yet seen; enough for us
  return ret >= 0 ? TlsIo::kOk : mapSslResult(ssl, ret);
}

bool tlsPeerClosedCleanly(const SSL* ssl) noexcept {
  return (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
}

std::string_view negotiatedAlpn(const SSL* ssl) noexcept {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return data == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data), len);
}

std::string_view sniName(const SSL* ssl) noexcept {
  return cStringView(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
}

std::string_view tlsVersion(const SSL* ssl) noexcept { return cStringView(SSL_get_version(ssl)); }

std::string_view tlsCipher(const SSL* ssl) noexcept {
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  return cipher == nullptr ? std::string_view() : cStringView(SSL_CIPHER_get_name(cipher));
}

std::string tlsLastError(const SSL* ssl) {
  std::string out;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    std::string item;
    if (ERR_GET_LIB(e) == ERR_LIB_SYS) {
      // errno as text; the attached detail only repeats the path ("calling fopen(PATH, r)").
      item = std::generic_category().message(ERR_GET_REASON(e));
    } else if (isForwardingError(e)) {
      continue;
    } else {
      const char* reason = ERR_reason_error_string(e);
      item = reason != nullptr ? reason : "error " + std::to_string(ERR_GET_REASON(e));
      if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
        item += " (";
        item += data;
        item += ")";
      }
    }
    if (repeatsEarlierError(out, item)) continue;
    if (!out.empty()) out += "; ";
    out += item;
  }
  // The verification result says why "certificate verify failed"; without VERIFY_PEER it is noise.
  if (ssl != nullptr && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0) {
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      if (!out.empty()) out += " ";
      out += "(";
      out += X509_verify_cert_error_string(verify);
      out += ")";
    }
  }
  return out.empty() ? "unknown TLS error" : out;
}

}  // namespace bulwark::http

// TLS contexts: certificate selection by SNI, ALPN, protocol policy, origin verification and the
// non-blocking I/O helpers. Keys and certificates are generated at start-up (nothing is checked in); both
// ends of each connection run in this thread over a non-blocking socketpair, stepped in turn.
#include "http/tls.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace bulwark::http {
namespace {

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertFree {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct CtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SessionFree {
  void operator()(SSL_SESSION* session) const { SSL_SESSION_free(session); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionFree>;

void addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr) << value;
  ASSERT_EQ(X509_add_ext(cert, ext, -1), 1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `commonName`, signed by `issuer`/`issuerKey` (self-signed when null).
// `san` is an OpenSSL subjectAltName value ("DNS:a.test,IP:127.0.0.1") or null for none.
CertPtr makeCertificate(const std::string& commonName, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuerKey,
                        const char* san, bool isCa) {
  static long serial = 1;
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : subject);
  X509_set_pubkey(cert.get(), key);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  addExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (isCa) {
    addExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    addExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    addExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    addExtension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    addExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    addExtension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  }
  if (san != nullptr) addExtension(cert.get(), signer, NID_subject_alt_name, san);
  EXPECT_GT(X509_sign(cert.get(), issuerKey != nullptr ? issuerKey : key, EVP_sha256()), 0);
  return cert;
}

void writeCertificate(const std::string& path, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  EXPECT_EQ(PEM_write_X509(f, cert), 1);
  std::fclose(f);
}

void writeKey(const std::string& path, EVP_PKEY* key, const char* passphrase = nullptr) {
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  if (passphrase == nullptr) {
    EXPECT_EQ(PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  } else {
    EXPECT_EQ(
        PEM_write_PrivateKey(f, key, EVP_aes_128_cbc(), reinterpret_cast<const unsigned char*>(passphrase),
                             static_cast<int>(std::strlen(passphrase)), nullptr, nullptr),
        1);
  }
  std::fclose(f);
}

std::string peerCommonName(const SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return "";
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
  return buf;
}

// Both ends of a non-blocking stream socket pair.
struct SocketPair {
  SocketPair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    clientFd = fds[0];
    serverFd = fds[1];
  }
  ~SocketPair() {
    close(clientFd);
    close(serverFd);
  }
  int clientFd;
  int serverFd;
};

bool pending(TlsIo io) { return io == TlsIo::kWantRead || io == TlsIo::kWantWrite; }

struct HandshakeOutcome {
  TlsIo client = TlsIo::kWantWrite;
  TlsIo server = TlsIo::kWantRead;
  std::string clientError;  // tlsLastError() taken when that side failed
  std::string serverError;
  bool ok() const { return client == TlsIo::kOk && server == TlsIo::kOk; }
};

// Steps each side until both are done; a failing side's alert reaches the other within a few steps.
HandshakeOutcome handshake(SSL* client, SSL* server) {
  HandshakeOutcome out;
  for (int step = 0; step < 100 && (pending(out.client) || pending(out.server)); ++step) {
    if (pending(out.client)) {
      out.client = tlsHandshake(client);
      if (out.client == TlsIo::kError) out.clientError = tlsLastError(client);
    }
    if (pending(out.server)) {
      out.server = tlsHandshake(server);
      if (out.server == TlsIo::kError) out.serverError = tlsLastError(server);
    }
  }
  return out;
}

// Moves `data` from `from` to `to`, stepping both so that neither blocks the other; returns what arrived.
std::string transfer(SSL* from, SSL* to, const std::string& data) {
  std::string received;
  std::size_t sent = 0;
  char buf[16384];
  for (int step = 0; step < 100000 && received.size() < data.size(); ++step) {
    std::size_t n = 0;
    if (sent < data.size()) {
      TlsIo io = tlsWrite(from, data.data() + sent, data.size() - sent, n);
      if (io == TlsIo::kOk) {
        sent += n;
      } else if (!pending(io)) {
        ADD_FAILURE() << "write failed: " << tlsLastError(from);
        break;
      }
    }
    TlsIo io = tlsRead(to, buf, sizeof(buf), n);
    if (io == TlsIo::kOk) {
      received.append(buf, n);
    } else if (!pending(io)) {
      ADD_FAILURE() << "read failed: " << tlsLastError(to);
      break;
    }
  }
  return received;
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char pattern[] = "/tmp/bulwark-tls-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;

    KeyPtr caKey(EVP_EC_gen("P-256"));
    ASSERT_NE(caKey, nullptr);
    CertPtr ca = makeCertificate("Bulwark Test CA", caKey.get(), nullptr, nullptr, nullptr, true);
    writeCertificate(path("ca.pem"), ca.get());

    KeyPtr otherCaKey(EVP_EC_gen("P-256"));
    CertPtr otherCa = makeCertificate("Other CA", otherCaKey.get(), nullptr, nullptr, nullptr, true);
    writeCertificate(path("other-ca.pem"), otherCa.get());

    struct Leaf {
      const char* name;
      const char* commonName;
      const char* san;
    };
    const Leaf leaves[] = {
        {"a", "cert-a", "DNS:a.test,IP:127.0.0.1"},
        {"b", "cert-b", "DNS:*.b.test"},
        {"c", "c.test", nullptr},  // names only in the CN
    };
    for (const Leaf& leaf : leaves) {
      KeyPtr key(EVP_EC_gen("P-256"));
      ASSERT_NE(key, nullptr);
      CertPtr cert = makeCertificate(leaf.commonName, key.get(), ca.get(), caKey.get(), leaf.san, false);
      writeCertificate(path(std::string(leaf.name) + ".pem"), cert.get());
      writeKey(path(std::string(leaf.name) + ".key"), key.get());
      if (std::string(leaf.name) == "a") writeKey(path("a-encrypted.key"), key.get(), "secret");
    }
  }

  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  void TearDown() override { ERR_clear_error(); }

  static std::string path(const std::string& file) { return dir_ + "/" + file; }

  static TlsCertificate certificate(const std::string& name) {
    TlsCertificate cert;
    cert.certFile = path(name + ".pem");
    cert.keyFile = path(name + ".key");
    return cert;
  }

  // Certificates A (default) and B.
  static ListenerTls listenerConfig() {
    ListenerTls cfg;
    cfg.certificates = {certificate("a"), certificate("b")};
    return cfg;
  }

  static std::unique_ptr<TlsServerContext> serverContext(const ListenerTls& cfg) {
    std::string error;
    auto ctx = TlsServerContext::create(cfg, error);
    EXPECT_NE(ctx, nullptr) << error;
    return ctx;
  }

  static std::unique_ptr<TlsClientContext> clientContext(const std::string& sni, bool verify = true,
                                                         const std::string& caFile = path("ca.pem")) {
    OriginTls cfg;
    cfg.caFile = caFile;
    cfg.sni = sni;
    cfg.verify = verify;
    std::string error;
    auto ctx = TlsClientContext::create(cfg, error);
    EXPECT_NE(ctx, nullptr) << error;
    return ctx;
  }

  // A bare client for what TlsClientContext will not do (old versions, other ciphers, chosen ALPN).
  static CtxPtr rawClientContext(int minVersion, int maxVersion) {
    CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_security_level(ctx.get(), 0);  // lets OpenSSL 3 offer TLS 1.1 at all
    SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(ctx.get(), minVersion);
    SSL_CTX_set_max_proto_version(ctx.get(), maxVersion);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    return ctx;
  }

  static SslPtr rawClientSession(SSL_CTX* ctx, int fd, const char* sni) {
    SslPtr ssl(SSL_new(ctx));
    SSL_set_fd(ssl.get(), fd);
    SSL_set_connect_state(ssl.get());
    if (sni != nullptr) SSL_set_tlsext_host_name(ssl.get(), sni);
    return ssl;
  }

  inline static std::string dir_;
};

// --- certificate selection ---------------------------------------------------------------------------

TEST_F(TlsTest, ServesCertificateMatchingExactSni) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("");
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "a.test"));
  SslPtr s(server->newSession(fds.serverFd));
  ASSERT_TRUE(c && s);
  HandshakeOutcome out = handshake(c.get(), s.get());
  ASSERT_TRUE(out.ok()) << out.clientError << " / " << out.serverError;
  EXPECT_EQ(peerCommonName(c.get()), "cert-a");
  EXPECT_EQ(sniName(s.get()), "a.test");
}

TEST_F(TlsTest, ServesWildcardCertificateForOneLabelBelowIt) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("");
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "x.b.test"));
  SslPtr s(server->newSession(fds.serverFd));
  HandshakeOutcome out = handshake(c.get(), s.get());
  ASSERT_TRUE(out.ok()) << out.clientError << " / " << out.serverError;
  EXPECT_EQ(peerCommonName(c.get()), "cert-b");
}

TEST_F(TlsTest, ServesFirstCertificateForUnknownSni) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("", /*verify=*/false);
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "unknown.test"));
  SslPtr s(server->newSession(fds.serverFd));
  HandshakeOutcome out = handshake(c.get(), s.get());
  ASSERT_TRUE(out.ok()) << out.clientError << " / " << out.serverError;
  EXPECT_EQ(peerCommonName(c.get()), "cert-a");
  EXPECT_EQ(sniName(s.get()), "unknown.test");
}

TEST_F(TlsTest, SendsNoSniToIpLiteralOriginAndVerifiesIpAddress) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("");
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "127.0.0.1"));
  SslPtr s(server->newSession(fds.serverFd));
  HandshakeOutcome out = handshake(c.get(), s.get());
  ASSERT_TRUE(out.ok()) << out.clientError << " / " << out.serverError;
  EXPECT_EQ(sniName(s.get()), "");
  EXPECT_EQ(peerCommonName(c.get()), "cert-a");
}

TEST_F(TlsTest, SendsConfiguredSniInsteadOfOriginHost) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("x.b.test");
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "127.0.0.1"));
  SslPtr s(server->newSession(fds.serverFd));
  HandshakeOutcome out = handshake(c.get(), s.get());
  ASSERT_TRUE(out.ok()) << out.clientError << " / " << out.serverError;
  EXPECT_EQ(sniName(s.get()), "x.b.test");
  EXPECT_EQ(peerCommonName(c.get()), "cert-b");
}

TEST_F(TlsTest, MatchesNamesCaseInsensitivelyAndWildcardsOnlyOneLabel) {
  auto server = serverContext(listenerConfig());
  EXPECT_EQ(server->certificateFor("a.test"), 0u);
  EXPECT_EQ(server->certificateFor("x.b.test"), 1u);
  EXPECT_EQ(server->certificateFor("X.B.Test."), 1u);
  EXPECT_EQ(server->certificateFor("b.test"), 0u);      // the wildcard does not cover the bare domain
  EXPECT_EQ(server->certificateFor("y.x.b.test"), 0u);  // nor two labels
  EXPECT_EQ(server->certificateFor(".b.test"), 0u);
  EXPECT_EQ(server->certificateFor(""), 0u);
  EXPECT_EQ(server->certificateFor(std::string(300, 'a')), 0u);
  ASSERT_EQ(server->serverNames().size(), 2u);
  EXPECT_EQ(server->serverNames()[0], std::vector<std::string>{"a.test"});
  EXPECT_EQ(server->serverNames()[1], std::vector<std::string>{"*.b.test"});
}

TEST_F(TlsTest, ConfiguredServerNamesReplaceCertificateNames) {
  ListenerTls cfg = listenerConfig();
  cfg.certificates[1].serverNames = {"Override.Test"};
  auto server = serverContext(cfg);
  EXPECT_EQ(server->certificateFor("override.test"), 1u);
  EXPECT_EQ(server->certificateFor("x.b.test"), 0u);
}

TEST_F(TlsTest, ConfiguredServerNameWinsOverEarlierCertificateName) {
  ListenerTls cfg = listenerConfig();
  cfg.certificates[1].serverNames = {"a.test"};
  auto server = serverContext(cfg);
  EXPECT_EQ(server->certificateFor("a.test"), 1u);
}

TEST_F(TlsTest, TakesNamesFromCommonNameWhenCertificateHasNoSan) {
  ListenerTls cfg = listenerConfig();
  cfg.certificates.push_back(certificate("c"));
  auto server = serverContext(cfg);
  EXPECT_EQ(server->certificateFor("c.test"), 2u);
}

// --- ALPN ----------------------------------------------------------------------------------------------

TEST_F(TlsTest, NegotiatesHttp11Alpn) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("");
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "a.test"));
  SslPtr s(server->newSession(fds.serverFd));
  ASSERT_TRUE(handshake(c.get(), s.get()).ok());
  EXPECT_EQ(negotiatedAlpn(s.get()), "http/1.1");
  EXPECT_EQ(negotiatedAlpn(c.get()), "http/1.1");
}

TEST_F(TlsTest, SelectsAlpnInServerPreferenceOrder) {
  ListenerTls cfg = listenerConfig();
  cfg.alpn = {"h2", "http/1.1"};
  auto server = serverContext(cfg);
  CtxPtr raw = rawClientContext(TLS1_2_VERSION, TLS1_3_VERSION);
  static const unsigned char kOffer[] = "\x08http/1.1\x02h2";
  ASSERT_EQ(SSL_CTX_set_alpn_protos(raw.get(), kOffer, sizeof(kOffer) - 1), 0);
  SocketPair fds;
  SslPtr c = rawClientSession(raw.get(), fds.clientFd, "a.test");
  SslPtr s(server->newSession(fds.serverFd));
  ASSERT_TRUE(handshake(c.get(), s.get()).ok());
  EXPECT_EQ(negotiatedAlpn(s.get()), "h2");
}

TEST_F(TlsTest, ContinuesWithoutAlpnWhenOffersDoNotOverlap) {
  auto server = serverContext(listenerConfig());
  CtxPtr raw = rawClientContext(TLS1_2_VERSION, TLS1_3_VERSION);
  static const unsigned char kOffer[] = "\x02h2";
  ASSERT_EQ(SSL_CTX_set_alpn_protos(raw.get(), kOffer, sizeof(kOffer) - 1), 0);
  SocketPair fds;
  SslPtr c = rawClientSession(raw.get(), fds.clientFd, "a.test");
  SslPtr s(server->newSession(fds.serverFd));
  HandshakeOutcome out = handshake(c.get(), s.get());
  ASSERT_TRUE(out.ok()) << out.clientError << " / " << out.serverError;
  EXPECT_EQ(negotiatedAlpn(s.get()), "");
}

// --- protocol policy -----------------------------------------------------------------------------------

TEST_F(TlsTest, NegotiatesTls13ByDefault) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("");
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "a.test"));
  SslPtr s(server->newSession(fds.serverFd));
  ASSERT_TRUE(handshake(c.get(), s.get()).ok());
  EXPECT_EQ(tlsVersion(s.get()), "TLSv1.3");
  EXPECT_FALSE(tlsCipher(s.get()).empty());
}

TEST_F(TlsTest, RefusesTls11Client) {
  auto server = serverContext(listenerConfig());
  CtxPtr raw = rawClientContext(TLS1_1_VERSION, TLS1_1_VERSION);
  SocketPair fds;
  SslPtr c = rawClientSession(raw.get(), fds.clientFd, "a.test");
  SslPtr s(server->newSession(fds.serverFd));
  HandshakeOutcome out = handshake(c.get(), s.get());
  EXPECT_EQ(out.server, TlsIo::kError);  // refused by the server, not unable to start on the client
  EXPECT_NE(out.serverError.find("unsupported protocol"), std::string::npos) << out.serverError;
  EXPECT_EQ(out.client, TlsIo::kError);
}

TEST_F(TlsTest, MinVersion13RefusesTls12Client) {
  ListenerTls cfg = listenerConfig();
  cfg.minVersion = "1.3";
  auto server = serverContext(cfg);
  CtxPtr raw = rawClientContext(TLS1_2_VERSION, TLS1_2_VERSION);
  SocketPair fds;
  SslPtr c = rawClientSession(raw.get(), fds.clientFd, "a.test");
  SslPtr s(server->newSession(fds.serverFd));
  HandshakeOutcome out = handshake(c.get(), s.get());
  EXPECT_EQ(out.server, TlsIo::kError);
  EXPECT_NE(out.serverError.find("unsupported protocol"), std::string::npos) << out.serverError;
  EXPECT_EQ(out.client, TlsIo::kError);
}

TEST_F(TlsTest, Tls12UsesEcdheWithAead) {
  auto server = serverContext(listenerConfig());
  CtxPtr raw = rawClientContext(TLS1_2_VERSION, TLS1_2_VERSION);
  SocketPair fds;
  SslPtr c = rawClientSession(raw.get(), fds.clientFd, "a.test");
  SslPtr s(server->newSession(fds.serverFd));
  ASSERT_TRUE(handshake(c.get(), s.get()).ok());
  EXPECT_EQ(tlsVersion(s.get()), "TLSv1.2");
  std::string cipher(tlsCipher(s.get()));
  EXPECT_EQ(cipher.rfind("ECDHE-", 0), 0u) << cipher;
  EXPECT_TRUE(cipher.find("GCM") != std::string::npos || cipher.find("CHACHA20") != std::string::npos)
      << cipher;
}

TEST_F(TlsTest, RefusesTls12ClientOfferingOnlyCbcCiphers) {
  auto server = serverContext(listenerConfig());
  CtxPtr raw = rawClientContext(TLS1_2_VERSION, TLS1_2_VERSION);
  ASSERT_EQ(SSL_CTX_set_cipher_list(raw.get(), "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA"), 1);
  SocketPair fds;
  SslPtr c = rawClientSession(raw.get(), fds.clientFd, "a.test");
  SslPtr s(server->newSession(fds.serverFd));
  HandshakeOutcome out = handshake(c.get(), s.get());
  EXPECT_EQ(out.server, TlsIo::kError);
  EXPECT_NE(out.serverError.find("no shared cipher"), std::string::npos) << out.serverError;
}

TEST_F(TlsTest, RefusesRenegotiation) {
  auto server = serverContext(listenerConfig());
  CtxPtr raw = rawClientContext(TLS1_2_VERSION, TLS1_2_VERSION);
  SocketPair fds;
  SslPtr c = rawClientSession(raw.get(), fds.clientFd, "a.test");
  SslPtr s(server->newSession(fds.serverFd));
  ASSERT_TRUE(handshake(c.get(), s.get()).ok());
  ASSERT_EQ(SSL_renegotiate(c.get()), 1);
  TlsIo clientIo = TlsIo::kWantWrite;
  TlsIo serverIo = TlsIo::kWantRead;
  std::string clientError;
  char buf[16];
  for (int step = 0; step < 20 && (pending(clientIo) || pending(serverIo)); ++step) {
    if (pending(clientIo)) {
      clientIo = tlsHandshake(c.get());
      if (clientIo == TlsIo::kError) clientError = tlsLastError();
    }
    std::size_t n = 0;
    if (pending(serverIo)) serverIo = tlsRead(s.get(), buf, sizeof(buf), n);
  }
  // The server answers the new ClientHello with a no_renegotiation alert; this client then gives up.
  EXPECT_EQ(clientIo, TlsIo::kError);
  EXPECT_NE(clientError.find("no renegotiation"), std::string::npos) << clientError;
  EXPECT_EQ(serverIo, TlsIo::kError);
}

TEST_F(TlsTest, ResumesSessionWithTicketAfterSniSwitch) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("");
  for (int maxVersion : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(maxVersion);
    SessionPtr session;
    for (int attempt = 0; attempt < 2; ++attempt) {
      SocketPair fds;
      SslPtr c(client->newSession(fds.clientFd, "x.b.test"));
      SSL_set_max_proto_version(c.get(), maxVersion);
      if (session) SSL_set_session(c.get(), session.get());
      SslPtr s(server->newSession(fds.serverFd));
      ASSERT_TRUE(handshake(c.get(), s.get()).ok());
      EXPECT_EQ(SSL_session_reused(c.get()), attempt == 1);
      EXPECT_EQ(peerCommonName(c.get()), "cert-b");
      // TLS 1.3 tickets arrive after the handshake; reading application data takes them in.
      EXPECT_EQ(transfer(s.get(), c.get(), "x"), "x");
      session.reset(SSL_get1_session(c.get()));
      // OpenSSL marks a session freed without close_notify as not resumable.
      EXPECT_EQ(tlsShutdown(c.get()), TlsIo::kOk);
    }
  }
}

// --- origin verification -------------------------------------------------------------------------------

TEST_F(TlsTest, ClientRejectsCertificateFromAnotherCa) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("", true, path("other-ca.pem"));
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "a.test"));
  SslPtr s(server->newSession(fds.serverFd));
  HandshakeOutcome out = handshake(c.get(), s.get());
  EXPECT_EQ(out.client, TlsIo::kError);
  EXPECT_NE(out.clientError.find("certificate verify failed"), std::string::npos) << out.clientError;
  EXPECT_NE(out.clientError.find("unable to get local issuer certificate"), std::string::npos)
      << out.clientError;
  EXPECT_NE(out.server, TlsIo::kOk);
}

TEST_F(TlsTest, ClientRejectsCertificateForAnotherHost) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("");
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "wrong.test"));  // the server falls back to cert A
  SslPtr s(server->newSession(fds.serverFd));
  HandshakeOutcome out = handshake(c.get(), s.get());
  EXPECT_EQ(out.client, TlsIo::kError);
  EXPECT_NE(out.clientError.find("hostname mismatch"), std::string::npos) << out.clientError;
}

TEST_F(TlsTest, ClientWildcardDoesNotCoverBareDomain) {
  ListenerTls cfg = listenerConfig();
  cfg.certificates[1].serverNames = {"b.test"};  // the server does present "*.b.test" for b.test
  auto server = serverContext(cfg);
  auto client = clientContext("");
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "b.test"));
  SslPtr s(server->newSession(fds.serverFd));
  HandshakeOutcome out = handshake(c.get(), s.get());
  ASSERT_EQ(server->certificateFor("b.test"), 1u);
  EXPECT_EQ(out.client, TlsIo::kError);
  EXPECT_NE(out.clientError.find("hostname mismatch"), std::string::npos) << out.clientError;
}

TEST_F(TlsTest, ClientRefusesToVerifyWithoutName) {
  auto client = clientContext("");
  SocketPair fds;
  EXPECT_EQ(client->newSession(fds.clientFd, ""), nullptr);
  auto unverified = clientContext("", /*verify=*/false);
  SslPtr c(unverified->newSession(fds.clientFd, ""));
  EXPECT_NE(c, nullptr);
}

TEST_F(TlsTest, ClientCreateReportsMissingCaFile) {
  OriginTls cfg;
  cfg.caFile = path("missing-ca.pem");
  std::string error;
  EXPECT_EQ(TlsClientContext::create(cfg, error), nullptr);
  EXPECT_EQ(error.rfind("ca " + cfg.caFile + ": ", 0), 0u) << error;
}

// --- configuration errors ------------------------------------------------------------------------------

TEST_F(TlsTest, CreateReportsMissingCertificateFile) {
  ListenerTls cfg = listenerConfig();
  cfg.certificates[1].certFile = path("missing.pem");
  std::string error;
  EXPECT_EQ(TlsServerContext::create(cfg, error), nullptr);
  EXPECT_EQ(error.rfind("cert " + cfg.certificates[1].certFile + ": ", 0), 0u) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

TEST_F(TlsTest, CreateReportsMissingKeyFile) {
  ListenerTls cfg = listenerConfig();
  cfg.certificates[0].keyFile = path("missing.key");
  std::string error;
  EXPECT_EQ(TlsServerContext::create(cfg, error), nullptr);
  EXPECT_EQ(error.rfind("key " + cfg.certificates[0].keyFile + ": ", 0), 0u) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

TEST_F(TlsTest, CreateReportsKeyNotMatchingCertificate) {
  ListenerTls cfg = listenerConfig();
  cfg.certificates[0].keyFile = path("b.key");
  std::string error;
  EXPECT_EQ(TlsServerContext::create(cfg, error), nullptr);
  EXPECT_EQ(error.rfind("key " + path("b.key") + ": does not match cert " + path("a.pem"), 0), 0u) << error;
}

TEST_F(TlsTest, CreateRefusesEncryptedKeyWithoutPrompting) {
  ListenerTls cfg = listenerConfig();
  cfg.certificates[0].keyFile = path("a-encrypted.key");
  std::string error;
  EXPECT_EQ(TlsServerContext::create(cfg, error), nullptr);  // returns at once, stdin untouched
  EXPECT_EQ(error, "key " + cfg.certificates[0].keyFile + ": encrypted private keys are not supported");
}

TEST_F(TlsTest, CreateRejectsInvalidSettings) {
  std::string error;
  ListenerTls noCerts;
  EXPECT_EQ(TlsServerContext::create(noCerts, error), nullptr);
  EXPECT_NE(error.find("at least one certificate"), std::string::npos) << error;

  ListenerTls badVersion = listenerConfig();
  badVersion.minVersion = "1.1";
  EXPECT_EQ(TlsServerContext::create(badVersion, error), nullptr);
  EXPECT_NE(error.find("min_version \"1.1\""), std::string::npos) << error;

  ListenerTls badName = listenerConfig();
  badName.certificates[1].serverNames = {"a.*.test"};
  EXPECT_EQ(TlsServerContext::create(badName, error), nullptr);
  EXPECT_NE(error.find("\"a.*.test\""), std::string::npos) << error;

  ListenerTls duplicate = listenerConfig();
  duplicate.certificates[0].serverNames = {"same.test"};
  duplicate.certificates[1].serverNames = {"SAME.test"};
  EXPECT_EQ(TlsServerContext::create(duplicate, error), nullptr);
  EXPECT_NE(error.find("already served by cert " + path("a.pem")), std::string::npos) << error;

  ListenerTls badAlpn = listenerConfig();
  badAlpn.alpn = {""};
  EXPECT_EQ(TlsServerContext::create(badAlpn, error), nullptr);
  EXPECT_NE(error.find("alpn"), std::string::npos) << error;
}

// --- I/O -----------------------------------------------------------------------------------------------

TEST_F(TlsTest, ExchangesDataInBothDirectionsWithPartialWrites) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("");
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "a.test"));
  SslPtr s(server->newSession(fds.serverFd));
  ASSERT_TRUE(handshake(c.get(), s.get()).ok());

  EXPECT_EQ(transfer(c.get(), s.get(), "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"),
            "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
  std::string large(1 << 20, '\0');  // far more than the socket buffer: writes come back partial
  for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>('a' + i % 26);
  EXPECT_EQ(transfer(s.get(), c.get(), large), large);
  EXPECT_EQ(transfer(c.get(), s.get(), large), large);

  std::size_t n = 1;
  char buf[16];
  EXPECT_EQ(tlsRead(s.get(), buf, sizeof(buf), n), TlsIo::kWantRead);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(tlsWrite(s.get(), buf, 0, n), TlsIo::kOk);
}

TEST_F(TlsTest, ReportsCloseNotifyAsCleanClose) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("");
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "a.test"));
  SslPtr s(server->newSession(fds.serverFd));
  ASSERT_TRUE(handshake(c.get(), s.get()).ok());
  EXPECT_EQ(tlsShutdown(c.get()), TlsIo::kOk);
  char buf[16];
  std::size_t n = 0;
  EXPECT_EQ(tlsRead(s.get(), buf, sizeof(buf), n), TlsIo::kClosed);
  EXPECT_TRUE(tlsPeerClosedCleanly(s.get()));
}

TEST_F(TlsTest, ReportsBareEofAsUncleanClose) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("");
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "a.test"));
  SslPtr s(server->newSession(fds.serverFd));
  ASSERT_TRUE(handshake(c.get(), s.get()).ok());
  ASSERT_EQ(shutdown(fds.clientFd, SHUT_WR), 0);
  char buf[16];
  std::size_t n = 0;
  EXPECT_EQ(tlsRead(s.get(), buf, sizeof(buf), n), TlsIo::kClosed);
  EXPECT_FALSE(tlsPeerClosedCleanly(s.get()));
  EXPECT_EQ(ERR_peek_error(), 0u);  // nothing left behind to confuse the next operation
}

TEST_F(TlsTest, ReportsPeerVanishingDuringHandshakeAsClosed) {
  auto server = serverContext(listenerConfig());
  SocketPair fds;
  SslPtr s(server->newSession(fds.serverFd));
  ASSERT_EQ(shutdown(fds.clientFd, SHUT_WR), 0);
  EXPECT_EQ(tlsHandshake(s.get()), TlsIo::kClosed);
}

TEST_F(TlsTest, ContextsServeHandshakesFromManyThreadsAtOnce) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("");
  std::atomic<int> completed{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        SocketPair fds;
        SslPtr c(client->newSession(fds.clientFd, (i + t) % 2 == 0 ? "a.test" : "x.b.test"));
        SslPtr s(server->newSession(fds.serverFd));
        if (handshake(c.get(), s.get()).ok() &&
            peerCommonName(c.get()) == ((i + t) % 2 == 0 ? "cert-a" : "cert-b")) {
          ++completed;
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  EXPECT_EQ(completed.load(), 40);
}

TEST_F(TlsTest, SessionsOutliveTheirContext) {
  auto server = serverContext(listenerConfig());
  auto client = clientContext("");
  SocketPair fds;
  SslPtr c(client->newSession(fds.clientFd, "x.b.test"));
  SslPtr s(server->newSession(fds.serverFd));
  server.reset();  // a config reload drops the context while a handshake is still to come
  client.reset();
  HandshakeOutcome out = handshake(c.get(), s.get());
  ASSERT_TRUE(out.ok()) << out.clientError << " / " << out.serverError;
  EXPECT_EQ(peerCommonName(c.get()), "cert-b");
  EXPECT_EQ(negotiatedAlpn(s.get()), "http/1.1");
}

}  // namespace
}  // namespace bulwark::http

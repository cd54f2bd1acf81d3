// Bulwark configuration: the typed, validated form of the YAML file.
//
// loadConfig() parses and validates the whole file before anything uses it. Errors come back as
// `FILE:LINE:COL: message` (1-based line and column, as editors show them); unknown keys are errors, so a
// typo never silently disables a setting. A Config is immutable once loaded: the server builds its runtime
// snapshot from it and swaps snapshots atomically on reload.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bulwark {

using Millis = std::chrono::milliseconds;

// A socket address written as `IPv4:PORT`, `[IPv6]:PORT` or `HOST:PORT` (origins only; resolved at load).
struct SocketAddress {
  std::string text;  // as written, for logs ("127.0.0.1:8080")
  std::string host;  // "127.0.0.1", "::1", "example.com"
  uint16_t port = 0;
};

struct TlsCertificate {
  std::string certFile;                  // PEM chain
  std::string keyFile;                   // PEM private key
  std::vector<std::string> serverNames;  // SNI names this certificate serves (exact or "*.example.com");
                                         // empty: taken from the certificate's SAN/CN
};

struct ListenerTls {
  std::vector<TlsCertificate> certificates;  // first one is the default when SNI matches none
  std::string minVersion = "1.2";            // "1.2" or "1.3"
  std::vector<std::string> alpn = {"http/1.1"};
};

struct Listener {
  SocketAddress address;
  std::optional<ListenerTls> tls;
  bool proxyProtocol = false;  // connections start with a PROXY protocol v1/v2 header (from trusted proxies)
  int line = 0;                // where it was declared, for messages
};

struct Timeouts {
  Millis connect{5000};     // TCP (+TLS) connect to an origin
  Millis firstByte{30000};  // request fully sent -> first response byte
  Millis idle{60000};       // no progress in either direction while a request is in flight
};

struct HeaderEdits {
  std::vector<std::pair<std::string, std::string>> add;  // appended (replacing same-name headers)
  std::vector<std::string> remove;                       // names, case-insensitive
};

struct DirectResponse {
  int status = 200;
  std::string body;
  std::string contentType = "text/plain";
};

struct RouteMatch {
  std::vector<std::string> hosts;  // exact "api.example.com" or wildcard "*.example.com"; empty = any
  std::string prefix = "/";        // path prefix
};

// WAF mode, globally and per route: off (no inspection), detect (log only), block (log and deny).
enum class WafMode { kOff, kDetect, kBlock };

struct Route {
  std::string name;  // defaults to "route<N>" (0-based index)
  RouteMatch match;
  std::string pool;  // exclusive with `respond`
  std::optional<DirectResponse> respond;
  std::optional<Timeouts> timeouts;      // overrides the pool's; unset fields keep the pool's value
  std::optional<uint64_t> maxBodyBytes;  // request body limit (413 over it); unset = limits.max_body_bytes
  HeaderEdits requestHeaders;
  HeaderEdits responseHeaders;
  std::optional<WafMode> waf;  // per-route override of waf.mode
  int line = 0;
};

enum class LbPolicy { kRoundRobin, kLeastRequest, kConsistentHash };

struct Origin {
  SocketAddress address;
  uint32_t weight = 1;    // 1..1000
  uint32_t priority = 0;  // 0 is the highest priority group; traffic goes to the lowest number with health
  int line = 0;
};

struct HealthCheck {
  std::string path = "/";
  std::string host;  // Host header; default: the origin address
  int expectStatus = 200;
  Millis interval{2000};
  Millis timeout{1000};
  uint32_t rise = 2;  // consecutive successes to mark healthy
  uint32_t fall = 3;  // consecutive failures to mark unhealthy
};

struct OutlierDetection {
  uint32_t consecutiveFailures = 5;  // 5xx responses or connect failures in a row; 0 disables
  Millis baseEjection{10000};        // first ejection; doubles on each repeat
  Millis maxEjection{300000};
};

struct OriginTls {
  std::string caFile;  // verify origins against this CA bundle (PEM); empty = system default
  std::string sni;     // server name to send and verify; empty = origin host
  bool verify = true;
};

struct Pool {
  std::string name;
  LbPolicy lb = LbPolicy::kRoundRobin;
  std::string hashHeader;  // consistent_hash: header name to hash; empty = client IP
  std::vector<Origin> origins;
  std::optional<OriginTls> tls;  // set: origins speak HTTPS
  std::optional<HealthCheck> healthCheck;
  OutlierDetection outlier;
  uint32_t retries = 1;  // extra attempts for idempotent requests after connect failure / early reset
  uint32_t maxIdlePerOrigin = 64;  // keep-alive connections kept per worker per origin
  Timeouts timeouts;
  int line = 0;
};

struct Limits {
  uint64_t maxRequestLine = 8192;
  uint64_t maxHeaderBytes = 32768;
  uint64_t maxHeaders = 100;
  uint64_t maxBodyBytes = 0;  // 0 = unlimited (streamed)
};

struct ClientTimeouts {
  Millis header{10000};     // time to receive a complete request head
  Millis keepAlive{60000};  // idle time between requests on a kept-alive connection
  Millis drain{10000};      // SIGTERM: time allowed for in-flight requests
};

struct Admin {
  SocketAddress address;  // loopback by default
  bool enabled = false;
};

struct AccessLog {
  std::string path = "stdout";  // "stdout", "off", or a file path (appended)
};

struct WafConfig {
  bool enabled = false;  // a `waf:` section is present
  WafMode mode = WafMode::kBlock;
  std::vector<std::string> rules;  // SecLang files or globs, loaded in order (relative to the config file)
  std::string errorLog;            // ModSecurity-format error log; "" = stderr
  std::string auditLog;            // JSON audit log; "" = off
  int blockStatus = 403;           // status of a blocked request (a rule's own status:NNN wins)
  std::string blockBody = "Request blocked by the web application firewall.";
  int line = 0;
};

// --- shield: rate limits, connection limits, lists, penalty box (docs/shield.md) ---

// What a rate-limit key is made of; parts are joined in the order written.
enum class RateKeyKind { kClientIp, kClientPrefix, kHeader };

struct RateKeyPart {
  RateKeyKind kind = RateKeyKind::kClientIp;
  std::string header;  // kHeader: the header name (as written)
};

// Which requests a rule counts; every condition given must hold (empty = any).
struct RateLimitMatch {
  std::vector<std::string> routes;         // route names
  std::vector<std::string> hosts;          // host patterns, lower case
  std::string prefix;                      // path prefix; empty = any
  std::vector<std::string> methods;        // upper case
  std::string header;                      // a header that must be present ...
  std::optional<std::string> headerValue;  // ... with exactly this value
};

struct RateLimitRule {
  std::string name;
  RateLimitMatch match;
  std::vector<RateKeyPart> key;  // at least one part
  double perSecond = 0;
  uint32_t burst = 0;    // 0 in the file = default: one second's worth, at least 1
  bool logOnly = false;  // action: log (count and log, never refuse)
  int line = 0;
};

struct ShieldConnections {
  uint32_t maxTotal = 0;          // open client connections per process; 0 = no limit
  uint32_t maxPerIp = 0;          // open connections per client address; 0 = no limit
  uint32_t maxRequestsPerIp = 0;  // requests in flight per client address; 0 = no limit
  uint64_t minBodyRate = 0;       // bytes/s a request body must keep up over bodyRateWindow; 0 = off
  Millis bodyRateWindow{10000};
};

struct ShieldLists {
  std::vector<std::string> allowFiles;  // resolved paths of list files
  std::vector<std::string> denyFiles;
  std::vector<std::string> allow;  // inline CIDRs or addresses
  std::vector<std::string> deny;
};

struct ShieldGeo {
  std::string database;                     // .mmdb file (resolved path)
  std::vector<std::string> allowCountries;  // ISO 3166 alpha-2, upper case; non-empty: only these
  std::vector<std::string> denyCountries;
};

struct ShieldPenalty {
  bool enabled = false;  // a `penalty_box:` section is present
  uint32_t threshold = 5;
  Millis window{60000};
  Millis duration{600000};
};

enum class RedisFailure { kLocal, kDeny };

struct ShieldConfig {
  bool enabled = false;  // a `shield:` section is present
  std::vector<RateLimitRule> rateLimits;
  std::vector<std::string> trustedProxies;  // CIDRs or addresses
  ShieldConnections connections;
  ShieldLists lists;
  std::optional<ShieldGeo> geo;
  ShieldPenalty penalty;
  std::string redis;  // HOST:PORT; empty = counters are local to this process
  RedisFailure redisFailure = RedisFailure::kLocal;
  uint64_t tableSize = 262144;      // rate-limit table slots (16 bytes each)
  std::string eventLog = "stderr";  // "stderr", "stdout", "off" or a file path
  uint64_t eventLogRate = 1000;     // event lines per second per worker; beyond it lines are counted, not
                                    // written (a flood must not turn into a disk or stderr flood)
  int line = 0;
};

// --- dns: the authoritative DNS server (docs/dns-server.md) ---

struct DnsZoneConfig {
  std::string name;                        // zone origin as written, without a trailing dot ("example.com")
  std::string file;                        // primary: zone file (resolved path); empty for a secondary
  std::optional<SocketAddress> primary;    // secondary: the primary to transfer the zone from
  std::vector<std::string> allowTransfer;  // CIDRs or addresses allowed AXFR/IXFR; empty = nobody
  std::vector<SocketAddress> notify;       // secondaries sent a NOTIFY when the zone changes
  int line = 0;
};

struct DnsTcp {
  uint32_t maxConnections = 512;  // concurrent DNS TCP connections per process; over it: accept and close
  Millis idleTimeout{10000};      // no query in progress and nothing received for this long: closed
  Millis ioTimeout{5000};         // a query or an answer half read or half written for this long: closed
};

struct DnsRrl {
  bool enabled = false;
  uint32_t responsesPerSecond = 5;  // per client prefix and response class
  Millis window{15000};             // how far back the rate is averaged (BIND's "window")
  uint32_t slip = 2;                // every slip-th limited response goes out truncated (TC=1); 0 = never
  uint32_t ipv4Prefix = 24;
  uint32_t ipv6Prefix = 56;
  uint64_t tableSize = 65536;  // buckets per process (fixed; the oldest entry is replaced when full)
};

struct DnsCookies {
  bool enabled = false;  // off by default, like NSD and Knot: COOKIE options are then ignored
  std::string secret;    // 32 hex digits (16 bytes, the SipHash key); empty = random at start
};

struct DnsConfig {
  bool enabled = false;  // a `dns:` section is present
  std::vector<SocketAddress> listen;
  std::vector<DnsZoneConfig> zones;
  uint32_t ednsUdpSize = 1232;   // largest UDP answer we send (and advertise), 512..4096
  uint32_t udpCoalesceUs = 100;  // under load: read UDP once per window instead of per packet; 0 = off
  uint32_t answerCacheMb =
      8;  // per worker: UDP answers remembered by query bytes (dns/answer_cache.h); 0 = off
  DnsTcp tcp;
  DnsRrl rrl;
  DnsCookies cookies;
  int line = 0;
};

struct Config {
  std::string file;      // path it was loaded from
  unsigned workers = 0;  // 0 = one per core
  std::vector<Listener> listeners;
  std::vector<Route> routes;
  std::map<std::string, Pool> pools;
  Limits limits;
  ClientTimeouts clientTimeouts;
  Admin admin;
  AccessLog accessLog;
  WafConfig waf;
  ShieldConfig shield;
  DnsConfig dns;
};

struct ConfigError {
  std::string message;  // "FILE:LINE:COL: message"
};

// Either a config or the list of every error found (at least one).
struct ConfigResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;
  bool ok() const { return config.has_value(); }
};

ConfigResult loadConfig(const std::string& path);
// For tests and the embedded demo: `name` is used as FILE in messages.
ConfigResult parseConfig(const std::string& yamlText, const std::string& name);

// "10s", "250ms", "2m", "1h" -> milliseconds; false on syntax error.
bool parseDuration(std::string_view text, Millis& out);
// "1024", "64k", "10m", "1g" (KiB multiples; also KB/MB/GB/KiB/MiB/GiB) -> bytes; false on syntax error.
bool parseSize(std::string_view text, uint64_t& out);
// "50/s", "2000/min", "10/h" (also /sec, /second, /m, /minute, /hour; the count may be a decimal, "0.5/s")
// -> requests per second; false on syntax error or a zero rate.
bool parseRate(std::string_view text, double& perSecond);
// "127.0.0.1:80", "[::1]:443", "host:8080" -> SocketAddress; false on syntax error.
bool parseSocketAddress(std::string_view text, SocketAddress& out);

}  // namespace bulwark

#include "core/config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bulwark {
namespace {

using namespace std::chrono_literals;

const std::string kDataDir = std::string(BULWARK_TEST_DATA) + "/config";

// Listener, route, pool and admin that the tests below extend; 9 lines, so what follows starts on line 10.
constexpr const char* kValidBase = R"(listeners:
  - address: 127.0.0.1:8080
routes:
  - match: { prefix: / }
    pool: origin
pools:
  origin:
    origins:
      - address: 127.0.0.1:18080
)";

std::vector<std::string> errorsOf(const std::string& yaml) {
  ConfigResult result = parseConfig(yaml, "test.yaml");
  EXPECT_FALSE(result.ok()) << "expected errors for:\n" << yaml;
  EXPECT_FALSE(result.errors.empty());
  std::vector<std::string> messages;
  for (const ConfigError& e : result.errors) messages.push_back(e.message);
  return messages;
}

std::string onlyErrorOf(const std::string& yaml) {
  std::vector<std::string> messages = errorsOf(yaml);
  EXPECT_EQ(messages.size(), 1u) << ::testing::PrintToString(messages);
  return messages.empty() ? "" : messages.front();
}

// Replaces each "CERTS" with the absolute path of the test certificates (parseConfig has no file directory).
std::string withCertDir(std::string yaml) {
  for (std::size_t at = yaml.find("CERTS"); at != std::string::npos; at = yaml.find("CERTS", at)) {
    yaml.replace(at, 5, kDataDir + "/certs");
  }
  return yaml;
}

Config configOf(const std::string& yaml) {
  ConfigResult result = parseConfig(yaml, "test.yaml");
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(result.errors.empty() ? "" : result.errors[0].message);
  return result.ok() ? *result.config : Config{};
}

// --- scalar notations ------------------------------------------------------------------------------------

TEST(ParseDuration, AcceptsEachUnit) {
  Millis out{};
  ASSERT_TRUE(parseDuration("250ms", out));
  EXPECT_EQ(out, 250ms);
  ASSERT_TRUE(parseDuration("10s", out));
  EXPECT_EQ(out, 10s);
  ASSERT_TRUE(parseDuration("2m", out));
  EXPECT_EQ(out, 2min);
  ASSERT_TRUE(parseDuration("1h", out));
  EXPECT_EQ(out, 1h);
}

TEST(ParseDuration, AcceptsBareZeroAndZeroWithUnitForTheLoaderToJudge) {
  Millis out{1};
  ASSERT_TRUE(parseDuration("0", out));
  EXPECT_EQ(out, 0ms);
  ASSERT_TRUE(parseDuration("0s", out));
  EXPECT_EQ(out, 0ms);
}

TEST(ParseDuration, RejectsMissingUnitsFractionsSignsAndUnknownUnits) {
  Millis out{};
  for (const char* text :
       {"", "10", "s", "1.5s", "-1s", "+1s", " 10s", "10s ", "10 s", "10S", "10M", "1d", "10sec", "0x10s"}) {
    EXPECT_FALSE(parseDuration(text, out)) << text;
  }
}

TEST(ParseDuration, RejectsOverflow) {
  Millis out{};
  EXPECT_FALSE(parseDuration("99999999999999999999ms", out));
  EXPECT_FALSE(parseDuration("9223372036854775h", out));
}

TEST(ParseSize, AcceptsPlainBytesAndBinaryUnitsInAnyCase) {
  uint64_t out = 0;
  ASSERT_TRUE(parseSize("1024", out));
  EXPECT_EQ(out, 1024u);
  ASSERT_TRUE(parseSize("0", out));
  EXPECT_EQ(out, 0u);
  for (const char* text : {"64k", "64K", "64kb", "64KB", "64KiB", "64kib"}) {
    ASSERT_TRUE(parseSize(text, out)) << text;
    EXPECT_EQ(out, 64u * 1024) << text;
  }
  for (const char* text : {"10m", "10M", "10MB", "10MiB"}) {
    ASSERT_TRUE(parseSize(text, out)) << text;
    EXPECT_EQ(out, 10u * 1024 * 1024) << text;
  }
  for (const char* text : {"1g", "1G", "1GB", "1GiB"}) {
    ASSERT_TRUE(parseSize(text, out)) << text;
    EXPECT_EQ(out, 1024u * 1024 * 1024) << text;
  }
}

TEST(ParseSize, RejectsBadSyntax) {
  uint64_t out = 0;
  for (const char* text : {"", "k", "1.5m", "-1", "10 k", "10t", "10kk", "10B", " 1", "1e3"}) {
    EXPECT_FALSE(parseSize(text, out)) << text;
  }
}

TEST(ParseSize, RejectsOverflow) {
  uint64_t out = 0;
  ASSERT_TRUE(parseSize("18446744073709551615", out));
  EXPECT_FALSE(parseSize("18446744073709551616", out));
  ASSERT_TRUE(parseSize("17179869183g", out));
  EXPECT_FALSE(parseSize("17179869184g", out));
}

TEST(ParseSocketAddress, AcceptsIpv4BracketedIpv6AndHostNames) {
  SocketAddress out;
  ASSERT_TRUE(parseSocketAddress("127.0.0.1:80", out));
  EXPECT_EQ(out.text, "127.0.0.1:80");
  EXPECT_EQ(out.host, "127.0.0.1");
  EXPECT_EQ(out.port, 80);
  ASSERT_TRUE(parseSocketAddress("[::1]:443", out));
  EXPECT_EQ(out.text, "[::1]:443");
  EXPECT_EQ(out.host, "::1");
  EXPECT_EQ(out.port, 443);
  ASSERT_TRUE(parseSocketAddress("origin-1.internal:65535", out));
  EXPECT_EQ(out.host, "origin-1.internal");
  EXPECT_EQ(out.port, 65535);
  ASSERT_TRUE(parseSocketAddress("my_service:8080", out));
  EXPECT_EQ(out.host, "my_service");
}

TEST(ParseSocketAddress, RejectsMalformedAddresses) {
  SocketAddress out;
  for (const char* text : {"", "127.0.0.1", ":80", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                           "127.0.0.1:http", "::1:80", "[::1]80", "[::1]", "[zz::1]:80", "[127.0.0.1]:80",
                           "10.0.0.256:80", "bad host:80", "-bad.example:80", "a..b:80", "1.2.3:80"}) {
    EXPECT_FALSE(parseSocketAddress(text, out)) << text;
  }
}

// --- files that load -------------------------------------------------------------------------------------

TEST(LoadConfig, MinimalContractFileLoads) {
  ConfigResult result = loadConfig(kDataDir + "/minimal.yaml");
  ASSERT_TRUE(result.ok()) << result.errors.front().message;
  const Config& config = *result.config;
  EXPECT_EQ(config.file, kDataDir + "/minimal.yaml");
  ASSERT_EQ(config.listeners.size(), 1u);
  EXPECT_EQ(config.listeners[0].address.host, "127.0.0.1");
  EXPECT_EQ(config.listeners[0].address.port, 8080);
  EXPECT_FALSE(config.listeners[0].tls);
  EXPECT_EQ(config.listeners[0].line, 2);
  ASSERT_EQ(config.routes.size(), 1u);
  EXPECT_EQ(config.routes[0].name, "route0");
  EXPECT_EQ(config.routes[0].match.prefix, "/");
  EXPECT_TRUE(config.routes[0].match.hosts.empty());
  EXPECT_EQ(config.routes[0].pool, "origin");
  EXPECT_FALSE(config.routes[0].respond);
  EXPECT_FALSE(config.routes[0].timeouts);
  ASSERT_EQ(config.pools.count("origin"), 1u);
  const Pool& pool = config.pools.at("origin");
  EXPECT_EQ(pool.name, "origin");
  ASSERT_EQ(pool.origins.size(), 1u);
  EXPECT_EQ(pool.origins[0].address.text, "127.0.0.1:18080");
  EXPECT_EQ(pool.origins[0].weight, 1u);
  EXPECT_TRUE(config.admin.enabled);
  EXPECT_EQ(config.admin.address.port, 9901);
}

TEST(LoadConfig, UnsetKeysKeepTheirDefaults) {
  Config config = configOf(kValidBase);
  EXPECT_EQ(config.workers, 0u);
  EXPECT_FALSE(config.admin.enabled);
  EXPECT_EQ(config.accessLog.path, "stdout");
  EXPECT_EQ(config.limits.maxRequestLine, 8192u);
  EXPECT_EQ(config.limits.maxHeaderBytes, 32768u);
  EXPECT_EQ(config.limits.maxHeaders, 100u);
  EXPECT_EQ(config.limits.maxBodyBytes, 0u);
  EXPECT_EQ(config.clientTimeouts.header, 10s);
  EXPECT_EQ(config.clientTimeouts.keepAlive, 60s);
  EXPECT_EQ(config.clientTimeouts.drain, 10s);
  const Pool& pool = config.pools.at("origin");
  EXPECT_EQ(pool.lb, LbPolicy::kRoundRobin);
  EXPECT_FALSE(pool.tls);
  EXPECT_FALSE(pool.healthCheck);
  EXPECT_EQ(pool.retries, 1u);
  EXPECT_EQ(pool.maxIdlePerOrigin, 64u);
  EXPECT_EQ(pool.timeouts.connect, 5s);
  EXPECT_EQ(pool.timeouts.firstByte, 30s);
  EXPECT_EQ(pool.timeouts.idle, 60s);
  EXPECT_EQ(pool.outlier.consecutiveFailures, 5u);
  EXPECT_FALSE(config.routes[0].maxBodyBytes);
}

TEST(LoadConfig, FullExampleLoadsEveryKey) {
  ConfigResult result = loadConfig(kDataDir + "/full.yaml");
  ASSERT_TRUE(result.ok()) << result.errors.front().message;
  const Config& config = *result.config;
  EXPECT_EQ(config.workers, 4u);

  ASSERT_EQ(config.listeners.size(), 2u);
  const Listener& secure = config.listeners[1];
  EXPECT_EQ(secure.address.host, "::1");
  EXPECT_EQ(secure.address.port, 8443);
  ASSERT_TRUE(secure.tls);
  ASSERT_EQ(secure.tls->certificates.size(), 1u);
  // Relative paths are taken from the configuration file's directory.
  EXPECT_EQ(secure.tls->certificates[0].certFile, kDataDir + "/certs/server-cert.pem");
  EXPECT_EQ(secure.tls->certificates[0].keyFile, kDataDir + "/certs/server-key.pem");
  EXPECT_EQ(secure.tls->certificates[0].serverNames,
            (std::vector<std::string>{"www.example.com", "*.example.org"}));
  EXPECT_EQ(secure.tls->minVersion, "1.3");
  EXPECT_EQ(secure.tls->alpn, (std::vector<std::string>{"http/1.1"}));

  ASSERT_EQ(config.routes.size(), 3u);
  const Route& health = config.routes[0];
  EXPECT_EQ(health.name, "health");
  EXPECT_EQ(health.match.prefix, "/healthz");
  ASSERT_TRUE(health.respond);
  EXPECT_EQ(health.respond->status, 204);
  EXPECT_EQ(health.respond->body, "");
  EXPECT_EQ(health.respond->contentType, "text/plain; charset=utf-8");
  EXPECT_TRUE(health.pool.empty());

  const Route& api = config.routes[1];
  EXPECT_EQ(api.name, "api");
  EXPECT_EQ(api.match.prefix, "/api/");
  EXPECT_EQ(api.match.hosts, (std::vector<std::string>{"api.example.com", "*.api.example.com"}));
  EXPECT_EQ(api.pool, "api");
  ASSERT_TRUE(api.timeouts);
  EXPECT_EQ(api.timeouts->connect, 1s);  // from the pool
  EXPECT_EQ(api.timeouts->firstByte, 2min);
  EXPECT_EQ(api.timeouts->idle, 90s);  // from the pool
  EXPECT_EQ(api.maxBodyBytes, 10u * 1024 * 1024);
  using Headers = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(api.requestHeaders.add, (Headers{{"X-Forwarded-Proto", "https"}, {"X-Gateway", "bulwark"}}));
  EXPECT_EQ(api.requestHeaders.remove, (std::vector<std::string>{"X-Debug"}));
  EXPECT_TRUE(api.responseHeaders.add.empty());
  EXPECT_EQ(api.responseHeaders.remove, (std::vector<std::string>{"Server"}));

  const Route& web = config.routes[2];
  EXPECT_EQ(web.name, "route2");
  EXPECT_EQ(web.match.prefix, "/");
  EXPECT_EQ(web.match.hosts, (std::vector<std::string>{"www.example.com"}));

  const Pool& apiPool = config.pools.at("api");
  EXPECT_EQ(apiPool.lb, LbPolicy::kConsistentHash);
  EXPECT_EQ(apiPool.hashHeader, "X-User-Id");
  ASSERT_EQ(apiPool.origins.size(), 2u);
  EXPECT_EQ(apiPool.origins[0].weight, 3u);
  EXPECT_EQ(apiPool.origins[0].priority, 0u);
  EXPECT_EQ(apiPool.origins[1].address.host, "api-backup.internal");
  EXPECT_EQ(apiPool.origins[1].priority, 1u);
  ASSERT_TRUE(apiPool.tls);
  EXPECT_EQ(apiPool.tls->caFile, kDataDir + "/certs/origin-ca.pem");
  EXPECT_EQ(apiPool.tls->sni, "api.internal");
  EXPECT_TRUE(apiPool.tls->verify);
  ASSERT_TRUE(apiPool.healthCheck);
  EXPECT_EQ(apiPool.healthCheck->path, "/ready");
  EXPECT_EQ(apiPool.healthCheck->host, "api.internal");
  EXPECT_EQ(apiPool.healthCheck->expectStatus, 204);
  EXPECT_EQ(apiPool.healthCheck->interval, 5s);
  EXPECT_EQ(apiPool.healthCheck->timeout, 500ms);
  EXPECT_EQ(apiPool.healthCheck->rise, 3u);
  EXPECT_EQ(apiPool.healthCheck->fall, 2u);
  EXPECT_EQ(apiPool.outlier.consecutiveFailures, 7u);
  EXPECT_EQ(apiPool.outlier.baseEjection, 30s);
  EXPECT_EQ(apiPool.outlier.maxEjection, 10min);
  EXPECT_EQ(apiPool.retries, 2u);
  EXPECT_EQ(apiPool.maxIdlePerOrigin, 16u);

  const Pool& webPool = config.pools.at("web");
  EXPECT_EQ(webPool.lb, LbPolicy::kLeastRequest);
  EXPECT_EQ(webPool.origins[0].address.host, "fd00::10");
  ASSERT_TRUE(webPool.tls);  // `tls: true`: HTTPS with defaults
  EXPECT_TRUE(webPool.tls->caFile.empty());
  EXPECT_TRUE(webPool.tls->verify);

  EXPECT_EQ(config.limits.maxRequestLine, 4096u);
  EXPECT_EQ(config.limits.maxHeaderBytes, 65536u);
  EXPECT_EQ(config.limits.maxHeaders, 50u);
  EXPECT_EQ(config.limits.maxBodyBytes, 1024u * 1024 * 1024);
  EXPECT_EQ(config.clientTimeouts.header, 5s);
  EXPECT_EQ(config.clientTimeouts.keepAlive, 2min);
  EXPECT_EQ(config.clientTimeouts.drain, 30s);
  EXPECT_TRUE(config.admin.enabled);
  EXPECT_EQ(config.accessLog.path, kDataDir + "/logs/access.log");
}

TEST(LoadConfig, RouteTimeoutsOverrideOnlyTheFieldsGiven) {
  Config config = configOf(R"(listeners:
  - address: 127.0.0.1:8080
routes:
  - match: { prefix: / }
    pool: origin
  - match: { prefix: /slow }
    pool: origin
    timeouts: { first_byte: 5m }
  - respond: { status: 404 }
    timeouts: { idle: 1s }
pools:
  origin:
    origins: [{ address: 127.0.0.1:18080 }]
    timeouts: { connect: 2s, idle: 3m }
)");
  // The pool's timeouts: its own connect and idle, the default first byte.
  const Timeouts& pool = config.pools.at("origin").timeouts;
  EXPECT_EQ(pool.connect, 2s);
  EXPECT_EQ(pool.firstByte, 30s);
  EXPECT_EQ(pool.idle, 3min);
  EXPECT_FALSE(config.routes[0].timeouts);
  ASSERT_TRUE(config.routes[1].timeouts);
  EXPECT_EQ(config.routes[1].timeouts->connect, 2s);
  EXPECT_EQ(config.routes[1].timeouts->firstByte, 5min);
  EXPECT_EQ(config.routes[1].timeouts->idle, 3min);
  // No pool to override: checked for syntax, then ignored.
  EXPECT_FALSE(config.routes[2].timeouts);
}

TEST(LoadConfig, AccessLogAcceptsShorthandAndMapping) {
  EXPECT_EQ(configOf(std::string(kValidBase) + "access_log: off\n").accessLog.path, "off");
  EXPECT_EQ(configOf(std::string(kValidBase) + "access_log: stdout\n").accessLog.path, "stdout");
  EXPECT_EQ(configOf(std::string(kValidBase) + "access_log: { path: /var/log/bulwark.log }\n").accessLog.path,
            "/var/log/bulwark.log");
  // parseConfig has no file directory: relative paths stay as written.
  EXPECT_EQ(configOf(std::string(kValidBase) + "access_log: logs/a.log\n").accessLog.path, "logs/a.log");
}

TEST(LoadConfig, OriginTlsFalseMeansPlainHttp) {
  Config config = configOf(std::string(kValidBase) + "    tls: false\n");
  EXPECT_FALSE(config.pools.at("origin").tls);
}

TEST(LoadConfig, UnreferencedPoolsAreAllowed) {
  Config config = configOf(std::string(kValidBase) + R"(  spare:
    origins: [{ address: spare.internal:80 }]
)");
  EXPECT_EQ(config.pools.size(), 2u);
}

// --- errors: positions and messages ----------------------------------------------------------------------

TEST(ConfigErrors, MissingFileReportsTheSystemError) {
  ConfigResult result = loadConfig(kDataDir + "/does-not-exist.yaml");
  ASSERT_FALSE(result.ok());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].message,
            kDataDir + "/does-not-exist.yaml: cannot read: No such file or directory");
}

TEST(ConfigErrors, DirectoryInsteadOfFileIsReported) {
  ConfigResult result = loadConfig(kDataDir);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.errors[0].message, kDataDir + ": cannot read: Is a directory");
}

TEST(ConfigErrors, YamlSyntaxErrorReportsItsPosition) {
  EXPECT_EQ(onlyErrorOf("listeners:\n  - address: [127.0.0.1:8080\nroutes: []\n"),
            "test.yaml:3:7: end of sequence flow not found");
  EXPECT_EQ(onlyErrorOf("listeners:\n\t- address: 127.0.0.1:8080\n"), "test.yaml:2:2: illegal block entry");
}

TEST(ConfigErrors, UnknownTopLevelKeyListsValidKeys) {
  EXPECT_EQ(onlyErrorOf(std::string(kValidBase) + "steering: { enabled: true }\n"),
            "test.yaml:10:1: unknown top-level key 'steering' (valid keys: workers, listeners, routes, "
            "pools, limits, client_timeouts, admin, access_log, waf, shield, dns)");
}

TEST(ConfigErrors, UnknownKeysAreReportedAtEveryDepth) {
  std::vector<std::string> errors = errorsOf(R"(listeners:
  - address: 127.0.0.1:8080
    backlog: 100
routes:
  - match: { prefix: /, method: GET }
    pool: origin
    retry: 3
pools:
  origin:
    origins:
      - address: 127.0.0.1:18080
        wieght: 2
    health_check: { path: /, intervall: 1s }
)");
  EXPECT_EQ(
      errors,
      (std::vector<std::string>{
          "test.yaml:3:5: unknown key 'backlog' in listeners[0] (valid keys: address, tls, proxy_protocol)",
          "test.yaml:5:25: unknown key 'method' in routes[0].match (valid keys: prefix, host)",
          "test.yaml:7:5: unknown key 'retry' in routes[0] (valid keys: name, match, pool, waf, respond, "
          "timeouts, max_body, request_headers, response_headers)",
          "test.yaml:12:9: unknown key 'wieght' in pools.origin.origins[0] (valid keys: address, "
          "weight, priority)",
          "test.yaml:13:30: unknown key 'intervall' in pools.origin.health_check (valid keys: path, "
          "host, expect_status, interval, timeout, rise, fall)",
      }));
}

TEST(ConfigErrors, DuplicateKeyIsAnError) {
  EXPECT_EQ(onlyErrorOf(std::string(kValidBase) + "workers: 2\nworkers: 4\n"),
            "test.yaml:11:1: duplicate key 'workers' in the top level");
}

TEST(ConfigErrors, RouteToUnknownPoolNamesTheDefinedPools) {
  EXPECT_EQ(onlyErrorOf(R"(listeners:
  - address: 127.0.0.1:8080
routes:
  - name: api
    pool: orgin
pools:
  origin:
    origins: [{ address: 127.0.0.1:18080 }]
)"),
            "test.yaml:5:11: route 'api' references unknown pool 'orgin' (defined: origin)");
}

TEST(ConfigErrors, PoolWithErrorsIsNotAlsoReportedAsUnknown) {
  EXPECT_EQ(onlyErrorOf(R"(listeners:
  - address: 127.0.0.1:8080
routes:
  - pool: origin
pools:
  origin:
    origins: []
)"),
            "test.yaml:7:14: pools.origin.origins: a pool needs at least one origin");
}

TEST(ConfigErrors, RouteNeedsExactlyOneOfPoolAndRespond) {
  std::vector<std::string> errors = errorsOf(R"(listeners:
  - address: 127.0.0.1:8080
routes:
  - match: { prefix: /x }
  - pool: origin
    respond: { status: 404 }
pools:
  origin:
    origins: [{ address: 127.0.0.1:18080 }]
)");
  EXPECT_EQ(errors,
            (std::vector<std::string>{
                "test.yaml:4:5: routes[0]: a route needs 'pool' (forward) or 'respond' (answer directly)",
                "test.yaml:5:5: routes[1]: a route has either 'pool' or 'respond', not both",
            }));
}

TEST(ConfigErrors, BadDurationsAndSizesPointAtTheValue) {
  std::vector<std::string> errors = errorsOf(std::string(kValidBase) + R"(client_timeouts:
  header: 10
  keep_alive: 0s
  drain: 1.5s
limits:
  max_body: 10 MB
  max_header_bytes: 0
)");
  EXPECT_EQ(
      errors,
      (std::vector<std::string>{
          "test.yaml:11:11: client_timeouts.header: invalid duration '10' (an integer with ms, s, m or h, "
          "e.g. 10s)",
          "test.yaml:12:15: client_timeouts.keep_alive must be greater than 0",
          "test.yaml:13:10: client_timeouts.drain: invalid duration '1.5s' (an integer with ms, s, m or h, "
          "e.g. 10s)",
          "test.yaml:15:13: limits.max_body: invalid size '10 MB' (bytes, or an integer with k, m or g, e.g. "
          "64k)",
          "test.yaml:16:21: limits.max_header_bytes must be greater than 0",
      }));
}

TEST(ConfigErrors, WrongTypesAreReported) {
  std::vector<std::string> errors = errorsOf(R"(workers: [1]
listeners:
  address: 127.0.0.1:8080
routes:
  - match: /
    pool: origin
pools:
  origin:
    origins: [{ address: 127.0.0.1:18080 }]
    tls: maybe
)");
  EXPECT_EQ(errors, (std::vector<std::string>{
                        "test.yaml:1:10: expected an integer for workers, got a list",
                        "test.yaml:3:3: expected a list for listeners, got a mapping",
                        "test.yaml:5:12: expected a mapping for routes[0].match, got '/'",
                        "test.yaml:10:10: pools.origin.tls must be true or false, got 'maybe'",
                    }));
}

TEST(ConfigErrors, EmptyValueIsReportedOnItsKeyLine) {
  EXPECT_EQ(onlyErrorOf(std::string(kValidBase) + "admin:\nworkers: 1\n"),
            "test.yaml:10:1: expected a mapping for admin, got nothing");
}

TEST(ConfigErrors, ListenersMustBeIpLiteralsWithAPort) {
  std::vector<std::string> errors = errorsOf(R"(listeners:
  - address: localhost:8080
  - address: 127.0.0.1:0
  - address: ::1:80
  - address: 127.0.0.1:70000
routes: []
)");
  EXPECT_EQ(
      errors,
      (std::vector<std::string>{
          "test.yaml:2:14: listeners[0].address: 'localhost:8080' must be an IP address, not a host name",
          "test.yaml:3:14: listeners[1].address: port must be from 1 to 65535 in '127.0.0.1:0'",
          "test.yaml:4:14: listeners[2].address: invalid address '::1:80' (expected IPv4:PORT or "
          "[IPv6]:PORT)",
          "test.yaml:5:14: listeners[3].address: invalid address '127.0.0.1:70000' (expected "
          "IPv4:PORT or [IPv6]:PORT)",
      }));
}

TEST(ConfigErrors, DuplicateListenerAddressIsReportedEvenWhenWrittenDifferently) {
  EXPECT_EQ(
      onlyErrorOf(R"(listeners:
  - address: "[::1]:8080"
  - address: "[0:0::1]:8080"
routes: []
)"),
      "test.yaml:3:14: listeners[1]: duplicate listener address '[0:0::1]:8080' (first declared on line 2)");
}

TEST(ConfigErrors, AtLeastOneListenerIsRequired) {
  EXPECT_EQ(onlyErrorOf("workers: 1\n"),
            "test.yaml:1:1: at least one listener is required (key 'listeners')");
  EXPECT_EQ(onlyErrorOf("listeners: []\n"), "test.yaml:1:12: at least one listener is required");
  EXPECT_EQ(onlyErrorOf(""), "test.yaml:1:1: at least one listener is required (key 'listeners')");
}

TEST(ConfigErrors, MissingRequiredKeyPointsAtItsMapping) {
  std::vector<std::string> errors = errorsOf(R"(listeners:
  - tls: { certificates: [] }
routes: []
admin: {}
)");
  EXPECT_EQ(errors, (std::vector<std::string>{
                        "test.yaml:2:5: missing required key 'address' in listeners[0]",
                        "test.yaml:2:26: listeners[0].tls.certificates: at least one certificate is required",
                        "test.yaml:4:8: missing required key 'address' in admin",
                    }));
}

TEST(ConfigErrors, MissingCertificateFileIsReportedOnItsKeyLine) {
  EXPECT_EQ(onlyErrorOf(std::string(kValidBase) + R"(  secure:
    origins: [{ address: 127.0.0.1:443 }]
    tls: { ca: /nonexistent/ca.pem }
)"),
            "test.yaml:12:16: pools.secure.tls.ca: cannot read '/nonexistent/ca.pem': No such file or "
            "directory");

  EXPECT_EQ(
      errorsOf(R"(listeners:
  - address: 127.0.0.1:8443
    tls:
      certificates:
        - cert: /nonexistent/cert.pem
          key: /nonexistent/key.pem
)"),
      (std::vector<std::string>{
          "test.yaml:5:17: listeners[0].tls.certificates[0].cert: cannot read '/nonexistent/cert.pem': No "
          "such file or directory",
          "test.yaml:6:16: listeners[0].tls.certificates[0].key: cannot read '/nonexistent/key.pem': No such "
          "file or directory",
      }));
}

TEST(ConfigErrors, MissingKeyFileIsReportedOnItsKeyLine) {
  std::string yaml = withCertDir(R"(listeners:
  - address: 127.0.0.1:8443
    tls:
      certificates:
        - cert: CERTS/server-cert.pem
          key: missing-key.pem
)");
  EXPECT_EQ(
      onlyErrorOf(yaml),
      "test.yaml:6:16: listeners[0].tls.certificates[0].key: cannot read 'missing-key.pem': No such file or "
      "directory");
}

TEST(ConfigErrors, PoolRulesAreChecked) {
  std::vector<std::string> errors = errorsOf(R"(listeners:
  - address: 127.0.0.1:8080
pools:
  a:
    lb: random
    origins:
      - address: a.internal:80
        weight: 0
      - address: b.internal:80
        weight: 1001
      - address: a.internal:80
  b:
    hash_header: X-User
    origins: [{ address: 10.0.0.1:80 }]
    health_check: { rise: 0, fall: 0, expect_status: 99 }
    outlier_detection: { base_ejection: 1m, max_ejection: 30s }
  c: {}
)");
  EXPECT_EQ(
      errors,
      (std::vector<std::string>{
          "test.yaml:5:9: pools.a.lb: unknown policy 'random' (valid: round_robin, least_request, "
          "consistent_hash)",
          "test.yaml:8:17: pools.a.origins[0].weight must be an integer from 1 to 1000, got '0'",
          "test.yaml:10:17: pools.a.origins[1].weight must be an integer from 1 to 1000, got '1001'",
          "test.yaml:11:18: pools.a.origins[2]: duplicate origin 'a.internal:80' (first listed on line 7)",
          "test.yaml:13:18: pools.b: hash_header is only used with lb: consistent_hash",
          "test.yaml:15:27: pools.b.health_check.rise must be an integer from 1 to 4294967295, got '0'",
          "test.yaml:15:36: pools.b.health_check.fall must be an integer from 1 to 4294967295, got '0'",
          "test.yaml:15:54: pools.b.health_check.expect_status must be an integer from 100 to 599, got '99'",
          "test.yaml:16:24: pools.b.outlier_detection: base_ejection must not exceed max_ejection",
          "test.yaml:17:6: missing required key 'origins' in pools.c",
      }));
}

TEST(ConfigErrors, RouteRulesAreChecked) {
  std::vector<std::string> errors = errorsOf(R"(listeners:
  - address: 127.0.0.1:8080
routes:
  - name: a
    match: { prefix: api, host: "bad host" }
    respond: { status: 600 }
  - name: a
    respond: {}
    request_headers:
      add: { "Bad Name": x, Content-Length: "0", X-Ok: "a\r\nb" }
      remove: [Transfer-Encoding]
)");
  EXPECT_EQ(
      errors,
      (std::vector<std::string>{
          "test.yaml:5:22: routes[0].match.prefix: invalid path prefix 'api' (must start with '/', no "
          "spaces or '#')",
          "test.yaml:5:33: routes[0].match.host: invalid host 'bad host' (a name like api.example.com or "
          "*.example.com)",
          "test.yaml:6:24: routes[0].respond.status must be an integer from 100 to 599, got '600'",
          "test.yaml:7:11: routes[1]: duplicate route name 'a' (first used on line 4)",
          "test.yaml:10:14: routes[1].request_headers.add: invalid header name 'Bad Name'",
          "test.yaml:10:29: routes[1].request_headers.add: header 'Content-Length' is managed by the proxy "
          "and cannot be edited",
          "test.yaml:10:56: routes[1].request_headers.add.X-Ok: header values must not contain control "
          "characters",
          "test.yaml:11:16: routes[1].request_headers.remove[0]: header 'Transfer-Encoding' is managed by "
          "the proxy and cannot be edited",
      }));
}

TEST(ConfigErrors, WorkersAreRangeChecked) {
  EXPECT_EQ(onlyErrorOf(std::string(kValidBase) + "workers: 257\n"),
            "test.yaml:10:10: workers must be an integer from 0 to 256, got '257'");
}

TEST(ConfigErrors, TlsVersionAndAlpnProtocolsAreChecked) {
  std::string yaml = withCertDir(R"(listeners:
  - address: 127.0.0.1:8443
    tls:
      certificates:
        - cert: CERTS/server-cert.pem
          key: CERTS/server-key.pem
      min_version: "1.1"
      alpn: [h2, http/1.1]
)");
  EXPECT_EQ(errorsOf(yaml),
            (std::vector<std::string>{
                "test.yaml:7:20: listeners[0].tls.min_version must be \"1.2\" or \"1.3\", got '1.1'",
                "test.yaml:8:14: listeners[0].tls.alpn[0]: unsupported protocol 'h2' (supported: http/1.1)",
            }));
}

TEST(ConfigErrors, AdminMayNotShareAListenerAddress) {
  EXPECT_EQ(onlyErrorOf(std::string(kValidBase) + "admin: { address: 127.0.0.1:8080 }\n"),
            "test.yaml:10:19: admin address '127.0.0.1:8080' is already used by the listener on line 2");
}

TEST(ConfigErrors, OnlyOneYamlDocumentIsAllowed) {
  EXPECT_EQ(onlyErrorOf(std::string(kValidBase) + "---\nworkers: 2\n"),
            "test.yaml:10:1: a second YAML document starts here; a configuration file holds one");
}

// yaml-cpp 0.7 accepts a stray top-level ',' as an empty document without consuming it; its LoadAll() then
// never returns.
TEST(ConfigErrors, StrayTopLevelCommaIsASyntaxErrorNotAHang) {
  EXPECT_EQ(onlyErrorOf(","), "test.yaml:1:1: unexpected ','");
  EXPECT_EQ(onlyErrorOf(",listeners: []\n"), "test.yaml:1:1: unexpected ','");
}

TEST(ConfigErrors, TopLevelMustBeAMapping) {
  EXPECT_EQ(onlyErrorOf("- listeners\n"), "test.yaml:1:1: expected a mapping for the top level, got a list");
}

TEST(ConfigErrors, NonScalarKeysAreRejectedWithoutThrowing) {
  EXPECT_EQ(onlyErrorOf(std::string(kValidBase) + "? [a, b]\n: 1\n"),
            "test.yaml:10:3: keys in the top level must be plain names, not a list");
}

TEST(ConfigErrors, EchoedValuesAreEscapedAndBounded) {
  std::string longHost(100, 'a');
  std::vector<std::string> errors = errorsOf(R"(listeners:
  - address: "bad\x01host:80"
  - address: )" + longHost + R"(
routes: []
)");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0],
            "test.yaml:2:14: listeners[0].address: invalid address 'bad\\x01host:80' (expected IPv4:PORT or "
            "[IPv6]:PORT)");
  EXPECT_EQ(errors[1], "test.yaml:3:14: listeners[1].address: invalid address '" + std::string(64, 'a') +
                           "...' (expected IPv4:PORT or [IPv6]:PORT)");
}

TEST(ConfigErrors, ErrorsAreCollectedInFileOrder) {
  std::vector<std::string> errors = errorsOf(R"(pools:
  p:
    origins: [{ address: x }]
    retries: 11
listeners:
  - address: 127.0.0.1
routes:
  - pool: missing
)");
  EXPECT_EQ(errors,
            (std::vector<std::string>{
                "test.yaml:3:26: pools.p.origins[0].address: invalid address 'x' (expected HOST:PORT, "
                "IPv4:PORT or [IPv6]:PORT)",
                "test.yaml:4:14: pools.p.retries must be an integer from 0 to 10, got '11'",
                "test.yaml:6:14: listeners[0].address: invalid address '127.0.0.1' (expected IPv4:PORT or "
                "[IPv6]:PORT)",
                "test.yaml:8:11: route 'route0' references unknown pool 'missing' (defined: p)",
            }));
}

}  // namespace
}  // namespace bulwark

namespace bulwark {
namespace {

// --- shield ------------------------------------------------------------------------------------------------

TEST(ShieldConfig, ContractSnippetLoads) {
  Config config = configOf(std::string(kValidBase) + R"(shield:
  rate_limits:
    - name: per-ip
      key: client_ip
      rate: 50/s
      burst: 100
)");
  ASSERT_TRUE(config.shield.enabled);
  ASSERT_EQ(config.shield.rateLimits.size(), 1u);
  const RateLimitRule& rule = config.shield.rateLimits[0];
  EXPECT_EQ(rule.name, "per-ip");
  ASSERT_EQ(rule.key.size(), 1u);
  EXPECT_EQ(rule.key[0].kind, RateKeyKind::kClientIp);
  EXPECT_DOUBLE_EQ(rule.perSecond, 50);
  EXPECT_EQ(rule.burst, 100u);
  EXPECT_FALSE(rule.logOnly);
  EXPECT_FALSE(config.shield.penalty.enabled);
  EXPECT_EQ(config.shield.redisFailure, RedisFailure::kLocal);
}

TEST(ShieldConfig, EveryKeyIsRead) {
  std::string yaml = kValidBase;
  yaml.replace(yaml.find("routes:"), 0, "  - address: 127.0.0.1:8081\n    proxy_protocol: true\n");
  Config config = configOf(yaml + R"(shield:
  rate_limits:
    - name: api
      key: [client_prefix, "header:X-Api-Key"]
      rate: 2000/min
      action: log
      match:
        route: route0
        host: ["*.Example.com"]
        prefix: /api/
        method: [get, POST]
        header: { name: X-Form, value: "yes" }
  trusted_proxies: [10.0.0.0/8, "2001:db8::1"]
  connections: { max_total: 1000, max_per_ip: 50, max_requests_per_ip: 20, min_body_rate: 1k, body_rate_window: 5s }
  lists: { allow: [192.0.2.0/24], deny: ["::1", 203.0.113.7] }
  penalty_box: { threshold: 3, window: 30s, duration: 5m }
  redis: redis.internal:6379
  redis_failure: deny
  table_size: 1024
  event_log: off
  event_log_rate: 50
)");
  const ShieldConfig& s = config.shield;
  ASSERT_EQ(s.rateLimits.size(), 1u);
  const RateLimitRule& r = s.rateLimits[0];
  EXPECT_DOUBLE_EQ(r.perSecond, 2000.0 / 60);
  EXPECT_EQ(r.burst, 34u);  // default: one second's worth, rounded up
  EXPECT_TRUE(r.logOnly);
  ASSERT_EQ(r.key.size(), 2u);
  EXPECT_EQ(r.key[0].kind, RateKeyKind::kClientPrefix);
  EXPECT_EQ(r.key[1].kind, RateKeyKind::kHeader);
  EXPECT_EQ(r.key[1].header, "X-Api-Key");
  EXPECT_EQ(r.match.routes, std::vector<std::string>{"route0"});
  EXPECT_EQ(r.match.hosts, std::vector<std::string>{"*.example.com"});
  EXPECT_EQ(r.match.prefix, "/api/");
  EXPECT_EQ(r.match.methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(r.match.header, "X-Form");
  EXPECT_EQ(r.match.headerValue, "yes");
  EXPECT_EQ(s.trustedProxies, (std::vector<std::string>{"10.0.0.0/8", "2001:db8::1"}));
  EXPECT_EQ(s.connections.maxTotal, 1000u);
  EXPECT_EQ(s.connections.maxPerIp, 50u);
  EXPECT_EQ(s.connections.maxRequestsPerIp, 20u);
  EXPECT_EQ(s.connections.minBodyRate, 1024u);
  EXPECT_EQ(s.connections.bodyRateWindow, 5s);
  EXPECT_EQ(s.lists.allow, std::vector<std::string>{"192.0.2.0/24"});
  EXPECT_EQ(s.lists.deny, (std::vector<std::string>{"::1", "203.0.113.7"}));
  EXPECT_TRUE(s.penalty.enabled);
  EXPECT_EQ(s.penalty.threshold, 3u);
  EXPECT_EQ(s.penalty.window, 30s);
  EXPECT_EQ(s.penalty.duration, 5min);
  EXPECT_EQ(s.redis, "redis.internal:6379");
  EXPECT_EQ(s.redisFailure, RedisFailure::kDeny);
  EXPECT_EQ(s.tableSize, 1024u);
  EXPECT_EQ(s.eventLogRate, 50u);
  EXPECT_EQ(s.eventLog, "off");
  EXPECT_TRUE(config.listeners[1].proxyProtocol);
}

TEST(ShieldConfig, ErrorsPointAtTheValue) {
  const std::string base =
      std::string(kValidBase) + "shield:\n  rate_limits:\n    - name: r\n      key: client_ip\n";
  EXPECT_EQ(
      onlyErrorOf(base + "      rate: 50/d\n"),
      "test.yaml:14:13: shield.rate_limits[0].rate: invalid rate '50/d' (a count per s, min or h, e.g. 50/s "
      "or 2000/min)");
  EXPECT_EQ(onlyErrorOf(base + "      rate: 5/s\n      burst: 0\n"),
            "test.yaml:15:14: shield.rate_limits[0].burst must be an integer from 1 to 10000000, got '0'");
  EXPECT_EQ(onlyErrorOf(base + "      rate: 5/s\n      action: drop\n"),
            "test.yaml:15:15: shield.rate_limits[0].action: invalid action 'drop' (reject or log)");
  EXPECT_EQ(onlyErrorOf(base + "      rate: 5/s\n      match: { route: nowhere }\n"),
            "test.yaml:15:23: rate limit refers to unknown route 'nowhere'");
  EXPECT_EQ(
      onlyErrorOf(std::string(kValidBase) + "shield:\n  rate_limits:\n    - name: r\n      key: cookie\n"
                                            "      rate: 5/s\n"),
      "test.yaml:13:12: shield.rate_limits[0].key: invalid key 'cookie' (client_ip, client_prefix or "
      "header:NAME, or a list of them)");
  EXPECT_EQ(
      onlyErrorOf(std::string(kValidBase) + "shield:\n  rate_limits:\n    - name: r\n      rate: 5/s\n"),
      "test.yaml:12:7: missing required key 'key' in shield.rate_limits[0]");
  EXPECT_EQ(
      onlyErrorOf(std::string(kValidBase) + "shield:\n  trusted_proxies: [10.0.0.0/33]\n"),
      "test.yaml:11:21: shield.trusted_proxies[0]: invalid address or CIDR '10.0.0.0/33' (e.g. 10.0.0.0/8, "
      "2001:db8::/32, 192.0.2.1)");
  EXPECT_EQ(onlyErrorOf(std::string(kValidBase) + "shield:\n  redis_failure: open\n"),
            "test.yaml:11:18: shield.redis_failure: invalid value 'open' (local or deny)");
  EXPECT_EQ(onlyErrorOf(std::string(kValidBase) + "shield:\n  lists: { deny: [/nonexistent/deny.txt] }\n"),
            "test.yaml:11:19: shield.lists.deny[0]: cannot read '/nonexistent/deny.txt': No such file or "
            "directory");
  EXPECT_EQ(
      onlyErrorOf(std::string(kValidBase) + "shield:\n  penaltybox: {}\n"),
      "test.yaml:11:3: unknown key 'penaltybox' in shield (valid keys: rate_limits, trusted_proxies, "
      "connections, lists, geo, penalty_box, redis, redis_failure, table_size, event_log, event_log_rate)");
}

TEST(ShieldConfig, ProxyProtocolNeedsTrustedProxies) {
  std::string yaml = kValidBase;
  yaml.replace(yaml.find("8080\n") + 5, 0, "    proxy_protocol: true\n");
  EXPECT_EQ(onlyErrorOf(yaml),
            "test.yaml:3:21: listener 127.0.0.1:8080: proxy_protocol needs "
            "shield.trusted_proxies (the proxies allowed to send the header)");
}

TEST(ShieldConfig, DuplicateRuleNamesAreErrors) {
  EXPECT_EQ(onlyErrorOf(std::string(kValidBase) + R"(shield:
  rate_limits:
    - { name: a, key: client_ip, rate: 1/s }
    - { name: a, key: client_ip, rate: 2/s }
)"),
            "test.yaml:13:15: shield.rate_limits[1]: duplicate rate limit name 'a' (first used on line 12)");
}

}  // namespace
}  // namespace bulwark

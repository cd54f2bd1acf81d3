// The runtime snapshot: everything a worker needs to serve requests under one configuration.
//
// Built on the control thread from a validated Config (buildRuntime), then shared read-only by all
// workers through std::shared_ptr<const Runtime>. A request keeps the snapshot it started with, so a
// reload never changes the rules under an in-flight request; the old snapshot is freed when the last
// request holding it ends. The only mutable parts are the origins' health flags (atomics written by the
// health checker) and the metrics slots (each written by one worker).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/metrics.h"
#include "http/h1/parser.h"
#include "http/pool.h"
#include "http/router.h"
#include "http/tls.h"
#include "shield/shield.h"
#include "waf/engine/program.h"

namespace bulwark::http {

struct ResolvedAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

struct OriginRuntime {
  ResolvedAddress address;
  std::string key;      // "pool/host:port", identifies keep-alive connections to it
  Gauge* healthyGauge;  // 1 healthy, 0 not (written by the health checker)
  Counter* ejections;   // passive ejections
  Counter* connectFailures;
};

struct PoolRuntime {
  std::string name;
  std::shared_ptr<PoolShared> shared;
  std::vector<OriginRuntime> origins;  // index = origin index in the pool config
  std::unique_ptr<TlsClientContext> tls;
  Counter* retries;
  Counter* noOrigin;  // requests answered 503 because no origin was usable
};

struct RouteRuntime {
  const Route* config;
  int pool = -1;  // index into Runtime::pools, -1 for a direct response
  Timeouts timeouts;
  uint64_t maxBodyBytes = 0;  // 0 = unlimited
  Counter* byClass[6];        // requests by status class: 1xx..5xx, [0] unused
  Histogram* latency;
};

struct ListenerRuntime {
  const Listener* config;
  ResolvedAddress address;
  std::unique_ptr<TlsServerContext> tls;
};

struct GlobalMetrics {
  Counter* wafBlocked;  // requests blocked by the WAF
  Gauge* activeConnections;
  Counter* acceptedConnections;
  Counter* rejectedByReason[24];  // indexed by RejectReason
  Counter* unmatchedByClass[6];   // requests that matched no route (or failed before routing)
};

struct Runtime {
  Config config;
  uint64_t generation = 0;
  h1::Limits limits;
  std::vector<ListenerRuntime> listeners;
  std::vector<PoolRuntime> pools;
  std::vector<RouteRuntime> routes;
  Router router;
  GlobalMetrics metrics;
  std::shared_ptr<const waf::Program> waf;  // compiled rules; null when there is no `waf:` section
  std::unique_ptr<shield::Shield> shield;   // null when there is no `shield:` section

  explicit Runtime(Config cfg);
  int poolIndex(const std::string& name) const noexcept;
};

// Why a request was refused by the gateway itself; names are stable metric label values.
enum class RejectReason : int {
  kParseError = 0,
  kUriTooLong,
  kHeadersTooLarge,
  kBodyTooLarge,
  kBadChunk,
  kHeaderTimeout,
  kNoRoute,
  kNoOrigin,
  kOriginConnect,
  kOriginTimeout,
  kOriginBadResponse,
  kWafBlocked,
  kRateLimited,        // a shield rate limit (429)
  kShieldDenied,       // deny list, geo or penalty box for a client named by X-Forwarded-For (403)
  kRequestsInFlight,   // shield.connections.max_requests_per_ip (429)
  kSlowBody,           // request body slower than shield.connections.min_body_rate (408)
  kShieldUnavailable,  // shared counters unreachable and redis_failure: deny (503)
  kCount
};
static_assert(static_cast<int>(RejectReason::kCount) <= 24, "GlobalMetrics::rejectedByReason is too small");
const char* rejectReasonName(RejectReason r) noexcept;

// Builds a snapshot; resolves origin host names and loads TLS material (blocking work, done here on the
// control thread, never on a worker). `previous` lends its health state to origins that still exist, so
// a reload does not reset health. Returns nullptr and sets `error` on failure.
// `shieldState` (may be null when the config has no `shield:` section) is the server's state that outlives
// snapshots.
std::shared_ptr<Runtime> buildRuntime(Config cfg, MetricsRegistry& metrics, const Runtime* previous,
                                      uint64_t generation, std::string& error,
                                      shield::ShieldState* shieldState = nullptr);

// "127.0.0.1:80" / "[::1]:80" / "localhost:80" -> sockaddr (getaddrinfo; blocking, control thread only).
bool resolveAddress(const SocketAddress& a, ResolvedAddress& out, std::string& error);

}  // namespace bulwark::http

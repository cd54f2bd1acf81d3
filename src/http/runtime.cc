#include "http/runtime.h"

#include <netdb.h>

#include <cstring>

namespace bulwark::http {

namespace {
constexpr const char* kReasonNames[] = {
    "parse_error",         "uri_too_long",      "headers_too_large", "body_too_large", "bad_chunk",
    "header_timeout",      "no_route",          "no_origin",         "origin_connect", "origin_timeout",
    "origin_bad_response", "waf_blocked",       "rate_limited",      "shield_denied",  "requests_in_flight",
    "slow_body",           "shield_unavailable"};
static_assert(sizeof(kReasonNames) / sizeof(kReasonNames[0]) == static_cast<int>(RejectReason::kCount));

std::string label(const std::string& k, const std::string& v) {
  return k + "=\"" + MetricsRegistry::labelValue(v) + "\"";
}
}  // namespace

const char* rejectReasonName(RejectReason r) noexcept { return kReasonNames[static_cast<int>(r)]; }

Runtime::Runtime(Config cfg) : config(std::move(cfg)), router(config.routes) {}

int Runtime::poolIndex(const std::string& name) const noexcept {
  for (std::size_t i = 0; i < pools.size(); ++i) {
    if (pools[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

bool resolveAddress(const SocketAddress& a, ResolvedAddress& out, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(a.port);
  int rc = ::getaddrinfo(a.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    error = "cannot resolve " + a.text + ": " + ::gai_strerror(rc);
    return false;
  }
  std::memcpy(&out.addr, res->ai_addr, res->ai_addrlen);
  out.len = res->ai_addrlen;
  ::freeaddrinfo(res);
  return true;
}

std::shared_ptr<Runtime> buildRuntime(Config cfg, MetricsRegistry& metrics, const Runtime* previous,
                                      uint64_t generation, std::string& error,
                                      shield::ShieldState* shieldState) {
  auto rt = std::make_shared<Runtime>(std::move(cfg));
  const Config& c = rt->config;
  rt->generation = generation;
  rt->limits.maxRequestLine = c.limits.maxRequestLine;
  rt->limits.maxHeaderBytes = c.limits.maxHeaderBytes;
  rt->limits.maxHeaders = c.limits.maxHeaders;

  for (const Listener& l : c.listeners) {
    ListenerRuntime lr;
    lr.config = &l;
    if (!resolveAddress(l.address, lr.address, error)) return nullptr;
    if (l.tls) {
      lr.tls = TlsServerContext::create(*l.tls, error);
      if (!lr.tls) {
        error = c.file + ":" + std::to_string(l.line) + ": listener " + l.address.text + ": " + error;
        return nullptr;
      }
    }
    rt->listeners.push_back(std::move(lr));
  }

  for (const auto& [name, pool] : c.pools) {
    PoolRuntime pr;
    pr.name = name;
    pr.shared = std::make_shared<PoolShared>(pool);
    const std::string poolLabel = label("pool", name);
    pr.retries =
        metrics.counter("bulwark_origin_retries_total", "Requests retried on another origin.", poolLabel);
    pr.noOrigin =
        metrics.counter("bulwark_pool_no_origin_total",
                        "Requests answered 503 because no origin of the pool was usable.", poolLabel);
    if (pool.tls) {
      pr.tls = TlsClientContext::create(*pool.tls, error);
      if (!pr.tls) {
        error = c.file + ":" + std::to_string(pool.line) + ": pool " + name + ": " + error;
        return nullptr;
      }
    }
    const PoolRuntime* old = nullptr;
    if (previous != nullptr) {
      int idx = previous->poolIndex(name);
      if (idx >= 0) old = &previous->pools[static_cast<std::size_t>(idx)];
    }
    for (std::size_t i = 0; i < pool.origins.size(); ++i) {
      const Origin& o = pool.origins[i];
      OriginRuntime orr;
      if (!resolveAddress(o.address, orr.address, error)) {
        error = c.file + ":" + std::to_string(o.line) + ": " + error;
        return nullptr;
      }
      orr.key = name + "/" + o.address.text;
      const std::string labels = poolLabel + "," + label("origin", o.address.text);
      orr.healthyGauge =
          metrics.gauge("bulwark_origin_healthy", "1 if the origin passes health checks.", labels);
      orr.ejections = metrics.counter("bulwark_origin_ejections_total",
                                      "Passive outlier ejections of the origin.", labels);
      orr.connectFailures =
          metrics.counter("bulwark_origin_connect_failures_total", "Failed connects to the origin.", labels);
      if (old != nullptr) {
        for (std::size_t j = 0; j < old->shared->config.origins.size(); ++j) {
          if (old->shared->config.origins[j].address.text == o.address.text) {
            const OriginHealth& h = *old->shared->health[j];
            pr.shared->health[i]->healthy.store(h.healthy.load());
            pr.shared->health[i]->consecutiveOk.store(h.consecutiveOk.load());
            pr.shared->health[i]->consecutiveFail.store(h.consecutiveFail.load());
          }
        }
      }
      orr.healthyGauge->set(pr.shared->health[i]->healthy.load() ? 1 : 0);
      pr.origins.push_back(std::move(orr));
    }
    rt->pools.push_back(std::move(pr));
  }

  static constexpr const char* kClasses[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (const Route& r : c.routes) {
    RouteRuntime rr;
    rr.config = &r;
    if (!r.pool.empty()) {
      rr.pool = rt->poolIndex(r.pool);
      if (rr.pool < 0) {
        error = c.file + ":" + std::to_string(r.line) + ": unknown pool '" + r.pool + "'";
        return nullptr;
      }
      rr.timeouts =
          r.timeouts ? *r.timeouts : rt->pools[static_cast<std::size_t>(rr.pool)].shared->config.timeouts;
    }
    rr.maxBodyBytes = r.maxBodyBytes ? *r.maxBodyBytes : c.limits.maxBodyBytes;
    const std::string routeLabel = label("route", r.name);
    rr.byClass[0] = nullptr;
    for (int k = 1; k <= 5; ++k) {
      rr.byClass[k] = metrics.counter("bulwark_requests_total", "Requests by route and status class.",
                                      routeLabel + "," + label("class", kClasses[k]));
    }
    rr.latency = metrics.histogram("bulwark_request_duration_seconds",
                                   "Time from request head to last response byte.", routeLabel);
    rt->routes.push_back(rr);
  }

  rt->metrics.wafBlocked = metrics.counter("bulwark_waf_blocked_total", "Requests blocked by the WAF.");
  if (c.waf.enabled) {
    // Rule paths were resolved against the config file's directory by the loader.
    waf::CompileResult wr = waf::compileFiles(c.waf.rules);
    if (!wr.program) {
      error.clear();
      for (std::size_t i = 0; i < wr.errors.size() && i < 20; ++i) error += (i ? "\n" : "") + wr.errors[i];
      if (wr.errors.size() > 20) error += "\n(" + std::to_string(wr.errors.size() - 20) + " more errors)";
      return nullptr;
    }
    rt->waf = wr.program;
  }
  if (c.shield.enabled) {
    if (shieldState == nullptr) {
      error = "internal error: no shield state for the shield section";
      return nullptr;
    }
    rt->shield = shield::Shield::build(c.shield, c.routes, *shieldState, metrics, error);
    if (!rt->shield) {
      error = c.file + ":" + std::to_string(c.shield.line) + ": " + error;
      return nullptr;
    }
  }
  rt->metrics.activeConnections = metrics.gauge("bulwark_active_connections", "Open client connections.");
  rt->metrics.acceptedConnections =
      metrics.counter("bulwark_accepted_connections_total", "Client connections accepted.");
  for (int i = 0; i < static_cast<int>(RejectReason::kCount); ++i) {
    rt->metrics.rejectedByReason[i] =
        metrics.counter("bulwark_rejected_requests_total", "Requests refused by the gateway, by reason.",
                        label("reason", kReasonNames[i]));
  }
  rt->metrics.unmatchedByClass[0] = nullptr;
  for (int k = 1; k <= 5; ++k) {
    rt->metrics.unmatchedByClass[k] =
        metrics.counter("bulwark_requests_total", "Requests by route and status class.",
                        label("route", "") + "," + label("class", kClasses[k]));
  }
  return rt;
}

}  // namespace bulwark::http

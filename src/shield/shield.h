// The shield in the gateway: the decisions taken at connection accept and at the start of each request,
// before the WAF and the origins see anything (docs/shield.md).
//
// Two parts:
//  - ShieldState: what must outlive configuration snapshots and is shared by every worker: the rate-limit
//    table, the per-client connection table, the penalty box and the lists added through the admin API.
//    Owned by the server; each snapshot's Shield holds shared pointers to it.
//  - Shield: the compiled `shield:` section of one snapshot (rules, lists, geo database, metric handles),
//    immutable once built, so workers read it without synchronisation.
//
// Every method a worker calls is lock-free and allocation-free (a per-thread scratch string aside, which
// keeps its capacity); the admin API's list edits happen on the control thread and are published by
// swapping a shared_ptr that each worker re-reads through its own copy (Worker::adoptShieldLists).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/metrics.h"
#include "shield/conn_limits.h"
#include "shield/ip_address.h"
#include "shield/ip_list.h"
#include "shield/penalty_box.h"
#include "shield/rate_limiter.h"

namespace bulwark::shield {

class GeoDatabase;
class UsageSync;

// Lists edited through the admin API: a new object for every change (read-only once published).
struct AdminLists {
  IpList allow;
  IpList deny;
};

// Shared across snapshots; see the file comment. Thread-safe.
class ShieldState {
 public:
  static constexpr std::size_t kClientTableSize = 65536;
  static constexpr std::size_t kPenaltyBoxSize = 65536;

  // `workers`: worker threads that will call into the shield (one Redis ring each). `connect`: false for
  // `bulwark check`, which must not start the Redis sync thread.
  explicit ShieldState(unsigned workers = 1, bool connect = true);
  ~ShieldState();

  // The rate-limit table for a snapshot asking for `capacity` slots: the current one when the size is
  // unchanged (so counters survive a reload), else a new one. Control thread.
  std::shared_ptr<RateLimiter> limiter(std::size_t capacity);
  // The Redis usage sync for `redis` (HOST:PORT) feeding `limiter`: the running one when both are unchanged,
  // else a new one (started; the previous one is stopped but kept, as old snapshots may still point to it).
  // Null when `redis` is empty. Control thread.
  UsageSync* usageSync(const std::string& redis, const std::shared_ptr<RateLimiter>& limiter);
  UsageSync* currentUsageSync() const noexcept { return syncs_.empty() ? nullptr : syncs_.back().get(); }
  ClientTable& clients() noexcept { return *clients_; }
  PenaltyBox& penalty() noexcept { return *penalty_; }
  std::atomic<int64_t>& openConnections() noexcept { return openConnections_; }

  // Admin API (control thread). Each returns false with `error` set on bad input.
  bool addListEntry(bool deny, std::string_view prefix, std::string& error);
  bool removeListEntry(bool deny, std::string_view prefix, std::string& error);
  std::shared_ptr<const AdminLists> adminLists() const;

 private:
  bool editList(bool deny, bool add, std::string_view prefix, std::string& error);

  unsigned workers_;
  bool connect_;
  std::shared_ptr<RateLimiter> limiter_;
  std::vector<std::unique_ptr<UsageSync>> syncs_;  // the last one is in use; earlier ones are stopped
  std::string syncRedis_;
  const RateLimiter* syncLimiter_ = nullptr;
  std::unique_ptr<ClientTable> clients_;
  std::unique_ptr<PenaltyBox> penalty_;
  std::atomic<int64_t> openConnections_{0};
  mutable std::mutex listsMutex_;  // control thread only (admin API); never taken by a worker
  std::shared_ptr<const AdminLists> lists_;
};

// Looks up request headers for rule matching and keys (implemented by the HTTP layer over its parsed head).
class HeaderSource {
 public:
  virtual ~HeaderSource() = default;
  // The first header named `name` (case-insensitive); false if absent.
  virtual bool find(std::string_view name, std::string_view& value) const noexcept = 0;
};

// Why a connection or request was refused by the shield: stable metric label values.
enum class Refusal : int {
  kDenyList = 0,
  kGeo,
  kPenaltyBox,
  kMaxTotal,
  kMaxPerIp,
  kProxyProtocol,  // bad PROXY header, or a PROXY header from a peer that is not a trusted proxy
  kCount
};
const char* refusalName(Refusal r) noexcept;

// What the accept path learned about a client.
struct ConnectionTicket {
  uint32_t slot = ClientTable::kUntracked;  // ClientTable slot (give back with Shield::connectionClosed)
  bool counted = false;                     // counted in the open-connection total
  bool allowListed = false;                 // skips rate limits and the penalty box
};

struct RequestFacts {
  std::string_view method;
  std::string_view host;  // Host header or authority (a port is ignored)
  std::string_view path;
  int route = -1;  // index into the config's routes; -1 = none matched
  const HeaderSource* headers = nullptr;
};

struct RequestVerdict {
  enum class Kind { kPass, kRateLimited, kDenied, kUnavailable };
  Kind kind = Kind::kPass;
  int rule = -1;  // rate-limit rule index (kRateLimited, kUnavailable), or a Refusal (kDenied)
  uint32_t retryAfterSeconds = 0;
};

class Shield {
 public:
  // Rules (in order) whose client-address keys are cached per thread; later ones hash on every request.
  static constexpr std::size_t kCachedKeyRules = 16;
  // Builds the snapshot's shield: compiles the rules against `routes`, loads list files and the geo
  // database, creates metric handles. Blocking I/O: control thread only. nullptr + `error` on failure.
  static std::unique_ptr<Shield> build(const ShieldConfig& config, const std::vector<Route>& routes,
                                       ShieldState& state, MetricsRegistry& metrics, std::string& error);
  ~Shield();

  const ShieldConfig& config() const noexcept { return config_; }
  bool isTrustedProxy(const IpAddress& peer) const noexcept;
  bool usesForwardedFor() const noexcept { return !trusted_.empty(); }

  // Accept path, for the address the connection is known by (TCP peer, or PROXY protocol source).
  // Refusals are counted here. `ticket` must be given back to connectionClosed() when accepted.
  bool admitConnection(const IpAddress& client, const AdminLists* lists, int64_t nowMs, unsigned shard,
                       ConnectionTicket& ticket, Refusal& why) const noexcept;
  void connectionClosed(ConnectionTicket& ticket) const noexcept;
  // Counts a connection refused by the caller (PROXY protocol checks live in the HTTP layer).
  void refuseConnection(Refusal why, unsigned shard) const noexcept { countRefusal(why, shard); }
  // Counts a request refused because admitForwardedClient() said no.
  void countDeniedRequest(Refusal why, unsigned shard) const noexcept {
    deniedRequests_[static_cast<int>(why)]->add(shard);
  }
  // The per-address checks of admitConnection without the counting, for a client named by
  // X-Forwarded-For (its connection is the proxy's). False = deny (`why` set).
  bool admitForwardedClient(const IpAddress& client, const AdminLists* lists, int64_t nowMs, unsigned shard,
                            bool& allowListed, Refusal& why) const noexcept;

  // The client a request comes from: the right-most address of X-Forwarded-For that is not a trusted
  // proxy, when `peer` is one; else `peer`. `forwardedFor` holds the header's values joined by ','.
  IpAddress clientFromForwardedFor(const IpAddress& peer, std::string_view forwardedFor) const noexcept;

  // Request path: rate limits, in rule order. Also the concurrent-request limit (see startRequest).
  RequestVerdict checkRequest(const RequestFacts& facts, const IpAddress& client, bool allowListed,
                              int64_t nowNs, unsigned shard) const noexcept;
  // One more request in flight for the connection's client; false when over max_requests_per_ip.
  bool startRequest(const ConnectionTicket& ticket, unsigned shard) const noexcept;
  void endRequest(const ConnectionTicket& ticket) const noexcept;
  // True while `client` is in the penalty box (and the box is configured).
  bool boxed(const IpAddress& client, int64_t nowMs) const noexcept;
  // A client was blocked (WAF or rate limit): a penalty-box strike. True if that boxed it.
  bool strike(const IpAddress& client, int64_t nowMs, unsigned shard) const noexcept;

  const std::string& ruleName(int rule) const noexcept;
  std::size_t ruleCount() const noexcept;

  // Appends one JSON event line (ending in '\n') describing a shield decision.
  static void appendEvent(std::string& out, std::string_view decision, std::string_view rule,
                          std::string_view client, std::string_view requestId, uint32_t retryAfterSeconds);

 private:
  struct Rule;
  Shield();
  // The rate-limit keys of the first kCachedKeyRules rules whose key is the client address alone (other
  // slots unset), from the calling thread's cache.
  const uint64_t* addressKeys(const IpAddress& client) const noexcept;
  static bool ruleApplies(const Rule& rule, const RequestFacts& facts, std::string_view host) noexcept;
  static bool keyBytesOf(const RateLimitRule& rule, const RequestFacts& facts, const IpAddress& client,
                         std::string& out) noexcept;
  bool refusedByLists(const IpAddress& client, const AdminLists* lists, unsigned shard, bool& allowListed,
                      Refusal& why) const noexcept;
  void countRefusal(Refusal why, unsigned shard) const noexcept;

  ShieldConfig config_;
  uint64_t serial_ = 0;  // unique per Shield in this process (tags the per-thread client key cache)
  std::vector<Rule> rules_;
  bool hasAddressRules_ = false;
  IpList trusted_;
  IpList allow_;
  IpList deny_;
  std::unique_ptr<GeoDatabase> geo_;
  std::vector<std::array<char, 2>> geoCountries_;  // allow_countries, or deny_countries
  bool geoAllowMode_ = false;
  PenaltySettings penaltySettings_;
  std::shared_ptr<RateLimiter> limiter_;
  UsageSync* sync_ = nullptr;  // shared usage through Redis; null = local counters only
  ShieldState* state_ = nullptr;
  Counter* refused_[static_cast<int>(Refusal::kCount)] = {};
  Counter* deniedRequests_[static_cast<int>(Refusal::kCount)] = {};
  Counter* boxed_ = nullptr;
  Counter* requestsInFlightRefused_ = nullptr;
};

}  // namespace bulwark::shield

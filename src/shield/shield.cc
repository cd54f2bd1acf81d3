#include "shield/shield.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>

#include "core/log.h"
#include "shield/usage_sync.h"

#if __has_include("shield/geo.h")
#include "shield/geo.h"
#define BULWARK_SHIELD_GEO 1
#else
namespace bulwark::shield {
class GeoDatabase {};
}  // namespace bulwark::shield
#define BULWARK_SHIELD_GEO 0
#endif

namespace bulwark::shield {

namespace {

// Every Shield gets a serial of its own: the per-thread client key cache below tags its entries with it, so a
// configuration built at the address of a freed one never reads the old one's keys.
std::atomic<uint64_t> nextShieldSerial{0};

// Rate-limit keys that depend only on the client address, per worker thread. A client's requests (keep-alive
// connections above all) hit the same entry, so key bytes are built and hashed once per client and
// configuration, not once per request and rule. Direct-mapped: a collision only costs a recomputation.
constexpr std::size_t kClientKeyEntries = 256;
struct ClientKeys {
  uint64_t shieldSerial = 0;  // 0: empty
  IpAddress client;
  uint64_t keys[Shield::kCachedKeyRules];
};
thread_local std::array<ClientKeys, kClientKeyEntries> clientKeyCache;  // ~40 KiB per thread

constexpr const char* kRefusalNames[] = {"deny_list", "geo",        "penalty_box",
                                         "max_total", "max_per_ip", "proxy_protocol"};
static_assert(sizeof(kRefusalNames) / sizeof(kRefusalNames[0]) == static_cast<int>(Refusal::kCount));

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view withoutPort(std::string_view host) noexcept {
  if (host.starts_with('[')) {
    std::size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  std::size_t colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

// Host patterns as routes use them (config.h: lower case, "*.example.com" = names below example.com).
bool hostMatches(const std::string& pattern, std::string_view host) noexcept {
  if (pattern.starts_with("*.")) {
    std::string_view suffix = std::string_view(pattern).substr(1);  // ".example.com"
    return host.size() > suffix.size() && equalsIgnoreCase(host.substr(host.size() - suffix.size()), suffix);
  }
  return equalsIgnoreCase(host, pattern);
}

std::string label(std::string_view key, std::string_view value) {
  return std::string(key) + "=\"" + MetricsRegistry::labelValue(std::string(value)) + "\"";
}

bool loadList(const std::vector<std::string>& cidrs, const std::vector<std::string>& files, IpList& into,
              std::string& error) {
  for (const std::string& text : cidrs) {
    IpPrefix p;
    if (!IpPrefix::parse(text, p)) {
      error = "invalid address or CIDR '" + text + "'";
      return false;
    }
    into.add(p);
  }
  for (const std::string& file : files) {
    std::vector<std::string> errors;
    if (!IpList::loadFile(file, into, errors)) {
      error.clear();
      for (std::size_t i = 0; i < errors.size() && i < 10; ++i) error += (i ? "\n" : "") + errors[i];
      if (error.empty()) error = file + ": cannot load list";
      return false;
    }
  }
  return true;
}

void appendRawAddress(std::string& out, const IpAddress& a) {
  out.append(reinterpret_cast<const char*>(a.bytes().data()), a.bytes().size());
}

}  // namespace

const char* refusalName(Refusal r) noexcept { return kRefusalNames[static_cast<int>(r)]; }

// --- ShieldState -----------------------------------------------------------------------------------------

ShieldState::ShieldState(unsigned workers, bool connect)
    : workers_(workers == 0 ? 1 : workers),
      connect_(connect),
      clients_(std::make_unique<ClientTable>(kClientTableSize)),
      penalty_(std::make_unique<PenaltyBox>(kPenaltyBoxSize)),
      lists_(std::make_shared<AdminLists>()) {}

ShieldState::~ShieldState() {
  for (auto& sync : syncs_) sync->stop();
}

UsageSync* ShieldState::usageSync(const std::string& redis, const std::shared_ptr<RateLimiter>& limiter) {
  if (redis.empty() || !connect_) return nullptr;
  if (!syncs_.empty() && redis == syncRedis_ && limiter.get() == syncLimiter_) return syncs_.back().get();
  if (!syncs_.empty()) syncs_.back()->stop();
  UsageSyncOptions options;
  parseRedisAddress(redis, options.redis.host, options.redis.port);
  options.workers = workers_;
  // The limiter is kept alive by the snapshots that use this sync; stopped syncs never charge again.
  syncs_.push_back(std::make_unique<UsageSync>(std::move(options), *limiter));
  syncs_.back()->start();
  syncRedis_ = redis;
  syncLimiter_ = limiter.get();
  return syncs_.back().get();
}

std::shared_ptr<RateLimiter> ShieldState::limiter(std::size_t capacity) {
  std::size_t rounded = RateLimiter::kProbeWindow;
  while (rounded < capacity) rounded <<= 1;
  if (!limiter_ || limiter_->capacity() != rounded) limiter_ = std::make_shared<RateLimiter>(capacity);
  return limiter_;
}

bool ShieldState::addListEntry(bool deny, std::string_view prefix, std::string& error) {
  return editList(deny, /*add=*/true, prefix, error);
}

bool ShieldState::removeListEntry(bool deny, std::string_view prefix, std::string& error) {
  return editList(deny, /*add=*/false, prefix, error);
}

// Copy, change, publish: workers keep reading the list they have until the new one reaches them.
bool ShieldState::editList(bool deny, bool add, std::string_view prefix, std::string& error) {
  IpPrefix p;
  if (!IpPrefix::parse(prefix, p)) {
    error = "invalid address or CIDR";
    return false;
  }
  std::lock_guard<std::mutex> lock(listsMutex_);
  auto next = std::make_shared<AdminLists>(*lists_);
  IpList& list = deny ? next->deny : next->allow;
  if (add) {
    list.add(p);
  } else if (!list.remove(p)) {
    error = "not listed";
    return false;
  }
  lists_ = std::move(next);
  return true;
}

std::shared_ptr<const AdminLists> ShieldState::adminLists() const {
  std::lock_guard<std::mutex> lock(listsMutex_);
  return lists_;
}

// --- Shield ----------------------------------------------------------------------------------------------

struct Shield::Rule {
  std::string name;
  uint64_t keyPrefix = 0;      // rateKeyPrefix(name)
  std::size_t keySpec = 0;     // index of the first rule with the same key parts (their key bytes are equal)
  std::vector<bool> routeSet;  // by route index: the rule's match names it (empty = any route)
  const RateLimitRule* config = nullptr;
  bool addressOnly = false;    // the key is made of client_ip / client_prefix parts only
  bool hasConditions = false;  // match: names a route, host, prefix, method or header
  RateSpec spec;
  Counter* rejected = nullptr;
  Counter* logged = nullptr;
  Counter* unavailable = nullptr;
};

Shield::Shield() = default;
Shield::~Shield() = default;

std::unique_ptr<Shield> Shield::build(const ShieldConfig& config, const std::vector<Route>& routes,
                                      ShieldState& state, MetricsRegistry& metrics, std::string& error) {
  std::unique_ptr<Shield> s(new Shield());
  s->serial_ = nextShieldSerial.fetch_add(1, std::memory_order_relaxed) + 1;
  s->config_ = config;
  s->state_ = &state;
  s->limiter_ = state.limiter(config.tableSize);
  s->sync_ = state.usageSync(config.redis, s->limiter_);
  for (const RateLimitRule& r : s->config_.rateLimits) {
    Rule rule;
    rule.name = r.name;
    rule.keyPrefix = rateKeyPrefix(r.name);
    rule.config = &r;
    rule.spec.perSecond = r.perSecond;
    rule.spec.burst = r.burst;
    rule.spec.prepare();
    rule.hasConditions = !r.match.routes.empty() || !r.match.hosts.empty() || !r.match.prefix.empty() ||
                         !r.match.methods.empty() || !r.match.header.empty();
    rule.addressOnly = std::all_of(r.key.begin(), r.key.end(),
                                   [](const RateKeyPart& p) { return p.kind != RateKeyKind::kHeader; });
    for (const std::string& routeName : r.match.routes) {
      for (std::size_t i = 0; i < routes.size(); ++i) {
        if (routes[i].name != routeName) continue;
        if (rule.routeSet.size() <= i) rule.routeSet.resize(i + 1);
        rule.routeSet[i] = true;
      }
    }
    const std::string help = "Shield decisions by rule and action.";
    rule.rejected = metrics.counter("bulwark_shield_decisions_total", help,
                                    label("rule", r.name) + "," + label("action", "reject"));
    rule.logged = metrics.counter("bulwark_shield_decisions_total", help,
                                  label("rule", r.name) + "," + label("action", "log"));
    rule.unavailable = metrics.counter("bulwark_shield_decisions_total", help,
                                       label("rule", r.name) + "," + label("action", "unavailable"));
    rule.keySpec = s->rules_.size();
    for (std::size_t j = 0; j < s->rules_.size(); ++j) {
      const std::vector<RateKeyPart>& other = s->rules_[j].config->key;
      if (std::equal(r.key.begin(), r.key.end(), other.begin(), other.end(),
                     [](const RateKeyPart& a, const RateKeyPart& b) {
                       return a.kind == b.kind && equalsIgnoreCase(a.header, b.header);
                     })) {
        rule.keySpec = s->rules_[j].keySpec;
        break;
      }
    }
    if (rule.addressOnly && s->rules_.size() < kCachedKeyRules) s->hasAddressRules_ = true;
    s->rules_.push_back(std::move(rule));
  }
  if (!loadList(config.trustedProxies, {}, s->trusted_, error) ||
      !loadList(config.lists.allow, config.lists.allowFiles, s->allow_, error) ||
      !loadList(config.lists.deny, config.lists.denyFiles, s->deny_, error)) {
    error = "shield: " + error;
    return nullptr;
  }
  if (config.geo) {
#if BULWARK_SHIELD_GEO
    s->geo_ = GeoDatabase::open(config.geo->database, error);
    if (!s->geo_) {
      error = "shield.geo: " + config.geo->database + ": " + error;
      return nullptr;
    }
    s->geoAllowMode_ = !config.geo->allowCountries.empty();
    for (const std::string& c : s->geoAllowMode_ ? config.geo->allowCountries : config.geo->denyCountries) {
      s->geoCountries_.push_back({c[0], c[1]});
    }
#else
    error = "shield.geo: this build has no geo database support";
    return nullptr;
#endif
  }
  s->penaltySettings_.threshold = config.penalty.threshold;
  s->penaltySettings_.windowMs = config.penalty.window.count();
  s->penaltySettings_.durationMs = config.penalty.duration.count();
  for (int i = 0; i < static_cast<int>(Refusal::kCount); ++i) {
    s->refused_[i] = metrics.counter("bulwark_shield_connections_refused_total",
                                     "Client connections closed at accept by the shield, by reason.",
                                     label("reason", kRefusalNames[i]));
    s->deniedRequests_[i] =
        metrics.counter("bulwark_shield_decisions_total", "Shield decisions by rule and action.",
                        label("rule", kRefusalNames[i]) + "," + label("action", "reject"));
  }
  s->boxed_ =
      metrics.counter("bulwark_shield_penalty_boxed_total", "Clients put into the penalty box by strikes.");
  s->requestsInFlightRefused_ =
      metrics.counter("bulwark_shield_decisions_total", "Shield decisions by rule and action.",
                      label("rule", "max_requests_per_ip") + "," + label("action", "reject"));
  return s;
}

const std::string& Shield::ruleName(int rule) const noexcept {
  return rules_[static_cast<std::size_t>(rule)].name;
}

std::size_t Shield::ruleCount() const noexcept { return rules_.size(); }

bool Shield::isTrustedProxy(const IpAddress& peer) const noexcept { return trusted_.contains(peer); }

void Shield::countRefusal(Refusal why, unsigned shard) const noexcept {
  refused_[static_cast<int>(why)]->add(shard);
}

bool Shield::refusedByLists(const IpAddress& client, const AdminLists* lists, unsigned shard,
                            bool& allowListed, Refusal& why) const noexcept {
  allowListed = allow_.contains(client) || (lists != nullptr && lists->allow.contains(client));
  if (allowListed) return false;  // the allow list wins over deny lists and geo
  if (deny_.contains(client) || (lists != nullptr && lists->deny.contains(client))) {
    why = Refusal::kDenyList;
    return true;
  }
  if (geo_) {
#if BULWARK_SHIELD_GEO
    char country[2];
    bool known = geo_->country(client, country);
    bool listed = known && std::any_of(geoCountries_.begin(), geoCountries_.end(), [&](const auto& c) {
                    return c[0] == country[0] && c[1] == country[1];
                  });
    // Allow mode: only listed countries (an unknown country is refused); deny mode: listed ones refused.
    if (geoAllowMode_ ? !listed : listed) {
      why = Refusal::kGeo;
      return true;
    }
#endif
  }
  (void)shard;
  return false;
}

bool Shield::admitForwardedClient(const IpAddress& client, const AdminLists* lists, int64_t nowMs,
                                  unsigned shard, bool& allowListed, Refusal& why) const noexcept {
  if (refusedByLists(client, lists, shard, allowListed, why)) return false;
  if (!allowListed && boxed(client, nowMs)) {
    why = Refusal::kPenaltyBox;
    return false;
  }
  return true;
}

bool Shield::admitConnection(const IpAddress& client, const AdminLists* lists, int64_t nowMs, unsigned shard,
                             ConnectionTicket& ticket, Refusal& why) const noexcept {
  ticket = ConnectionTicket{};
  // A trusted proxy carries many clients: its connections are judged per request (X-Forwarded-For).
  if (!trusted_.empty() && trusted_.contains(client)) {
    ticket.allowListed = false;
  } else {
    bool allowListed = false;
    if (!admitForwardedClient(client, lists, nowMs, shard, allowListed, why)) {
      countRefusal(why, shard);
      return false;
    }
    ticket.allowListed = allowListed;
  }
  const ShieldConnections& c = config_.connections;
  if (c.maxTotal != 0) {
    auto& open = state_->openConnections();
    if (open.fetch_add(1, std::memory_order_relaxed) >= c.maxTotal) {
      open.fetch_sub(1, std::memory_order_relaxed);
      why = Refusal::kMaxTotal;
      countRefusal(why, shard);
      return false;
    }
    ticket.counted = true;
  }
  if ((c.maxPerIp != 0 || c.maxRequestsPerIp != 0) && !ticket.allowListed) {
    if (state_->clients().openConnection(client, c.maxPerIp, ticket.slot) != ClientTable::Result::kOk) {
      if (ticket.counted) state_->openConnections().fetch_sub(1, std::memory_order_relaxed);
      ticket = ConnectionTicket{};
      why = Refusal::kMaxPerIp;
      countRefusal(why, shard);
      return false;
    }
  }
  return true;
}

void Shield::connectionClosed(ConnectionTicket& ticket) const noexcept {
  if (ticket.counted) state_->openConnections().fetch_sub(1, std::memory_order_relaxed);
  if (ticket.slot != ClientTable::kUntracked) state_->clients().closeConnection(ticket.slot);
  ticket = ConnectionTicket{};
}

bool Shield::startRequest(const ConnectionTicket& ticket, unsigned shard) const noexcept {
  if (config_.connections.maxRequestsPerIp == 0 || ticket.slot == ClientTable::kUntracked) return true;
  if (state_->clients().startRequest(ticket.slot, config_.connections.maxRequestsPerIp) ==
      ClientTable::Result::kOk) {
    return true;
  }
  requestsInFlightRefused_->add(shard);
  return false;
}

void Shield::endRequest(const ConnectionTicket& ticket) const noexcept {
  if (config_.connections.maxRequestsPerIp == 0 || ticket.slot == ClientTable::kUntracked) return;
  state_->clients().endRequest(ticket.slot);
}

IpAddress Shield::clientFromForwardedFor(const IpAddress& peer,
                                         std::string_view forwardedFor) const noexcept {
  if (trusted_.empty() || !trusted_.contains(peer)) return peer;
  IpAddress client = peer;
  // Right to left: each hop was added by the proxy on its right; the first one we do not trust is the
  // client as far as anyone we trust can vouch. Anything unparsable ends the walk at the last good hop.
  std::string_view rest = forwardedFor;
  while (!rest.empty()) {
    std::size_t comma = rest.rfind(',');
    std::string_view item = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    IpAddress hop;
    if (!IpAddress::parse(item, hop)) break;
    client = hop;
    if (!trusted_.contains(hop)) break;
  }
  return client;
}

// The key bytes of `rule` for a request: each part tagged and (headers) length-prefixed, so that different
// splits can never give the same bytes. False when the request lacks a header the key names: the rule does
// not apply to it (as Envoy's descriptors).
bool Shield::keyBytesOf(const RateLimitRule& rule, const RequestFacts& facts, const IpAddress& client,
                        std::string& out) noexcept {
  out.clear();
  std::string_view value;
  for (const RateKeyPart& part : rule.key) {
    switch (part.kind) {
      case RateKeyKind::kClientIp:
        out += 'i';
        appendRawAddress(out, client);
        break;
      case RateKeyKind::kClientPrefix:
        out += 'p';
        appendRawAddress(out, client.masked(client.isV4() ? 24 : 64));
        break;
      case RateKeyKind::kHeader: {
        if (facts.headers == nullptr || !facts.headers->find(part.header, value)) return false;
        out += 'h';
        const auto n = static_cast<uint32_t>(value.size());  // little-endian: the key is a wire format
        for (int b = 0; b < 4; ++b) out += static_cast<char>((n >> (8 * b)) & 0xff);
        out.append(value);
        break;
      }
    }
  }
  return true;
}

// The rule's match conditions (route, host, path prefix, method, header); all given ones must hold.
bool Shield::ruleApplies(const Rule& rule, const RequestFacts& facts, std::string_view host) noexcept {
  const RateLimitMatch& m = rule.config->match;
  if (!m.routes.empty() &&
      (facts.route < 0 || static_cast<std::size_t>(facts.route) >= rule.routeSet.size() ||
       !rule.routeSet[static_cast<std::size_t>(facts.route)])) {
    return false;
  }
  if (!m.hosts.empty() && std::none_of(m.hosts.begin(), m.hosts.end(),
                                       [&](const std::string& p) { return hostMatches(p, host); })) {
    return false;
  }
  if (!m.prefix.empty() && !facts.path.starts_with(m.prefix)) return false;
  if (!m.methods.empty() && std::find(m.methods.begin(), m.methods.end(), facts.method) == m.methods.end()) {
    return false;
  }
  if (!m.header.empty()) {
    std::string_view value;
    if (facts.headers == nullptr || !facts.headers->find(m.header, value)) return false;
    if (m.headerValue && value != *m.headerValue) return false;
  }
  return true;
}

const uint64_t* Shield::addressKeys(const IpAddress& client) const noexcept {
  ClientKeys& e = clientKeyCache[client.hash() & (kClientKeyEntries - 1)];
  if (e.shieldSerial == serial_ && e.client == client) return e.keys;
  thread_local std::string keyBytes;
  const RequestFacts none{};
  uint64_t digests[kCachedKeyRules];
  for (std::size_t i = 0; i < rules_.size() && i < kCachedKeyRules; ++i) {
    const Rule& rule = rules_[i];
    if (!rule.addressOnly) continue;
    if (rule.keySpec < i) {  // the same key parts as an earlier rule: the same digest
      digests[i] = digests[rule.keySpec];
    } else {
      keyBytesOf(*rule.config, none, client, keyBytes);
      digests[i] = rateKeyDigest(keyBytes);
    }
    e.keys[i] = rateKeyCombine(rule.keyPrefix, digests[i]);
  }
  e.client = client;
  e.shieldSerial = serial_;
  return e.keys;
}

RequestVerdict Shield::checkRequest(const RequestFacts& facts, const IpAddress& client, bool allowListed,
                                    int64_t nowNs, unsigned shard) const noexcept {
  RequestVerdict verdict;
  if (allowListed || rules_.empty()) return verdict;
  const uint64_t* clientKeys = hasAddressRules_ ? addressKeys(client) : nullptr;
  thread_local std::string keyBytes;  // keeps its capacity: no allocation per request once warm
  constexpr std::size_t kDigestCache = 32;
  uint64_t digests[kDigestCache];
  uint32_t digestKnown = 0;
  const std::string_view host = withoutPort(facts.host);
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const Rule& rule = rules_[i];
    if (rule.hasConditions && !ruleApplies(rule, facts, host)) continue;
    uint64_t key = 0;
    if (rule.addressOnly && i < kCachedKeyRules) {
      key = clientKeys[i];
    } else {
      // The key digest, once per request for each distinct set of key parts (kDigestCache of them).
      uint64_t digest = 0;
      const bool cacheable = rule.keySpec < kDigestCache;
      if (cacheable && (digestKnown & (1u << rule.keySpec)) != 0) {
        digest = digests[rule.keySpec];
      } else {
        if (!keyBytesOf(*rule.config, facts, client, keyBytes)) continue;
        digest = rateKeyDigest(keyBytes);
        if (cacheable) {
          digests[rule.keySpec] = digest;
          digestKnown |= 1u << rule.keySpec;
        }
      }
      key = rateKeyCombine(rule.keyPrefix, digest);
    }
    if (sync_ != nullptr && config_.redisFailure == RedisFailure::kDeny && !sync_->healthy()) {
      // The shared counters are unreachable and the operator chose to refuse rather than limit per node.
      rule.unavailable->add(shard);
      verdict.kind = RequestVerdict::Kind::kUnavailable;
      verdict.rule = static_cast<int>(i);
      verdict.retryAfterSeconds = 1;
      return verdict;
    }
    RateDecision d = limiter_->admit(key, rule.spec, nowNs);
    if (d.allowed) {
      if (sync_ != nullptr) sync_->record(shard, key, rule.spec);
      continue;
    }
    if (rule.config->logOnly) {
      rule.logged->add(shard);
      if (verdict.rule < 0) {
        verdict.rule = static_cast<int>(i);  // reported (logged) if nothing refuses the request
        verdict.retryAfterSeconds = d.retryAfterSeconds;
      }
      continue;
    }
    rule.rejected->add(shard);
    verdict.kind = RequestVerdict::Kind::kRateLimited;
    verdict.rule = static_cast<int>(i);
    verdict.retryAfterSeconds = d.retryAfterSeconds;
    return verdict;
  }
  return verdict;
}

bool Shield::boxed(const IpAddress& client, int64_t nowMs) const noexcept {
  return config_.penalty.enabled && state_->penalty().boxed(client, nowMs);
}

bool Shield::strike(const IpAddress& client, int64_t nowMs, unsigned shard) const noexcept {
  if (!config_.penalty.enabled) return false;
  if (!state_->penalty().strike(client, penaltySettings_, nowMs)) return false;
  boxed_->add(shard);
  return true;
}

void Shield::appendEvent(std::string& out, std::string_view decision, std::string_view rule,
                         std::string_view client, std::string_view requestId, uint32_t retryAfterSeconds) {
  out += "{\"time\":\"";
  appendUtcTimestamp(out);
  out += "\",\"event\":\"shield\",\"decision\":\"";
  appendJsonEscaped(out, decision);
  out += "\",\"rule\":\"";
  appendJsonEscaped(out, rule);
  out += "\",\"client\":\"";
  appendJsonEscaped(out, client);
  out += '"';
  if (!requestId.empty()) {
    out += ",\"request_id\":\"";
    appendJsonEscaped(out, requestId);
    out += '"';
  }
  if (retryAfterSeconds != 0) {
    out += ",\"retry_after\":";
    out += std::to_string(retryAfterSeconds);
  }
  out += "}\n";
}

}  // namespace bulwark::shield

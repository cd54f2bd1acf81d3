#include "shield/shield.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "test_addresses.h"

namespace bulwark::shield {
namespace {

using testing::ip;

constexpr int64_t kSecond = 1'000'000'000;

class FakeHeaders final : public HeaderSource {
 public:
  std::map<std::string, std::string> values;  // lower-case names
  bool find(std::string_view name, std::string_view& value) const noexcept override {
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    auto it = values.find(lower);
    if (it == values.end()) return false;
    value = it->second;
    return true;
  }
};

struct Built {
  Config config;
  MetricsRegistry metrics{2};
  ShieldState state{1, /*connect=*/false};
  std::unique_ptr<Shield> shield;
};

std::unique_ptr<Built> build(const std::string& shieldYaml) {
  auto b = std::make_unique<Built>();
  ConfigResult r = parseConfig(R"(listeners:
  - address: 127.0.0.1:8080
routes:
  - name: login
    match: { prefix: /login }
    respond: { status: 200 }
  - name: other
    match: { prefix: / }
    respond: { status: 200 }
)" + shieldYaml,
                               "test.yaml");
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].message);
  if (!r.ok()) return nullptr;
  b->config = std::move(*r.config);
  std::string error;
  b->shield = Shield::build(b->config.shield, b->config.routes, b->state, b->metrics, error);
  EXPECT_TRUE(b->shield) << error;
  return b->shield ? std::move(b) : nullptr;
}

TEST(Shield, ForwardedForNamesTheRightMostUntrustedHop) {
  auto b = build("shield:\n  trusted_proxies: [10.0.0.0/8, \"2001:db8::/32\"]\n");
  ASSERT_TRUE(b);
  const Shield& s = *b->shield;
  const IpAddress proxy = ip("10.1.1.1");
  EXPECT_EQ(s.clientFromForwardedFor(proxy, "198.51.100.1").toString(), "198.51.100.1");
  EXPECT_EQ(s.clientFromForwardedFor(proxy, "203.0.113.5, 198.51.100.1, 10.2.2.2").toString(),
            "198.51.100.1");
  EXPECT_EQ(s.clientFromForwardedFor(proxy, " 2001:db8::7 ,\t10.9.9.9").toString(), "2001:db8::7")
      << "every hop trusted: the left-most one";
  EXPECT_EQ(s.clientFromForwardedFor(proxy, "garbage, 198.51.100.2").toString(), "198.51.100.2");
  EXPECT_EQ(s.clientFromForwardedFor(proxy, "198.51.100.3, garbage").toString(), "10.1.1.1")
      << "an unparsable hop next to us: nobody we trust vouches for anything further left";
  EXPECT_EQ(s.clientFromForwardedFor(ip("192.0.2.1"), "198.51.100.1").toString(), "192.0.2.1")
      << "untrusted peer: the header is ignored";
}

TEST(Shield, RulesMatchAndKeyByTheirParts) {
  auto b = build(R"(shield:
  rate_limits:
    - { name: login, key: client_prefix, rate: 1/min, burst: 1, match: { route: login, method: POST } }
    - { name: key, key: "header:X-Api-Key", rate: 1/min, burst: 2, match: { host: "*.api.test" } }
    - { name: watch, key: client_ip, rate: 1/min, burst: 1, action: log, match: { prefix: /watch } }
)");
  ASSERT_TRUE(b);
  const Shield& s = *b->shield;
  FakeHeaders none;
  RequestFacts login{"POST", "x.test", "/login", 0, &none};
  EXPECT_EQ(s.checkRequest(login, ip("192.0.2.1"), false, kSecond, 0).kind, RequestVerdict::Kind::kPass);
  RequestVerdict v = s.checkRequest(login, ip("192.0.2.200"), false, kSecond, 0);  // same /24
  EXPECT_EQ(v.kind, RequestVerdict::Kind::kRateLimited);
  EXPECT_EQ(s.ruleName(v.rule), "login");
  EXPECT_EQ(v.retryAfterSeconds, 60u);
  EXPECT_EQ(s.checkRequest(login, ip("192.0.3.1"), false, kSecond, 0).kind, RequestVerdict::Kind::kPass);
  EXPECT_EQ(s.checkRequest(login, ip("192.0.2.1"), /*allowListed=*/true, kSecond, 0).kind,
            RequestVerdict::Kind::kPass);
  RequestFacts get{"GET", "x.test", "/login", 0, &none};
  EXPECT_EQ(s.checkRequest(get, ip("192.0.2.1"), false, kSecond, 0).kind, RequestVerdict::Kind::kPass);

  FakeHeaders withKey;
  withKey.values["x-api-key"] = "k1";
  RequestFacts api{"GET", "v1.api.test:443", "/", 1, &withKey};
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(s.checkRequest(api, ip("192.0.2.9"), false, kSecond, 0).kind, RequestVerdict::Kind::kPass);
  }
  EXPECT_EQ(s.checkRequest(api, ip("198.51.100.9"), false, kSecond, 0).kind,
            RequestVerdict::Kind::kRateLimited)
      << "keyed by the API key, not the address";
  RequestFacts noKey{"GET", "v1.api.test", "/", 1, &none};
  EXPECT_EQ(s.checkRequest(noKey, ip("192.0.2.9"), false, kSecond, 0).kind, RequestVerdict::Kind::kPass)
      << "no key header: the rule does not apply";

  RequestFacts watch{"GET", "x.test", "/watch", 1, &none};
  EXPECT_EQ(s.checkRequest(watch, ip("192.0.2.1"), false, kSecond, 0).rule, -1);
  v = s.checkRequest(watch, ip("192.0.2.1"), false, kSecond, 0);
  EXPECT_EQ(v.kind, RequestVerdict::Kind::kPass) << "action log never refuses";
  EXPECT_EQ(s.ruleName(v.rule), "watch");
}

// Address-only keys come from a per-thread cache (Shield::addressKeys): it must keep clients apart when they
// share a cache slot, and configurations apart when one replaces another.
TEST(Shield, CachedClientKeysKeepClientsAndConfigurationsApart) {
  const std::string rules = R"(shield:
  rate_limits:
    - { name: a, key: client_ip, rate: 1/min, burst: 1 }
    - { name: both, key: [client_ip, client_prefix], rate: 1/min, burst: 1, match: { prefix: /both } }
)";
  auto b = build(rules);
  ASSERT_TRUE(b);
  FakeHeaders none;
  RequestFacts get{"GET", "x.test", "/", 1, &none};
  auto client = [](int i) {
    return IpAddress::v4(0xC6120000u + static_cast<uint32_t>(i) * 7);  // 198.18.0.0/15, several per /24
  };
  constexpr int kClients = 1500;  // several times the cache's entries: slots are shared and overwritten
  for (int i = 0; i < kClients; ++i) {
    ASSERT_EQ(b->shield->checkRequest(get, client(i), false, kSecond, 0).kind, RequestVerdict::Kind::kPass)
        << i;
  }
  for (int i = 0; i < kClients; ++i) {
    RequestVerdict v = b->shield->checkRequest(get, client(i), false, kSecond, 0);
    ASSERT_EQ(v.kind, RequestVerdict::Kind::kRateLimited) << i;
    ASSERT_EQ(b->shield->ruleName(v.rule), "a");
  }
  // The combined key: its own bucket per address, apart from rule a's (which /both requests also pass).
  RequestFacts both{"GET", "x.test", "/both", 1, &none};
  auto fresh = build(rules);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->shield->checkRequest(both, ip("203.0.113.1"), false, kSecond, 0).kind,
            RequestVerdict::Kind::kPass);
  RequestVerdict v = fresh->shield->checkRequest(both, ip("203.0.113.1"), false, kSecond, 0);
  EXPECT_EQ(v.kind, RequestVerdict::Kind::kRateLimited);
  EXPECT_EQ(fresh->shield->ruleName(v.rule), "a");

  // A new configuration on the same state: a rule of another name has buckets of its own even though the
  // old configuration's keys for this client are still cached; a rule of the same name shares them.
  std::string error;
  Config renamed = b->config;
  renamed.shield.rateLimits[0].name = "renamed";
  auto other = Shield::build(renamed.shield, renamed.routes, b->state, b->metrics, error);
  ASSERT_TRUE(other) << error;
  EXPECT_EQ(other->checkRequest(get, client(3), false, kSecond, 0).kind, RequestVerdict::Kind::kPass);
  b->shield.reset();
  auto same = Shield::build(b->config.shield, b->config.routes, b->state, b->metrics, error);
  ASSERT_TRUE(same) << error;
  EXPECT_EQ(same->checkRequest(get, client(3), false, kSecond, 0).kind, RequestVerdict::Kind::kRateLimited)
      << "same rule name after a reload: same key, the counters carry over";
}

TEST(Shield, ConnectionLimitsAndListsAtAccept) {
  auto b = build(R"(shield:
  connections: { max_total: 4, max_per_ip: 2 }
  lists: { deny: [192.0.2.0/24], allow: [192.0.2.7] }
  penalty_box: {}
)");
  ASSERT_TRUE(b);
  const Shield& s = *b->shield;
  ConnectionTicket t[4];
  Refusal why = Refusal::kCount;
  EXPECT_FALSE(s.admitConnection(ip("192.0.2.1"), nullptr, 0, 0, t[0], why));
  EXPECT_EQ(why, Refusal::kDenyList);
  ASSERT_TRUE(s.admitConnection(ip("192.0.2.7"), nullptr, 0, 0, t[0], why)) << "allow wins over deny";
  EXPECT_TRUE(t[0].allowListed);
  ASSERT_TRUE(s.admitConnection(ip("198.51.100.1"), nullptr, 0, 0, t[1], why));
  ASSERT_TRUE(s.admitConnection(ip("198.51.100.1"), nullptr, 0, 0, t[2], why));
  EXPECT_FALSE(s.admitConnection(ip("198.51.100.1"), nullptr, 0, 0, t[3], why));
  EXPECT_EQ(why, Refusal::kMaxPerIp);
  ASSERT_TRUE(s.admitConnection(ip("198.51.100.2"), nullptr, 0, 0, t[3], why));
  ConnectionTicket extra;
  EXPECT_FALSE(s.admitConnection(ip("198.51.100.3"), nullptr, 0, 0, extra, why));
  EXPECT_EQ(why, Refusal::kMaxTotal);
  s.connectionClosed(t[1]);
  EXPECT_TRUE(s.admitConnection(ip("198.51.100.3"), nullptr, 0, 0, extra, why));
  s.connectionClosed(extra);

  AdminLists lists;
  IpPrefix p;
  ASSERT_TRUE(IpPrefix::parse("203.0.113.0/24", p));
  lists.deny.add(p);
  ConnectionTicket u;
  EXPECT_FALSE(s.admitConnection(ip("203.0.113.4"), &lists, 0, 0, u, why));
  EXPECT_EQ(why, Refusal::kDenyList);

  b->state.penalty().add(ip("198.51.100.50"), 10'000, 0);
  EXPECT_FALSE(s.admitConnection(ip("198.51.100.50"), nullptr, 5'000, 0, u, why));
  EXPECT_EQ(why, Refusal::kPenaltyBox);
  for (ConnectionTicket& ticket : t) s.connectionClosed(ticket);
  EXPECT_EQ(b->state.openConnections().load(), 0);
}

TEST(Shield, StateOutlivesSnapshots) {
  auto first = build("shield:\n  table_size: 1024\n  penalty_box: { threshold: 1 }\n");
  ASSERT_TRUE(first);
  auto limiter = first->state.limiter(1024);
  EXPECT_EQ(first->state.limiter(1000), limiter) << "same rounded size: the same table (counters survive)";
  EXPECT_NE(first->state.limiter(4096), limiter);
  EXPECT_TRUE(first->shield->strike(ip("192.0.2.1"), 0, 0));
  EXPECT_TRUE(first->shield->boxed(ip("192.0.2.1"), 1));
  std::string error;
  ASSERT_TRUE(first->state.addListEntry(true, "192.0.2.0/24", error));
  EXPECT_FALSE(first->state.addListEntry(true, "192.0.2.0/33", error));
  EXPECT_TRUE(first->state.adminLists()->deny.contains(ip("192.0.2.77")));
  EXPECT_TRUE(first->state.removeListEntry(true, "192.0.2.0/24", error));
  EXPECT_FALSE(first->state.removeListEntry(true, "192.0.2.0/24", error));
  EXPECT_EQ(error, "not listed");
}

}  // namespace
}  // namespace bulwark::shield

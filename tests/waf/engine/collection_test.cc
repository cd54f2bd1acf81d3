// Persistent collections: initcol loads, transactions write back their changes (numbers as deltas),
// expirevar and SecCollectionTimeout expire, the store stays bounded.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "waf/engine/collection_store.h"
#include "waf/engine/program.h"
#include "waf/engine/transaction.h"

namespace bulwark::waf {
namespace {

// Compiles with a store of the test's own, so tests do not see each other's records.
std::shared_ptr<const Program> compileWith(std::string_view text, std::shared_ptr<CollectionStore> store) {
  CompileResult r = compileText(text, "test.conf");
  for (const auto& e : r.errors) ADD_FAILURE() << e;
  if (!r.program) return nullptr;
  std::const_pointer_cast<Program>(r.program)->store = std::move(store);
  return r.program;
}

std::unique_ptr<Transaction> start(const std::shared_ptr<const Program>& p, const std::string& client) {
  auto tx = std::make_unique<Transaction>(p, TxInfo{client, 5555, "127.0.0.1", 80, "uid", "example.com"});
  tx->setRequestLine("GET", "/", "HTTP/1.1");
  tx->addRequestHeader("Host", "example.com");
  tx->processRequestHeaders();
  return tx;
}

// One whole transaction (its collections are written back when it ends).
bool blocked(const std::shared_ptr<const Program>& p, const std::string& client) {
  auto tx = start(p, client);
  const bool disrupted = tx->intervention().disrupted;
  tx->processLogging();
  return disrupted;
}

std::string ipVar(const Transaction& tx, std::string_view name) {
  const KeyValue* kv = tx.collection(VariableId::kIp).find(name);
  return kv ? kv->value : "<unset>";
}

constexpr std::string_view kCounter = R"(SecRuleEngine On
SecAction "id:1,phase:1,pass,nolog,initcol:ip=%{REMOTE_ADDR},setvar:ip.hits=+1"
SecRule IP:HITS "@ge 3" "id:2,phase:1,deny,status:403,log"
)";

TEST(WafCollections, IpCounterPersistsAcrossTransactionsPerClient) {
  auto store = std::make_shared<CollectionStore>();
  auto p = compileWith(kCounter, store);
  ASSERT_TRUE(p);
  EXPECT_FALSE(blocked(p, "192.0.2.1"));
  EXPECT_FALSE(blocked(p, "192.0.2.1"));
  EXPECT_TRUE(blocked(p, "192.0.2.1")) << "third request of the same client: IP:HITS reached 3";
  EXPECT_FALSE(blocked(p, "192.0.2.2")) << "another client has a record of its own";
  EXPECT_EQ(store->size(), 2u);
}

TEST(WafCollections, CountsSurviveARuleReloadSharingTheStore) {
  auto store = std::make_shared<CollectionStore>();
  auto first = compileWith(kCounter, store);
  auto second = compileWith(kCounter, store);
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(blocked(first, "192.0.2.1"));
  EXPECT_FALSE(blocked(first, "192.0.2.1"));
  EXPECT_TRUE(blocked(second, "192.0.2.1"));
}

TEST(WafCollections, ConcurrentTransactionsMergeNumericChangesAsDeltas) {
  auto store = std::make_shared<CollectionStore>();
  auto p = compileWith(kCounter, store);
  ASSERT_TRUE(p);
  // Both load IP:HITS before either ends: each adds 1 to what it saw, and both additions count.
  auto a = start(p, "192.0.2.9");
  auto b = start(p, "192.0.2.9");
  EXPECT_EQ(ipVar(*a, "hits"), "1");
  EXPECT_EQ(ipVar(*b, "hits"), "1");
  a->processLogging();
  b->processLogging();
  auto c = start(p, "192.0.2.9");
  EXPECT_EQ(ipVar(*c, "hits"), "3");
  EXPECT_TRUE(c->intervention().disrupted);

  // Many threads at once: no update lost.
  auto q = compileWith(kCounter, store);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) start(q, "198.51.100.1")->processLogging();
    });
  }
  for (auto& t : threads) t.join();
  auto last = start(q, "198.51.100.1");
  EXPECT_EQ(ipVar(*last, "hits"), "201");
}

TEST(WafCollections, BuiltinVariablesAndOnlyChangedRecordsAreStored) {
  auto store = std::make_shared<CollectionStore>();
  auto p = compileWith(R"(SecCollectionTimeout 600
SecAction "id:1,phase:1,pass,nolog,initcol:ip=%{REMOTE_ADDR},initcol:global=global"
SecRule ARGS:mark "@streq yes" "id:2,phase:1,pass,nolog,setvar:ip.marked=1"
)",
                       store);
  ASSERT_TRUE(p);
  auto tx = start(p, "192.0.2.5");
  EXPECT_EQ(ipVar(*tx, "is_new"), "1");
  EXPECT_EQ(ipVar(*tx, "key"), "192.0.2.5");
  EXPECT_EQ(ipVar(*tx, "timeout"), "600");
  EXPECT_EQ(ipVar(*tx, "update_counter"), "0");
  tx->processLogging();
  EXPECT_EQ(store->size(), 0u)
      << "initcol alone changes nothing: nothing is stored (as CRS 901 does on every request)";

  auto marking = std::make_unique<Transaction>(p, TxInfo{"192.0.2.5", 1, "127.0.0.1", 80, "u", "h"});
  marking->setRequestLine("GET", "/?mark=yes", "HTTP/1.1");
  marking->processRequestHeaders();
  marking.reset();  // ended without phase 5 (client went away): still written back
  EXPECT_EQ(store->size(), 1u);
  auto again = start(p, "192.0.2.5");
  EXPECT_EQ(ipVar(*again, "is_new"), "0");
  EXPECT_EQ(ipVar(*again, "update_counter"), "1");
  EXPECT_EQ(ipVar(*again, "marked"), "1");
}

TEST(WafCollections, ExpirevarAndRemovalAreWrittenBack) {
  auto store = std::make_shared<CollectionStore>();
  auto p = compileWith(R"(SecAction "id:1,phase:1,pass,nolog,initcol:ip=%{REMOTE_ADDR}"
SecRule ARGS:op "@streq set" "id:2,phase:1,pass,nolog,setvar:ip.a=x,setvar:ip.b=y,setvar:ip.gone=z"
SecRule ARGS:op "@streq expire" "id:3,phase:1,pass,nolog,expirevar:ip.a=0,setvar:!ip.gone"
)",
                       store);
  ASSERT_TRUE(p);
  auto with = [&](std::string_view op) {
    auto tx = std::make_unique<Transaction>(p, TxInfo{"192.0.2.7", 1, "127.0.0.1", 80, "u", "h"});
    tx->setRequestLine("GET", std::string("/?op=") + std::string(op), "HTTP/1.1");
    tx->processRequestHeaders();
    return tx;
  };
  with("set")->processLogging();
  auto seen = with("none");
  EXPECT_EQ(ipVar(*seen, "a"), "x");
  EXPECT_EQ(ipVar(*seen, "gone"), "z");
  seen->processLogging();
  with("expire")->processLogging();
  auto after = with("none");
  EXPECT_EQ(ipVar(*after, "a"), "<unset>") << "expirevar:ip.a=0 expires it at once";
  EXPECT_EQ(ipVar(*after, "gone"), "<unset>") << "setvar:!ip.gone removes it from the record";
  EXPECT_EQ(ipVar(*after, "b"), "y");
}

TEST(CollectionStore, RecordsTimeOutAndTheTableIsBounded) {
  CollectionStore store(128);
  std::vector<CollectionStore::Change> set{{CollectionStore::Change::Kind::kSet, "v", "1", 0, 0}};
  store.store("ip", "a", set, /*now=*/1000, /*timeout=*/60, 1000);
  CollectionStore::Record r;
  EXPECT_TRUE(store.load("ip", "a", 1059, r));
  EXPECT_EQ(r.updateCounter, 1);
  EXPECT_FALSE(store.load("ip", "a", 1060, r)) << "TIMEOUT seconds after the last update it is gone";
  EXPECT_FALSE(store.load("global", "a", 1000, r)) << "collections are apart";

  for (int i = 0; i < 5000; ++i) store.store("ip", "k" + std::to_string(i), set, 2000 + i, 3600, 2000);
  EXPECT_LE(store.size(), 128u + 64u) << "at most maxRecords (rounded up per shard)";
  EXPECT_GT(store.evictions(), 0u);
  EXPECT_TRUE(store.load("ip", "k4999", 7000, r)) << "the most recently updated records stay";

  std::vector<CollectionStore::Change> many;
  for (int i = 0; i < 1000; ++i) {
    many.push_back(
        {CollectionStore::Change::Kind::kSet, "v" + std::to_string(i), std::string(5000, 'x'), 0, 0});
  }
  store.store("ip", "big", many, 8000, 60, 8000);
  ASSERT_TRUE(store.load("ip", "big", 8000, r));
  EXPECT_EQ(r.vars.size(), CollectionStore::kMaxVars);
  EXPECT_EQ(r.vars[0].value.size(), CollectionStore::kMaxValue);
}

}  // namespace
}  // namespace bulwark::waf

// Engine internals that keep per-transaction work cheap: the collection key index, the text arena, the
// literal fast path of selector regexes, and buffers reused from one transaction to the next.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "waf/engine/program.h"
#include "waf/engine/text.h"
#include "waf/engine/transaction.h"

namespace bulwark::waf {
namespace {

std::vector<std::string> valuesOf(const Collection& c, std::string_view lkey) {
  std::vector<std::string> out;
  c.forEachWithKey(lkey, keyHash(lkey), [&](const KeyValue& kv) { out.push_back(kv.value); });
  return out;
}

TEST(WafCollection, IndexedLookupsKeepOrderAndDuplicates) {
  Collection c;
  for (int i = 0; i < 40; ++i) c.add("Key" + std::to_string(i % 7), "v" + std::to_string(i));
  ASSERT_EQ(c.size(), 40u);
  EXPECT_EQ(valuesOf(c, "key3"), (std::vector<std::string>{"v3", "v10", "v17", "v24", "v31", "v38"}));
  ASSERT_NE(c.find("key6"), nullptr);
  EXPECT_EQ(c.find("key6")->value, "v6");
  EXPECT_EQ(c.find("key6")->key, "Key6");
  EXPECT_EQ(c.find("nope"), nullptr);
  c.set("KEY3", "x");  // replaces the first
  EXPECT_EQ(valuesOf(c, "key3").front(), "x");
  c.remove("key3");
  EXPECT_TRUE(valuesOf(c, "key3").empty());
  EXPECT_EQ(c.size(), 34u);
  EXPECT_EQ(valuesOf(c, "key4"), (std::vector<std::string>{"v4", "v11", "v18", "v25", "v32", "v39"}));
  c.set("new", "n");
  EXPECT_EQ(c.items().back().lkey, "new");
  EXPECT_EQ(valuesOf(c, "new"), (std::vector<std::string>{"n"}));
  c.clear();
  EXPECT_EQ(c.find("key4"), nullptr);
  c.add("a", "1");
  EXPECT_EQ(valuesOf(c, "a"), (std::vector<std::string>{"1"}));
}

TEST(WafCollection, SmallAndLargeGiveTheSameAnswers) {
  for (int n : {1, 5, 11, 12, 13, 100, 600}) {
    Collection c;
    for (int i = 0; i < n; ++i) c.set("k" + std::to_string(i % 50), std::to_string(i));
    for (int i = 0; i < std::min(n, 50); ++i) {
      const KeyValue* kv = c.find("k" + std::to_string(i));
      ASSERT_NE(kv, nullptr) << n << " " << i;
      EXPECT_EQ(kv->value, std::to_string(i + 50 * ((n - 1 - i) / 50))) << n << " " << i;
    }
  }
}

TEST(WafCollection, ReusedItemSlotsStartClean) {
  Collection c;
  const std::string longValue(300, 'v');
  for (int i = 0; i < 20; ++i) c.add("K" + std::to_string(i), i % 2 == 0 ? longValue : "short");
  c.remove("k3");
  c.remove("k4");
  EXPECT_EQ(c.size(), 18u);
  c.add("New", "n");  // lands in a slot a removed item left
  EXPECT_EQ(c.items().back().key, "New");
  EXPECT_EQ(c.items().back().lkey, "new");
  EXPECT_EQ(c.find("new")->value, "n");
  EXPECT_EQ(c.find("k3"), nullptr);
  EXPECT_EQ(c.find("k5")->value, "short");
  c.recycle(4, 8);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_TRUE(c.items().empty());
  EXPECT_EQ(c.find("k5"), nullptr);
  for (int i = 0; i < 30; ++i) c.set("x" + std::to_string(i % 10), std::to_string(i));
  EXPECT_EQ(c.size(), 10u);
  EXPECT_EQ(c.find("x9")->value, "29");  // set() replaces the value: still one item per key
  c.clear();
  c.add("a", longValue);
  EXPECT_EQ(c.find("a")->value, longValue);
  EXPECT_EQ(c.size(), 1u);
}

TEST(WafTextArena, CopiesStayValidUntilReset) {
  TextArena a;
  std::vector<std::pair<std::string_view, std::string>> kept;
  for (int i = 0; i < 3000; ++i) {
    std::string s(static_cast<std::size_t>(i % 5000), static_cast<char>('a' + i % 26));
    kept.emplace_back(a.copy(s), s);
  }
  for (const auto& [view, s] : kept) EXPECT_EQ(view, s);
  EXPECT_EQ(a.copy("").size(), 0u);
  a.reset();
  EXPECT_EQ(a.copy("again"), "again");
}

bool selects(const std::string& pattern, std::string_view key) {
  std::string error;
  auto re = SelectorRegex::compile(pattern, error);
  EXPECT_NE(re, nullptr) << error;
  return re != nullptr && re->matches(key);
}

TEST(WafSelector, LiteralPatternsMatchAsPcreWould) {
  EXPECT_TRUE(selects("__utm", "__utma"));
  EXPECT_TRUE(selects("__utm", "x__UTMz"));
  EXPECT_FALSE(selects("__utm", "_utm"));
  EXPECT_TRUE(selects("^header_name_", "header_name_host"));
  EXPECT_FALSE(selects("^header_name_", "x_header_name_host"));
  EXPECT_TRUE(selects("MULTIPART_HEADERS_CONTENT_TYPES_*", "multipart_headers_content_types"));
  EXPECT_TRUE(selects("MULTIPART_HEADERS_CONTENT_TYPES_*", "xmultipart_headers_content_types_y"));
  EXPECT_FALSE(selects("MULTIPART_HEADERS_CONTENT_TYPES_*", "multipart_headers_content_type"));
  EXPECT_TRUE(selects("paramcounter_.*", "paramcounter_"));
  EXPECT_FALSE(selects("paramcounter_.*", "paramcounter"));
  EXPECT_TRUE(selects("^ab*", "a"));
  EXPECT_TRUE(selects("^ab*", "ac"));
  EXPECT_FALSE(selects("^ab*", "ca"));
  // Not literal: PCRE2 decides.
  EXPECT_TRUE(selects("^(?:a|b)c$", "BC"));
  EXPECT_FALSE(selects("ab\\*", "ab"));
  EXPECT_TRUE(selects("ab\\*", "ab*"));
  EXPECT_TRUE(selects("^.*", ""));
  EXPECT_TRUE(selects("AVAILABILITY\\/APP_NOT_AVAIL", "x_availability/app_not_avail_y"));
  EXPECT_FALSE(selects("AVAILABILITY\\/APP_NOT_AVAIL", "availability_app_not_avail"));
  EXPECT_TRUE(selects("a\\/*", "a"));
  EXPECT_TRUE(selects("a\\.b", "A.B"));
  EXPECT_FALSE(selects("a\\.b", "axb"));
  EXPECT_TRUE(selects("a.b", "axb"));
  EXPECT_FALSE(selects("ab\\*", "abc"));
  EXPECT_TRUE(selects("ab\\\\*", "ab"));
  EXPECT_TRUE(selects("ab\\\\*", "xab\\\\"));
}

// Transactions on one thread reuse each other's buffers: a second transaction must see none of the
// first one's cached values, whatever their addresses.
TEST(WafEngine, ReusedBuffersDoNotLeakBetweenTransactions) {
  CompileResult r = compileText(
      "SecRule ARGS \"@rx attack\" \"id:1,phase:1,deny,t:lowercase,t:urlDecode\"\n"
      "SecRule ARGS:a \"@rx ^ok$\" \"id:2,phase:1,pass,t:lowercase,setvar:tx.ok=1\"\n",
      "test.conf");
  ASSERT_TRUE(r.program) << (r.errors.empty() ? "" : r.errors.front());
  for (int i = 0; i < 20; ++i) {
    const bool bad = i % 2 == 0;
    Transaction tx(r.program, TxInfo{"1.2.3.4", 1, "127.0.0.1", 80, "uid", "example.com"});
    tx.forceMode(EngineMode::kOn);
    tx.setRequestLine("GET", bad ? "/?a=ATTACK" : "/?a=OK", "HTTP/1.1");
    tx.processRequestHeaders();
    EXPECT_EQ(tx.intervention().disrupted, bad) << i;
    const KeyValue* ok = tx.tx().find("ok");
    EXPECT_EQ(ok != nullptr, !bad) << i;
  }
}

// A transaction owned by a thread_local object ends after the thread's buffer pool is gone (thread exit):
// it must free its buffers rather than return them to the destroyed pool.
struct TransactionHolder {
  std::unique_ptr<Transaction> tx;
};

TEST(WafEngine, TransactionEndingAtThreadExitOutlivesThePool) {
  CompileResult r = compileText("SecRule ARGS \"@rx x\" \"id:1,phase:1,pass\"\n", "test.conf");
  ASSERT_TRUE(r.program);
  std::thread([&] {
    thread_local TransactionHolder holder;  // constructed before the pool: destroyed after it
    {
      Transaction warm(r.program, TxInfo{"1.2.3.4", 1, "127.0.0.1", 80, "uid", "example.com"});
      warm.setRequestLine("GET", "/?a=x", "HTTP/1.1");
      warm.processRequestHeaders();
    }
    holder.tx = std::make_unique<Transaction>(r.program, TxInfo{"1.2.3.4", 1, "127.0.0.1", 80, "uid", "x"});
    holder.tx->setRequestLine("GET", "/?a=x", "HTTP/1.1");
    holder.tx->processRequestHeaders();
  }).join();
  SUCCEED();
}

}  // namespace
}  // namespace bulwark::waf

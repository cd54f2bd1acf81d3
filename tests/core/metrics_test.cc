#include "core/metrics.h"

#include <gtest/gtest.h>

#include "core/buffer.h"
#include "core/log.h"

namespace bulwark {
namespace {

TEST(MetricsTest, CounterSumsShards) {
  MetricsRegistry reg(3);
  Counter* c = reg.counter("bulwark_x_total", "help", "route=\"a\"");
  c->add(0);
  c->add(1, 5);
  c->add(2, 2);
  EXPECT_EQ(c->value(), 8);
  EXPECT_EQ(reg.counter("bulwark_x_total", "help", "route=\"a\""), c);  // get-or-create
}

TEST(MetricsTest, RendersPrometheusText) {
  MetricsRegistry reg(2);
  reg.counter("bulwark_requests_total", "Requests.", "route=\"api\",class=\"2xx\"")->add(0, 3);
  reg.gauge("bulwark_active_connections", "Open.")->add(1, 2);
  std::string text = reg.render();
  EXPECT_NE(text.find("# HELP bulwark_requests_total Requests.\n# TYPE bulwark_requests_total counter\n"),
            std::string::npos);
  EXPECT_NE(text.find("bulwark_requests_total{route=\"api\",class=\"2xx\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE bulwark_active_connections gauge\nbulwark_active_connections 2\n"),
            std::string::npos);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry reg(1);
  Histogram* h = reg.histogram("bulwark_lat_seconds", "Latency.", "route=\"r\"");
  h->observeMicros(0, 300);      // <= 0.5 ms
  h->observeMicros(0, 2000);     // <= 2.5 ms
  h->observeMicros(0, 20000000); // +Inf
  std::string text = reg.render();
  EXPECT_NE(text.find("bulwark_lat_seconds_bucket{route=\"r\",le=\"0.0005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("bulwark_lat_seconds_bucket{route=\"r\",le=\"0.0025\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("bulwark_lat_seconds_bucket{route=\"r\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("bulwark_lat_seconds_count{route=\"r\"} 3\n"), std::string::npos);
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(MetricsRegistry::labelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(LogTest, JsonEscapingHandlesControlQuotesAndInvalidUtf8) {
  std::string out;
  appendJsonEscaped(out, std::string_view("a\"b\\\n\x01\xc3\xa9\xff", 9));
  EXPECT_EQ(out, "a\\\"b\\\\\\u000a\\u0001\xc3\xa9\\u00ff");
}

TEST(BufferTest, GrowsCompactsAndReleases) {
  Buffer b;
  EXPECT_EQ(b.capacity(), 0u);
  b.append("hello world");
  b.consume(6);
  EXPECT_EQ(b.view(), "world");
  std::string big(10000, 'x');
  b.append(big);
  EXPECT_EQ(b.size(), 10005u);
  EXPECT_EQ(b.view().substr(0, 5), "world");
  b.consume(b.size());
  EXPECT_TRUE(b.empty());
  b.release();
  EXPECT_EQ(b.capacity(), 0u);
}

}  // namespace
}  // namespace bulwark

// Metrics registry with per-worker shards, rendered in the Prometheus text format.
//
// Each metric keeps one cache-line-sized slot per shard (a shard is a worker thread; the last shard is the
// control thread). A worker only ever writes its own slot with a relaxed load+store, so the request path
// takes no lock and does no atomic read-modify-write; the admin thread sums the slots when scraped.
// Metrics are created (get-or-create by name+labels) off the request path, under a mutex, and never freed,
// so pointers handed to workers stay valid across config reloads.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace bulwark {

struct alignas(64) MetricSlot {
  std::atomic<int64_t> value{0};
};

class Counter {
 public:
  explicit Counter(unsigned shards) : slots_(shards) {}
  void add(unsigned shard, int64_t n = 1) noexcept {
    auto& v = slots_[shard].value;
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  int64_t value() const noexcept;

 private:
  std::vector<MetricSlot> slots_;
};

// A gauge is a counter that may go down (per-shard deltas summed), or is set by one writer (set()).
class Gauge {
 public:
  explicit Gauge(unsigned shards) : slots_(shards) {}
  void add(unsigned shard, int64_t n) noexcept {
    auto& v = slots_[shard].value;
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set(int64_t n) noexcept { slots_[0].value.store(n, std::memory_order_relaxed); }
  int64_t value() const noexcept;

 private:
  std::vector<MetricSlot> slots_;
};

// Latency histogram in seconds with fixed bucket bounds; observations are recorded in microseconds.
class Histogram {
 public:
  Histogram(unsigned shards, std::vector<double> boundsSeconds);
  void observeMicros(unsigned shard, uint64_t micros) noexcept;
  const std::vector<double>& bounds() const noexcept { return bounds_; }
  // Cumulative bucket counts (size bounds+1, last is +Inf), sum in seconds, count.
  void snapshot(std::vector<uint64_t>& cumulative, double& sumSeconds, uint64_t& count) const;

 private:
  struct alignas(64) Shard {
    std::unique_ptr<std::atomic<uint64_t>[]> buckets;
    std::atomic<uint64_t> sumMicros{0};
    std::atomic<uint64_t> count{0};
  };
  std::vector<double> bounds_;
  std::vector<uint64_t> boundsMicros_;
  std::vector<Shard> shards_;
};

class MetricsRegistry {
 public:
  explicit MetricsRegistry(unsigned shards) : shards_(shards) {}
  unsigned shards() const noexcept { return shards_; }
  unsigned controlShard() const noexcept { return shards_ - 1; }

  // `labels` is the Prometheus label list without braces, e.g. `route="api",class="2xx"` (values escaped
  // by the caller with labelValue()). Same name+labels returns the same object.
  Counter* counter(const std::string& name, const std::string& help, const std::string& labels = "");
  Gauge* gauge(const std::string& name, const std::string& help, const std::string& labels = "");
  Histogram* histogram(const std::string& name, const std::string& help, const std::string& labels = "");

  std::string render() const;

  // Escapes a label value (backslash, quote, newline).
  static std::string labelValue(const std::string& v);

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family {
    Kind kind;
    std::string help;
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };
  Family& family(const std::string& name, const std::string& help, Kind kind);

  unsigned shards_;
  mutable std::mutex mutex_;  // creation and rendering only
  std::map<std::string, Family> families_;
};

// A running total kept elsewhere (a library's own statistics), exported as increments of a counter: each
// call adds value - seen and remembers value in seen. Control thread.
struct ExportedTotal {
  const char* name;
  const char* help;
  const char* labels;
  uint64_t value;
  uint64_t& seen;
};
void exportTotals(MetricsRegistry& registry, std::span<const ExportedTotal> totals);

}  // namespace bulwark

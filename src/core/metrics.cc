#include "core/metrics.h"

#include <cstdio>

namespace bulwark {

namespace {
const std::vector<double> kLatencyBoundsSeconds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,    0.25,  0.5,    1,     2.5,  5,     10};

void appendNumber(std::string& out, double v) {
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%.17g", v);
  out.append(buf, static_cast<std::size_t>(n));
}

void appendSample(std::string& out, const std::string& name, const std::string& labels, double v) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  appendNumber(out, v);
  out += '\n';
}

std::string joinLabels(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  return a + "," + b;
}
}  // namespace

int64_t Counter::value() const noexcept {
  int64_t sum = 0;
  for (const auto& s : slots_) sum += s.value.load(std::memory_order_relaxed);
  return sum;
}

int64_t Gauge::value() const noexcept {
  int64_t sum = 0;
  for (const auto& s : slots_) sum += s.value.load(std::memory_order_relaxed);
  return sum;
}

Histogram::Histogram(unsigned shards, std::vector<double> boundsSeconds)
    : bounds_(std::move(boundsSeconds)), shards_(shards) {
  for (double b : bounds_) boundsMicros_.push_back(static_cast<uint64_t>(b * 1e6));
  for (auto& s : shards_) {
    s.buckets = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
    for (std::size_t i = 0; i <= bounds_.size(); ++i) s.buckets[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::observeMicros(unsigned shard, uint64_t micros) noexcept {
  Shard& s = shards_[shard];
  std::size_t i = 0;
  while (i < boundsMicros_.size() && micros > boundsMicros_[i]) ++i;
  auto bump = [](std::atomic<uint64_t>& a, uint64_t n) {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  };
  bump(s.buckets[i], 1);
  bump(s.sumMicros, micros);
  bump(s.count, 1);
}

void Histogram::snapshot(std::vector<uint64_t>& cumulative, double& sumSeconds, uint64_t& count) const {
  cumulative.assign(bounds_.size() + 1, 0);
  uint64_t sumMicros = 0;
  count = 0;
  for (const auto& s : shards_) {
    for (std::size_t i = 0; i <= bounds_.size(); ++i)
      cumulative[i] += s.buckets[i].load(std::memory_order_relaxed);
    sumMicros += s.sumMicros.load(std::memory_order_relaxed);
    count += s.count.load(std::memory_order_relaxed);
  }
  for (std::size_t i = 1; i < cumulative.size(); ++i) cumulative[i] += cumulative[i - 1];
  sumSeconds = static_cast<double>(sumMicros) / 1e6;
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, const std::string& help,
                                                 Kind kind) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.kind = kind;
    it->second.help = help;
  }
  return it->second;
}

Counter* MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const std::string& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, help, Kind::kCounter).counters[labels];
  if (!slot) slot = std::make_unique<Counter>(shards_);
  return slot.get();
}

Gauge* MetricsRegistry::gauge(const std::string& name, const std::string& help, const std::string& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, help, Kind::kGauge).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>(shards_);
  return slot.get();
}

Histogram* MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const std::string& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, help, Kind::kHistogram).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(shards_, kLatencyBoundsSeconds);
  return slot.get();
}

std::string MetricsRegistry::labelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string MetricsRegistry::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  std::vector<uint64_t> cumulative;
  for (const auto& [name, fam] : families_) {
    static constexpr const char* kTypes[] = {"counter", "gauge", "histogram"};
    out += "# HELP " + name + " " + fam.help + "\n";
    out += "# TYPE " + name + " " + kTypes[static_cast<int>(fam.kind)] + "\n";
    for (const auto& [labels, c] : fam.counters)
      appendSample(out, name, labels, static_cast<double>(c->value()));
    for (const auto& [labels, g] : fam.gauges)
      appendSample(out, name, labels, static_cast<double>(g->value()));
    for (const auto& [labels, h] : fam.histograms) {
      double sum = 0;
      uint64_t count = 0;
      h->snapshot(cumulative, sum, count);
      for (std::size_t i = 0; i < cumulative.size(); ++i) {
        std::string le = "le=\"";
        if (i < h->bounds().size()) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%g", h->bounds()[i]);
          le += buf;
        } else {
          le += "+Inf";
        }
        le += '"';
        appendSample(out, name + "_bucket", joinLabels(labels, le), static_cast<double>(cumulative[i]));
      }
      appendSample(out, name + "_sum", labels, sum);
      appendSample(out, name + "_count", labels, static_cast<double>(count));
    }
  }
  return out;
}

void exportTotals(MetricsRegistry& registry, std::span<const ExportedTotal> totals) {
  for (const ExportedTotal& t : totals) {
    Counter* c = registry.counter(t.name, t.help, t.labels);
    if (t.value > t.seen) c->add(registry.controlShard(), static_cast<int64_t>(t.value - t.seen));
    t.seen = t.value;
  }
}

}  // namespace bulwark

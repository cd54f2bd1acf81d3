// In-process WAF engine benchmark: runs the request mix of bench/waf_mix.tsv through compiled rules (no
// sockets, no proxy) and prints the engine's cost per transaction. Repeatable under
// `valgrind --tool=callgrind` (instruction counts), which the shared machine's wall clock is not.
//
// Usage: bulwark_waf_bench MIX.tsv ITERATIONS RULEFILE...      (BULWARK_WAF_PREFILTER=off: PCRE2 only)
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "waf/engine/program.h"
#include "waf/engine/transaction.h"

namespace {

struct MixRequest {
  std::string name;
  int weight = 1;
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

std::vector<MixRequest> readMix(const char* path) {
  std::vector<MixRequest> mix;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = split(line, '\t');
    if (f.size() < 7) continue;
    MixRequest r;
    r.name = f[0];
    r.weight = std::atoi(f[1].c_str());
    r.method = f[3];
    r.path = f[4];
    r.headers.emplace_back("Host", "shop.example.com");
    for (const std::string& h : split(f[5], '|')) {
      std::size_t colon = h.find(": ");
      if (colon != std::string::npos) r.headers.emplace_back(h.substr(0, colon), h.substr(colon + 2));
    }
    if (f[6] != "-") {
      r.body = f[6];
      r.headers.emplace_back("Content-Length", std::to_string(r.body.size()));
    }
    mix.push_back(std::move(r));
  }
  return mix;
}

int benchTransaction(const std::shared_ptr<const bulwark::waf::Program>& program, const MixRequest& r) {
  using namespace bulwark::waf;
  TxInfo info;
  info.clientAddress = "127.0.0.1";
  info.clientPort = 40000;
  info.serverAddress = "127.0.0.1";
  info.serverPort = 8080;
  info.uniqueId = "0123456789abcdef0123456789abcdef";
  info.serverName = "shop.example.com";
  Transaction tx(program, info);
  tx.forceMode(EngineMode::kOn);
  tx.setRequestLine(r.method, r.path, "HTTP/1.1");
  for (const auto& [k, v] : r.headers) tx.addRequestHeader(k, v);
  tx.processRequestHeaders();
  if (!tx.intervention().disrupted) {
    if (!r.body.empty()) tx.appendRequestBody(r.body);
    tx.processRequestBody();
  }
  if (!tx.intervention().disrupted) {
    tx.setResponseStatus(200, "HTTP/1.1");
    tx.addResponseHeader("Content-Type", "text/plain");
    tx.addResponseHeader("Content-Length", "2");
    tx.processResponseHeaders();
    tx.appendResponseBody("ok");
    tx.processResponseBody();
  }
  tx.processLogging();
  return tx.intervention().disrupted ? tx.intervention().status : 200;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MIX.tsv ITERATIONS RULEFILE...\n", argv[0]);
    return 2;
  }
  std::vector<MixRequest> mix = readMix(argv[1]);
  const long iterations = std::atol(argv[2]);
  std::vector<std::string> files(argv + 3, argv + argc);
  auto t0 = std::chrono::steady_clock::now();
  bulwark::waf::CompileResult cr = bulwark::waf::compileFiles(files);
  auto t1 = std::chrono::steady_clock::now();
  if (!cr.program) {
    for (const std::string& e : cr.errors) std::fprintf(stderr, "%s\n", e.c_str());
    return 1;
  }
  std::printf("compile: %.3f s\n", std::chrono::duration<double>(t1 - t0).count());
  if (cr.program->prefilter) {
    const bulwark::waf::PrefilterSet* set = cr.program->prefilter->buildNow();
    if (set == nullptr) {
      std::printf("prefilter: unavailable: %s\n", cr.program->prefilter->error().c_str());
    } else {
      const bulwark::waf::PrefilterStats& st = set->stats();
      std::printf("prefilter: %zu groups, %zu patterns (%zu PCRE2-only), %zu from cache, %.3f s\n", st.groups,
                  st.patterns, st.unsupported, st.cacheHits, st.seconds);
    }
  } else {
    std::printf("prefilter: off\n");
  }
  for (const MixRequest& r : mix)
    std::printf("  %-12s -> %d\n", r.name.c_str(), benchTransaction(cr.program, r));
  long txns = 0;
  auto cpuNow = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
  };
  const double c2 = cpuNow();
  auto t2 = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) {
    for (const MixRequest& r : mix) {
      for (int w = 0; w < r.weight; ++w) {
        benchTransaction(cr.program, r);
        ++txns;
      }
    }
  }
  auto t3 = std::chrono::steady_clock::now();
  const double cpu = cpuNow() - c2;
  const double us = std::chrono::duration<double, std::micro>(t3 - t2).count();
  const double n = txns > 0 ? static_cast<double>(txns) : 1.0;
  std::printf("waf engine: %ld transactions, %.1f us/txn wall, %.1f us/txn cpu\n", txns, us / n, cpu / n);
  return 0;
}

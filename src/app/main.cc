// bulwark: command line entry point.
#include <cstdio>
#include <cstring>
#include <string>

#include "app/server.h"
#include "core/config.h"
#include "core/metrics.h"
#include "dns/server.h"
#include "http/runtime.h"

namespace {

constexpr const char* kUsage =
    "Usage: bulwark <command> [options]\n"
    "\n"
    "Commands:\n"
    "  serve -c FILE    run the gateway with the configuration FILE\n"
    "  check -c FILE    validate FILE and exit (0: valid; 2: errors, printed as FILE:LINE:COL: message)\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "  -h, --help          show this help\n"
    "  -v, --version       show the version\n"
    "\n"
    "Signals (serve): SIGHUP reloads the configuration (an invalid file is refused and the old one keeps\n"
    "serving); SIGTERM/SIGINT stop accepting, finish in-flight requests within client_timeouts.drain, "
    "exit.\n";

int usageError(const char* msg) {
  std::fprintf(stderr, "bulwark: %s\n\n%s", msg, kUsage);
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  std::string command;
  std::string config;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help" || a == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "-v" || a == "--version" || a == "version") {
      std::printf("bulwark %s\n", BULWARK_VERSION);
      return 0;
    }
    if (a == "-c" || a == "--config") {
      if (i + 1 >= argc) return usageError("-c needs a file");
      config = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config = a.substr(9);
    } else if (command.empty() && a[0] != '-') {
      command = a;
    } else {
      return usageError(("unknown argument: " + a).c_str());
    }
  }
  if (command.empty()) return usageError("missing command");
  if (command != "serve" && command != "check") return usageError(("unknown command: " + command).c_str());
  if (config.empty()) return usageError("missing -c FILE");

  if (command == "check") {
    bulwark::ConfigResult r = bulwark::loadConfig(config);
    if (!r.ok()) {
      for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.message.c_str());
      return 2;
    }
    // Build the runtime as `serve` would (TLS material, origin addresses, WAF rules compiled), without
    // opening any socket: a file that passes `check` is one that `serve` and a reload accept.
    bulwark::MetricsRegistry metrics(1);
    bulwark::shield::ShieldState shieldState(1, /*connect=*/false);
    std::string error;
    auto rt = bulwark::http::buildRuntime(std::move(*r.config), metrics, nullptr, 1, error, &shieldState);
    if (!rt) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 2;
    }
    // Zone files are loaded and checked as `serve` loads them (FILE:LINE: message on a bad one).
    if (rt->config.dns.enabled) {
      bulwark::EventLoop loop;
      bulwark::dns::DnsService dnsService(loop, metrics);
      if (!dnsService.prepare(rt->config.dns, error)) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return 2;
      }
    }
    if (rt->waf) {
      std::printf("%s: ok (%zu WAF rules)\n", config.c_str(), rt->waf->ruleCount);
    } else {
      std::printf("%s: ok\n", config.c_str());
    }
    return 0;
  }
  bulwark::Server server(config);
  return server.run();
}

// The control thread: loads the config, starts the workers, runs the admin listener and the health
// checker, and turns signals into actions (SIGHUP: reload; SIGTERM/SIGINT: graceful drain and exit).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "admin/admin.h"
#include "core/event_loop.h"
#include "core/metrics.h"
#include "dns/server.h"
#include "http/health_check.h"
#include "http/runtime.h"
#include "http/worker.h"

namespace bulwark {

class Server {
 public:
  explicit Server(std::string configPath);
  ~Server();
  // Runs until SIGTERM/SIGINT; returns the process exit code (0 after a clean drain, 1 on start-up error,
  // 2 on an invalid config).
  int run();

 private:
  class SignalHandler;
  bool reload(std::string& error);
  void onSignal(int sig);

  std::string configPath_;
  EventLoop loop_;
  std::unique_ptr<MetricsRegistry> metrics_;
  std::unique_ptr<shield::ShieldState> shield_;  // outlives snapshots: penalty box, counters, admin lists
  std::unique_ptr<Timer> shieldGauges_;          // refreshes the shield's table gauges once a second
  void updateShieldGauges();
  void updateRedisMetrics();
  struct RedisSeen {  // the Redis sync's totals already turned into counter increments
    const shield::UsageSync* sync = nullptr;
    uint64_t up = 0, down = 0, errors = 0, localOnly = 0, charged = 0;
  };
  RedisSeen redisSeen_;
  std::vector<std::unique_ptr<http::Worker>> workers_;
  std::shared_ptr<const http::Runtime> current_;
  std::unique_ptr<http::HealthChecker> health_;
  std::unique_ptr<dns::DnsService> dns_;  // the DNS server on the workers' loops (idle without `dns:`)
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<SignalHandler> signals_;
  std::unique_ptr<Timer> drainPoll_;  // checks whether every worker has finished draining
  std::string adminAddress_;
  uint64_t generation_ = 0;
  bool draining_ = false;
  Counter* reloadsOk_ = nullptr;
  Counter* reloadsFailed_ = nullptr;
  Gauge* generationGauge_ = nullptr;
};

}  // namespace bulwark

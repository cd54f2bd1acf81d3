#include "app/server.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "core/log.h"
#include "shield/usage_sync.h"

namespace bulwark {

class Server::SignalHandler final : public IoHandler {
 public:
  SignalHandler(Server& server, int fd) : server_(server), fd_(fd) {}
  ~SignalHandler() override { ::close(fd_); }
  void onIoEvents(uint32_t) override {
    signalfd_siginfo si{};
    while (::read(fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      server_.onSignal(static_cast<int>(si.ssi_signo));
    }
  }

 private:
  Server& server_;
  int fd_;
};

Server::Server(std::string configPath) : configPath_(std::move(configPath)) {}

Server::~Server() = default;

int Server::run() {
  ConfigResult loaded = loadConfig(configPath_);
  if (!loaded.ok()) {
    for (const ConfigError& e : loaded.errors) logError(e.message);
    return 2;
  }
  Config cfg = std::move(*loaded.config);
  unsigned workers = cfg.workers != 0 ? cfg.workers : std::max(1u, std::thread::hardware_concurrency());
  metrics_ = std::make_unique<MetricsRegistry>(workers + 1);
  reloadsOk_ =
      metrics_->counter("bulwark_config_reloads_total", "Config reloads by result.", "result=\"ok\"");
  reloadsFailed_ =
      metrics_->counter("bulwark_config_reloads_total", "Config reloads by result.", "result=\"error\"");
  generationGauge_ = metrics_->gauge("bulwark_config_generation", "Generation of the config in use.");

  shield_ = std::make_unique<shield::ShieldState>(workers);
  std::string error;
  auto rt = http::buildRuntime(std::move(cfg), *metrics_, nullptr, ++generation_, error, shield_.get());
  if (!rt) {
    logError(error);
    return 2;
  }
  current_ = rt;
  generationGauge_->set(static_cast<int64_t>(generation_));
  dns_ = std::make_unique<dns::DnsService>(loop_, *metrics_);
  auto dnsSnap = dns_->prepare(current_->config.dns, error);
  if (!dnsSnap) {
    logError(error);
    return 2;
  }

  // Signals are taken through signalfd on this thread: block them before any worker thread exists so
  // every thread inherits the mask. SIGPIPE is ignored (TLS writes use write(2), not send(MSG_NOSIGNAL)).
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGHUP);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  int sfd = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  signals_ = std::make_unique<SignalHandler>(*this, sfd);
  loop_.add(sfd, EPOLLIN, signals_.get());

  // The DNS sockets join the worker loops before the worker threads start.
  std::vector<EventLoop*> loops;
  for (unsigned i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<http::Worker>(i, i));
    loops.push_back(&workers_.back()->loop());
  }
  if (!dns_->start(dnsSnap, loops, error)) {
    logError(error);
    dns_->stop();
    workers_.clear();
    return 1;
  }
  for (auto& worker : workers_) {
    if (!worker->start(current_, error)) {
      logError(error);
      for (auto& w : workers_) w->drain(std::chrono::milliseconds(0));
      for (auto& w : workers_) w->join();
      dns_->stop();
      workers_.clear();
      return 1;
    }
  }

  health_ = std::make_unique<http::HealthChecker>(loop_);
  health_->setRuntime(current_);

  admin::AdminHooks hooks;
  hooks.current = [this] { return current_; };
  hooks.reload = [this](std::string& err) { return reload(err); };
  hooks.draining = [this] { return draining_; };
  hooks.workers = workers;
  hooks.shield = shield_.get();
  hooks.dnsStatus = [this] { return dns_->statusJson(); };
  hooks.shieldListsChanged = [this] {
    auto lists = shield_->adminLists();
    for (auto& w : workers_) w->publishShieldLists(lists);
  };
  shieldGauges_ = std::make_unique<Timer>([this] {
    updateShieldGauges();
    dns_->exportTransferMetrics();
    loop_.arm(*shieldGauges_, std::chrono::milliseconds(1000));
  });
  loop_.arm(*shieldGauges_, std::chrono::milliseconds(1000));
  admin_ = std::make_unique<admin::AdminServer>(loop_, *metrics_, std::move(hooks));
  if (current_->config.admin.enabled) {
    http::ResolvedAddress a;
    if (!http::resolveAddress(current_->config.admin.address, a, error) || !admin_->listen(a, error)) {
      logError("admin " + current_->config.admin.address.text + ": " + error);
      for (auto& w : workers_) w->drain(std::chrono::milliseconds(0));
      for (auto& w : workers_) w->join();
      dns_->stop();
      workers_.clear();
      return 1;
    }
    adminAddress_ = current_->config.admin.address.text;
  }

  std::string where;
  for (const Listener& l : current_->config.listeners) {
    where += (where.empty() ? "" : ", ") + std::string(l.tls ? "https://" : "http://") + l.address.text;
  }
  for (const SocketAddress& a : current_->config.dns.listen) {
    where += (where.empty() ? "" : ", ") + std::string("dns://") + a.text;
  }
  logInfo("bulwark " BULWARK_VERSION " serving on " + where + " with " + std::to_string(workers) +
          " worker(s)" + (adminAddress_.empty() ? std::string() : "; admin on http://" + adminAddress_));

  // Runs until the drain started by SIGTERM/SIGINT has finished in every worker. The admin listener keeps
  // answering meanwhile (/healthz says "draining", so a load balancer takes this node out).
  loop_.run();
  for (auto& w : workers_) w->join();
  dns_->stop();
  workers_.clear();
  health_.reset();
  admin_.reset();
  logInfo("stopped");
  return 0;
}

// Gauges of the shield's shared tables, read off the request path (the penalty box walk is O(table)).
void Server::updateShieldGauges() {
  if (!current_->shield) return;
  const int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now().time_since_epoch()).count();
  metrics_->gauge("bulwark_shield_penalty_box_entries", "Clients in the penalty box.")
      ->set(static_cast<int64_t>(shield_->penalty().list(now).size()));
  metrics_
      ->gauge("bulwark_shield_open_connections",
              "Client connections counted against shield.connections.max_total.")
      ->set(shield_->openConnections().load(std::memory_order_relaxed));
  const shield::RateLimiterStats stats = shield_->limiter(current_->config.shield.tableSize)->stats();
  metrics_->gauge("bulwark_shield_rate_limit_keys", "Keys in the rate-limit table.")
      ->set(static_cast<int64_t>(stats.keys));
  metrics_->gauge("bulwark_shield_rate_limit_evictions", "Stale rate-limit keys replaced since start.")
      ->set(static_cast<int64_t>(stats.evictions));
  metrics_
      ->gauge("bulwark_shield_rate_limit_overflows",
              "Rate-limit decisions taken without a table entry (table full).")
      ->set(static_cast<int64_t>(stats.overflows));
  updateRedisMetrics();
}

// Redis sharing: up/down, and the sync's running totals turned into counters (a new sync after a reload
// that changed `shield.redis` starts its totals from zero, so deltas are taken per sync object).
void Server::updateRedisMetrics() {
  const shield::UsageSync* sync =
      current_->config.shield.redis.empty() ? nullptr : shield_->currentUsageSync();
  if (sync == nullptr) return;
  const shield::UsageSyncStats s = sync->stats();
  if (sync != redisSeen_.sync) redisSeen_ = RedisSeen{sync};
  metrics_->gauge("bulwark_shield_redis_up", "1 while rate-limit usage is shared through Redis, else 0.")
      ->set(sync->healthy() ? 1 : 0);
  const ExportedTotal totals[] = {
      {"bulwark_shield_redis_transitions_total", "Redis became usable (up) or unusable (down).", "to=\"up\"",
       s.redisUp, redisSeen_.up},
      {"bulwark_shield_redis_transitions_total", "Redis became usable (up) or unusable (down).",
       "to=\"down\"", s.redisDown, redisSeen_.down},
      {"bulwark_shield_redis_errors_total", "Redis commands that failed.", "", s.errors, redisSeen_.errors},
      {"bulwark_shield_redis_local_only_total", "Admitted requests counted only locally (Redis unusable).",
       "", s.localOnly, redisSeen_.localOnly},
      {"bulwark_shield_redis_charged_total", "Requests admitted by other nodes, charged to the local limits.",
       "", s.chargedRequests, redisSeen_.charged},
  };
  exportTotals(*metrics_, totals);
}

void Server::onSignal(int sig) {
  if (sig == SIGHUP) {
    std::string error;
    reload(error);
    return;
  }
  if (draining_) return;
  draining_ = true;
  const auto drain = current_->config.clientTimeouts.drain;
  logInfo(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", draining (up to " +
          std::to_string(drain.count()) + " ms)");
  health_->stop();
  dns_->drain();
  for (auto& w : workers_) w->drain(drain);
  drainPoll_ = std::make_unique<Timer>([this] {
    bool all = true;
    for (auto& w : workers_) all = all && w->finished();
    if (all) {
      loop_.stop();
    } else {
      loop_.arm(*drainPoll_, std::chrono::milliseconds(20));
    }
  });
  loop_.arm(*drainPoll_, std::chrono::milliseconds(5));
}

bool Server::reload(std::string& error) {
  ConfigResult loaded = loadConfig(configPath_);
  if (!loaded.ok()) {
    error.clear();
    for (const ConfigError& e : loaded.errors) {
      logError("reload rejected: " + e.message);
      error += e.message + "\n";
    }
    reloadsFailed_->add(metrics_->controlShard());
    logError("reload failed; still serving config generation " + std::to_string(generation_));
    return false;
  }
  if (loaded.config->workers != 0 && loaded.config->workers != workers_.size()) {
    logWarn("reload: a change of `workers` takes effect on restart only");
  }
  auto rt = http::buildRuntime(std::move(*loaded.config), *metrics_, current_.get(), generation_ + 1, error,
                               shield_.get());
  if (!rt) {
    logError("reload rejected: " + error);
    reloadsFailed_->add(metrics_->controlShard());
    return false;
  }
  // Zones are loaded here, on the control thread; a zone that fails keeps the whole old config serving.
  auto dnsSnap = dns_->prepare(rt->config.dns, error);
  if (!dnsSnap || !dns_->checkListen(*dnsSnap, error)) {
    logError("reload rejected: " + error);
    reloadsFailed_->add(metrics_->controlShard());
    if (rt->config.dns.enabled) dns_->countReload(false);
    logError("reload failed; still serving config generation " + std::to_string(generation_));
    return false;
  }
  // New listener addresses must be bindable before any worker is told about them.
  for (const http::ListenerRuntime& l : rt->listeners) {
    bool existing = false;
    for (const http::ListenerRuntime& o : current_->listeners)
      existing |= o.config->address.text == l.config->address.text;
    if (existing) continue;
    int fd = http::openListenSocket(l.address, error);
    if (fd < 0) {
      error = "listener " + l.config->address.text + ": " + error;
      logError("reload rejected: " + error);
      reloadsFailed_->add(metrics_->controlShard());
      return false;
    }
    ::close(fd);
  }
  ++generation_;
  current_ = rt;
  for (auto& w : workers_) w->publish(rt);
  dns_->commit(dnsSnap);
  if (rt->config.dns.enabled) dns_->countReload(true);
  health_->setRuntime(rt);
  const std::string newAdmin = rt->config.admin.enabled ? rt->config.admin.address.text : "";
  if (newAdmin != adminAddress_) {
    admin_->close();
    adminAddress_.clear();
    if (!newAdmin.empty()) {
      http::ResolvedAddress a;
      std::string err;
      if (http::resolveAddress(rt->config.admin.address, a, err) && admin_->listen(a, err)) {
        adminAddress_ = newAdmin;
      } else {
        logError("admin " + newAdmin + ": " + err);
      }
    }
  }
  generationGauge_->set(static_cast<int64_t>(generation_));
  reloadsOk_->add(metrics_->controlShard());
  logInfo("reloaded " + configPath_ + " (generation " + std::to_string(generation_) + ")");
  return true;
}

}  // namespace bulwark

// Admin listener on the control thread (loopback by default): GET /metrics (Prometheus text),
// GET /healthz, GET /status (JSON: config generation, pools and origin health), POST /reload, and the
// shield's penalty box and lists (GET/POST/DELETE /shield/penalty, /shield/lists/{allow,deny}; see
// docs/shield.md).
// Every response closes the connection; requests are small and bounded (8 KiB head, 5 s to send it).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "core/metrics.h"
#include "http/runtime.h"

namespace bulwark::admin {

struct AdminHooks {
  std::function<std::shared_ptr<const http::Runtime>()> current;
  std::function<bool(std::string& error)> reload;
  std::function<bool()> draining;
  unsigned workers = 1;
  shield::ShieldState* shield = nullptr;     // penalty box and admin lists (outlive snapshots)
  std::function<void()> shieldListsChanged;  // publishes ShieldState::adminLists() to the workers
  std::function<std::string()> dnsStatus;    // the DNS server's /status block (JSON object), "" when off
};

class AdminServer {
 public:
  AdminServer(EventLoop& loop, MetricsRegistry& metrics, AdminHooks hooks);
  ~AdminServer();
  bool listen(const http::ResolvedAddress& addr, std::string& error);
  void close();

  // Builds the response for one request; public for tests.
  // `target` is the request target (path and query).
  std::string handle(std::string_view method, std::string_view target);
  std::string statusJson() const;

 private:
  std::string handleShield(std::string_view method, std::string_view path, std::string_view query);

 public:
 private:
  class Listener;
  class Conn;
  EventLoop& loop_;
  MetricsRegistry& metrics_;
  AdminHooks hooks_;
  std::unique_ptr<Listener> listener_;
};

}  // namespace bulwark::admin

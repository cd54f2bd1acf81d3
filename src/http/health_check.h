// Active health checks, run on the control thread's event loop (never on a worker).
//
// One probe per origin of every pool that has `health_check`: every `interval` it connects (TCP, then TLS
// for HTTPS pools), sends `GET path HTTP/1.1` with `Connection: close`, and reads the status line. A status
// equal to `expect_status` within `timeout` is a success. `rise` successes in a row mark the origin healthy,
// `fall` failures in a row unhealthy; the flag is an atomic that workers read when picking an origin.
// Health changes are logged and exported as bulwark_origin_healthy.
#pragma once

#include <memory>
#include <vector>

#include "core/event_loop.h"
#include "http/runtime.h"

namespace bulwark::http {

class HealthChecker {
 public:
  explicit HealthChecker(EventLoop& loop);
  ~HealthChecker();
  // Replaces all probes with those of `rt` (health state carries over inside the Runtime).
  void setRuntime(std::shared_ptr<const Runtime> rt);
  void stop();

 private:
  class Probe;
  EventLoop& loop_;
  std::vector<std::unique_ptr<Probe>> probes_;
};

}  // namespace bulwark::http

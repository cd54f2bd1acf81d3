// A throw-away redis-server for tests: Debian's /usr/bin/redis-server on a free loopback port, without
// persistence, killed (and reaped) when the object goes away, also when a test fails.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "core/event_loop.h"

namespace bulwark::shield::redistest {

inline constexpr const char* kRedisServerPath = "/usr/bin/redis-server";

inline bool redisServerAvailable() { return ::access(kRedisServerPath, X_OK) == 0; }

// A port nobody listens on right now (bound then released; good enough on a test machine).
inline int freeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  ::close(fd);
  return port;
}

inline bool acceptsConnections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

class RedisTestServer {
 public:
  RedisTestServer() : port_(freeLoopbackPort()) {}
  ~RedisTestServer() { kill(); }
  RedisTestServer(const RedisTestServer&) = delete;
  RedisTestServer& operator=(const RedisTestServer&) = delete;

  int port() const { return port_; }

  // Starts redis-server on port() and waits (up to 5 s) until it accepts connections.
  bool start() {
    kill();
    const std::string port = std::to_string(port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(kRedisServerPath, kRedisServerPath, "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--logfile", "/dev/null", "--daemonize", "no",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (pid_ < 0) return false;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < until) {
      if (acceptsConnections(port_)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

 private:
  int port_;
  pid_t pid_ = -1;
};

// Runs `loop` until `done()` is true (checked every 5 ms) or `timeout` passes; returns done().
inline bool runLoopUntil(EventLoop& loop, const std::function<bool()>& done,
                         std::chrono::milliseconds timeout) {
  const auto until = SteadyClock::now() + timeout;
  std::function<void()> check;
  Timer poll([&] { check(); });
  check = [&] {
    if (done() || SteadyClock::now() >= until) {
      loop.stop();
    } else {
      loop.arm(poll, std::chrono::milliseconds(5));
    }
  };
  loop.arm(poll, std::chrono::milliseconds(0));
  loop.run();
  return done();
}

}  // namespace bulwark::shield::redistest

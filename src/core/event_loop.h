// One event loop per thread: epoll (edge-triggered), timers, and a wake-up mailbox.
//
// Thread-safety: everything but post() runs on the loop's own thread. post() may be called from any thread;
// it is for rare control messages (reload, shutdown), never for the request path.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace bulwark {

using SteadyClock = std::chrono::steady_clock;

// Receives readiness events for one file descriptor.
class IoHandler {
 public:
  virtual ~IoHandler() = default;
  virtual void onIoEvents(uint32_t events) = 0;  // EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP/EPOLLRDHUP bits
};

class EventLoop;

// A one-shot timer owned by its user. Arm with EventLoop::arm(), cancel with cancel() or by destruction.
// Implemented as an intrusive 4-ary heap: arm/cancel are O(log n) and allocate nothing.
class Timer {
 public:
  explicit Timer(std::function<void()> onExpire) : onExpire_(std::move(onExpire)) {}
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  bool armed() const noexcept { return loop_ != nullptr; }
  void cancel() noexcept;
  SteadyClock::time_point deadline() const noexcept { return deadline_; }

 private:
  friend class EventLoop;
  std::function<void()> onExpire_;
  EventLoop* loop_ = nullptr;
  SteadyClock::time_point deadline_{};
  std::size_t heapIndex_ = 0;
};

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Registers fd for edge-triggered events (EPOLLET is added). Returns false on failure (errno set).
  bool add(int fd, uint32_t events, IoHandler* handler) noexcept;
  bool modify(int fd, uint32_t events, IoHandler* handler) noexcept;
  void remove(int fd) noexcept;

  void arm(Timer& timer, std::chrono::milliseconds after) noexcept;
  void arm(Timer& timer, SteadyClock::time_point deadline) noexcept;
  void cancel(Timer& timer) noexcept;

  // Runs until stop(). Each iteration: wait for events or the next timer, dispatch, expire timers, then
  // run the end-of-iteration hooks (flush logs, free closed connections).
  void run();
  void stop() noexcept;  // from the loop thread; from others use post([&]{ loop.stop(); })

  // Cross-thread: queue fn to run on the loop thread and wake it.
  void post(std::function<void()> fn);

  // Runs fn at the end of the current iteration (after all events are dispatched): used to free objects
  // that handlers of this iteration may still reference.
  void defer(std::function<void()> fn);

  // Time cached at the start of the iteration; cheap to read on the hot path.
  SteadyClock::time_point now() const noexcept { return now_; }
  void updateTime() noexcept { now_ = SteadyClock::now(); }

  // Called at the end of every iteration (e.g. flush buffered logs). Set before run().
  void setIterationHook(std::function<void()> hook) { iterationHook_ = std::move(hook); }

  std::size_t timerCount() const noexcept { return heap_.size(); }

  // Runs deferred functions now (after run() returned, so objects queued for deletion are freed).
  void runDeferred();

 private:
  class Waker;
  void heapUp(std::size_t i) noexcept;
  void heapDown(std::size_t i) noexcept;
  void heapRemove(std::size_t i) noexcept;
  void expireTimers();
  void drainPosted();

  int epfd_ = -1;
  int wakeFd_ = -1;
  bool running_ = false;
  SteadyClock::time_point now_;
  std::vector<Timer*> heap_;
  std::vector<std::function<void()>> deferred_;
  std::function<void()> iterationHook_;
  std::mutex postMutex_;  // guards posted_ only; never taken on the request path
  std::vector<std::function<void()>> posted_;
  IoHandler* waker_ = nullptr;
};

}  // namespace bulwark

#include "core/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace bulwark {

namespace {
constexpr std::size_t kArity = 4;
constexpr int kMaxEvents = 256;
}  // namespace

class EventLoop::Waker : public IoHandler {
 public:
  explicit Waker(EventLoop& loop) : loop_(loop) {}
  void onIoEvents(uint32_t) override {
    uint64_t v;
    while (::read(loop_.wakeFd_, &v, sizeof v) == sizeof v) {
    }
    loop_.drainPosted();
  }

 private:
  EventLoop& loop_;
};

Timer::~Timer() { cancel(); }

void Timer::cancel() noexcept {
  if (loop_ != nullptr) loop_->cancel(*this);
}

EventLoop::EventLoop() : now_(SteadyClock::now()) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wakeFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wakeFd_ < 0) {
    std::perror("bulwark: epoll/eventfd");
    std::abort();  // cannot run without them; happens only when out of file descriptors at start-up
  }
  waker_ = new Waker(*this);
  add(wakeFd_, EPOLLIN, waker_);
}

EventLoop::~EventLoop() {
  for (Timer* t : heap_) t->loop_ = nullptr;
  ::close(wakeFd_);
  ::close(epfd_);
  delete waker_;
}

bool EventLoop::add(int fd, uint32_t events, IoHandler* handler) noexcept {
  epoll_event ev{};
  ev.events = events | EPOLLET;
  ev.data.ptr = handler;
  return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EventLoop::modify(int fd, uint32_t events, IoHandler* handler) noexcept {
  epoll_event ev{};
  ev.events = events | EPOLLET;
  ev.data.ptr = handler;
  return ::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::remove(int fd) noexcept { ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::arm(Timer& timer, std::chrono::milliseconds after) noexcept { arm(timer, now_ + after); }

void EventLoop::arm(Timer& timer, SteadyClock::time_point deadline) noexcept {
  if (timer.loop_ == this) {
    // Re-arm in place: move up or down depending on the new deadline.
    SteadyClock::time_point old = timer.deadline_;
    timer.deadline_ = deadline;
    if (deadline < old) {
      heapUp(timer.heapIndex_);
    } else {
      heapDown(timer.heapIndex_);
    }
    return;
  }
  timer.cancel();
  timer.loop_ = this;
  timer.deadline_ = deadline;
  timer.heapIndex_ = heap_.size();
  heap_.push_back(&timer);
  heapUp(timer.heapIndex_);
}

void EventLoop::cancel(Timer& timer) noexcept {
  if (timer.loop_ != this) return;
  heapRemove(timer.heapIndex_);
  timer.loop_ = nullptr;
}

void EventLoop::heapUp(std::size_t i) noexcept {
  Timer* t = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / kArity;
    if (heap_[parent]->deadline_ <= t->deadline_) break;
    heap_[i] = heap_[parent];
    heap_[i]->heapIndex_ = i;
    i = parent;
  }
  heap_[i] = t;
  t->heapIndex_ = i;
}

void EventLoop::heapDown(std::size_t i) noexcept {
  Timer* t = heap_[i];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t first = i * kArity + 1;
    if (first >= n) break;
    std::size_t best = first;
    std::size_t last = first + kArity < n ? first + kArity : n;
    for (std::size_t c = first + 1; c < last; ++c) {
      if (heap_[c]->deadline_ < heap_[best]->deadline_) best = c;
    }
    if (heap_[best]->deadline_ >= t->deadline_) break;
    heap_[i] = heap_[best];
    heap_[i]->heapIndex_ = i;
    i = best;
  }
  heap_[i] = t;
  t->heapIndex_ = i;
}

void EventLoop::heapRemove(std::size_t i) noexcept {
  Timer* last = heap_.back();
  heap_.pop_back();
  if (i == heap_.size()) return;
  heap_[i] = last;
  last->heapIndex_ = i;
  heapUp(i);
  heapDown(last->heapIndex_);
}

void EventLoop::expireTimers() {
  while (!heap_.empty() && heap_.front()->deadline_ <= now_) {
    Timer* t = heap_.front();
    heapRemove(0);
    t->loop_ = nullptr;
    t->onExpire_();  // may re-arm or destroy other timers; the heap is consistent here
  }
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(postMutex_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakeFd_, &one, sizeof one);
}

void EventLoop::drainPosted() {
  std::vector<std::function<void()>> todo;
  {
    std::lock_guard<std::mutex> lock(postMutex_);
    todo.swap(posted_);
  }
  for (auto& fn : todo) fn();
}

void EventLoop::defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

void EventLoop::stop() noexcept { running_ = false; }

void EventLoop::run() {
  running_ = true;
  epoll_event events[kMaxEvents];
  // epoll_pwait2 (Linux 5.11) takes the next timer's deadline to the nanosecond, so sub-millisecond timers
  // (the DNS worker's UDP coalescing window) fire on time; epoll_wait's timeout is whole milliseconds.
  bool precise = true;
  while (running_) {
    std::chrono::nanoseconds wait{-1};
    if (!deferred_.empty()) {
      wait = std::chrono::nanoseconds(0);
    } else if (!heap_.empty()) {
      wait = std::max(std::chrono::nanoseconds(0), heap_.front()->deadline_ - SteadyClock::now());
    }
    int n;
    if (precise) {
      timespec ts{static_cast<time_t>(wait.count() / 1'000'000'000),
                  static_cast<long>(wait.count() % 1'000'000'000)};
      n = ::epoll_pwait2(epfd_, events, kMaxEvents, wait.count() < 0 ? nullptr : &ts, nullptr);
      if (n < 0 && errno == ENOSYS) {
        precise = false;
        continue;
      }
    } else {
      const int timeoutMs =
          wait.count() < 0 ? -1
                           : static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
      n = ::epoll_wait(epfd_, events, kMaxEvents, timeoutMs);
    }
    now_ = SteadyClock::now();
    if (n < 0 && errno != EINTR) {
      std::perror("bulwark: epoll_wait");
      break;
    }
    for (int i = 0; i < n; ++i) {
      static_cast<IoHandler*>(events[i].data.ptr)->onIoEvents(events[i].events);
    }
    expireTimers();
    runDeferred();
    if (iterationHook_) iterationHook_();
  }
}

void EventLoop::runDeferred() {
  while (!deferred_.empty()) {
    std::vector<std::function<void()>> todo;
    todo.swap(deferred_);
    for (auto& fn : todo) fn();
  }
}

}  // namespace bulwark

#include "core/event_loop.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

namespace bulwark {
namespace {

using namespace std::chrono_literals;

TEST(EventLoopTest, TimersFireInDeadlineOrder) {
  EventLoop loop;
  std::vector<int> fired;
  Timer a([&] { fired.push_back(1); });
  Timer b([&] { fired.push_back(2); });
  Timer c([&] {
    fired.push_back(3);
    loop.stop();
  });
  loop.arm(c, 30ms);
  loop.arm(a, 5ms);
  loop.arm(b, 15ms);
  loop.run();
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(loop.timerCount(), 0u);
}

TEST(EventLoopTest, CancelledTimerDoesNotFire) {
  EventLoop loop;
  bool fired = false;
  Timer a([&] { fired = true; });
  Timer stop([&] { loop.stop(); });
  loop.arm(a, 5ms);
  loop.arm(stop, 20ms);
  a.cancel();
  EXPECT_FALSE(a.armed());
  loop.run();
  EXPECT_FALSE(fired);
}

TEST(EventLoopTest, RearmMovesDeadlineBothWays) {
  EventLoop loop;
  std::vector<int> fired;
  Timer a([&] { fired.push_back(1); });
  Timer b([&] { fired.push_back(2); });
  Timer stop([&] { loop.stop(); });
  loop.arm(a, 5ms);
  loop.arm(b, 10ms);
  loop.arm(a, 15ms);  // later than b now
  loop.arm(stop, 30ms);
  loop.run();
  EXPECT_EQ(fired, (std::vector<int>{2, 1}));
}

TEST(EventLoopTest, DestroyingArmedTimerRemovesIt) {
  EventLoop loop;
  {
    Timer t([] {});
    loop.arm(t, 1000ms);
    EXPECT_EQ(loop.timerCount(), 1u);
  }
  EXPECT_EQ(loop.timerCount(), 0u);
}

TEST(EventLoopTest, ManyTimersKeepHeapOrder) {
  EventLoop loop;
  std::vector<std::unique_ptr<Timer>> timers;
  std::vector<int> fired;
  for (int i = 0; i < 200; ++i) {
    int delay = (i * 37) % 50;
    timers.push_back(std::make_unique<Timer>([&fired, delay] { fired.push_back(delay); }));
    loop.arm(*timers.back(), std::chrono::milliseconds(delay));
  }
  for (int i = 0; i < 200; i += 3) timers[static_cast<std::size_t>(i)]->cancel();
  Timer stop([&] { loop.stop(); });
  loop.arm(stop, 80ms);
  loop.run();
  EXPECT_EQ(fired.size(), 200u - 67u);
  EXPECT_TRUE(std::is_sorted(fired.begin(), fired.end()));
}

TEST(EventLoopTest, PostFromAnotherThreadRunsOnLoop) {
  EventLoop loop;
  std::thread::id ran;
  std::thread t([&] {
    std::this_thread::sleep_for(10ms);
    loop.post([&] {
      ran = std::this_thread::get_id();
      loop.stop();
    });
  });
  loop.run();
  t.join();
  EXPECT_EQ(ran, std::this_thread::get_id());
}

class ReadCounter : public IoHandler {
 public:
  explicit ReadCounter(EventLoop& loop) : loop_(loop) {}
  void onIoEvents(uint32_t) override {
    ++events;
    loop_.stop();
  }
  int events = 0;

 private:
  EventLoop& loop_;
};

TEST(EventLoopTest, DispatchesReadinessToHandler) {
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  ReadCounter handler(loop);
  ASSERT_TRUE(loop.add(fds[0], EPOLLIN, &handler));
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  loop.run();
  EXPECT_EQ(handler.events, 1);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(EventLoopTest, DeferredRunsAfterDispatch) {
  EventLoop loop;
  std::vector<int> order;
  Timer t([&] {
    loop.defer([&] {
      order.push_back(2);
      loop.stop();
    });
    order.push_back(1);
  });
  loop.arm(t, 1ms);
  loop.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

}  // namespace
}  // namespace bulwark

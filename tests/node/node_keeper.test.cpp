// node_keeper (src/node/node_keeper.hpp), in one runtime: when the root it watches exits, the
// keeper wakes the node's main thread through its eventfd with the root's exit reason and stops
// (so heart's beats stop too); a root already gone when it is named counts the same; the
// keeper's own end wakes the main thread too. Issue 12 (F2): on old code nothing watched the
// engine's root, and the node went on answering with a dead engine.
#include <memory>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "node_keeper.hpp"
#include "respawn/runtime.hpp"

namespace {

using namespace std::chrono_literals;
using respawn::node::node_keeper;
using respawn::node::watch_root;

class idle final : public respawn::process {
 public:
  void handle(respawn::message&) override {}
};

// True if the eventfd `fd` fired within `limit` (read, so that what was written before is seen).
bool fired(int fd, std::chrono::milliseconds limit) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return false;
  std::uint64_t n = 0;
  return ::read(fd, &n, sizeof n) == static_cast<ssize_t>(sizeof n);
}

TEST(node_keeper, the_roots_exit_wakes_the_main_thread_and_stops_the_beats) {
  int down = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int beat[2];
  ASSERT_EQ(::pipe2(beat, O_CLOEXEC | O_NONBLOCK), 0);
  auto why = std::make_shared<std::string>();
  {
    respawn::runtime rt{respawn::runtime_config{}};
    auto keeper = rt.spawn<node_keeper>(respawn::spawn_options{}, beat[1], down, why).pid;
    auto root = rt.spawn<idle>(respawn::spawn_options{}).pid;
    rt.send(keeper, watch_root{root});
    EXPECT_FALSE(fired(down, 200ms)) << "nothing happened yet";
    rt.exit(root, respawn::exit_reason::other("reached its restart intensity"));
    ASSERT_TRUE(fired(down, 10s)) << "the root's exit did not wake the main thread";
    EXPECT_NE(why->find("the engine's root supervisor exited"), std::string::npos) << *why;
    EXPECT_NE(why->find("reached its restart intensity"), std::string::npos) << *why;
    for (int i = 0; rt.alive(keeper); ++i) {
      ASSERT_LT(i, 1000) << "the keeper (the heartbeat) went on";
      std::this_thread::sleep_for(10ms);
    }
  }
  ::close(beat[0]);
  ::close(beat[1]);
  ::close(down);
}

TEST(node_keeper, a_root_already_gone_counts_and_so_does_the_keepers_own_end) {
  int down = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  auto why = std::make_shared<std::string>();
  {
    respawn::runtime rt{respawn::runtime_config{}};
    auto keeper = rt.spawn<node_keeper>(respawn::spawn_options{}, -1, down, why).pid;
    auto root = rt.spawn<idle>(respawn::spawn_options{}).pid;
    rt.exit(root, respawn::exit_reason::kill());
    for (int i = 0; rt.alive(root); ++i) {
      ASSERT_LT(i, 1000);
      std::this_thread::sleep_for(10ms);
    }
    rt.send(keeper, watch_root{root});
    EXPECT_TRUE(fired(down, 10s)) << "a root gone before it was watched went unnoticed";
  }

  auto why2 = std::make_shared<std::string>();
  {
    respawn::runtime rt{respawn::runtime_config{}};
    auto keeper = rt.spawn<node_keeper>(respawn::spawn_options{}, -1, down, why2).pid;
    rt.exit(keeper, respawn::exit_reason::kill());
    EXPECT_TRUE(fired(down, 10s)) << "a dead keeper must not leave the node unwatched";
  }
  ::close(down);
}

}  // namespace

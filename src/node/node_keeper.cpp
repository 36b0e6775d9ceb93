// node_keeper.cpp: see node_keeper.hpp.
#include "node_keeper.hpp"

#include <chrono>
#include <cstdint>

#include <unistd.h>

namespace respawn::node {

namespace {
using namespace std::chrono_literals;
struct beat {};
}  // namespace

node_keeper::node_keeper(int heart_fd, int down_fd, std::shared_ptr<std::string> why)
    : heart_fd_{heart_fd}, down_fd_{down_fd}, why_{std::move(why)} {}

node_keeper::~node_keeper() {
  if (!down_) {
    if (why_ && why_->empty()) *why_ = "the node's keeper process ended";
    signal_down();
  }
}

void node_keeper::init() {
  if (heart_fd_ >= 0) send_after(1000ms, beat{});
}

void node_keeper::handle(message& m) {
  if (m.is<beat>()) {
    if (down_) return;  // the tree is gone: heart must see the node as dead, not beating
    char b = 'b';
    [[maybe_unused]] auto n = ::write(heart_fd_, &b, 1);  // non-blocking: a full pipe skips a beat
    send_after(1000ms, beat{});
  } else if (auto* w = m.get_if<watch_root>()) {
    root_ = w->root;
    monitor(root_);  // a root already gone gives a `down` at once (noproc)
  } else if (auto* d = m.get_if<down>()) {
    if (d->process != root_ || down_) return;
    if (why_) *why_ = "the engine's root supervisor exited: " + d->reason.to_string();
    signal_down();
    stop(exit_reason::other("the engine's root supervisor exited"));
  }
}

void node_keeper::signal_down() {
  down_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(down_fd_, &one, sizeof one);
}

}  // namespace respawn::node

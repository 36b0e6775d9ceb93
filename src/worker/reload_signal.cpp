// reload_signal.cpp: hot code upgrade on SIGHUP (see reload_on_sighup in respawn/worker_pool.hpp).
// A signal handler may only do async-signal-safe things, so it writes to an eventfd; a thread
// waits on that eventfd (and on a second one that says "stop") and sends the pool manager
// reload_workers, the same message an operator's call sends.
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "respawn/runtime.hpp"
#include "respawn/worker_pool.hpp"

namespace respawn {

namespace {
std::atomic<int> hup_fd{-1};

void on_sighup(int) {
  int fd = hup_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
  }
}
}  // namespace

struct reload_on_sighup::state {
  int hup = -1;
  int stop = -1;
  struct sigaction previous {};
  std::thread thread;
};

reload_on_sighup::reload_on_sighup(runtime& rt, respawn::pid manager) : state_{std::make_unique<state>()} {
  state_->hup = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  state_->stop = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (state_->hup < 0 || state_->stop < 0) throw std::system_error{errno, std::generic_category(), "eventfd"};
  int expected = -1;
  if (!hup_fd.compare_exchange_strong(expected, state_->hup)) {
    ::close(state_->hup);
    ::close(state_->stop);
    throw std::logic_error{"reload_on_sighup: one is already installed"};
  }
  struct sigaction sa {};
  sa.sa_handler = on_sighup;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGHUP, &sa, &state_->previous);
  state_->thread = std::thread{[&rt, manager, s = state_.get()] {
    pollfd fds[2] = {{s->hup, POLLIN, 0}, {s->stop, POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if ((fds[1].revents & POLLIN) != 0) return;
      std::uint64_t count = 0;
      if (::read(s->hup, &count, sizeof count) == sizeof count && count > 0) {
        rt.log("SIGHUP: reloading workers (hot code upgrade)");
        rt.send(manager, reload_workers{});
      }
    }
  }};
}

reload_on_sighup::~reload_on_sighup() {
  ::sigaction(SIGHUP, &state_->previous, nullptr);
  hup_fd.store(-1);
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(state_->stop, &one, sizeof one);
  state_->thread.join();
  ::close(state_->hup);
  ::close(state_->stop);
}

}  // namespace respawn

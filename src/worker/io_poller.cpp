// io_poller.cpp: see io_poller.hpp.
#include "io_poller.hpp"

#include <chrono>

#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <future>
#include <system_error>

#include "respawn/runtime.hpp"
#include "worker_spawn.hpp"

namespace respawn::detail {

namespace {

constexpr std::uint64_t pidfd_bit = 1;

int pidfd_signal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// Reaps the worker behind `pidfd` if it has ended; returns its status or -1 if it still runs.
int try_reap(int pidfd, bool block) {
  siginfo_t info{};
  int flags = WEXITED | (block ? 0 : WNOHANG);
  for (;;) {
    int rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, flags);
    if (rc == 0) break;
    if (errno == EINTR) continue;
    return 0;  // ECHILD: reaped already (cannot happen: only we wait on it); treat as gone
  }
  if (info.si_pid == 0) return -1;  // WNOHANG and still running
  if (info.si_code == CLD_EXITED) return (info.si_status & 0xff) << 8;  // as W_EXITCODE
  return info.si_status & 0x7f;  // killed or dumped: the signal, as WTERMSIG reads it
}

}  // namespace

struct io_poller::command {
  spawn_request request;
  respawn::pid owner;
  // The port, or why there is none. Not an exception_ptr: an exception object released on
  // another thread than the one that caught it is a race ThreadSanitizer cannot see through
  // (the refcount lives in the uninstrumented runtime library).
  std::promise<std::pair<std::shared_ptr<port>, std::string>> result;
};

// --- port ---

bool port::write(std::string_view bytes) {
  std::lock_guard lock{mutex_};
  if (sock_ < 0) return false;
  if (out_.empty()) {
    while (!bytes.empty()) {
      ssize_t n = ::send(sock_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return true;  // a broken socket: the poller reports the close and the exit
    }
  }
  if (!bytes.empty()) {
    out_.append(bytes);
    poller_->arm_output(*this);
  }
  return true;
}

bool port::signal(int sig) {
  std::lock_guard lock{mutex_};
  if (reaped_ || pidfd_ < 0) return false;
  return pidfd_signal(pidfd_, sig) == 0;
}

void port::close_socket() {
  std::lock_guard lock{mutex_};
  if (sock_ < 0) return;
  ::epoll_ctl(poller_->epoll_, EPOLL_CTL_DEL, sock_, nullptr);
  ::close(sock_);
  sock_ = -1;
  out_.clear();
}

// --- io_poller ---


io_poller& poller_of(runtime& rt) {
  return rt.extension<io_poller>([&rt] { return std::make_shared<io_poller>(rt); });
}

io_poller::io_poller(runtime& rt) : rt_{rt} {
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) throw std::system_error{errno, std::generic_category(), "epoll_create1"};
  event_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_ < 0) {
    int err = errno;
    ::close(epoll_);
    throw std::system_error{err, std::generic_category(), "eventfd"};
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, event_, &ev);
  thread_ = std::thread{[this] { run(); }};
}

io_poller::~io_poller() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  wake();
  thread_.join();
  ::close(event_);
  ::close(epoll_);
}

void io_poller::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(event_, &one, sizeof one);
}

std::shared_ptr<port> io_poller::spawn(const spawn_request& request, respawn::pid owner) {
  command c{request, owner, {}};
  auto result = c.result.get_future();
  {
    std::lock_guard lock{mutex_};
    if (stopping_) throw std::runtime_error{"io_poller is stopping"};
    commands_.push_back(&c);
  }
  wake();
  auto [p, error] = result.get();
  if (!p) throw std::runtime_error{error};
  return p;
}

void io_poller::execute(command& c) {
  try {
    spawned_process s = spawn_process(c.request.binary, c.request.args);
    auto p = std::make_shared<port>();
    p->sock_ = s.sock;
    p->pidfd_ = s.pidfd;
    p->os_pid_ = s.pid;
    p->owner_ = c.owner;
    p->poller_ = this;
    {
      std::lock_guard lock{mutex_};
      p->key_ = next_key_++;
      ports_.emplace(p->key_, p);
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = p->key_ << 1;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, p->sock_, &ev);
    ev.events = EPOLLIN;
    ev.data.u64 = (p->key_ << 1) | pidfd_bit;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, p->pidfd_, &ev);
    c.result.set_value({std::move(p), {}});
  } catch (const std::exception& e) {
    c.result.set_value({nullptr, e.what()});
  }
}

void io_poller::release(const std::shared_ptr<port>& p) {
  p->close_socket();
  bool reaped = false;
  {
    std::lock_guard lock{p->mutex_};
    p->owner_ = respawn::pid{};
    if (!p->reaped_) {
      pidfd_signal(p->pidfd_, SIGKILL);
    } else {
      reaped = true;
    }
  }
  if (reaped) {
    std::lock_guard lock{mutex_};
    ports_.erase(p->key_);
  }
  // Otherwise the pidfd fires once the kill lands, and on_pidfd reaps and forgets the port.
}

void io_poller::arm_output(port& p) {
  if (p.want_out_ || p.sock_ < 0) return;
  p.want_out_ = true;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLOUT;
  if (!p.reading_) ev.events = EPOLLOUT;
  ev.data.u64 = p.key_ << 1;
  ::epoll_ctl(epoll_, EPOLL_CTL_MOD, p.sock_, &ev);
}

void io_poller::on_socket(port& p, std::uint32_t events, bool drain) {
  std::vector<wire::frame> frames;
  bool closed = false;
  std::string malformed;
  respawn::pid owner;
  {
    std::lock_guard lock{p.mutex_};
    if (p.sock_ < 0) return;
    owner = p.owner_;
    if ((events & EPOLLOUT) != 0 && !p.out_.empty()) {
      while (!p.out_.empty()) {
        ssize_t n = ::send(p.sock_, p.out_.data(), p.out_.size(), MSG_NOSIGNAL);
        if (n > 0) {
          p.out_.erase(0, static_cast<std::size_t>(n));
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else {
          if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) p.out_.clear();
          break;
        }
      }
      if (p.out_.empty()) {
        p.want_out_ = false;
        epoll_event ev{};
        ev.events = p.reading_ ? (EPOLLIN | EPOLLRDHUP) : 0u;
        ev.data.u64 = p.key_ << 1;
        ::epoll_ctl(epoll_, EPOLL_CTL_MOD, p.sock_, &ev);
      }
    }
    if (p.reading_ && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
      char buffer[64 * 1024];
      std::size_t read_total = 0;
      for (;;) {
        if (!drain && read_total >= read_budget_bytes) break;  // the rest on the next wake-up
        ssize_t n = ::read(p.sock_, buffer, sizeof buffer);
        if (n > 0) {
          read_total += static_cast<std::size_t>(n);
          try {
            p.decoder_.feed(std::string_view{buffer, static_cast<std::size_t>(n)}, frames);
          } catch (const wire::malformed_frame& e) {
            malformed = e.what();
            break;
          }
          if (static_cast<std::size_t>(n) < sizeof buffer) break;  // drained, most likely
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        closed = true;  // EOF or a socket error
        break;
      }
      if (read_total > 0) {
        // Heard from: the owner judges heartbeats by this, not by when it got round to the frames.
        p.last_read_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
      }
      if (closed || !malformed.empty()) {
        // Stop reading: nothing more this worker says can be trusted or will come.
        p.reading_ = false;
        epoll_event ev{};
        ev.events = p.want_out_ ? EPOLLOUT : 0u;
        ev.data.u64 = p.key_ << 1;
        ::epoll_ctl(epoll_, EPOLL_CTL_MOD, p.sock_, &ev);
      }
    }
  }
  if (!owner) return;
  if (!frames.empty()) rt_.send(owner, port_frames{std::move(frames)});
  if (!malformed.empty()) {
    rt_.send(owner, port_malformed{std::move(malformed)});
  } else if (closed) {
    rt_.send(owner, port_closed{});
  }
}

void io_poller::on_pidfd(port& p) {
  respawn::pid owner;
  int status = 0;
  {
    std::lock_guard lock{p.mutex_};
    if (p.reaped_) return;
    status = try_reap(p.pidfd_, false);
    if (status < 0) return;  // spurious
    p.reaped_ = true;
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, p.pidfd_, nullptr);
    ::close(p.pidfd_);
    p.pidfd_ = -1;
    owner = p.owner_;
  }
  if (owner) {
    // Whatever the worker wrote before it ended is read first, so that results are not lost
    // behind the exit (the socket's data and the pidfd can fire in either order).
    on_socket(p, EPOLLIN, true);
    rt_.send(owner, port_exited{status});
  } else {
    std::lock_guard lock{mutex_};
    ports_.erase(p.key_);
  }
}

void io_poller::run() {
  epoll_event events[64];
  for (;;) {
    int n = ::epoll_wait(epoll_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      std::uint64_t data = events[i].data.u64;
      if (data == 0) {
        std::uint64_t count = 0;
        [[maybe_unused]] auto r = ::read(event_, &count, sizeof count);
        std::vector<command*> commands;
        bool stop = false;
        {
          std::lock_guard lock{mutex_};
          commands.swap(commands_);
          stop = stopping_;
        }
        for (command* c : commands) execute(*c);
        if (stop) goto stopping;
        continue;
      }
      std::shared_ptr<port> p;
      {
        std::lock_guard lock{mutex_};
        auto it = ports_.find(data >> 1);
        if (it == ports_.end()) continue;
        p = it->second;
      }
      if ((data & pidfd_bit) != 0) {
        on_pidfd(*p);
      } else {
        on_socket(*p, events[i].events);
      }
    }
  }
stopping:
  // Nobody holds the poller any more: kill and reap every worker that is left.
  std::unordered_map<std::uint64_t, std::shared_ptr<port>> left;
  {
    std::lock_guard lock{mutex_};
    left.swap(ports_);
  }
  for (auto& [key, p] : left) {
    std::lock_guard lock{p->mutex_};
    if (p->sock_ >= 0) {
      ::close(p->sock_);
      p->sock_ = -1;
    }
    if (!p->reaped_) {
      pidfd_signal(p->pidfd_, SIGKILL);
      try_reap(p->pidfd_, true);
      p->reaped_ = true;
      ::close(p->pidfd_);
      p->pidfd_ = -1;
    }
  }
}

}  // namespace respawn::detail

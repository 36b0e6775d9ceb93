// Send storms with real threads: many threads (and many processes) send to one process and to
// many processes at once. Every message arrives exactly once, messages from each sender arrive in
// the order sent, and a mailbox bound refuses only sends past a bound that is really reached.
// Part of runtime_concurrency_tests, which also runs under ThreadSanitizer.
#include <latch>
#include <thread>

#include "harness.hpp"

namespace respawn::test {
namespace {

constexpr unsigned sender_threads = 8;
constexpr std::uint32_t per_thread = 20'000;

struct tagged {
  std::uint32_t sender;
  std::uint32_t seq;
};
struct get_counts {};
struct counts {
  std::uint64_t total = 0;
  std::uint64_t out_of_order = 0;
};

// Counts what it receives and checks each sender's sequence numbers come in order.
class counter : public process {
 public:
  void handle(message& m) override {
    if (auto* t = m.get_if<tagged>()) {
      if (t->sender >= next_.size()) next_.resize(t->sender + 1, 0);
      if (t->seq != next_[t->sender]) ++counts_.out_of_order;
      next_[t->sender] = t->seq + 1;
      ++counts_.total;
    } else if (m.is<get_counts>()) {
      reply(m, counts_);
    }
  }

 private:
  std::vector<std::uint32_t> next_;
  counts counts_;
};

runtime_config threaded() {
  runtime_config c;
  c.scheduler_threads = 2;
  return c;
}

// Runs `body(thread_index)` on `n` threads released together.
template <class F>
void on_threads(unsigned n, F body) {
  std::latch go{static_cast<std::ptrdiff_t>(n)};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < n; ++t) {
    threads.emplace_back([&, t] {
      go.arrive_and_wait();
      body(t);
    });
  }
  for (auto& th : threads) th.join();
}

TEST(SendStorm, EveryMessageFromManyThreadsToOneProcessArrivesOnceAndInOrderPerSender) {
  runtime rt{threaded()};
  pid sink = rt.spawn<counter>({});
  std::atomic<std::uint64_t> refused{0};

  on_threads(sender_threads, [&](unsigned t) {
    for (std::uint32_t i = 0; i < per_thread; ++i) {
      if (rt.send(sink, tagged{t, i}) != send_result::ok) refused.fetch_add(1);
    }
  });
  // Sent after every storm message (the threads are joined), so answered after them all.
  result<counts> r = rt.call<counts>(sink, get_counts{}, 60s);

  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(refused.load(), 0u);
  EXPECT_EQ(r.value().total, std::uint64_t{sender_threads} * per_thread);
  EXPECT_EQ(r.value().out_of_order, 0u);
}

TEST(SendStorm, EveryMessageFromManyThreadsToManyProcessesArrivesOnce) {
  constexpr std::uint32_t sinks = 50;  // divides per_thread, so every target gets as many
  runtime rt{threaded()};
  std::vector<pid> targets;
  for (std::uint32_t i = 0; i < sinks; ++i) targets.push_back(rt.spawn<counter>({}));

  on_threads(sender_threads, [&](unsigned t) {
    for (std::uint32_t i = 0; i < per_thread; ++i) {
      // Each thread numbers its messages per target, so order is checked per (sender, target).
      rt.send(targets[(i + t) % sinks], tagged{t, i / sinks});
    }
  });

  std::uint64_t total = 0;
  for (pid p : targets) {
    result<counts> r = rt.call<counts>(p, get_counts{}, 60s);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r.value().total, std::uint64_t{sender_threads} * per_thread / sinks);
    EXPECT_EQ(r.value().out_of_order, 0u);
    total += r.value().total;
  }
  EXPECT_EQ(total, std::uint64_t{sender_threads} * per_thread);
}

struct fire {
  pid to;
  std::uint32_t sender;
  std::uint32_t n;
};
struct fired {};

// Sends `n` tagged messages when told, then tells its requester.
class firing_process : public process {
 public:
  void handle(message& m) override {
    if (auto* f = m.get_if<fire>()) {
      for (std::uint32_t i = 0; i < f->n; ++i) send(f->to, tagged{f->sender, i});
      send(m.sender(), fired{});
    }
  }
};

TEST(SendStorm, EveryMessageFromManyProcessesToOneProcessArrivesOnceAndInOrder) {
  runtime rt{threaded()};
  scoped_process observer{rt};
  pid sink = rt.spawn<counter>({});
  std::vector<pid> senders;
  for (std::uint32_t s = 0; s < sender_threads; ++s) senders.push_back(rt.spawn<firing_process>({}));

  for (std::uint32_t s = 0; s < sender_threads; ++s) observer.send(senders[s], fire{sink, s, per_thread});
  for (std::uint32_t s = 0; s < sender_threads; ++s) ASSERT_TRUE(observer.receive<fired>(60s));
  result<counts> r = rt.call<counts>(sink, get_counts{}, 60s);

  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r.value().total, std::uint64_t{sender_threads} * per_thread);
  EXPECT_EQ(r.value().out_of_order, 0u);
}

// Asks a bounded sink for its counts through `observer`, retrying while its mailbox is full (a
// call's request would be dropped on a full mailbox and the call could only time out).
std::optional<counts> ask_bounded(scoped_process& observer, pid sink) {
  auto deadline = std::chrono::steady_clock::now() + 60s;
  send_result asked = send_result::mailbox_full;
  while (asked == send_result::mailbox_full && std::chrono::steady_clock::now() < deadline) {
    asked = observer.send(sink, get_counts{});
    if (asked == send_result::mailbox_full) std::this_thread::yield();
  }
  if (asked != send_result::ok) return std::nullopt;
  return observer.receive<counts>(60s);
}

TEST(SendStorm, ABoundedMailboxTakesExactlyTheSendsItAccepted) {
  runtime rt{threaded()};
  spawn_options options;
  options.mailbox_bound = 64;
  pid sink = rt.spawn<counter>(options);
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused{0};

  on_threads(sender_threads, [&](unsigned t) {
    for (std::uint32_t i = 0; i < per_thread / 4; ++i) {
      send_result s = rt.send(sink, tagged{t, 0});
      (s == send_result::ok ? accepted : refused).fetch_add(1);
    }
  });
  scoped_process observer{rt};
  std::optional<counts> r = ask_bounded(observer, sink);

  ASSERT_TRUE(r);
  EXPECT_EQ(accepted.load() + refused.load(), std::uint64_t{sender_threads} * (per_thread / 4));
  EXPECT_EQ(r->total, accepted.load());
}

TEST(SendStorm, AMailboxBoundThatIsNeverReachedRefusesNothing) {
  runtime rt{threaded()};
  spawn_options options;
  options.mailbox_bound = sender_threads * per_thread + 1;
  pid sink = rt.spawn<counter>(options);
  std::atomic<std::uint64_t> refused{0};

  on_threads(sender_threads, [&](unsigned t) {
    for (std::uint32_t i = 0; i < per_thread; ++i) {
      if (rt.send(sink, tagged{t, i}) != send_result::ok) refused.fetch_add(1);
    }
  });
  scoped_process observer{rt};
  std::optional<counts> r = ask_bounded(observer, sink);

  ASSERT_TRUE(r);
  EXPECT_EQ(refused.load(), 0u) << "sends refused although the mailbox never held more than the bound";
  EXPECT_EQ(r->total, std::uint64_t{sender_threads} * per_thread);
}

}  // namespace
}  // namespace respawn::test

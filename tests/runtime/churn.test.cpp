// Churn with real threads: several processes at once spawn children, link and monitor them (and
// each other's), and end them with every reason, while the test thread takes introspection
// snapshots of the whole system. Checks that every monitor yields exactly one down, that the
// trapping churners survive everything, that no child is left behind, and (under TSan) that none
// of it races.
#include <set>

#include "harness.hpp"

namespace respawn::test {
namespace {

struct churn {
  std::uint32_t rounds;
  pid neighbour;  // another churner, whose children this one also links to
};
struct churn_done {
  pid churner;
  std::uint64_t downs;
  std::uint64_t exit_signals;
};
struct child_spawned {
  pid child;
};

// For each round: spawn a child (monitored; linked every other round), monitor it once more,
// link to the neighbour's latest child, then end the child with one of five reasons. Spawned
// trapping exits, so that nothing it is linked to can take it down; reports once every monitor
// has fired.
class churner : public process {
 public:
  churner(pid observer, std::shared_ptr<live_counter> children)
      : observer_{observer}, children_{std::move(children)} {}

  void handle(message& m) override {
    if (auto* c = m.get_if<churn>()) {
      rounds_ = c->rounds;
      neighbour_ = c->neighbour;
      for (std::uint32_t i = 0; i < rounds_; ++i) round(i);
    } else if (auto* s = m.get_if<child_spawned>()) {
      link(s->child);  // may already be dead: then an exit_signal noproc
    } else if (m.is<down>()) {
      ++downs_;
      report_if_done();
    } else if (m.is<exit_signal>()) {
      ++exit_signals_;
    } else if (m.is<ping>()) {
      reply(m, churn_done{self(), downs_, exit_signals_});
    }
  }

 private:
  void round(std::uint32_t i) {
    spawn_options options;
    options.monitor = true;
    options.link = i % 2 == 0;
    spawned child = spawn<counted_puppet>(options, self(), children_);
    monitor(child.pid);
    send(neighbour_, child_spawned{child.pid});
    switch (i % 5) {
      case 0:
        send(child.pid, die_with{exit_reason::normal()});
        break;
      case 1:
        exit(child.pid, exit_reason::shutdown());
        break;
      case 2:
        send(child.pid, throw_runtime_error{"churn"});
        break;
      case 3:
        exit(child.pid, exit_reason::kill());
        break;
      case 4:
        send(child.pid, die_with{exit_reason::other("churned")});
        break;
    }
  }

  void report_if_done() {
    if (downs_ == 2 * std::uint64_t{rounds_}) send(observer_, churn_done{self(), downs_, exit_signals_});
  }

  pid observer_;
  std::shared_ptr<live_counter> children_;
  std::uint32_t rounds_ = 0;
  pid neighbour_;
  std::uint64_t downs_ = 0;
  std::uint64_t exit_signals_ = 0;
};

runtime_config threaded() {
  runtime_config c;
  c.scheduler_threads = 2;
  return c;
}

void expect_sane(const process_info& info) {
  EXPECT_TRUE(info.pid);
  for (pid l : info.links) {
    EXPECT_TRUE(l);
    EXPECT_NE(l, info.pid);
  }
  for (pid m : info.monitors) EXPECT_TRUE(m);
  for (pid m : info.monitored_by) EXPECT_TRUE(m);
  EXPECT_LT(info.mailbox_length, 1'000'000u) << "mailbox length wrapped around";
}

TEST(Churn, ConcurrentSpawnExitLinkAndMonitorFromSeveralProcessesLeavesNothingBehind) {
  constexpr std::uint32_t churners = 4;
  constexpr std::uint32_t rounds = 2'000;
  runtime rt{threaded()};
  scoped_process observer{rt};
  auto children = std::make_shared<live_counter>();
  std::vector<pid> ps;
  for (std::uint32_t i = 0; i < churners; ++i) ps.push_back(rt.spawn<churner>(trapping(), observer.self(), children));
  std::size_t baseline = 1 + churners;

  for (std::uint32_t i = 0; i < churners; ++i) rt.send(ps[i], churn{rounds, ps[(i + 1) % churners]});

  // Introspect while it churns, until every churner has reported.
  std::set<pid> done;
  std::size_t snapshots = 0;
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (done.size() < churners && std::chrono::steady_clock::now() < deadline) {
    for (const process_info& info : rt.processes()) expect_sane(info);
    ++snapshots;
    if (auto d = observer.receive<churn_done>(1ms)) {
      EXPECT_EQ(d->downs, 2u * rounds);
      done.insert(d->churner);
    }
  }
  ASSERT_EQ(done.size(), churners) << "churners did not finish in time";
  EXPECT_GT(snapshots, 0u);

  ASSERT_TRUE(children->wait_for_none(60s)) << children->live() << " children never ended";
  EXPECT_EQ(rt.process_count(), baseline);
  for (pid p : ps) {
    // Every child has ended, so every signal it sent is already queued; a call is answered after
    // them, so the churner's state is final once it returns.
    result<churn_done> final_counts = rt.call<churn_done>(p, ping{}, 60s);
    ASSERT_TRUE(final_counts.ok()) << "a trapping churner died: " << final_counts.error().message();
    EXPECT_EQ(final_counts.value().downs, 2u * rounds) << "a monitor fired twice";
    process_info info = *rt.info(p);
    EXPECT_TRUE(info.monitors.empty());
    EXPECT_TRUE(info.links.empty()) << info.links.size() << " links to dead children remain";
  }
}

TEST(Churn, IntrospectionOfASingleProcessWhileItIsBusyIsConsistent) {
  runtime rt{threaded()};
  scoped_process observer{rt};
  auto children = std::make_shared<live_counter>();
  pid a = rt.spawn<churner>(trapping(), observer.self(), children);
  pid b = rt.spawn<churner>(trapping(), observer.self(), children);
  rt.send(a, churn{1'000, b});
  rt.send(b, churn{1'000, a});

  int reported = 0;
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (reported < 2 && std::chrono::steady_clock::now() < deadline) {
    for (pid p : {a, b}) {
      if (auto info = rt.info(p)) {
        expect_sane(*info);
        EXPECT_TRUE(info->trap_exit);
      }
    }
    if (observer.receive<churn_done>(1ms)) ++reported;
  }
  EXPECT_EQ(reported, 2);
  EXPECT_TRUE(children->wait_for_none(60s));
}

}  // namespace
}  // namespace respawn::test

// 100,000 processes that throw (half in init, half in a handler) leave nothing behind: every
// process object is destroyed (counted), process_count() is back to its baseline, and the
// runtime still serves. Memory is ASan's to check: this binary also runs under ASan+UBSan, whose
// leak check fails the run if any process, message or exit reason leaked.
#include "harness.hpp"

namespace respawn::test {
namespace {

struct throw_now {};

class doomed : public process {
 public:
  doomed(std::shared_ptr<live_counter> counter, bool in_init) : counter_{std::move(counter)}, in_init_{in_init} {
    counter_->add();
  }
  ~doomed() override { counter_->remove(); }
  void init() override {
    if (in_init_) throw std::runtime_error{"init"};
  }
  void handle(message& m) override {
    if (m.is<throw_now>()) throw std::runtime_error{"handler"};
  }

 private:
  std::shared_ptr<live_counter> counter_;
  bool in_init_;
};

TEST(NoLeak, AHundredThousandThrowingProcessesLeaveNoProcessBehindAndTheRuntimeStillServes) {
  constexpr int processes = 100'000;
  runtime_config config;
  config.scheduler_threads = 2;
  runtime rt{config};
  scoped_process observer{rt};
  pid server = rt.spawn<puppet>({}, observer.self());
  // Counted before any call: a call's waiter process may outlive the call's return by a moment.
  std::size_t baseline = rt.process_count();
  auto counter = std::make_shared<live_counter>();

  for (int i = 0; i < processes; ++i) {
    bool in_init = i % 2 == 0;
    pid p = rt.spawn<doomed>({}, counter, in_init);
    if (!in_init) rt.send(p, throw_now{});
  }

  ASSERT_TRUE(counter->wait_for_none(300s)) << counter->live() << " processes never ended";
  EXPECT_EQ(rt.process_count(), baseline);
  EXPECT_EQ(rt.processes().size(), baseline);
  result<pong> r = rt.call<pong>(server, ping{}, 10s);
  EXPECT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(rt.alive(server));
}

TEST(NoLeak, ThrowingProcessesReportTheirErrorToMonitorsUnderLoad) {
  constexpr int processes = 2'000;
  runtime_config config;
  config.scheduler_threads = 2;
  runtime rt{config};
  scoped_process observer{rt};
  auto counter = std::make_shared<live_counter>();
  std::vector<pid> pids;
  for (int i = 0; i < processes; ++i) {
    pid p = rt.spawn<doomed>({}, counter, false);
    observer.monitor(p);
    pids.push_back(p);
  }
  for (pid p : pids) rt.send(p, throw_now{});

  int errors = 0;
  for (int i = 0; i < processes; ++i) {
    auto d = observer.receive<down>(60s);
    ASSERT_TRUE(d) << "only " << i << " downs arrived";
    if (d->reason == exit_reason::error("std::runtime_error", "handler")) ++errors;
  }
  EXPECT_EQ(errors, processes);
  EXPECT_TRUE(counter->wait_for_none(60s));
}

}  // namespace
}  // namespace respawn::test

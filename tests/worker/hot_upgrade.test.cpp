// Hot code upgrade (seed 002: "hot code update via scp"): the worker binary on disk is replaced
// by a build whose answers differ, a reload is asked for (a message, or SIGHUP), and from then on
// tasks run on the new code, while the task that was running on an old worker finishes there and
// nothing submitted around the reload is dropped.
#include <signal.h>

#include <filesystem>
#include <map>

#include "pool_harness.hpp"

namespace {

using namespace pool_test;
using respawn::task_outcome;
using respawn::task_status;
namespace fs = std::filesystem;

class hot_upgrade : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("respawn-hot-upgrade-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    binary_ = dir_ / "worker";
    fs::copy_file(worker_v1, binary_, fs::copy_options::overwrite_existing);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // What an operator does: write the new build next to the old one, rename it over (the old
  // file stays alive for the workers that run it).
  void install_v2() {
    fs::copy_file(worker_v2, dir_ / "worker.new", fs::copy_options::overwrite_existing);
    fs::rename(dir_ / "worker.new", binary_);
  }

  std::string answer(respawn::pid manager, std::uint64_t id) {
    me.send(manager, respawn::submit_task{task(id, "version", "{}", me.self())});
    auto o = me.receive<task_outcome>(patience);
    EXPECT_TRUE(o.has_value());
    return o ? o->result : "";
  }

  void run_upgrade(const std::function<void(respawn::pid manager)>& ask_for_reload) {
    respawn::worker_pool_config c;
    c.min_workers = 2;
    c.max_workers = 2;
    c.max_in_flight = 1;
    c.worker.binary = binary_.string();
    auto h = respawn::start_worker_pool(rt, c);
    me.monitor(h.supervisor);
    EXPECT_EQ(answer(h.manager, 1), "1");

    // A long task keeps one old worker busy across the upgrade.
    me.send(h.manager, respawn::submit_task{task(2, "sleep", R"({"ms":1000})", me.self())});
    ASSERT_TRUE(eventually([&] {
      auto s = rt.call<respawn::pool_stats>(h.manager, respawn::pool_stats_request{}, patience);
      return s.ok() && s.value().in_flight == 1;
    }));
    install_v2();
    ask_for_reload(h.manager);
    // Tasks submitted right after the reload: every one is answered, by either build.
    std::vector<respawn::task_request> around;
    for (std::uint64_t i = 100; i < 150; ++i) around.push_back(task(i, "version", "{}", me.self()));
    me.send(h.manager, respawn::submit_tasks{std::move(around)});
    std::map<std::uint64_t, task_outcome> got;
    while (got.size() < 51) {
      auto o = me.receive<task_outcome>(patience);
      ASSERT_TRUE(o.has_value()) << "dropped: only " << got.size() << " of 51 answered";
      got.emplace(o->id, *o);
    }
    EXPECT_EQ(got[2].status, task_status::succeeded) << "the busy old worker must finish its task: " << got[2].error;
    for (std::uint64_t i = 100; i < 150; ++i) {
      EXPECT_EQ(got[i].status, task_status::succeeded) << got[i].error;
      EXPECT_TRUE(got[i].result == "1" || got[i].result == "2") << got[i].result;
    }
    // Once the old generation is gone, only the new code answers.
    ASSERT_TRUE(eventually([&] {
      auto s = rt.call<respawn::pool_stats>(h.manager, respawn::pool_stats_request{}, patience);
      return s.ok() && s.value().retiring == 0 && s.value().workers == 2 && s.value().generation == 1;
    }));
    for (std::uint64_t i = 200; i < 210; ++i) EXPECT_EQ(answer(h.manager, i), "2");
    auto s = rt.call<respawn::pool_stats>(h.manager, respawn::pool_stats_request{}, patience);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s.value().workers_died, 0u) << "an upgrade kills no worker";
    rt.exit(h.supervisor, respawn::exit_reason::shutdown());
    auto d = me.receive<respawn::down>(patience);
    ASSERT_TRUE(d.has_value());
  }

  fs::path dir_;
  fs::path binary_;
  respawn::runtime rt{config()};
  respawn::scoped_process me{rt};
};

TEST_F(hot_upgrade, reload_message_switches_to_the_new_build_without_dropping_anything) {
  run_upgrade([&](respawn::pid manager) { me.send(manager, respawn::reload_workers{}); });
}

TEST_F(hot_upgrade, sighup_asks_for_the_reload) {
  std::unique_ptr<respawn::reload_on_sighup> on_hup;
  run_upgrade([&](respawn::pid manager) {
    on_hup = std::make_unique<respawn::reload_on_sighup>(rt, manager);
    ASSERT_EQ(::raise(SIGHUP), 0);
  });
}

}  // namespace

// Tests of the to-do example: that its supervision tree and links are wired so that killing the
// cache (or an error inside it) takes every server down with it and leaves no orphan process,
// that the root supervisor then restarts the cache under its name (whereis reaches the new one,
// and the process count returns to what it was once the lists are asked for again), that the
// database and its workers survive that, that a database worker's crash restarts the whole pool,
// and that the lists survive all of it, on disk. Proven by counting and listing the live
// processes before and after, in deterministic mode (no waiting at all), and once more on
// scheduler threads, waiting on monitors and calls with deadlines, never on sleeps.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <respawn/respawn.hpp>

#include "cache.hpp"
#include "database.hpp"
#include "list_file.hpp"
#include "server.hpp"
#include "system.hpp"

namespace {

using namespace std::chrono_literals;
using respawn::exit_reason;
using respawn::pid;

constexpr std::size_t pool_size = 3;

// A fresh data folder per test, removed at the end.
class data_folder {
 public:
  data_folder() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("respawn-todo-test-" + std::to_string(std::random_device{}()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
  }
  ~data_folder() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

template <class T>
T value_of(respawn::result<T> r) {
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message());
  if (!r) throw std::runtime_error{"call failed"};
  return std::move(r).value();
}

std::set<pid> live_pids(respawn::runtime& rt) {
  std::set<pid> out;
  for (const respawn::process_info& p : rt.processes()) out.insert(p.pid);
  return out;
}

std::set<pid> links_of(respawn::runtime& rt, pid p) {
  auto info = rt.info(p);
  if (!info) return {};
  return {info->links.begin(), info->links.end()};
}

// root supervisor + database + its workers + cache + one server per list.
constexpr std::size_t full_count = 1 + 1 + pool_size + 1 + 3;

// The runtime's log lines (crash reports), kept for the tests to read. thread-safe
struct log_lines {
  void add(std::string_view line) {
    std::lock_guard lock{mutex};
    lines.emplace_back(line);
  }
  std::vector<std::string> crash_reports() {
    std::lock_guard lock{mutex};
    std::vector<std::string> out;
    for (const auto& l : lines) {
      if (l.starts_with("crash report:")) out.push_back(l);
    }
    return out;
  }
  std::mutex mutex;
  std::vector<std::string> lines;
};

respawn::runtime_config logging_to(log_lines& log, respawn::runtime_config config) {
  config.log = [&log](std::string_view line) { log.add(line); };
  return config;
}

// The system of the example, started in a runtime under its root supervisor, with three lists
// filled in.
struct todo_system {
  explicit todo_system(respawn::runtime_config config) : rt{logging_to(log, config)} {
    root = todo::start_system(rt, folder.path(), pool_size);
    // start_system returns once both children have started (an acknowledged start).
    settle();
    database = rt.whereis(todo::database_name);
    cache = rt.whereis(todo::cache_name);
    EXPECT_TRUE(database);
    EXPECT_TRUE(cache);
    for (std::string list : {"alice", "bob", "shopping"}) {
      pid server = value_of(todo::server_process(rt, list));
      servers[list] = server;
      todo::add_entry(rt, server, {"2024-05-01", list + "'s first"});
      todo::add_entry(rt, server, {"2024-05-01", list + "'s second"});
      todo::add_entry(rt, server, {"2024-05-02", list + "'s next day"});
    }
    // A read after the casts from the same thread sees them all, and by then every store has
    // been sent to the database.
    for (const auto& [list, server] : servers) {
      EXPECT_EQ(value_of(todo::entries(rt, server, "2024-05-01")).size(), 2u) << list;
    }
    settle();
  }

  // Deterministic mode: run until nothing is runnable (the scoped processes that entries() used
  // have ended, the workers have written their files). Threaded: nothing to do.
  void settle() {
    if (rt.deterministic()) rt.run_until_idle();
  }

  std::set<pid> server_pids() const {
    std::set<pid> out;
    for (const auto& [list, server] : servers) out.insert(server);
    return out;
  }

  data_folder folder;  // declared first: removed after the runtime has ended every process
  log_lines log;       // declared before rt: the runtime logs into it until it is gone
  respawn::runtime rt;
  pid root;
  pid database;
  pid cache;
  std::map<std::string, pid> servers;
};

respawn::runtime_config deterministic() {
  respawn::runtime_config config;
  config.deterministic = true;
  return config;
}

respawn::runtime_config threaded() {
  respawn::runtime_config config;
  config.scheduler_threads = 2;
  return config;
}

// The database's links but the root supervisor's: its workers.
std::set<pid> workers_of(todo_system& sys) {
  std::set<pid> workers = links_of(sys.rt, sys.database);
  workers.erase(sys.root);
  return workers;
}

TEST(TodoSystem, IsWiredWithASupervisorOverDatabaseAndCacheAndLinksBelowThem) {
  todo_system sys{deterministic()};
  EXPECT_EQ(sys.rt.whereis(todo::system_name), sys.root);
  EXPECT_EQ(links_of(sys.rt, sys.root), (std::set<pid>{sys.database, sys.cache}));
  std::set<pid> workers = workers_of(sys);
  ASSERT_EQ(workers.size(), pool_size);
  std::set<pid> cache_links = sys.server_pids();
  cache_links.insert(sys.root);
  EXPECT_EQ(links_of(sys.rt, sys.cache), cache_links);
  for (pid server : sys.server_pids()) EXPECT_EQ(links_of(sys.rt, server), std::set<pid>{sys.cache});
  for (pid worker : workers) EXPECT_EQ(links_of(sys.rt, worker), std::set<pid>{sys.database});
  // root + database + workers + cache + servers, and nothing else.
  EXPECT_EQ(sys.rt.process_count(), full_count);
  std::set<pid> expected = workers;
  expected.insert(sys.root);
  expected.insert(sys.database);
  expected.insert(sys.cache);
  for (pid server : sys.server_pids()) expected.insert(server);
  EXPECT_EQ(live_pids(sys.rt), expected);
}

TEST(TodoSystem, KillingTheCacheTakesItsServersDownAndTheSupervisorRestartsTheCacheByName) {
  todo_system sys{deterministic()};
  std::set<pid> workers = workers_of(sys);
  ASSERT_EQ(sys.rt.process_count(), full_count);

  sys.rt.exit(sys.cache, exit_reason::kill());
  sys.rt.run_until_idle();

  // The cache and all three servers are gone; a new cache, with no servers yet, took the name.
  pid cache = sys.rt.whereis(todo::cache_name);
  ASSERT_TRUE(cache);
  EXPECT_NE(cache, sys.cache);
  EXPECT_FALSE(sys.rt.alive(sys.cache));
  for (pid server : sys.server_pids()) EXPECT_FALSE(sys.rt.alive(server));
  EXPECT_EQ(sys.rt.process_count(), full_count - 3);
  std::set<pid> expected = workers;
  expected.insert(sys.root);
  expected.insert(sys.database);
  expected.insert(cache);
  EXPECT_EQ(live_pids(sys.rt), expected);
  EXPECT_EQ(links_of(sys.rt, cache), std::set<pid>{sys.root});
  // one_for_one: the database and its workers are the same processes.
  EXPECT_EQ(sys.rt.whereis(todo::database_name), sys.database);
  EXPECT_EQ(workers_of(sys), workers);

  // One crash report, naming the cache and the reason.
  auto reports = sys.log.crash_reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_NE(reports[0].find(sys.cache.to_string() + " (todo_cache) child 'cache' exited with killed"), std::string::npos)
      << reports[0];
}

TEST(TodoSystem, ServersEndWithTheCachesReasonKilled) {
  todo_system sys{deterministic()};
  respawn::scoped_process observer{sys.rt};
  std::map<std::uint64_t, pid> watched;
  for (pid server : sys.server_pids()) watched[observer.monitor(server).value] = server;

  sys.rt.exit(sys.cache, exit_reason::kill());
  for (std::size_t i = 0; i < sys.servers.size(); ++i) {
    auto gone = observer.receive<respawn::down>(5s);
    ASSERT_TRUE(gone) << "a server outlived its cache";
    EXPECT_EQ(watched.count(gone->ref.value), 1u);
    EXPECT_EQ(gone->reason, exit_reason::killed()) << gone->reason.to_string();
  }
}

TEST(TodoSystem, AnErrorInsideTheCacheTakesItsServersDownToo) {
  todo_system sys{deterministic()};
  std::size_t before = sys.rt.process_count();

  auto r = todo::server_process(sys.rt, "");  // the cache throws on a list with no name
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().what, respawn::call_error::code::callee_exited);
  EXPECT_EQ(r.error().reason.type(), "std::invalid_argument");
  sys.rt.run_until_idle();

  EXPECT_EQ(before, full_count);
  EXPECT_EQ(sys.rt.process_count(), full_count - 3);
  for (pid server : sys.server_pids()) EXPECT_FALSE(sys.rt.alive(server));
  EXPECT_TRUE(sys.rt.alive(sys.database));
  pid cache = sys.rt.whereis(todo::cache_name);
  EXPECT_TRUE(cache);
  EXPECT_NE(cache, sys.cache);
}

TEST(TodoSystem, EntriesSurviveACacheRestartAndTheProcessCountReturnsToWhatItWas) {
  todo_system sys{deterministic()};
  sys.rt.exit(sys.cache, exit_reason::kill());
  sys.rt.run_until_idle();
  ASSERT_EQ(sys.rt.process_count(), full_count - 3);

  // No one starts the cache by hand: the supervisor has, and server_process finds it by name.
  for (const auto& [list, old_server] : sys.servers) {
    pid server = value_of(todo::server_process(sys.rt, list));
    EXPECT_NE(server, old_server);
    std::vector<todo::entry> expected{{"2024-05-01", list + "'s first"}, {"2024-05-01", list + "'s second"}};
    EXPECT_EQ(value_of(todo::entries(sys.rt, server, "2024-05-01")), expected) << list;
    EXPECT_TRUE(std::filesystem::exists(todo::list_file_path(sys.folder.path(), list)));
  }
  sys.rt.run_until_idle();
  // The same shape as before the kill: no second server per list next to an old one.
  EXPECT_EQ(sys.rt.process_count(), full_count);
}

TEST(TodoSystem, TheSupervisionTreeShowsTheRestartsAndTheLastExitReason) {
  todo_system sys{deterministic()};
  sys.rt.exit(sys.cache, exit_reason::kill());
  sys.rt.run_until_idle();

  respawn::supervision_node tree = respawn::supervision_tree(sys.rt, sys.root, 1s);
  EXPECT_EQ(tree.name, todo::system_name);
  ASSERT_EQ(tree.children.size(), 2u);
  const auto& db = tree.children[0];
  const auto& cache = tree.children[1];
  EXPECT_EQ(db.id, "database");
  EXPECT_EQ(db.pid, sys.database);
  EXPECT_EQ(db.name, todo::database_name);
  EXPECT_EQ(db.restarts, 0u);
  EXPECT_EQ(cache.id, "cache");
  EXPECT_EQ(cache.pid, sys.rt.whereis(todo::cache_name));
  EXPECT_EQ(cache.restarts, 1u);
  EXPECT_EQ(cache.last_exit_reason, "killed");
  std::string json = respawn::to_json(tree);
  EXPECT_NE(json.find(R"("name":"todo_cache")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("last_exit_reason":"killed")"), std::string::npos) << json;
}

// A worker crash takes the database and the rest of the pool down through their links; the
// supervisor restarts the database (one_for_one: the cache and servers stay), which starts a
// fresh pool, and the lists are still served and stored.
TEST(TodoSystem, ADatabaseWorkerCrashRestartsTheDatabaseWithAFreshPool) {
  todo_system sys{deterministic()};
  std::set<pid> workers = workers_of(sys);
  sys.rt.exit(*workers.begin(), exit_reason::other("disk on fire"));
  sys.rt.run_until_idle();

  pid database = sys.rt.whereis(todo::database_name);
  ASSERT_TRUE(database);
  EXPECT_NE(database, sys.database);
  for (pid worker : workers) EXPECT_FALSE(sys.rt.alive(worker));
  std::set<pid> new_workers = links_of(sys.rt, database);
  new_workers.erase(sys.root);
  EXPECT_EQ(new_workers.size(), pool_size);
  EXPECT_EQ(sys.rt.whereis(todo::cache_name), sys.cache);
  for (pid server : sys.server_pids()) EXPECT_TRUE(sys.rt.alive(server));
  EXPECT_EQ(sys.rt.process_count(), full_count);

  // A write after the restart reaches the new pool (servers look the database up by name), and
  // a server started now loads from it.
  todo::add_entry(sys.rt, sys.servers["alice"], {"2024-05-03", "after the restart"});
  value_of(todo::entries(sys.rt, sys.servers["alice"], "2024-05-03"));
  sys.rt.run_until_idle();
  sys.rt.exit(sys.cache, exit_reason::kill());
  sys.rt.run_until_idle();
  pid server = value_of(todo::server_process(sys.rt, "alice"));
  EXPECT_EQ(value_of(todo::entries(sys.rt, server, "2024-05-03")),
            (std::vector<todo::entry>{{"2024-05-03", "after the restart"}}));
  auto reports = sys.log.crash_reports();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_NE(reports[0].find("(todo_database) child 'database' exited with disk on fire"), std::string::npos)
      << reports[0];
}

// Ending the root stops its children in reverse start order: the cache (and with it its servers)
// first, then the database; nothing is left.
TEST(TodoSystem, ShuttingTheRootDownStopsTheCacheBeforeTheDatabase) {
  todo_system sys{deterministic()};
  respawn::scoped_process observer{sys.rt};
  respawn::monitor_ref cache = observer.monitor(sys.cache);
  respawn::monitor_ref database = observer.monitor(sys.database);
  respawn::monitor_ref root = observer.monitor(sys.root);
  sys.rt.exit(sys.root, exit_reason::shutdown());
  std::vector<respawn::monitor_ref> order;
  for (int i = 0; i < 3; ++i) {
    auto gone = observer.receive<respawn::down>(5s);
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->reason, exit_reason::shutdown());
    order.push_back(gone->ref);
  }
  EXPECT_EQ(order, (std::vector<respawn::monitor_ref>{cache, database, root}));
  sys.rt.run_until_idle();
  EXPECT_EQ(sys.rt.process_count(), 1u);  // the observer
  EXPECT_TRUE(sys.log.crash_reports().empty());  // shutdown is not a crash
}

// A stand-in for the database that only records who asked to load which list, so that a test
// decides when (and whether) the answer comes.
struct silent_database {
  explicit silent_database(respawn::runtime& rt) {
    respawn::spawn_options options;
    options.name = todo::database_name;
    pid = rt.spawn_fn(options, [this](respawn::process&, respawn::message& m) {
      if (auto* get = m.get_if<todo::database_get>()) asked.push_back(*get);
    });
  }
  respawn::pid pid;
  std::vector<todo::database_get> asked;
};

TEST(TodoServer, HoldsRequestsUntilItsListIsLoadedThenAnswersThemInOrder) {
  respawn::runtime rt{deterministic()};
  silent_database db{rt};
  pid server = rt.spawn<todo::server>({}, "alice");
  respawn::scoped_process me{rt};
  todo::add_entry(rt, server, {"2024-05-01", "added while loading"});
  me.send(server, todo::entries_request{"2024-05-01", me.self(), 7});

  // No answer while the list is not loaded: not an empty list.
  EXPECT_FALSE(me.receive<todo::entries_reply>(100ms));
  ASSERT_EQ(db.asked.size(), 1u);
  EXPECT_EQ(db.asked[0].list_name, "alice");
  EXPECT_EQ(db.asked[0].reply_to, server);

  rt.send(server, todo::database_loaded{"alice", todo::todo_list{{{"2024-05-01", "stored before"}}}});
  auto reply = me.receive<todo::entries_reply>(1s);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->ref, 7u);
  EXPECT_EQ(reply->entries,
            (std::vector<todo::entry>{{"2024-05-01", "stored before"}, {"2024-05-01", "added while loading"}}));
}

TEST(TodoServer, CrashesIfTheDatabaseNeverLoadsItsList) {
  respawn::runtime rt{deterministic()};
  silent_database db{rt};
  respawn::scoped_process me{rt};
  pid server = rt.spawn<todo::server>({}, "alice");
  me.monitor(server);
  // receive() jumps the manual clock to the server's load timer: no real waiting.
  auto gone = me.receive<respawn::down>(todo::server::load_timeout + 1s);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->reason.type(), "std::runtime_error") << gone->reason.to_string();
}

TEST(TodoSystem, OnSchedulerThreadsKillingTheCacheEndsEveryServerAndKeepsTheData) {
  todo_system sys{threaded()};
  std::set<pid> workers = workers_of(sys);
  ASSERT_EQ(workers.size(), pool_size);

  respawn::scoped_process observer{sys.rt};
  std::map<std::uint64_t, pid> watched;
  watched[observer.monitor(sys.cache).value] = sys.cache;
  for (pid server : sys.server_pids()) watched[observer.monitor(server).value] = server;

  // The kill overtakes signals the cache has not handled yet, our monitor among them (we would
  // get "noproc" instead of "killed"): one call through the cache first makes sure it has
  // handled the monitor, which went into its mailbox before the call's request.
  value_of(todo::server_process(sys.rt, "alice"));
  sys.rt.exit(sys.cache, exit_reason::kill());
  while (!watched.empty()) {
    auto gone = observer.receive<respawn::down>(10s);  // a deadline, so a hang fails the test
    ASSERT_TRUE(gone) << watched.size() << " of the cache and its servers did not end";
    ASSERT_EQ(watched.erase(gone->ref.value), 1u);
    EXPECT_EQ(gone->reason, exit_reason::killed());
  }
  EXPECT_TRUE(sys.rt.alive(sys.database));
  for (pid worker : workers) EXPECT_TRUE(sys.rt.alive(worker));

  // The cache's exit signal reached the supervisor before its `down` reached us (links are
  // signalled first), so a call to the supervisor now queues behind it: once answered, the
  // restart has happened and the name points at the new cache. No sleeping, no polling.
  value_of(sys.rt.call<std::vector<respawn::child_info>>(sys.root, respawn::which_children{}, 10s));
  pid cache = sys.rt.whereis(todo::cache_name);
  ASSERT_TRUE(cache);
  EXPECT_NE(cache, sys.cache);
  for (const auto& [list, old_server] : sys.servers) {
    pid server = value_of(todo::server_process(sys.rt, list));
    EXPECT_NE(server, old_server);
    EXPECT_EQ(value_of(todo::entries(sys.rt, server, "2024-05-02")),
              (std::vector<todo::entry>{{"2024-05-02", list + "'s next day"}}));
  }
}

TEST(ListFile, RoundTripsTabsNewlinesAndBackslashes) {
  data_folder folder;
  std::filesystem::create_directories(folder.path());
  todo::todo_list list;
  list.add_entry({"2024-05-01", "tab\there, newline\nhere, backslash \\ here"});
  list.add_entry({"2024-05-02", "plain"});
  auto file = todo::list_file_path(folder.path(), "mixed");
  todo::write_list_file(file, list);
  EXPECT_EQ(todo::read_list_file(file).all(), list.all());
}

TEST(ListFile, AMissingFileIsAnEmptyListAndNamesCannotLeaveTheFolder) {
  data_folder folder;
  EXPECT_EQ(todo::read_list_file(todo::list_file_path(folder.path(), "never")).size(), 0u);
  auto file = todo::list_file_path(folder.path(), "../a/b");
  EXPECT_EQ(file.parent_path(), folder.path());
  EXPECT_EQ(file.filename().string(), "%2E%2E%2Fa%2Fb.todo");
}

}  // namespace

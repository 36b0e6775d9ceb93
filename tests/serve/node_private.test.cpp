// `respawn serve` private by default and alone on its data (issue 12), real processes: the demo
// user and the misbehaving kinds only with --demo, the demo token reused across starts and not
// printed to a pipe (F16); DIR 0700 and its files 0600 (F12); a second node on the same DIR
// refused with exit 78 and the holder's pid (F8); a corrupt job log refused with exit 78, not an
// abort loop (F14); workers holding only their socket, a minimal environment and the node's
// limits (F4, F22); the open files limit raised (F5); a task's default memory limit and one
// user held to 3/4 of the running slots (F10).
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <thread>
#include <sstream>

#include "serve_fixture.hpp"
#include "../../src/worker/worker_spawn.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using respawn::http::test::client;
using respawn::serve_test::child_process;
using respawn::serve_test::serve;

// argv run through a shell with its stderr on its stdout, so that the test reads the node's
// error messages; `prelude` runs first (a ulimit).
std::vector<std::string> with_stderr(const std::vector<std::string>& argv, const std::string& prelude = ":") {
  std::vector<std::string> sh{"/bin/sh", "-c", prelude + " && exec \"$0\" \"$@\" 2>&1"};
  sh.insert(sh.end(), argv.begin(), argv.end());
  return sh;
}

// Every line of its output until it exits (or `limit`), and its exit code.
std::pair<std::string, int> run_to_exit(child_process& p, std::chrono::milliseconds limit) {
  std::string all, line;
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until &&
         p.next_line(line, std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now())))
    all += line + "\n";
  return {all, p.wait_exit(10s)};
}

std::string read_file(const fs::path& p) {
  std::ifstream f{p, std::ios::binary};
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The node's worker processes (its children running `respawn worker`), waited for with a deadline.
std::vector<int> workers_of(int node, std::size_t at_least) {
  auto until = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    std::vector<int> found;
    for (auto& e : fs::directory_iterator{"/proc"}) {
      auto name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      auto stat = read_file(e.path() / "stat");
      auto close = stat.rfind(')');
      if (close == std::string::npos) continue;
      int ppid = 0;
      char state = 0;
      if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) != 2 || ppid != node) continue;
      auto cmdline = read_file(e.path() / "cmdline");
      if (cmdline.find(std::string{"worker"} + '\0') != std::string::npos) found.push_back(std::stoi(name));
    }
    if (found.size() >= at_least || std::chrono::steady_clock::now() > until) return found;
    std::this_thread::sleep_for(20ms);  // polling /proc: there is nothing to wait on
  }
}

// A value from /proc/PID/limits: the soft (column 0) or hard (1) limit of the row `what`.
std::string limit_of(int pid, const std::string& what, int column) {
  std::istringstream limits{read_file("/proc/" + std::to_string(pid) + "/limits")};
  std::string line;
  while (std::getline(limits, line)) {
    if (line.rfind(what, 0) != 0) continue;
    std::istringstream rest{line.substr(26)};
    std::string soft, hard;
    rest >> soft >> hard;
    return column == 0 ? soft : hard;
  }
  return "";
}

TEST_F(serve, the_demo_user_and_the_misbehaving_kinds_exist_only_with_demo) {
  node_ = std::make_unique<child_process>(serve_argv());
  read_banner(false);
  EXPECT_FALSE(fs::exists(dir_ / "data" / "demo.token")) << "no demo user without --demo";
  child_process add{{RESPAWN_BINARY, "user", "add", "alice", "--data-dir", (dir_ / "data").string()}};
  ASSERT_TRUE(add.next_line(token_, 30s));
  ASSERT_EQ(add.wait_exit(30s), 0);
  client c{port_, 60s};
  for (const char* kind : {"loop", "crash", "oom", "fail", "counter"}) {
    auto r = post(c, "/v1/jobs", {{"kind", kind}});
    EXPECT_EQ(r.status, 422u) << kind << " is a demo kind: " << r.body;
  }
  EXPECT_EQ(post(c, "/v1/jobs", {{"kind", "fib"}, {"args", {{"n", 5}}}}).status, 201u);
  node_->kill(SIGTERM);
  ASSERT_EQ(node_->wait_exit(60s), 0);

  // With --demo: the demo user, its token kept across starts, the demo kinds accepted.
  start();
  std::string first = token_;
  client d{port_, 60s};
  EXPECT_EQ(post(d, "/v1/jobs", {{"kind", "fail"}, {"max_attempts", 1}}).status, 201u);
  node_->kill(SIGTERM);
  ASSERT_EQ(node_->wait_exit(60s), 0);
  start();
  EXPECT_EQ(token_, first) << "the demo token is reused while it is valid, not made anew at each start";
  client e{port_, 60s};
  EXPECT_EQ(e.request("GET", "/v1/jobs", {}, auth()).status, 200u);
}

TEST_F(serve, the_data_directory_is_0700_and_its_files_0600) {
  ::umask(022);  // the usual umask: the node must not rely on it
  start();
  client c{port_, 60s};
  auto r = post(c, "/v1/jobs", {{"kind", "noop"}});
  ASSERT_EQ(r.status, 201u) << r.body;
  await_final(c, r.json()["id"].get<std::uint64_t>());
  auto mode = [](const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 0777;
  };
  EXPECT_EQ(mode(dir_ / "data"), 0700u);
  std::size_t files = 0;
  for (auto& e : fs::directory_iterator{dir_ / "data"}) {
    EXPECT_EQ(mode(e.path()) & 077, 0u) << e.path() << " is readable by others: " << std::oct << mode(e.path());
    ++files;
  }
  EXPECT_GE(files, 5u) << "jobs.db, its -wal and -shm, users.db, demo.token, lock";
}

TEST_F(serve, a_second_node_on_the_same_data_directory_exits_78_naming_the_first) {
  start();
  auto argv = serve_argv({"--demo"});
  argv[5] = "127.0.0.1:" + std::to_string(respawn::serve_test::free_port());
  child_process second{with_stderr(argv)};
  auto [output, code] = run_to_exit(second, 60s);
  EXPECT_EQ(code, 78) << output;
  EXPECT_NE(output.find("another node (pid " + std::to_string(node_pid_) + ")"), std::string::npos) << output;
  EXPECT_EQ(output.find("listening on"), std::string::npos) << output;
  client c{port_, 60s};
  EXPECT_EQ(c.request("GET", "/v1/jobs", {}, auth()).status, 200u) << "the first node goes on";
}

TEST_F(serve, a_job_log_with_garbage_pages_is_refused_with_78_and_heart_does_not_loop) {
  start();
  {
    client c{port_, 60s};
    nlohmann::json batch{{"jobs", nlohmann::json::array()}};
    for (int i = 0; i < 500; ++i) batch["jobs"].push_back({{"kind", "noop"}, {"args", {{"pad", std::string(200, 'x')}}}});
    auto r = post(c, "/v1/jobs/batch", batch);
    ASSERT_EQ(r.status, 201u) << r.body;
    auto body = r.json();
    for (auto& j : body["jobs"]) await_final(c, j["id"].get<std::uint64_t>());
  }
  node_->kill(SIGTERM);
  ASSERT_EQ(node_->wait_exit(60s), 0);
  auto db = dir_ / "data" / "jobs.db";
  fs::remove(dir_ / "data" / "jobs.db-wal");
  fs::remove(dir_ / "data" / "jobs.db-shm");
  {
    // Keep page 1 (the header and the schema): garbage in every other page.
    std::fstream f{db, std::ios::in | std::ios::out | std::ios::binary};
    unsigned char header[18];
    f.read(reinterpret_cast<char*>(header), sizeof header);
    std::size_t page = (header[16] << 8) | header[17];
    if (page == 1) page = 65536;
    auto size = fs::file_size(db);
    ASSERT_GT(size, 4 * page) << "the log has several pages";
    std::string garbage(size - page, '\xa5');
    for (std::size_t i = 0; i < garbage.size(); i += 7) garbage[i] = static_cast<char>(i * 31);
    f.seekp(static_cast<std::streamoff>(page));
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  child_process again{with_stderr(serve_argv({"--demo"}))};  // under heart
  auto [output, code] = run_to_exit(again, 120s);
  EXPECT_EQ(code, 78) << output;
  EXPECT_NE(output.find("respawn serve: "), std::string::npos) << output;
  EXPECT_EQ(output.find("terminate called"), std::string::npos) << output;
  EXPECT_EQ(output.find("starting it again"), std::string::npos) << "heart does not loop on it:\n" << output;
}

TEST_F(serve, workers_hold_only_their_socket_a_minimal_environment_and_the_nodes_limits) {
  start({}, {"RESPAWN_TEST_SECRET=hunter2"});
  auto workers = workers_of(node_pid_, 2);
  ASSERT_GE(workers.size(), 2u) << "the node starts 2 workers";
  std::set<std::string> allowed;
  for (const char* name : respawn::detail::worker_environment_names) allowed.insert(name);
  for (int w : workers) {
    // The worker sets its limits first thing in main: one found just after its spawn (between
    // fork and exec it still holds the node's descriptors, closed on exec) may not be there yet,
    // so wait (with a deadline) for its limits before looking at what it holds.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
    while (limit_of(w, "Max file size", 0) != std::to_string(1024ull * 1024 * 1024) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    std::set<std::string> fds;
    for (auto& e : fs::directory_iterator{"/proc/" + std::to_string(w) + "/fd"}) fds.insert(e.path().filename());
    EXPECT_EQ(fds, (std::set<std::string>{"0", "1", "2", "3"})) << "worker " << w << " holds more than its socket";
    auto environ = read_file("/proc/" + std::to_string(w) + "/environ");
    std::istringstream vars{environ};
    std::string var;
    while (std::getline(vars, var, '\0')) {
      EXPECT_EQ(allowed.count(var.substr(0, var.find('='))), 1u) << "worker " << w << " has " << var;
    }
    EXPECT_EQ(limit_of(w, "Max open files", 0), "256");
    EXPECT_EQ(limit_of(w, "Max file size", 0), std::to_string(1024ull * 1024 * 1024));
  }
}

TEST_F(serve, the_node_raises_its_open_files_limit_to_the_hard_limit) {
  node_ = std::make_unique<child_process>(with_stderr(serve_argv({"--demo"}), "ulimit -Sn 512"));
  read_banner();
  auto hard = limit_of(node_pid_, "Max open files", 1);
  ASSERT_NE(hard, "512") << "the hard limit must be above 512 for this test";
  EXPECT_EQ(limit_of(node_pid_, "Max open files", 0), hard);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RESPAWN_NO_ADDRESS_SPACE_LIMIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RESPAWN_NO_ADDRESS_SPACE_LIMIT 1
#endif
#endif

TEST_F(serve, a_task_past_the_default_memory_limit_fails_over_its_memory_limit) {
#ifdef RESPAWN_NO_ADDRESS_SPACE_LIMIT
  GTEST_SKIP() << "RLIMIT_AS means nothing under ASan or TSan (resource_limits.hpp)";
#endif
  start();  // default --task-memory-mb 1024
  client c{port_, 120s};
  auto r = post(c, "/v1/jobs", {{"kind", "oom"}, {"args", {{"mb", 2048}}}, {"max_attempts", 1}});
  ASSERT_EQ(r.status, 201u) << r.body;
  auto job = await_final(c, r.json()["id"].get<std::uint64_t>());
  EXPECT_NE(job["state"], "succeeded") << job.dump();
  EXPECT_NE(job["error"].get<std::string>().find("memory limit"), std::string::npos) << job.dump();
}

}  // namespace

namespace {

using namespace std::chrono_literals;
using respawn::http::test::client;
using respawn::serve_test::child_process;
using respawn::serve_test::serve;

// Issue 12 (F10): one user cannot take every running slot. With --running 4 a user gets at most 3
// (3/4), so another user's job starts at once instead of waiting for one of the first user's
// long jobs to finish (on old code the first user held all 4).
TEST_F(serve, one_user_cannot_take_every_running_slot) {
  start({"--running", "4", "--workers", "4"});
  child_process add{{RESPAWN_BINARY, "user", "add", "alice", "--data-dir", (dir_ / "data").string()}};
  std::string alice;
  ASSERT_TRUE(add.next_line(alice, 30s));
  ASSERT_EQ(add.wait_exit(30s), 0);
  std::vector<std::pair<std::string, std::string>> as_alice{{"Authorization", "Bearer " + alice}};

  client c{port_, 60s};
  nlohmann::json batch{{"jobs", nlohmann::json::array()}};
  for (int i = 0; i < 8; ++i) batch["jobs"].push_back({{"kind", "sleep"}, {"args", {{"ms", 15000}}}});
  ASSERT_EQ(post(c, "/v1/jobs/batch", batch).status, 201u);
  auto count = [&](const std::string& state) {
    auto list = c.request("GET", "/v1/jobs?state=" + state + "&limit=100", {}, auth()).json();
    return list["jobs"].size();
  };
  for (int tries = 0; count("running") < 3; ++tries) {
    ASSERT_LT(tries, 3000) << "the first user's jobs did not start";
    std::this_thread::sleep_for(10ms);
  }
  auto r = c.request("POST", "/v1/jobs", nlohmann::json{{"kind", "sleep"}, {"args", {{"ms", 10}}}}.dump(), as_alice);
  ASSERT_EQ(r.status, 201u) << r.body;
  auto id = r.json()["id"].get<std::uint64_t>();
  // Running at once: a free slot is there for alice, and (issue 13) a free worker: `running` now
  // means its task started in a worker, and one user's jobs occupy at most --workers - 1 of them
  // (--workers-per-user), so her task does not wait behind a 15 s sleep.
  for (int tries = 0;; ++tries) {
    auto job = c.request("GET", "/v1/jobs/" + std::to_string(id), {}, as_alice).json();
    if (job["state"] != "queued") break;
    ASSERT_LT(tries, 6000) << "alice's job never left the queue";
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(count("succeeded"), 0u) << "alice's job waited for one of the first user's 15 s jobs to end";
  EXPECT_LE(count("running"), 3u) << "one user held more than 3/4 of the running slots";
}

}  // namespace

// End-to-end tests of the client commands against the PROTOCOL FAKE of fake_server.hpp (a
// stand-in for the real node until it lands): the journal key is the idempotency key and is on
// disk before the request; a client killed mid-submit and run again makes no second job; a
// server that comes up late or answers 503 is retried; a dropped event stream resumes with
// Last-Event-ID, missing and repeating nothing; keep-alives hold a quiet stream open past the
// client's read timeout, while real silence is taken for a dead connection; a token revoked
// mid-stream ends the watch with exit 6 and no reconnect; and the exit codes. No test sleeps to
// wait: the client's backoff sleep is a hook that records the delay (and may start the server),
// and a quiet stream is the fake pausing for a set time (creating the condition under test).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "client_context.hpp"
#include "command_line.hpp"
#include "fake_server.hpp"
#include "journal.hpp"
#include "respawn/client.hpp"
#include "store/temp_dir.hpp"

namespace respawn::client {
namespace {

using json = nlohmann::json;
using testing::fake_api;
using namespace std::chrono_literals;

class EndToEnd : public ::testing::Test {
 protected:
  store::testing::temp_dir dir;
  std::ostringstream out;
  std::ostringstream err;
  std::vector<std::chrono::milliseconds> sleeps;
  std::function<void()> on_first_sleep;

  std::string journal_path() const { return (dir.path() / "journal").string(); }

  client_context context() {
    client_context c{out, err};
    c.env = [this](const std::string& name) -> std::optional<std::string> {
      if (name == "XDG_CONFIG_HOME") return (dir.path() / "config").string();
      if (name == "RESPAWN_DATA_DIR") return (dir.path() / "data").string();
      return std::nullopt;
    };
    c.seed = 1;
    c.timeouts = {2000ms, 5000ms, 5000ms};
    c.sleep = [this](std::chrono::milliseconds d) {
      sleeps.push_back(d);
      if (on_first_sleep) std::exchange(on_first_sleep, nullptr)();
    };
    return c;
  }

  int run(const std::string& url, std::vector<std::string> words) {
    words.insert(words.begin() + 1, {"--server", url, "--token", "secret", "--retry-for", "20"});
    if (words[0] == "submit") words.insert(words.end(), {"--journal", journal_path()});
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    auto c = context();
    return run_client(static_cast<int>(argv.size()), argv.data(), c);
  }

  std::vector<journal_entry> journal_entries() {
    journal j(journal_path());
    auto r = j.entries();
    return std::get<std::vector<journal_entry>>(r);
  }

  std::vector<std::string> event_lines() {
    std::vector<std::string> lines;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.front() != '{') lines.push_back(line);
    }
    return lines;
  }
};

TEST_F(EndToEnd, SubmitSendsTheJournalKeyWrittenBeforeTheRequest) {
  fake_api api;
  std::string key_on_disk_when_posted;
  api.on_post([&](const json& body) {
    std::ifstream in(journal_path());
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const std::string key = body.value("idempotency_key", "");
    if (!key.empty() && text.find("\"" + key + "\"") != std::string::npos) key_on_disk_when_posted = key;
  });
  ASSERT_EQ(run(api.url(), {"submit", "fib", "--arg", "n=30", "--max-attempts", "3"}), exit_code::ok) << err.str();
  auto posts = api.posts();
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_FALSE(posts[0].body_key.empty());
  EXPECT_EQ(posts[0].header_key, posts[0].body_key);
  EXPECT_EQ(key_on_disk_when_posted, posts[0].body_key);
  EXPECT_NE(out.str().find("\"id\":1"), std::string::npos);
  EXPECT_TRUE(journal_entries().empty());  // seen through: pruned
}

TEST_F(EndToEnd, SubmitWaitPrintsEveryEventAndExitsWithTheOutcome) {
  fake_api api;
  ASSERT_EQ(run(api.url(), {"submit", "fib", "--arg", "n=30", "--wait"}), exit_code::ok) << err.str();
  const std::vector<std::string> expected = {
      R"(queued {"state":"queued"})", R"(running {"state":"running","attempt":1,"max_attempts":3})",
      R"(progress {"percent":50})", "output line one line two",
      R"(succeeded {"state":"succeeded","result":832040})"};
  EXPECT_EQ(event_lines(), expected);
  EXPECT_TRUE(journal_entries().empty());
}

// The client is a child process killed (SIGKILL) while it watches its job; the same command run
// again finds the entry, resubmits with the same key (200: the same job) and watches to the end.
TEST_F(EndToEnd, AClientKilledMidSubmitResumesWithTheSameKeyAndNoSecondJob) {
  fake_api api;
  api.configure([](fake_api::knobs& k) { k.hold_streams_after = 1; });
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int code = run(api.url(), {"submit", "fib", "--arg", "n=30", "--wait"});
    ::_exit(code == 0 ? 90 : 91);  // never reached: killed while watching
  }
  ASSERT_TRUE(api.wait_until_holding(10s)) << "the child never reached its event stream";
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  api.release();
  auto left = journal_entries();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].job_id, 1);

  ASSERT_EQ(run(api.url(), {"submit", "fib", "--arg", "n=30", "--wait"}), exit_code::ok) << err.str();
  EXPECT_NE(err.str().find("resuming an unfinished submission"), std::string::npos);
  auto posts = api.posts();
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(posts[0].body_key, posts[1].body_key);
  EXPECT_EQ(posts[0].status, 201);
  EXPECT_EQ(posts[1].status, 200);
  EXPECT_EQ(api.job_count(), 1u);
  EXPECT_TRUE(journal_entries().empty());
}

TEST_F(EndToEnd, ADifferentCommandAfterACrashIsANewSubmission) {
  fake_api api;
  journal crashed(journal_path(), {999'999'999, 1}, [](const journal_owner&) { return false; });
  ASSERT_TRUE(std::holds_alternative<journal::claim>(crashed.begin("another command", "old-key")));
  ASSERT_EQ(run(api.url(), {"submit", "fib", "--arg", "n=31"}), exit_code::ok) << err.str();
  ASSERT_EQ(api.posts().size(), 1u);
  EXPECT_NE(api.posts()[0].body_key, "old-key");
  EXPECT_EQ(journal_entries().size(), 1u);  // the other command's entry stays
}

TEST_F(EndToEnd, RetriesUntilTheServerComesUp) {
  const unsigned short port = testing::fake_server::free_port();
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  std::unique_ptr<fake_api> api;
  on_first_sleep = [&] { api = std::make_unique<fake_api>(port); };  // up while the client waits
  ASSERT_EQ(run(url, {"submit", "noop"}), exit_code::ok) << err.str();
  EXPECT_NE(err.str().find("server unreachable"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("retrying in 0."), std::string::npos) << err.str();
  ASSERT_EQ(sleeps.size(), 1u);
  auto posts = api->posts();
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].status, 201);
}

TEST_F(EndToEnd, HonoursRetryAfterOnA503) {
  fake_api api;
  api.configure([](fake_api::knobs& k) { k.unavailable = 2; });
  ASSERT_EQ(run(api.url(), {"jobs"}), exit_code::ok) << err.str();
  ASSERT_EQ(sleeps.size(), 2u);
  EXPECT_GE(sleeps[0], 1000ms);
  EXPECT_GE(sleeps[1], 1000ms);
  EXPECT_NE(err.str().find("server unavailable (503), retrying in 1.0 s"), std::string::npos) << err.str();
}

TEST_F(EndToEnd, GivesUpAfterRetryFor) {
  const std::string url = "http://127.0.0.1:" + std::to_string(testing::fake_server::free_port());
  std::vector<std::string> words = {"jobs", "--server", url, "--retry-for", "1"};
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  auto c = context();
  EXPECT_EQ(run_client(static_cast<int>(argv.size()), argv.data(), c), exit_code::unreachable);
  EXPECT_NE(err.str().find("giving up"), std::string::npos);
}

TEST_F(EndToEnd, ADroppedStreamResumesWithLastEventIdMissingAndRepeatingNothing) {
  fake_api api;
  const std::int64_t id = api.add_job("k", {{"kind", "fib"}}, "running",
                                      {{"queued", "{}"}, {"running", R"({"attempt":1})"},
                                       {"progress", R"({"percent":10})"}, {"progress", R"({"percent":90})"},
                                       {"succeeded", R"({"result":1})"}});
  api.configure([](fake_api::knobs& k) { k.drop_streams_after = 3; });
  ASSERT_EQ(run(api.url(), {"watch", std::to_string(id)}), exit_code::ok) << err.str();
  const std::vector<std::string> expected = {"queued {}", R"(running {"attempt":1})",
                                             R"(progress {"percent":10})", R"(progress {"percent":90})",
                                             R"(succeeded {"result":1})"};
  EXPECT_EQ(event_lines(), expected);
  auto streams = api.stream_requests();
  ASSERT_EQ(streams.size(), 2u);
  EXPECT_EQ(streams[0], std::nullopt);
  EXPECT_EQ(streams[1], "3");
  EXPECT_NE(err.str().find("event stream dropped after event 3"), std::string::npos) << err.str();
}

// A stream that ends cleanly without a final event (a server restarted between the job's end
// and its log): the client asks for the job, and it has ended.
TEST_F(EndToEnd, AStreamThatEndsEarlyIsSettledByTheJobsState) {
  fake_api api;
  const auto id = api.add_job("k", {{"kind", "fib"}}, "succeeded", {{"queued", "{}"}});
  ASSERT_EQ(run(api.url(), {"watch", std::to_string(id)}), exit_code::ok) << err.str();
  auto lines = event_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "queued {}");
  EXPECT_EQ(lines[1].rfind("succeeded {", 0), 0u) << lines[1];
  EXPECT_EQ(api.stream_requests().size(), 1u);
}

TEST_F(EndToEnd, ExitCodesFollowTheJobsEnd) {
  fake_api api;
  const auto dead = api.add_job("a", {{"kind", "fail"}}, "running", {{"running", "{}"}, {"dead", R"({"error":"boom"})"}});
  const auto cancelled = api.add_job("b", {{"kind", "sleep"}}, "running", {{"cancelled", "{}"}});
  EXPECT_EQ(run(api.url(), {"watch", std::to_string(dead)}), exit_code::job_dead);
  EXPECT_EQ(run(api.url(), {"watch", std::to_string(cancelled)}), exit_code::job_cancelled);
  EXPECT_EQ(run(api.url(), {"watch", "99"}), exit_code::not_found);
  EXPECT_EQ(run(api.url(), {"cancel", "99"}), exit_code::not_found);
  EXPECT_EQ(run(api.url(), {"cancel", std::to_string(dead)}), exit_code::ok);
  EXPECT_EQ(run(api.url(), {"watch"}), exit_code::usage);
  api.configure([](fake_api::knobs& k) { k.token = "other"; });
  EXPECT_EQ(run(api.url(), {"jobs"}), exit_code::unauthorized);
  EXPECT_NE(err.str().find("token from --token"), std::string::npos);
}

// The journal holds an entry for this very command whose key the server knows for another job:
// 409, nothing submitted, exit "refused", and the entry goes (a re-run makes a fresh key).
TEST_F(EndToEnd, AConflictingKeyIsRefusedAndForgotten) {
  fake_api api;
  api.add_job("taken", {{"kind", "other"}}, "queued", {});
  std::vector<std::string> words = {"submit", "noop"};
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  auto parsed = std::get<command_line>(parse_command_line(2, argv.data()));
  journal crashed(journal_path(), {999'999'999, 1}, [](const journal_owner&) { return false; });
  ASSERT_TRUE(std::holds_alternative<journal::claim>(
      crashed.begin(submission_fingerprint(parsed, api.url()), "taken")));
  EXPECT_EQ(run(api.url(), {"submit", "noop"}), exit_code::refused);
  EXPECT_NE(err.str().find("409 idempotency_conflict"), std::string::npos) << err.str();
  EXPECT_TRUE(journal_entries().empty());
  ASSERT_EQ(run(api.url(), {"submit", "noop"}), exit_code::ok) << err.str();
  EXPECT_EQ(api.posts().back().status, 201);
  EXPECT_EQ(api.job_count(), 2u);
}

TEST_F(EndToEnd, JobsListsWithFilters) {
  fake_api api;
  api.add_job("a", {{"kind", "fib"}}, "dead", {});
  ASSERT_EQ(run(api.url(), {"jobs", "--state", "dead", "--kind", "fib bar", "--limit", "5"}), exit_code::ok);
  EXPECT_NE(out.str().find("ID"), std::string::npos);
  EXPECT_NE(out.str().find("dead"), std::string::npos);
  EXPECT_NE(out.str().find("1/3"), std::string::npos);
}

TEST_F(EndToEnd, AProgressLineOnATerminal) {
  fake_api api;
  const auto id = api.add_job("a", {{"kind", "fib"}}, "running",
                              {{"running", R"({"attempt":2,"max_attempts":3})"}, {"succeeded", "{}"}});
  std::vector<std::string> words = {"watch", std::to_string(id), "--server", api.url(), "--token", "secret"};
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  auto c = context();
  c.tty = true;
  ASSERT_EQ(run_client(static_cast<int>(argv.size()), argv.data(), c), exit_code::ok);
  EXPECT_NE(err.str().find("\r\033[2Kjob 1 running · attempt 2/3 · "), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("job 1 succeeded · attempt 2/3 · "), std::string::npos);
}

// The node ends the open stream of a revoked token within a second; every request after that is
// 401. The client says the token was revoked or expired, exits "unauthorized" and does not
// reconnect: retrying cannot bring a token back.
TEST_F(EndToEnd, ARevokedTokenEndsTheWatchWithTheAuthExitCodeAndNoReconnect) {
  fake_api api;
  const auto id = api.add_job("k", {{"kind", "sleep"}}, "running",
                              {{"running", R"({"attempt":1})"}, {"succeeded", "{}"}});
  api.configure([](fake_api::knobs& k) { k.revoke_streams_after = 1; });
  EXPECT_EQ(run(api.url(), {"watch", std::to_string(id)}), exit_code::unauthorized) << err.str();
  EXPECT_NE(err.str().find("respawn: job 1: the token was revoked or expired (HTTP 401 unauthorized"),
            std::string::npos)
      << err.str();
  EXPECT_NE(err.str().find("token from --token"), std::string::npos) << err.str();
  EXPECT_EQ(api.stream_requests().size(), 1u);
  EXPECT_TRUE(sleeps.empty()) << err.str();
  EXPECT_EQ(event_lines(), std::vector<std::string>{R"(running {"attempt":1})"});
}

// The stream is quiet for several times the client's read timeout, but keep-alive comments come
// (as the node sends one every 15 s): the same stream stays open to the job's end.
TEST_F(EndToEnd, KeepAlivesHoldAStreamOpenPastTheReadTimeout) {
  fake_api api;
  const auto id = api.add_job("k", {{"kind", "sleep"}}, "running",
                              {{"queued", "{}"}, {"running", R"({"attempt":1})"}, {"succeeded", "{}"}});
  api.configure([](fake_api::knobs& k) {
    k.pause_streams_after = 2;
    k.pause_ms = 1500;           // 5 read timeouts of quiet...
    k.keep_alive_every_ms = 50;  // ...with a keep-alive every 1/6 of one
  });
  std::vector<std::string> words = {"watch", std::to_string(id), "--server", api.url(), "--token", "secret"};
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  auto c = context();
  c.timeouts.stream_idle = 300ms;
  ASSERT_EQ(run_client(static_cast<int>(argv.size()), argv.data(), c), exit_code::ok) << err.str();
  EXPECT_GE(api.keep_alives_sent(), 10);
  EXPECT_EQ(api.stream_requests().size(), 1u) << err.str();
  EXPECT_EQ(err.str().find("resuming"), std::string::npos) << err.str();
  EXPECT_EQ(event_lines(), (std::vector<std::string>{"queued {}", R"(running {"attempt":1})", "succeeded {}"}));
}

// Silence much longer than the keep-alive period means a dead connection (no FIN from a dead
// machine): the client takes it for dropped and resumes with Last-Event-ID.
TEST_F(EndToEnd, ASilentStreamIsTakenForDeadAndResumedWithLastEventId) {
  fake_api api;
  const auto id = api.add_job("k", {{"kind", "sleep"}}, "running",
                              {{"queued", "{}"}, {"running", R"({"attempt":1})"}, {"succeeded", "{}"}});
  api.configure([](fake_api::knobs& k) {
    k.pause_streams_after = 2;
    k.pause_ms = 1500;  // no keep-alive: 5 read timeouts of silence
  });
  std::vector<std::string> words = {"watch", std::to_string(id), "--server", api.url(), "--token", "secret"};
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  auto c = context();
  c.timeouts.stream_idle = 300ms;
  ASSERT_EQ(run_client(static_cast<int>(argv.size()), argv.data(), c), exit_code::ok) << err.str();
  auto streams = api.stream_requests();
  ASSERT_EQ(streams.size(), 2u);
  EXPECT_EQ(streams[1], "2");
  EXPECT_NE(err.str().find("event stream dropped after event 2 (silent for 300 ms); resuming"), std::string::npos)
      << err.str();
  EXPECT_EQ(event_lines(), (std::vector<std::string>{"queued {}", R"(running {"attempt":1})", "succeeded {}"}));
}

// On a terminal the progress line's clock goes on while no event comes: it is redrawn at each
// tick, not only at each event.
TEST_F(EndToEnd, TheProgressLineIsRedrawnWhileTheStreamIsQuiet) {
  fake_api api;
  const auto id = api.add_job("k", {{"kind", "sleep"}}, "running", {{"running", R"({"attempt":1})"}, {"succeeded", "{}"}});
  api.configure([](fake_api::knobs& k) {
    k.pause_streams_after = 1;
    k.pause_ms = 1000;
  });
  std::vector<std::string> words = {"watch", std::to_string(id), "--server", api.url(), "--token", "secret"};
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  auto c = context();
  c.tty = true;
  c.timeouts.stream_tick = 50ms;
  ASSERT_EQ(run_client(static_cast<int>(argv.size()), argv.data(), c), exit_code::ok) << err.str();
  std::size_t redraws = 0;
  const std::string text = err.str();
  for (auto at = text.find("\r\033[2Kjob 1 running"); at != std::string::npos;
       at = text.find("\r\033[2Kjob 1 running", at + 1)) {
    ++redraws;
  }
  EXPECT_GE(redraws, 3u) << text;  // one at the event, and ticks during a second of quiet
}

}  // namespace
}  // namespace respawn::client

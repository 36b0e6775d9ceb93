// `respawn serve` end to end (issue 6), real processes on loopback: the node under heart, its
// HTTP API, its workers, the CLI. Seed 004's failure scenarios on one node (the node SIGKILLed
// under load and started again by heart, every acknowledged job completed exactly once; the CLI
// killed mid-submit submits nothing twice; a stream that drops resumes with nothing missed or
// repeated — that one is in tests/http), seed 002's demo (buggy jobs beside 1,000 good ones, the
// server answering /healthz throughout), and SIGTERM draining to exit 0.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include "serve_fixture.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using respawn::http::test::client;
using respawn::serve_test::child_process;
using respawn::serve_test::serve;

TEST_F(serve, starts_serves_a_job_and_drains_on_sigterm) {
  start();
  client c{port_, 60s};
  EXPECT_EQ(c.request("GET", "/healthz").status, 200u);
  EXPECT_EQ(c.request("GET", "/readyz").status, 200u);
  auto r = post(c, "/v1/jobs", {{"kind", "fib"}, {"args", {{"n", 20}}}});
  ASSERT_EQ(r.status, 201u) << r.body;
  auto job = await_final(c, r.json()["id"].get<std::uint64_t>());
  EXPECT_EQ(job["state"], "succeeded");
  EXPECT_EQ(job["result"], 6765);
  node_->kill(SIGTERM);  // to heart: it passes it on, the node drains
  EXPECT_EQ(node_->wait_exit(60s), 0);
}

TEST_F(serve, node_sigkilled_under_load_is_restarted_by_heart_and_every_acknowledged_job_completes_once) {
  start();
  client c{port_, 60s};
  std::vector<std::uint64_t> ids;
  for (int b = 0; b < 3; ++b) {
    nlohmann::json batch{{"jobs", nlohmann::json::array()}};
    for (int i = 0; i < 100; ++i) batch["jobs"].push_back({{"kind", "sleep"}, {"args", {{"ms", 20}}}});
    auto r = post(c, "/v1/jobs/batch", batch);
    ASSERT_EQ(r.status, 201u) << r.body;
    auto body = r.json();  // a local: a range over a temporary's member would dangle
    for (auto& j : body["jobs"]) ids.push_back(j["id"].get<std::uint64_t>());
  }
  // Some done, most not: then the node dies.
  for (int tries = 0;; ++tries) {
    auto list = c.request("GET", "/v1/jobs?state=succeeded&limit=20", {}, auth()).json();
    if (list["jobs"].size() >= 10) break;
    ASSERT_LT(tries, 3000) << "no job finished";
    std::this_thread::sleep_for(10ms);
  }
  int old_pid = node_pid_;
  ASSERT_EQ(::kill(node_pid_, SIGKILL), 0);
  read_banner();  // heart started it again
  EXPECT_NE(node_pid_, old_pid);

  client again{port_, 120s};
  std::size_t succeeded = 0;
  for (auto id : ids) {
    auto job = await_final(again, id);
    EXPECT_EQ(job["state"], "succeeded") << "job " << id;
    succeeded += job["state"] == "succeeded" ? 1 : 0;
    // Exactly one `succeeded` event in its log.
    auto [r, events] = again.stream("/v1/jobs/" + std::to_string(id) + "/events", auth());
    int wins = 0;
    for (auto& e : events) wins += e.event == "succeeded" ? 1 : 0;
    EXPECT_EQ(wins, 1) << "job " << id;
  }
  EXPECT_EQ(succeeded, ids.size());
  auto listed = again.request("GET", "/v1/jobs?limit=1000", {}, auth()).json();
  EXPECT_EQ(listed["jobs"].size(), ids.size()) << "no job was made twice";
}

TEST_F(serve, seed_002_buggy_jobs_beside_a_thousand_good_ones_and_healthz_throughout) {
  start();
  std::atomic<bool> done{false};
  std::atomic<int> health_failures{0}, health_checks{0};
  std::thread health{[&] {
    client h{port_, 10s};
    while (!done) {
      try {
        if (h.request("GET", "/healthz").status != 200) ++health_failures;
      } catch (const std::exception&) {
        ++health_failures;
      }
      ++health_checks;
      std::this_thread::sleep_for(20ms);  // a probe's pace, not a wait for work
    }
  }};
  client c{port_, 120s};
  auto submit = [&](nlohmann::json body) {
    auto r = post(c, "/v1/jobs", body);
    EXPECT_EQ(r.status, 201u) << r.body;
    return r.json()["id"].get<std::uint64_t>();
  };
  auto fib = submit({{"kind", "fib"}, {"args", {{"n", 32}}}});
  auto fail = submit({{"kind", "fail"}, {"max_attempts", 2}});
  auto loop = submit({{"kind", "loop"}, {"max_attempts", 2}, {"timeout_ms", 300}});
  auto crash = submit({{"kind", "crash"}, {"max_attempts", 2}});
  nlohmann::json batch{{"jobs", nlohmann::json::array()}};
  for (int i = 0; i < 1000; ++i) batch["jobs"].push_back({{"kind", "noop"}});
  auto r = post(c, "/v1/jobs/batch", batch);
  ASSERT_EQ(r.status, 201u) << r.body;
  std::vector<std::uint64_t> noops;
  auto body = r.json();  // a local: a range over a temporary's member would dangle
  for (auto& j : body["jobs"]) noops.push_back(j["id"].get<std::uint64_t>());
  EXPECT_EQ(noops.size(), 1000u);

  for (auto id : noops) EXPECT_EQ(await_final(c, id)["state"], "succeeded") << "noop " << id;
  EXPECT_EQ(await_final(c, fib)["state"], "succeeded");
  auto f = await_final(c, fail);
  EXPECT_EQ(f["state"], "dead");
  EXPECT_EQ(f["attempts"], 2);
  auto l = await_final(c, loop);
  EXPECT_EQ(l["state"], "dead");
  EXPECT_NE(l["error"].get<std::string>().find("deadline"), std::string::npos) << l.dump();
  auto k = await_final(c, crash);
  EXPECT_EQ(k["state"], "dead");
  EXPECT_NE(k["error"].get<std::string>().find("SIGSEGV"), std::string::npos) << k.dump();
  done = true;
  health.join();
  EXPECT_GT(health_checks.load(), 0);
  EXPECT_EQ(health_failures.load(), 0) << "/healthz failed while bad jobs ran";
}

// The CLI killed mid-submit (while the server is down, its entry journaled) and run again with
// the same command: one job, not two.
TEST_F(serve, the_cli_killed_mid_submit_and_run_again_submits_nothing_twice) {
  auto journal = (dir_ / "journal").string();
  std::vector<std::string> submit{RESPAWN_BINARY, "submit",  "sleep", "--arg", "ms=10",
                                  "--server",     "http://127.0.0.1:" + std::to_string(port_),
                                  "--token",      "to-be-replaced", "--journal", journal};
  // No server yet: the client journals its key, then retries with backoff. Kill it there.
  {
    child_process cli{submit};
    for (int tries = 0; !fs::exists(journal); ++tries) {
      ASSERT_LT(tries, 5000) << "the client wrote no journal";
      std::this_thread::sleep_for(2ms);
    }
    cli.kill(SIGKILL);
    cli.wait_exit(10s);
  }
  start();
  submit[8] = token_;  // the same submission (the token is not part of it)
  {
    child_process cli{submit};
    std::string line;
    ASSERT_TRUE(cli.next_line(line, 60s));
    EXPECT_EQ(cli.wait_exit(60s), 0);
  }
  client c{port_, 60s};
  auto listed = c.request("GET", "/v1/jobs?limit=100", {}, auth()).json();
  EXPECT_EQ(listed["jobs"].size(), 1u) << listed.dump();
  // Killed while it waits on the job it submitted, then run again: the same job, watched on.
  std::vector<std::string> waiting = submit;
  waiting[4] = "ms=1500";
  waiting.push_back("--wait");
  std::uint64_t first_id = 0;
  {
    child_process cli{waiting};
    std::string line;
    ASSERT_TRUE(cli.next_line(line, 60s));  // the job, as the server returned it
    first_id = nlohmann::json::parse(line)["id"].get<std::uint64_t>();
    cli.kill(SIGKILL);
    cli.wait_exit(10s);
  }
  {
    child_process cli{waiting};
    std::string line;
    ASSERT_TRUE(cli.next_line(line, 60s));
    EXPECT_EQ(nlohmann::json::parse(line)["id"].get<std::uint64_t>(), first_id) << "resumed, not resubmitted";
    EXPECT_EQ(cli.wait_exit(60s), 0) << "it watched the job to its success";
  }
  listed = c.request("GET", "/v1/jobs?limit=100", {}, auth()).json();
  EXPECT_EQ(listed["jobs"].size(), 2u) << listed.dump();
}

}  // namespace

namespace {

// A session job (echo, docs/sessions.md) while the node is SIGKILLed: heart starts it again, the
// session is paused from the log, and the client that comes back with its Last-Event-ID gets
// every input it sent answered exactly once, with nothing missed and nothing repeated.
TEST_F(serve, a_session_survives_a_node_sigkill_and_answers_every_input_once) {
  start();
  client c{port_, 60s};
  auto r = post(c, "/v1/jobs", {{"kind", "echo"}});
  ASSERT_EQ(r.status, 201u) << r.body;
  auto id = r.json()["id"].get<std::uint64_t>();
  auto events_path = "/v1/jobs/" + std::to_string(id) + "/events";
  auto input = [&](client& cl, int seq, nlohmann::json body) {
    body["seq"] = seq;
    auto answer = post(cl, "/v1/jobs/" + std::to_string(id) + "/input", body);
    EXPECT_EQ(answer.status, 202u) << answer.body;
  };

  std::vector<respawn::http::test::sse_message> seen;
  {
    client stream{port_, 60s};
    stream.send_raw("GET " + events_path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token_ +
                    "\r\n\r\n");
    stream.read_until("event: running");
    for (int seq = 1; seq <= 5; ++seq) input(c, seq, {{"data", seq * 100}});
    auto raw = stream.read_until("\"seq\":5}");  // input 5's answer
    // Whole messages only: a read ends anywhere (the resume starts after the last whole one).
    auto body = raw.find("\r\n\r\n") + 4;
    seen = client::parse_sse(raw.substr(body, raw.rfind("\n\n") + 2 - body));
    // Inputs 6..10 through the CLI (`respawn input ID SEQ DATA`): each acknowledged, so durable.
    for (int seq = 6; seq <= 10; ++seq) {
      child_process cli{{RESPAWN_BINARY, "input", std::to_string(id), std::to_string(seq), std::to_string(seq * 100),
                         "--server", "http://127.0.0.1:" + std::to_string(port_), "--token", token_}};
      std::string line;
      ASSERT_TRUE(cli.next_line(line, 60s));
      EXPECT_EQ(nlohmann::json::parse(line)["seq"], seq) << line;
      ASSERT_EQ(cli.wait_exit(60s), 0);
    }
    ASSERT_EQ(::kill(node_pid_, SIGKILL), 0);  // answers to 6..10 may or may not be out
  }
  read_banner();
  client again{port_, 120s};
  for (int tries = 0; again.request("GET", "/v1/jobs/" + std::to_string(id), {}, auth()).json()["state"] != "paused";
       ++tries) {
    ASSERT_LT(tries, 6000) << "the session was not paused after the restart";
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_FALSE(seen.empty());
  client stream{port_, 120s};
  stream.send_raw("GET " + events_path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token_ +
                  "\r\nLast-Event-ID: " + std::to_string(seen.back().id) + "\r\n\r\n");
  stream.read_until("event: resumed");
  input(again, 11, {{"end", true}});
  auto raw = stream.read_to_end();
  auto rest = client::parse_sse(raw.substr(raw.find("\r\n\r\n") + 4));
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back().event, "succeeded");

  std::vector<respawn::http::test::sse_message> all = seen;
  all.insert(all.end(), rest.begin(), rest.end());
  std::map<std::uint64_t, int> answers;
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].id, i + 1) << "the two streams miss or repeat an event";
    if (all[i].event != "output") continue;
    auto seq = all[i].data["chunk"]["seq"].get<std::uint64_t>();
    ++answers[seq];
    EXPECT_EQ(all[i].data["chunk"]["data"], seq * 100);
  }
  for (std::uint64_t seq = 1; seq <= 10; ++seq) EXPECT_EQ(answers[seq], 1) << "input " << seq;
  EXPECT_EQ(answers.size(), 10u);
}

}  // namespace

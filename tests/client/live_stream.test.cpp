// Live streams (issue 13), through the real client binary (respawn-client-cli) as a child process:
// the fake node sends the first events of a job and then holds its stream open, the test reads
// the CLI's stdout as it comes and waits (with a deadline) until the running event's line is
// there, and only then lets the job end. A client that reads the stream into a buffer prints
// nothing until the end, and fails. Also: the progress line, drawn with CR only on a terminal
// (RESPAWN_PROGRESS=always stands in for one), and plain lines without control characters in a pipe.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cli_process.hpp"
#include "fake_server.hpp"
#include "respawn/client.hpp"
#include "store/temp_dir.hpp"

namespace respawn::client {
namespace {

using testing::cli_process;
using testing::fake_api;
using namespace std::chrono_literals;

constexpr auto deadline = 20s;

class LiveStream : public ::testing::Test {
 protected:
  store::testing::temp_dir dir;

  std::vector<std::string> environment(bool force_progress = false) const {
    const std::string home = dir.path().string();
    std::vector<std::string> env = {"HOME=" + home, "XDG_CONFIG_HOME=" + home + "/config",
                                    "XDG_STATE_HOME=" + home + "/state", "RESPAWN_DATA_DIR=" + home + "/data"};
    if (force_progress) env.push_back("RESPAWN_PROGRESS=always");
    return env;
  }

  std::unique_ptr<cli_process> start(const fake_api& api, std::vector<std::string> words, bool force_progress = false) {
    words.insert(words.begin() + 1, {"--server", api.url(), "--token", "secret", "--retry-for", "20"});
    if (words[0] == "submit") words.insert(words.end(), {"--journal", (dir.path() / "journal").string()});
    return std::make_unique<cli_process>(RESPAWN_CLIENT_CLI, words, environment(force_progress));
  }
};

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_F(LiveStream, WatchPrintsTheRunningEventWhileTheJobStillRuns) {
  fake_api api;
  const auto id = api.add_job("k", {{"kind", "sleep"}}, "running",
                              {{"queued", "{}"}, {"running", R"({"attempt":1})"}, {"succeeded", R"({"result":1})"}});
  api.configure([](fake_api::knobs& k) { k.pause_streams_after = 2; });
  auto cli = start(api, {"watch", std::to_string(id)});
  ASSERT_TRUE(api.wait_until_paused(deadline)) << "the client never opened its stream";
  const bool shown = cli->wait_for([&] { return has(cli->out(), "running {\"attempt\":1}\n"); }, deadline);
  const std::string before_the_end = cli->out();
  api.release();  // only now does the job end
  EXPECT_TRUE(shown) << "nothing shown while the job ran; stdout: " << before_the_end << "\nstderr: " << cli->err();
  EXPECT_FALSE(has(before_the_end, "succeeded"));
  ASSERT_EQ(cli->finish(deadline), exit_code::ok) << cli->err();
  EXPECT_EQ(cli->out(), "queued {}\nrunning {\"attempt\":1}\nsucceeded {\"result\":1}\n");
}

TEST_F(LiveStream, SubmitWaitPrintsTheRunningEventWhileTheJobStillRuns) {
  fake_api api;
  api.configure([](fake_api::knobs& k) {
    k.script = {{"queued", R"({"state":"queued"})"}, {"running", R"({"attempt":1})"}, {"dead", R"({"error":"boom"})"}};
    k.pause_streams_after = 2;
  });
  auto cli = start(api, {"submit", "fail", "--wait"});
  ASSERT_TRUE(api.wait_until_paused(deadline)) << "the client never opened its stream";
  const bool shown = cli->wait_for([&] { return has(cli->out(), "running {\"attempt\":1}\n"); }, deadline);
  const std::string before_the_end = cli->out();
  api.release();
  EXPECT_TRUE(shown) << "nothing shown while the job ran; stdout: " << before_the_end << "\nstderr: " << cli->err();
  EXPECT_TRUE(has(before_the_end, "\"id\":1")) << before_the_end;  // the submit's own line came first
  ASSERT_EQ(cli->finish(deadline), exit_code::job_dead) << cli->err();
  EXPECT_TRUE(has(cli->out(), "running {\"attempt\":1}\ndead {\"error\":\"boom\"}\n")) << cli->out();
}

// A progress event is printed as it comes, and (on a terminal, forced here) the progress line
// below the events shows it, drawn in place with CR and erase-line on stderr.
TEST_F(LiveStream, AProgressEventShowsAsItArrivesAndOnTheProgressLine) {
  fake_api api;
  const auto id = api.add_job("k", {{"kind", "sum"}}, "running",
                              {{"running", R"({"attempt":1})"},
                               {"progress", R"({"job_id":1,"seq":3,"progress":{"done":3,"of":10}})"},
                               {"succeeded", R"({"result":45})"}});
  api.configure([](fake_api::knobs& k) { k.pause_streams_after = 2; });
  auto cli = start(api, {"watch", std::to_string(id)}, true);
  ASSERT_TRUE(api.wait_until_paused(deadline));
  const bool shown = cli->wait_for(
      [&] {
        return has(cli->out(), "progress {\"job_id\":1,\"seq\":3,\"progress\":{\"done\":3,\"of\":10}}\n") &&
               has(cli->err(), "\r\033[2Kjob 1 running · attempt 1 · progress {\"done\":3,\"of\":10} · ");
      },
      deadline);
  const std::string out_before = cli->out();
  const std::string err_before = cli->err();
  api.release();
  EXPECT_TRUE(shown) << "stdout: " << out_before << "\nstderr: " << err_before;
  ASSERT_EQ(cli->finish(deadline), exit_code::ok) << cli->err();
  EXPECT_FALSE(has(cli->out(), "\r")) << "the progress line goes to stderr, never into the events";
  EXPECT_TRUE(has(cli->err(), "\r\033[2Kjob 1 succeeded")) << cli->err();
}

TEST_F(LiveStream, WithoutATerminalTheOutputIsPlainLinesWithoutControlCharacters) {
  fake_api api;
  const auto id = api.add_job("k", {{"kind", "sum"}}, "running",
                              {{"running", R"({"attempt":1})"}, {"progress", R"({"progress":{"done":3}})"},
                               {"succeeded", R"({"result":45})"}});
  auto cli = start(api, {"watch", std::to_string(id)});
  ASSERT_EQ(cli->finish(deadline), exit_code::ok) << cli->err();
  EXPECT_EQ(cli->out(), "running {\"attempt\":1}\nprogress {\"progress\":{\"done\":3}}\nsucceeded {\"result\":45}\n");
  for (const std::string* text : {&cli->out(), &cli->err()}) {
    EXPECT_EQ(std::count_if(text->begin(), text->end(),
                            [](char c) { return c != '\n' && static_cast<unsigned char>(c) < 0x20; }),
              0)
        << *text;
  }
}

// On a real terminal (a pseudo-terminal holding stdout and stderr), without RESPAWN_PROGRESS,
// the progress line is drawn in place while the job runs.
TEST_F(LiveStream, OnARealTerminalTheProgressLineIsDrawnInPlace) {
  fake_api api;
  const auto id = api.add_job("k", {{"kind", "sum"}}, "running",
                              {{"running", R"({"attempt":1})"}, {"progress", R"({"progress":0.5})"},
                               {"succeeded", R"({"result":45})"}});
  api.configure([](fake_api::knobs& k) { k.pause_streams_after = 2; });
  std::vector<std::string> words = {RESPAWN_CLIENT_CLI, "watch", std::to_string(id), "--server", api.url(),
                                    "--token", "secret", "--retry-for", "20"};
  std::vector<std::string> env = environment();
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  int terminal = -1;
  const pid_t child = ::forkpty(&terminal, nullptr, nullptr, nullptr);
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  std::string seen;
  bool open = true;
  auto read_until = [&](const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (open && !done() && std::chrono::steady_clock::now() < until) {
      pollfd p{terminal, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(terminal, buffer, sizeof buffer);
      if (n <= 0) {
        open = false;  // EIO: the child has closed the terminal
      } else {
        seen.append(buffer, static_cast<std::size_t>(n));
      }
    }
    return done();
  };
  const bool drawn = read_until([&] { return has(seen, "\r\033[2Kjob 1 running · attempt 1 · progress 50.0 % · "); },
                                deadline);
  api.release();
  EXPECT_TRUE(drawn) << seen;
  read_until([] { return false; }, deadline);
  ::close(terminal);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), exit_code::ok) << seen;
  EXPECT_TRUE(has(seen, "succeeded {\"result\":45}")) << seen;
}

}  // namespace
}  // namespace respawn::client

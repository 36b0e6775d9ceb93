// Live streams (issue 13), through the real client binary (respawn-client-cli) as a child process:
// the fake node sends the first events of a job and then holds its stream open, the test reads
// the CLI's stdout as it comes and waits (with a deadline) until the running event's line is
// there, and only then lets the job end. A client that reads the stream into a buffer prints
// nothing until the end, and fails. Also: the progress line, drawn with CR only on a terminal
// (RESPAWN_PROGRESS=always stands in for one), and plain lines without control characters in a pipe.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace respawn::client

// GET /v1/jobs/ID/events: a job's log as Server-Sent Events, streamed while the job runs and
// closed by the server after the final event; resuming with Last-Event-ID (or ?after=) repeats
// nothing and misses nothing.
#include "http_fixture.hpp"

namespace respawn::http::test {
namespace {

std::vector<std::uint64_t> ids_of(const std::vector<sse_message>& messages) {
  std::vector<std::uint64_t> ids;
  for (auto& m : messages) ids.push_back(m.id);
  return ids;
}
std::vector<std::string> names_of(const std::vector<sse_message>& messages) {
  std::vector<std::string> names;
  for (auto& m : messages) names.push_back(m.event);
  return names;
}

TEST_F(http_api, a_live_jobs_events_stream_to_its_end_then_resume_from_any_id) {
  start();
  auto c = connect();
  // Fails twice (a deadline of 200 ms each), then is dead: queued, running, retrying, running, dead.
  auto job = submit(c, {{"kind", "sleep"}, {"args", {{"ms", 60000}}}, {"timeout_ms", 200}, {"max_attempts", 2}});
  auto id = std::to_string(job.at("id").get<std::uint64_t>());

  auto [head, messages] = c.stream("/v1/jobs/" + id + "/events", ann());  // opened while the job runs
  ASSERT_EQ(head.status, 200u) << head.body;
  EXPECT_EQ(head.header("Content-Type"), std::optional<std::string>{"text/event-stream"});
  EXPECT_EQ(names_of(messages), (std::vector<std::string>{"queued", "running", "retrying", "running", "dead"}));
  EXPECT_EQ(ids_of(messages), (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(messages[0].data.at("kind"), "sleep");
  EXPECT_EQ(messages[1].data.at("attempt"), 1);
  EXPECT_TRUE(messages[2].data.contains("retry_at"));
  EXPECT_EQ(messages[3].data.at("attempt"), 2);
  for (auto& m : messages) EXPECT_EQ(m.data.at("seq"), m.id);

  // The same as the log in the store, event for event.
  auto log = store_->events(job.at("id"), 0, 100);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log.value().size(), messages.size());

  // Resume from every position: exactly the rest, header and query forms.
  for (std::uint64_t last = 0; last <= 5; ++last) {
    auto [h1, rest] = c.stream("/v1/jobs/" + id + "/events", with(ann(), "Last-Event-ID", std::to_string(last)));
    ASSERT_EQ(h1.status, 200u);
    std::vector<std::uint64_t> expected;
    for (auto i = last + 1; i <= 5; ++i) expected.push_back(i);
    EXPECT_EQ(ids_of(rest), expected) << "after " << last;
    auto [h2, rest2] = c.stream("/v1/jobs/" + id + "/events?after=" + std::to_string(last), ann());
    EXPECT_EQ(ids_of(rest2), expected) << "?after=" << last;
  }
  // The header wins over the query (a reconnecting EventSource keeps its URL).
  auto [h3, rest3] = c.stream("/v1/jobs/" + id + "/events?after=1", with(ann(), "Last-Event-ID", "4"));
  EXPECT_EQ(ids_of(rest3), (std::vector<std::uint64_t>{5}));
}

TEST_F(http_api, progress_output_and_snapshot_events_stream_under_their_own_names) {
  start();
  auto c = connect();
  auto id = std::to_string(submit(c, {{"kind", "progress_then_result"}}).at("id").get<std::uint64_t>());
  auto [head, messages] = c.stream("/v1/jobs/" + id + "/events", ann());
  ASSERT_EQ(head.status, 200u);
  EXPECT_EQ(names_of(messages),
            (std::vector<std::string>{"queued", "running", "progress", "output", "snapshot", "succeeded"}));
  EXPECT_EQ(messages.back().data.at("result"), nullptr);
  EXPECT_EQ(messages[3].data.at("chunk"), nlohmann::json({{"x", 1}}));
}

TEST_F(http_api, a_stream_that_is_resumed_mid_job_misses_nothing) {
  start();
  auto c = connect();
  auto id = submit(c, {{"kind", "sleep"}, {"args", {{"ms", 60000}}}, {"timeout_ms", 200}, {"max_attempts", 3}})
                .at("id")
                .get<std::uint64_t>();
  auto path = "/v1/jobs/" + std::to_string(id) + "/events";
  // Wait until the job has failed once, read only up to there through a resumed stream later.
  ASSERT_TRUE(eventually([&] {
    auto e = store_->events(id, 0, 100);
    return e.ok() && e.value().size() >= 3;
  }));
  auto [h1, rest] = c.stream(path, with(ann(), "Last-Event-ID", "2"));  // while it is still running
  ASSERT_EQ(h1.status, 200u);
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.front().id, 3u);
  for (std::size_t i = 1; i < rest.size(); ++i) EXPECT_EQ(rest[i].id, rest[i - 1].id + 1);
  EXPECT_EQ(rest.back().event, "dead");
}

TEST_F(http_api, a_quiet_stream_sends_keep_alive_comments_that_clients_ignore) {
  auto config = http_config();
  config.stream_keep_alive = 20ms;
  start(engine_config(), std::move(config));
  auto c = connect();
  auto id =
      submit(c, {{"kind", "sleep"}, {"args", {{"ms", 60000}}}, {"timeout_ms", 300}, {"max_attempts", 1}}).at("id");
  auto [head, messages] = c.stream("/v1/jobs/" + std::to_string(id.get<std::uint64_t>()) + "/events", ann());
  ASSERT_EQ(head.status, 200u);
  EXPECT_NE(head.body.find("\n: keep-alive\n\n"), std::string::npos) << head.body;
  EXPECT_EQ(names_of(messages), (std::vector<std::string>{"queued", "running", "dead"}));
}

TEST_F(http_api, stopping_the_server_ends_an_open_stream) {
  start();
  auto c = connect();
  auto id = submit(c, {{"kind", "sleep"}, {"args", {{"ms", 60000}}}}).at("id").get<std::uint64_t>();
  client s{server_->port()};
  s.send_raw("GET /v1/jobs/" + std::to_string(id) +
             "/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-ann\r\n\r\n");
  auto first = s.read_until("event: running");  // the stream is open and live
  EXPECT_EQ(first.rfind("HTTP/1.1 200", 0), 0u) << first;
  server_->stop();
  auto all = s.read_to_end();  // ends (within the client's deadline) instead of hanging
  EXPECT_EQ(all.find("event: cancelled"), std::string::npos);
  server_->stop();  // again: nothing happens
}

}  // namespace
}  // namespace respawn::http::test

// Session jobs over HTTP (docs/sessions.md, seed 004): streaming an `echo` job's events runs it;
// POST /v1/jobs/ID/input feeds it (202 once durable, idempotent by seq); when the stream drops
// the job is paused, takes input all the same, and a stream resumed with Last-Event-ID sees every
// input answered exactly once, nothing missed and nothing repeated.
#include "http_fixture.hpp"

namespace respawn::http::test {
namespace {

// The whole SSE messages in what a raw stream read so far (after the response's head; a read
// can end anywhere, a message's last line included).
std::vector<sse_message> messages_in(const std::string& raw) {
  auto body = raw.find("\r\n\r\n");
  if (body == std::string::npos) return {};
  auto end = raw.rfind("\n\n");
  if (end == std::string::npos || end < body + 4) return {};
  return client::parse_sse(raw.substr(body + 4, end + 2 - (body + 4)));
}

std::string open_stream_request(std::uint64_t id, std::optional<std::uint64_t> last_event_id = std::nullopt) {
  std::string r = "GET /v1/jobs/" + std::to_string(id) +
                  "/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer tok-ann\r\n";
  if (last_event_id) r += "Last-Event-ID: " + std::to_string(*last_event_id) + "\r\n";
  return r + "\r\n";
}

// The outputs among `messages`: input seq -> answer.
std::map<std::uint64_t, std::vector<nlohmann::json>> answers_in(const std::vector<sse_message>& messages) {
  std::map<std::uint64_t, std::vector<nlohmann::json>> out;
  for (const auto& m : messages) {
    if (m.event != "output") continue;
    const auto& chunk = m.data.at("chunk");
    out[chunk.at("seq").get<std::uint64_t>()].push_back(chunk.at("data"));
  }
  return out;
}

reply send_input(client& c, std::uint64_t id, const nlohmann::json& body, const header_list& headers = ann()) {
  return c.request("POST", "/v1/jobs/" + std::to_string(id) + "/input", body.dump(), headers);
}

std::string state_of(client& c, std::uint64_t id) {
  return c.request("GET", "/v1/jobs/" + std::to_string(id), {}, ann()).json().value("state", std::string{});
}

TEST_F(http_api, a_session_runs_while_streamed_pauses_when_the_stream_drops_and_resumes_missing_nothing) {
  start();
  auto c = connect();
  auto id = submit(c, {{"kind", "echo"}}).at("id").get<std::uint64_t>();
  EXPECT_EQ(state_of(c, id), "queued");  // nobody streams it: it does not run

  std::vector<sse_message> seen;
  {
    client stream{server_->port()};
    stream.send_raw(open_stream_request(id));
    stream.read_until("event: running");  // attached: the session started
    auto r = send_input(c, id, {{"seq", 1}, {"data", "hello"}});
    ASSERT_EQ(r.status, 202u) << r.body;
    EXPECT_EQ(r.json().at("duplicate"), false);
    seen = messages_in(stream.read_until("\"chunk\""));
    auto answers = answers_in(seen);
    ASSERT_EQ(answers.count(1), 1u);
    EXPECT_EQ(answers.at(1), std::vector<nlohmann::json>{"hello"});
  }  // the client's connection drops here

  ASSERT_TRUE(eventually([&] { return state_of(c, id) == "paused"; }));
  // Input while paused: accepted (durable), answered later.
  auto paused = send_input(c, id, {{"seq", 2}, {"data", {{"n", 2}}}});
  ASSERT_EQ(paused.status, 202u) << paused.body;
  EXPECT_EQ(paused.json().at("state"), "paused");
  // Idempotent by seq: the same input again is a duplicate; other data under a seq is refused.
  auto again = send_input(c, id, {{"seq", 2}, {"data", {{"n", 2}}}});
  EXPECT_EQ(again.status, 202u);
  EXPECT_EQ(again.json().at("duplicate"), true);
  auto conflict = send_input(c, id, {{"seq", 2}, {"data", "other"}});
  EXPECT_EQ(conflict.status, 409u);
  EXPECT_EQ(conflict.json().at("error").at("code"), "input_conflict");

  // The client comes back with the last id it saw: the rest of the log, the pending input
  // answered, then the end.
  client stream{server_->port()};
  stream.send_raw(open_stream_request(id, seen.back().id));
  stream.read_until("\"seq\":2}");  // the answer to input 2: an output's chunk {"data":...,"seq":2}  // the answer to input 2 (an output's chunk)
  auto end = send_input(c, id, {{"seq", 3}, {"end", true}});
  ASSERT_EQ(end.status, 202u) << end.body;
  auto rest = messages_in(stream.read_to_end());  // the server closes after the final event
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back().event, "succeeded");
  EXPECT_EQ(rest.back().data.at("result"), (nlohmann::json{{"inputs", 3}}));

  // Nothing missed, nothing repeated: the two streams together are the log, each id once.
  std::vector<sse_message> all = seen;
  all.insert(all.end(), rest.begin(), rest.end());
  auto log = store_->events(id, 0, 1000);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(all.size(), log.value().size());
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].id, i + 1);
  auto answers = answers_in(all);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers.at(1), std::vector<nlohmann::json>{"hello"});
  EXPECT_EQ(answers.at(2), (std::vector<nlohmann::json>{nlohmann::json{{"n", 2}}}));
  std::vector<std::string> names;
  for (auto& m : all) {
    if (m.event != "output") names.push_back(m.event);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"queued", "running", "input", "paused", "input", "resumed", "input",
                                             "succeeded"}));
  // Over: no more input.
  auto late = send_input(c, id, {{"seq", 4}, {"data", "late"}});
  EXPECT_EQ(late.status, 409u);
  EXPECT_EQ(late.json().at("error").at("code"), "job_finished");
}

TEST_F(http_api, session_input_bad_requests_and_cancel) {
  start();
  auto c = connect();
  auto id = submit(c, {{"kind", "echo"}}).at("id").get<std::uint64_t>();
  auto batch_job = submit(c, {{"kind", "noop"}}).at("id").get<std::uint64_t>();
  struct row {
    std::string body;
    unsigned status;
    std::string code;
  };
  for (const auto& r : std::vector<row>{
           {"not json", 400, "invalid_json"},
           {"[1]", 400, "invalid_json"},
           {R"({"data":1})", 422, "invalid_field"},             // no seq
           {R"({"seq":0,"data":1})", 422, "invalid_field"},     // seq must be positive
           {R"({"seq":-3,"data":1})", 422, "invalid_field"},
           {R"({"seq":"1","data":1})", 422, "invalid_field"},
           {R"({"seq":1.5,"data":1})", 422, "invalid_field"},
           {R"({"seq":1})", 422, "invalid_field"},              // no data (and not the end)
           {R"({"seq":1,"data":1,"end":"yes"})", 422, "invalid_field"},
           {R"({"seq":1,"data":1,"extra":2})", 422, "unknown_field"},
       }) {
    auto got = c.request("POST", "/v1/jobs/" + std::to_string(id) + "/input", r.body, ann());
    EXPECT_EQ(got.status, r.status) << r.body << " -> " << got.body;
    EXPECT_EQ(got.json().at("error").at("code"), r.code) << r.body;
  }
  auto not_session = send_input(c, batch_job, {{"seq", 1}, {"data", 1}});
  EXPECT_EQ(not_session.status, 409u);
  EXPECT_EQ(not_session.json().at("error").at("code"), "not_a_session_job");
  // Another user's session is a missing one.
  auto bobs = send_input(c, id, {{"seq", 1}, {"data", 1}}, bob());
  EXPECT_EQ(bobs.status, 404u);
  auto bob_stream = c.request("GET", "/v1/jobs/" + std::to_string(id) + "/events", {}, bob());
  EXPECT_EQ(bob_stream.status, 404u);

  // After the end input, nothing may follow it.
  ASSERT_EQ(send_input(c, id, {{"seq", 5}, {"end", true}}).status, 202u);
  auto after_end = send_input(c, id, {{"seq", 6}, {"data", 1}});
  EXPECT_EQ(after_end.status, 409u);
  EXPECT_EQ(after_end.json().at("error").at("code"), "input_after_end");

  // Cancel ends a session that is not in memory.
  auto cancelled = c.request("POST", "/v1/jobs/" + std::to_string(id) + "/cancel", {}, ann());
  ASSERT_EQ(cancelled.status, 200u) << cancelled.body;
  EXPECT_EQ(cancelled.json().at("state"), "cancelled");
  auto finished = send_input(c, id, {{"seq", 1}, {"data", 1}});
  EXPECT_EQ(finished.status, 409u);
  EXPECT_EQ(finished.json().at("error").at("code"), "job_finished");
}

// Seed 004's manager failure: the engine's dispatcher is killed while a client streams a session
// and others submit. The engine's core restarts (one_for_all: dispatcher and job processes), the
// server finds the new dispatcher by name, the session's process (which ended with its manager)
// is rebuilt from the log and the open stream attaches to it again: the client notices nothing
// but the events, and every input is answered once.
TEST_F(http_api, a_killed_manager_is_replaced_and_an_open_session_stream_carries_on) {
  auto hc = http_config();
  hc.dispatcher_name = "jobs";  // the engine's name (engine_config's default)
  start(engine_config(), hc);
  auto c = connect();
  auto id = submit(c, {{"kind", "echo"}}).at("id").get<std::uint64_t>();
  client stream{server_->port()};
  stream.send_raw(open_stream_request(id));
  stream.read_until("event: running");
  ASSERT_EQ(send_input(c, id, {{"seq", 1}, {"data", "before"}}).status, 202u);
  stream.read_until("\"seq\":1}");

  auto old_dispatcher = rt_->whereis("jobs");
  ASSERT_TRUE(old_dispatcher);
  rt_->exit(old_dispatcher, exit_reason::kill());
  ASSERT_TRUE(eventually([&] {
    auto now = rt_->whereis("jobs");
    return now && now != old_dispatcher;
  }));
  // Submissions go to the new dispatcher (a request that raced the restart may have seen 503).
  nlohmann::json job;
  ASSERT_TRUE(eventually([&] {
    auto r = c.request("POST", "/v1/jobs", nlohmann::json{{"kind", "sum"}, {"args", {{"n", 3}}}}.dump(), ann());
    if (r.status == 201) job = r.json();
    return r.status == 201;
  }));
  EXPECT_EQ(await_final(c, job.at("id").get<std::uint64_t>()).at("result"), 6);
  // The same stream: input 2 is answered by the rebuilt session.
  ASSERT_TRUE(eventually([&] { return send_input(c, id, {{"seq", 2}, {"data", "after"}}).status == 202; }));
  stream.read_until("\"seq\":2}");
  ASSERT_EQ(send_input(c, id, {{"seq", 3}, {"end", true}}).status, 202u);
  auto all = messages_in(stream.read_to_end());
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back().event, "succeeded");
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].id, i + 1) << "one stream, nothing missed or repeated";
  auto answers = answers_in(all);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers.at(1), std::vector<nlohmann::json>{"before"});
  EXPECT_EQ(answers.at(2), std::vector<nlohmann::json>{"after"});
}

}  // namespace
}  // namespace respawn::http::test

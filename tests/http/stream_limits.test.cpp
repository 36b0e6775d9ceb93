// Open event streams: they live as long as their job needs, however short the idle timeout
// (review F7); they are counted per user and in all (F13); and they end once their token no
// longer names their user (F17).
#include "http_fixture.hpp"

namespace respawn::http::test {
namespace {

std::string stream_request(std::uint64_t id, const std::string& token) {
  return "GET /v1/jobs/" + std::to_string(id) + "/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
         token + "\r\n\r\n";
}

TEST_F(http_api, a_stream_outlives_the_idle_timeout_while_keep_alives_flow) {
  auto config = http_config();
  config.idle_timeout = 300ms;
  config.stream_keep_alive = 50ms;
  start(engine_config(), std::move(config));
  auto c = connect();
  // Runs about five idle timeouts; its stream must carry every event to the end.
  auto id = submit(c, {{"kind", "sleep"}, {"args", {{"ms", 1500}}}}).at("id").get<std::uint64_t>();
  client s{server_->port()};
  auto [head, messages] = s.stream("/v1/jobs/" + std::to_string(id) + "/events", ann());
  ASSERT_EQ(head.status, 200u);
  std::vector<std::string> names;
  for (auto& m : messages) names.push_back(m.event);
  EXPECT_EQ(names, (std::vector<std::string>{"queued", "running", "succeeded"}));
  EXPECT_NE(head.body.find(": keep-alive"), std::string::npos);
}

TEST_F(http_api, streams_are_capped_per_user_and_in_all_with_429) {
  auto config = http_config();
  config.streams_per_user_max = 2;
  config.streams_max = 3;
  start(engine_config(), std::move(config));
  auto c = connect();
  auto ann_job = submit(c, {{"kind", "sleep"}, {"args", {{"ms", 60000}}}}).at("id").get<std::uint64_t>();
  auto bob_job = submit(c, {{"kind", "sleep"}, {"args", {{"ms", 60000}}}}, bob()).at("id").get<std::uint64_t>();
  std::vector<std::unique_ptr<client>> open;
  auto open_stream = [&](std::uint64_t id, const std::string& token) {
    open.push_back(std::make_unique<client>(server_->port()));
    open.back()->send_raw(stream_request(id, token));
    return open.back()->read_until("\r\n\r\n");
  };
  EXPECT_EQ(open_stream(ann_job, "tok-ann").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(open_stream(ann_job, "tok-ann").rfind("HTTP/1.1 200", 0), 0u);
  auto third = c.request("GET", "/v1/jobs/" + std::to_string(ann_job) + "/events", {}, ann());
  EXPECT_EQ(third.status, 429u) << third.body;
  EXPECT_EQ(third.error_code(), "too_many_streams");
  EXPECT_TRUE(third.header("Retry-After").has_value());
  // Another user has room until the server's cap.
  EXPECT_EQ(open_stream(bob_job, "tok-bob").rfind("HTTP/1.1 200", 0), 0u);
  auto fourth = c.request("GET", "/v1/jobs/" + std::to_string(bob_job) + "/events", {}, bob());
  EXPECT_EQ(fourth.status, 429u) << fourth.body;
  EXPECT_EQ(fourth.error_code(), "too_many_streams");
  // A closed stream gives its place back.
  open.erase(open.begin());
  EXPECT_TRUE(eventually([&] {
    client again{server_->port()};
    again.send_raw(stream_request(ann_job, "tok-ann"));
    return again.read_until("\r\n\r\n").rfind("HTTP/1.1 200", 0) == 0;
  }));
}

TEST_F(http_api, an_open_stream_ends_when_its_token_is_revoked) {
  auto valid = std::make_shared<std::atomic<bool>>(true);
  auto config = http_config();
  config.stream_reauthenticate_interval = 50ms;
  config.authenticate = [valid](std::string_view token) -> std::optional<std::string> {
    if (token == "tok-ann") return "ann";
    if (token == "tok-carl" && valid->load()) return "carl";
    return std::nullopt;
  };
  start(engine_config(), std::move(config));
  auto c = connect();
  auto id = submit(c, {{"kind", "sleep"}, {"args", {{"ms", 60000}}}}, auth("tok-carl")).at("id").get<std::uint64_t>();
  client s{server_->port(), 20s};
  s.send_raw(stream_request(id, "tok-carl"));
  s.read_until("event: running");  // open and live
  client others{server_->port(), 20s};  // a stream of a user whose token stays valid
  auto ann_id = submit(c, {{"kind", "sleep"}, {"args", {{"ms", 60000}}}}).at("id").get<std::uint64_t>();
  others.send_raw(stream_request(ann_id, "tok-ann"));
  others.read_until("event: running");
  valid->store(false);  // `respawn user revoke carl`
  std::string all;
  ASSERT_NO_THROW(all = s.read_to_end());  // ends well before the job (60 s) or the deadline (20 s)
  EXPECT_EQ(all.find("event: succeeded"), std::string::npos);
  EXPECT_EQ(c.request("GET", "/v1/jobs/" + std::to_string(id), {}, auth("tok-carl")).status, 401u);
  // ann's stream is untouched: it still gets events (a cancel request, here).
  ASSERT_EQ(c.request("POST", "/v1/jobs/" + std::to_string(ann_id) + "/cancel", {}, ann()).status, 200u);
  EXPECT_NE(others.read_until("event: cancel_requested").find("event: cancel_requested"), std::string::npos);
}

}  // namespace
}  // namespace respawn::http::test

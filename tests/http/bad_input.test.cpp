// Bad input, endpoint by endpoint: malformed JSON, wrong types, unknown fields and kinds, bodies
// over the limit, unknown ids and routes, missing or invalid tokens, wrong methods, malformed
// HTTP. Each gets its status and a stable error code with a message, and the server keeps
// serving afterwards (never a crash).
#include "http_fixture.hpp"

namespace respawn::http::test {
namespace {

struct bad_case {
  std::string method;
  std::string target;
  std::string body;
  header_list headers;
  unsigned status;
  std::string code;
};

TEST_F(http_api, every_endpoint_answers_bad_input_with_a_clear_error) {
  start();
  auto c = connect();
  auto existing = std::to_string(submit(c, {{"kind", "noop"}}).at("id").get<std::uint64_t>());
  std::string too_many = R"({"jobs":[)";
  for (int i = 0; i < 11; ++i) too_many += std::string{i ? "," : ""} + R"({"kind":"noop"})";
  too_many += "]}";

  std::vector<bad_case> cases{
      // authentication, on every /v1 route
      {"GET", "/v1/jobs", "", {}, 401, "unauthorized"},
      {"POST", "/v1/jobs", R"({"kind":"noop"})", {}, 401, "unauthorized"},
      {"GET", "/v1/jobs/" + existing, "", auth("nope"), 401, "unauthorized"},
      {"GET", "/v1/jobs/" + existing + "/events", "", {{"Authorization", "Basic dG9rLWFubg=="}}, 401, "unauthorized"},
      {"POST", "/v1/jobs/batch", "", {{"Authorization", "Bearer"}}, 401, "unauthorized"},
      {"GET", "/v1/nothing", "", {}, 401, "unauthorized"},
      // POST /v1/jobs
      {"POST", "/v1/jobs", "{\"kind\":", ann(), 400, "invalid_json"},
      {"POST", "/v1/jobs", "", ann(), 400, "invalid_json"},
      {"POST", "/v1/jobs", "[1,2]", ann(), 400, "invalid_json"},
      {"POST", "/v1/jobs", R"({"args":{}})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs", R"({"kind":5})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs", R"({"kind":""})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs", R"({"kind":"noop","args":[1]})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs", R"({"kind":"noop","max_attempts":"3"})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs", R"({"kind":"noop","max_attempts":0})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs", R"({"kind":"noop","timeout_ms":-1})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs", R"({"kind":"noop","timeout_ms":1e3})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs", R"({"kind":"noop","priority":1.5})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs", R"({"kind":"noop","priority":99999999999999999999})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs", R"({"kind":"noop","idempotency_key":7})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs", R"({"kind":"noop","max_attempt":3})", ann(), 422, "unknown_field"},
      {"POST", "/v1/jobs", R"({"kind":"no_such_kind"})", ann(), 422, "unknown_kind"},
      {"POST", "/v1/jobs", R"({"kind":"noop","idempotency_key":"a"})", with(ann(), "Idempotency-Key", "b"), 422,
       "idempotency_key_mismatch"},
      {"POST", "/v1/jobs", R"({"kind":"noop"})", with(ann(), "Idempotency-Key", ""), 422, "invalid_header"},
      {"DELETE", "/v1/jobs", "", ann(), 405, "method_not_allowed"},
      // POST /v1/jobs/batch
      {"POST", "/v1/jobs/batch", "nope", ann(), 400, "invalid_json"},
      {"POST", "/v1/jobs/batch", R"({"jobs":{}})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs/batch", R"({"jobs":[]})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs/batch", R"({"jobs":[{"kind":"noop"}],"x":1})", ann(), 422, "unknown_field"},
      {"POST", "/v1/jobs/batch", R"({"jobs":[{"kind":"noop"},{"kind":3}]})", ann(), 422, "invalid_field"},
      {"POST", "/v1/jobs/batch", R"({"jobs":[{"kind":"noop"},{"kind":"nope"}]})", ann(), 422, "unknown_kind"},
      {"POST", "/v1/jobs/batch", too_many, ann(), 422, "batch_too_large"},
      {"POST", "/v1/jobs/batch", R"({"jobs":[{"kind":"noop"}]})", with(ann(), "Idempotency-Key", "k"), 422,
       "invalid_header"},
      {"GET", "/v1/jobs/batch", "", ann(), 405, "method_not_allowed"},
      // GET /v1/jobs
      {"GET", "/v1/jobs?state=bogus", "", ann(), 422, "invalid_parameter"},
      {"GET", "/v1/jobs?limit=0", "", ann(), 422, "invalid_parameter"},
      {"GET", "/v1/jobs?limit=100000", "", ann(), 422, "invalid_parameter"},
      {"GET", "/v1/jobs?limit=ten", "", ann(), 422, "invalid_parameter"},
      {"GET", "/v1/jobs?after_id=-1", "", ann(), 422, "invalid_parameter"},
      {"GET", "/v1/jobs?colour=red", "", ann(), 422, "unknown_parameter"},
      {"GET", "/v1/jobs?kind=%zz", "", ann(), 400, "invalid_target"},
      // GET /v1/jobs/ID
      {"GET", "/v1/jobs/999999", "", ann(), 404, "not_found"},
      {"GET", "/v1/jobs/0", "", ann(), 404, "not_found"},
      {"GET", "/v1/jobs/abc", "", ann(), 404, "not_found"},
      {"GET", "/v1/jobs/99999999999999999999999", "", ann(), 404, "not_found"},
      {"PUT", "/v1/jobs/" + existing, "{}", ann(), 405, "method_not_allowed"},
      // POST /v1/jobs/ID/cancel
      {"POST", "/v1/jobs/999999/cancel", "", ann(), 404, "not_found"},
      {"GET", "/v1/jobs/" + existing + "/cancel", "", ann(), 405, "method_not_allowed"},
      // GET /v1/jobs/ID/events
      {"GET", "/v1/jobs/999999/events", "", ann(), 404, "not_found"},
      {"GET", "/v1/jobs/" + existing + "/events", "", with(ann(), "Last-Event-ID", "abc"), 400, "invalid_header"},
      {"GET", "/v1/jobs/" + existing + "/events?after=x", "", ann(), 422, "invalid_parameter"},
      {"GET", "/v1/jobs/" + existing + "/events?from=1", "", ann(), 422, "unknown_parameter"},
      {"POST", "/v1/jobs/" + existing + "/events", "", ann(), 405, "method_not_allowed"},
      // POST /v1/jobs/ID/input (no session jobs yet)
      {"POST", "/v1/jobs/" + existing + "/input", "{}", ann(), 409, "not_a_session_job"},
      {"POST", "/v1/jobs/999999/input", "{}", ann(), 404, "not_found"},
      // unknown routes, health
      {"GET", "/v1/jobs/1/2/3", "", ann(), 404, "not_found"},
      {"GET", "/v1/widgets", "", ann(), 404, "not_found"},
      {"GET", "/v2/jobs", "", ann(), 404, "not_found"},
      {"GET", "/", "", {}, 404, "not_found"},
      {"POST", "/healthz", "", {}, 405, "method_not_allowed"},
      {"DELETE", "/readyz", "", {}, 405, "method_not_allowed"},
  };
  for (const auto& bad : cases) {
    SCOPED_TRACE(bad.method + " " + bad.target + " " + bad.body.substr(0, 60));
    auto r = c.request(bad.method, bad.target, bad.body, bad.headers);
    EXPECT_EQ(r.status, bad.status) << r.body;
    EXPECT_EQ(r.error_code(), bad.code) << r.body;
    EXPECT_FALSE(r.json().value("/error/message"_json_pointer, std::string{}).empty()) << r.body;
    EXPECT_EQ(r.header("Content-Type"), std::optional<std::string>{"application/json"});
    if (bad.status == 405) {
      EXPECT_TRUE(r.header("Allow").has_value());
    }
    if (bad.status == 401) {
      EXPECT_EQ(r.header("WWW-Authenticate"), std::optional<std::string>{"Bearer"});
    }
  }
  // Still serving, on the same connection.
  EXPECT_EQ(c.request("GET", "/healthz").status, 200u);
  EXPECT_EQ(c.request("GET", "/v1/jobs/" + existing, {}, ann()).status, 200u);
}

TEST_F(http_api, a_body_over_the_limit_is_413_and_the_server_keeps_serving) {
  start();
  auto c = connect();
  std::string big = R"({"kind":"noop","args":{"pad":")" + std::string(70 * 1024, 'x') + "\"}}";
  auto r = c.request("POST", "/v1/jobs", big, ann());
  EXPECT_EQ(r.status, 413u) << r.body;
  EXPECT_EQ(r.error_code(), "body_too_large");
  EXPECT_EQ(r.header("Connection"), std::optional<std::string>{"close"});
  auto again = connect();
  EXPECT_EQ(again.request("GET", "/healthz").status, 200u);
  // Just under the limit is fine.
  std::string fits = R"({"kind":"noop","args":{"pad":")" + std::string(60 * 1024, 'x') + "\"}}";
  EXPECT_EQ(again.request("POST", "/v1/jobs", fits, ann()).status, 201u);
}

TEST_F(http_api, malformed_http_is_400_and_closed) {
  start();
  auto c = connect();
  auto answer = c.raw("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  EXPECT_NE(answer.find("malformed_request"), std::string::npos) << answer;
  auto huge_header = c.raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(huge_header.rfind("HTTP/1.1 431", 0), 0u) << huge_header.substr(0, 200);
  EXPECT_EQ(connect().request("GET", "/healthz").status, 200u);
}

TEST_F(http_api, a_bad_configuration_is_rejected_at_construction) {
  start();
  auto config = http_config();
  config.authenticate = nullptr;
  EXPECT_THROW(server(*rt_, config, handle_.dispatcher, store_), std::invalid_argument);
  config = http_config();
  config.io_threads = 0;
  EXPECT_THROW(server(*rt_, config, handle_.dispatcher, store_), std::invalid_argument);
  // A port already taken: start() says so.
  config = http_config();
  config.port = server_->port();
  server second(*rt_, config, handle_.dispatcher, store_);
  EXPECT_THROW(second.start(), std::runtime_error);
}

}  // namespace
}  // namespace respawn::http::test

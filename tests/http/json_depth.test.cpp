// The JSON nesting limit (review F1): every JSON the node parses is at most jobs::json_depth_max
// deep, so that copying or dumping it cannot overflow the stack. A body of "[[[[..." 100,000
// deep used to kill the node with SIGSEGV; now it is a 400, and the server goes on serving.
#include <sqlite3.h>

#include "http_fixture.hpp"
#include "respawn/jobs/json_limits.hpp"

namespace respawn::http::test {
namespace {

// `depth` nested arrays: depth 0 is the number 1, depth 2 is [[1]].
std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + "1" + std::string(depth, ']'); }
// `depth` nested objects {"a":{"a":...1}}.
std::string nested_objects(std::size_t depth) {
  std::string out;
  out.reserve(depth * 6 + 2);
  for (std::size_t i = 0; i < depth; ++i) out += "{\"a\":";
  out += "1";
  out += std::string(depth, '}');
  return out;
}

TEST(json_limits, parse_json_accepts_up_to_the_limit_and_refuses_one_level_deeper) {
  auto at = jobs::parse_json(nested_arrays(jobs::json_depth_max));
  ASSERT_TRUE(at.ok()) << at.error().message;
  EXPECT_EQ(jobs::json_depth(at.value()), jobs::json_depth_max);
  auto over = jobs::parse_json(nested_arrays(jobs::json_depth_max + 1));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, jobs::json_errc::too_deep);
  EXPECT_NE(over.error().message.find("64"), std::string::npos) << over.error().message;
  auto objects = jobs::parse_json(nested_objects(jobs::json_depth_max + 1));
  ASSERT_FALSE(objects.ok());
  EXPECT_EQ(objects.error().code, jobs::json_errc::too_deep);
  EXPECT_TRUE(jobs::parse_json(nested_objects(jobs::json_depth_max)).ok());
  // A custom limit.
  EXPECT_TRUE(jobs::parse_json("[[1]]", 2).ok());
  EXPECT_FALSE(jobs::parse_json("[[[1]]]", 2).ok());
  EXPECT_TRUE(jobs::parse_json("7", 0).ok());
  EXPECT_FALSE(jobs::parse_json("[]", 0).ok());
}

TEST(json_limits, parse_json_refuses_what_json_parse_refuses_and_keeps_what_it_keeps) {
  for (std::string bad : {"", "{", "[1,]", "{\"a\":1} x", "\"\xff\"", "nul", "{\"a\" 1}", "[1] [2]"}) {
    auto r = jobs::parse_json(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, jobs::json_errc::invalid) << bad;
  }
  std::string good = R"({"s":"\u00e9x","i":-3,"u":18446744073709551615,"f":1.5,"n":null,"b":true,"a":[{},[]]})";
  auto r = jobs::parse_json(good);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value(), nlohmann::json::parse(good));
  EXPECT_TRUE(r.value().at("u").is_number_unsigned());
}

TEST(json_limits, a_hostile_depth_is_refused_without_recursion_and_the_stored_variant_throws) {
  auto deep = nested_arrays(1'000'000);  // far past any stack if anything recursed per level
  auto r = jobs::parse_json(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, jobs::json_errc::too_deep);
  EXPECT_THROW(jobs::parse_stored_json(deep), std::runtime_error);
  // Rows wrap client values a few levels deeper: those still read back.
  EXPECT_NO_THROW(jobs::parse_stored_json(nested_objects(jobs::json_depth_max + 3)));
}

TEST_F(http_api, a_body_nested_100000_deep_is_400_and_the_server_keeps_serving) {
  auto config = http_config();
  config.max_body_bytes = 1 << 20;
  start(engine_config(), std::move(config));
  auto c = connect();
  std::string body = R"({"kind":"noop","args":{"a":)" + nested_arrays(100'000) + "}}";
  auto r = c.request("POST", "/v1/jobs", body, ann());
  EXPECT_EQ(r.status, 400u) << r.body.substr(0, 200);
  EXPECT_EQ(r.error_code(), "invalid_json");
  EXPECT_NE(r.body.find("deeper than 64"), std::string::npos) << r.body;
  // The batch route and a session's input are limited alike.
  auto batch = c.request("POST", "/v1/jobs/batch", R"({"jobs":[{"kind":"noop","args":{"a":)" + nested_objects(100'000) + "}}]}", ann());
  EXPECT_EQ(batch.status, 400u);
  EXPECT_EQ(batch.error_code(), "invalid_json");
  auto session = submit(c, {{"kind", "echo"}}).at("id").get<std::uint64_t>();
  auto input = c.request("POST", "/v1/jobs/" + std::to_string(session) + "/input",
                         R"({"seq":1,"data":)" + nested_arrays(100'000) + "}", ann());
  EXPECT_EQ(input.status, 400u) << input.body;
  EXPECT_EQ(input.error_code(), "invalid_json");
  // Still serving, on the same connection and on a new one.
  EXPECT_EQ(c.request("GET", "/healthz").status, 200u);
  EXPECT_EQ(connect().request("GET", "/v1/jobs", {}, ann()).status, 200u);
}

TEST_F(http_api, args_at_the_depth_limit_are_accepted_and_come_back_whole) {
  start();
  auto c = connect();
  // The body is one level above its args: args of depth 63 make a body of depth 64.
  auto args = nlohmann::json::parse(nested_objects(jobs::json_depth_max - 1));
  auto job = submit(c, {{"kind", "echo_args"}, {"args", args}});
  auto done = await_final(c, job.at("id").get<std::uint64_t>());
  EXPECT_EQ(done.at("state"), "succeeded");
  EXPECT_EQ(done.at("args"), args);
  EXPECT_EQ(done.at("result"), args);  // the worker's result, parsed back within the limit
  // One level more is refused.
  std::string deeper = R"({"kind":"echo_args","args":)" + nested_objects(jobs::json_depth_max) + "}";
  auto r = c.request("POST", "/v1/jobs", deeper, ann());
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_EQ(r.error_code(), "invalid_json");
}

// Damages job `id`'s request row in the database under the store (a bug, a hand edit): its args
// become objects nested 100,000 deep. Copying them out of the parsed row recursed once per level.
// (Schema v4 keeps the request in job_requests, written once; docs/store.md.)
void nest_args_too_deep(const fs::path& database, std::uint64_t id) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(database.string().c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  std::string state;
  {
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT request FROM job_requests WHERE job_id = ?1", -1, &s, nullptr), SQLITE_OK);
    sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(id));
    ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
    state = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
  }
  const std::string args = R"("args":{"ms":60000})";
  auto at = state.find(args);
  ASSERT_NE(at, std::string::npos) << state;
  state.replace(at, args.size(), "\"args\":" + nested_objects(100'000));
  {
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE job_requests SET request = ?1 WHERE job_id = ?2", -1, &s, nullptr), SQLITE_OK);
    sqlite3_bind_text(s, 1, state.c_str(), static_cast<int>(state.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(id));
    ASSERT_EQ(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
}

TEST_F(http_api, a_stored_row_nested_too_deep_reads_as_unreadable_not_a_crash) {
  start();
  auto c = connect();
  auto id = submit(c, {{"kind", "sleep"}, {"args", {{"ms", 60000}}}, {"timeout_ms", 60000}}).at("id").get<std::uint64_t>();
  ASSERT_TRUE(eventually([&] {
    return c.request("GET", "/v1/jobs/" + std::to_string(id), {}, ann()).json().value("state", "") == "running";
  }));
  ASSERT_NO_FATAL_FAILURE(nest_args_too_deep(dir_ / "jobs.db", id));
  auto r = c.request("GET", "/v1/jobs/" + std::to_string(id), {}, ann());
  EXPECT_EQ(r.status, 503u) << r.body.substr(0, 300);
  EXPECT_EQ(r.error_code(), "store_unavailable");
  EXPECT_EQ(c.request("GET", "/healthz").status, 200u);
}

// Ownership is read from the owner's column before the row (review F18): another user's request
// never loads the row, so a damaged (or a huge) row answers exactly like a missing one.
TEST_F(http_api, another_users_job_is_a_404_without_its_row_being_read) {
  start();
  auto c = connect();
  auto id = submit(c, {{"kind", "sleep"}, {"args", {{"ms", 60000}}}, {"timeout_ms", 60000}}).at("id").get<std::uint64_t>();
  ASSERT_TRUE(eventually([&] {
    return c.request("GET", "/v1/jobs/" + std::to_string(id), {}, ann()).json().value("state", "") == "running";
  }));
  ASSERT_NO_FATAL_FAILURE(nest_args_too_deep(dir_ / "jobs.db", id));
  auto path = "/v1/jobs/" + std::to_string(id);
  for (auto [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", path}, {"POST", path + "/cancel"}, {"GET", path + "/events"}, {"POST", path + "/input"}}) {
    SCOPED_TRACE(method + " " + target);
    auto r = c.request(method, target, "{}", bob());
    EXPECT_EQ(r.status, 404u) << r.body.substr(0, 300);
    EXPECT_EQ(r.error_code(), "not_found");
  }
  EXPECT_EQ(c.request("GET", path, {}, ann()).status, 503u);  // the owner does read it
}

}  // namespace
}  // namespace respawn::http::test

// The Beast-free parts on their own: the JSON vocabulary of jobs and events, the SSE message
// format, submission validation and request-target parsing. No sockets, no engine.
#include <gtest/gtest.h>

#include "job_json.hpp"
#include "request_target.hpp"

namespace respawn::http {
namespace {

using jobs::event_type;

TEST(job_json, times_are_rfc3339_utc_to_the_microsecond) {
  EXPECT_EQ(format_time(jobs::from_microseconds(0)), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_time(jobs::from_microseconds(1'700'000'000'123'456)), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(format_time(jobs::from_microseconds(-1)), "1969-12-31T23:59:59.999999Z");
}

TEST(job_json, event_types_take_the_apis_names) {
  EXPECT_EQ(sse_event_name(event_type::submitted), "queued");
  EXPECT_EQ(sse_event_name(event_type::claimed), "running");
  EXPECT_EQ(sse_event_name(event_type::attempt_failed), "retrying");
  EXPECT_EQ(sse_event_name(event_type::succeeded), "succeeded");
  EXPECT_EQ(sse_event_name(event_type::dead), "dead");
  EXPECT_EQ(sse_event_name(event_type::cancelled), "cancelled");
  EXPECT_EQ(sse_event_name(event_type::progress), "progress");
  EXPECT_EQ(sse_event_name(event_type::cancel_requested), "cancel_requested");
}

TEST(job_json, an_sse_message_is_id_event_and_one_line_of_data) {
  auto t = jobs::from_microseconds(1'700'000'000'000'000);
  auto failed = jobs::make_attempt_failed(7, 3, t, "boom\nline two", t);
  EXPECT_EQ(sse_message(failed, 5),
            "id: 3\nevent: retrying\ndata: "
            R"({"error":"boom\nline two","job_id":7,"retry_at":"2023-11-14T22:13:20.000000Z","seq":3,)"
            R"("time":"2023-11-14T22:13:20.000000Z"})"
            "\n\n");
  jobs::job_request r{.user = "ann", .kind = "fib", .args = {{"n", 3}}};
  auto submitted = sse_message(jobs::make_submitted(7, t, r), 5);
  EXPECT_NE(submitted.find(R"("kind":"fib")"), std::string::npos) << submitted;
  EXPECT_NE(submitted.find(R"("max_attempts":5)"), std::string::npos) << submitted;
  EXPECT_EQ(submitted.find("ann"), std::string::npos) << "the user is not repeated: " << submitted;
}

TEST(job_json, a_job_shows_the_apis_fields) {
  jobs::job_state s;
  s.id = 42;
  s.request = {.user = "ann", .kind = "fib", .args = {{"n", 30}}, .attempts_max = 4};
  s.status = jobs::job_status::failed;
  s.last_error = "boom";
  auto j = job_to_json(s, 5);
  EXPECT_EQ(j.at("id"), 42);
  EXPECT_EQ(j.at("state"), "failed");
  EXPECT_EQ(j.at("max_attempts"), 4);
  EXPECT_EQ(j.at("error"), "boom");
  EXPECT_TRUE(j.at("result").is_null());
  EXPECT_FALSE(j.contains("user"));
  s.request.attempts_max = 0;
  EXPECT_EQ(job_to_json(s, 5).at("max_attempts"), 5);
}

// Issue 13: every limit a job meets is shown in the job, effective (the request's own, else the
// node's defaults): per attempt, how many attempts, per task, and a cancel's grace.
TEST(job_json, a_job_shows_the_limits_it_runs_with) {
  jobs::job_state s;
  s.id = 42;
  s.request = {.user = "ann", .kind = "fib", .args = {{"n", 30}}};
  job_defaults d;
  d.max_attempts = 7;
  d.timeout_ms = 90000;
  d.memory_mb = 1024;
  d.cpu_seconds = 3600;
  d.cancel_grace_ms = 5000;
  EXPECT_EQ(job_to_json(s, d).at("limits"), (nlohmann::json{{"timeout_ms", 90000},
                                                             {"max_attempts", 7},
                                                             {"memory_mb", 1024},
                                                             {"cpu_seconds", 3600},
                                                             {"cancel_grace_ms", 5000}}));
  s.request.timeout_ms = 1500;  // the request's own win
  s.request.attempts_max = 2;
  d.memory_mb = 0;  // none
  auto limits = job_to_json(s, d).at("limits");
  EXPECT_EQ(limits.at("timeout_ms"), 1500);
  EXPECT_EQ(limits.at("max_attempts"), 2);
  EXPECT_TRUE(limits.at("memory_mb").is_null());
  // The request's fields stay as asked (null: the default).
  s.request.timeout_ms = 0;
  EXPECT_TRUE(job_to_json(s, d).at("timeout_ms").is_null());
  EXPECT_EQ(job_to_json(s, d).at("limits").at("timeout_ms"), 90000);
}

TEST(job_json, a_submission_is_read_strictly) {
  jobs::job_request r;
  EXPECT_FALSE(parse_job_request(
      nlohmann::json::parse(R"({"kind":"fib","args":{"n":30},"idempotency_key":"k1","max_attempts":3,)"
                            R"("timeout_ms":10000,"priority":-2})"),
      "", r));
  EXPECT_EQ(r.kind, "fib");
  EXPECT_EQ(r.args, nlohmann::json({{"n", 30}}));
  EXPECT_EQ(r.idempotency_key, std::optional<std::string>{"k1"});
  EXPECT_EQ(r.attempts_max, 3u);
  EXPECT_EQ(r.timeout_ms, 10000u);
  EXPECT_EQ(r.priority, -2);
  auto e = parse_job_request(nlohmann::json::parse(R"({"kind":"fib","prority":1})"), "jobs[2]: ", r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 422u);
  EXPECT_EQ(e->message.rfind("jobs[2]: unknown field \"prority\"", 0), 0u) << e->message;
  EXPECT_TRUE(parse_job_request(nlohmann::json::parse(R"({"kind":"fib","timeout_ms":18446744073709551615})"), "", r));
  // null means "not given"
  EXPECT_FALSE(parse_job_request(nlohmann::json::parse(R"({"kind":"fib","args":null,"max_attempts":null})"), "", r));
  EXPECT_EQ(r.attempts_max, 0u);
}

TEST(request_target, paths_split_and_queries_decode) {
  auto t = parse_target("/v1/jobs/7/events?after=3&kind=a%20b+c&flag");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->segments, (std::vector<std::string>{"v1", "jobs", "7", "events"}));
  EXPECT_EQ(t->query.at("after"), "3");
  EXPECT_EQ(t->query.at("kind"), "a b c");
  EXPECT_EQ(t->query.at("flag"), "");
  EXPECT_EQ(parse_target("/v1/jobs/")->segments, (std::vector<std::string>{"v1", "jobs"}));
  EXPECT_FALSE(parse_target("v1/jobs"));
  EXPECT_FALSE(parse_target("/v1/jobs?kind=%2"));
  EXPECT_FALSE(parse_target("/v1/j%zzobs"));
  EXPECT_FALSE(parse_target(""));
}

}  // namespace
}  // namespace respawn::http

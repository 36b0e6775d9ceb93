// The HTTP API v1 end to end over loopback: submission until the job's result, idempotency (body
// and header forms), batches in order, listing with filters and paging, cancel, user isolation,
// health and readiness, overload as 429. A real engine and real worker processes behind it.
#include "http_fixture.hpp"

namespace respawn::http::test {
namespace {

TEST_F(http_api, a_submitted_job_is_201_once_durable_and_its_result_can_be_read) {
  start();
  auto c = connect();
  auto r = c.request("POST", "/v1/jobs",
                     R"({"kind":"sum","args":{"n":10},"max_attempts":2,"timeout_ms":10000,"priority":1})", ann());
  ASSERT_EQ(r.status, 201u) << r.body;
  auto job = r.json();
  auto id = job.at("id").get<std::uint64_t>();
  EXPECT_GT(id, 0u);
  EXPECT_EQ(job.at("kind"), "sum");
  EXPECT_EQ(job.at("args"), nlohmann::json({{"n", 10}}));
  EXPECT_EQ(job.at("max_attempts"), 2);
  EXPECT_EQ(job.at("timeout_ms"), 10000);
  EXPECT_EQ(job.at("priority"), 1);
  // Durable before the answer: the store has it.
  ASSERT_TRUE(store_->get(id).ok());

  auto done = await_final(c, id);
  EXPECT_EQ(done.at("state"), "succeeded");
  EXPECT_EQ(done.at("result"), 55);
  EXPECT_EQ(done.at("attempts"), 1);
  EXPECT_TRUE(done.at("error").is_null());
  for (auto field :
       {"id", "kind", "args", "state", "attempts", "max_attempts", "result", "error", "created_at", "updated_at"}) {
    EXPECT_TRUE(done.contains(field)) << field;
  }
  EXPECT_EQ(done.at("created_at").get<std::string>().size(), std::string{"2026-11-28T09:11:36.123456Z"}.size());
}

TEST_F(http_api, a_job_without_max_attempts_shows_the_default_and_a_failing_job_ends_dead) {
  start();
  auto c = connect();
  auto job = submit(c, {{"kind", "sum"}, {"args", {{"n", 13}}}});
  EXPECT_EQ(job.at("max_attempts"), 3);
  auto done = await_final(c, job.at("id"));
  EXPECT_EQ(done.at("state"), "dead");
  EXPECT_EQ(done.at("attempts"), 3);
  EXPECT_NE(done.at("error").get<std::string>().find("13 is unlucky"), std::string::npos) << done;
}

TEST_F(http_api, the_same_idempotency_key_is_200_with_the_same_job_and_409_with_another_body) {
  start();
  auto c = connect();
  nlohmann::json body{{"kind", "sum"}, {"args", {{"n", 4}}}, {"idempotency_key", "k1"}};
  auto first = c.request("POST", "/v1/jobs", body.dump(), ann());
  ASSERT_EQ(first.status, 201u) << first.body;
  auto again = c.request("POST", "/v1/jobs", body.dump(), ann());
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(again.json().at("id"), first.json().at("id"));
  auto other = body;
  other["args"]["n"] = 5;
  auto conflict = c.request("POST", "/v1/jobs", other.dump(), ann());
  EXPECT_EQ(conflict.status, 409u) << conflict.body;
  EXPECT_EQ(conflict.error_code(), "idempotency_conflict");

  // The header form.
  nlohmann::json plain{{"kind", "sum"}, {"args", {{"n", 6}}}};
  auto h1 = c.request("POST", "/v1/jobs", plain.dump(), with(ann(), "Idempotency-Key", "k2"));
  ASSERT_EQ(h1.status, 201u) << h1.body;
  EXPECT_EQ(h1.json().at("idempotency_key"), "k2");
  auto h2 = c.request("POST", "/v1/jobs", plain.dump(), with(ann(), "Idempotency-Key", "k2"));
  ASSERT_EQ(h2.status, 200u) << h2.body;
  EXPECT_EQ(h2.json().at("id"), h1.json().at("id"));
  // The header and the body name the same key: the same job.
  auto both = plain;
  both["idempotency_key"] = "k2";
  auto h3 = c.request("POST", "/v1/jobs", both.dump(), with(ann(), "Idempotency-Key", "k2"));
  EXPECT_EQ(h3.status, 200u) << h3.body;
  auto changed = plain;
  changed["args"]["n"] = 7;
  auto h4 = c.request("POST", "/v1/jobs", changed.dump(), with(ann(), "Idempotency-Key", "k2"));
  EXPECT_EQ(h4.status, 409u) << h4.body;
  // Keys are per user: bob's k1 is another job.
  auto bobs = c.request("POST", "/v1/jobs", body.dump(), bob());
  ASSERT_EQ(bobs.status, 201u) << bobs.body;
  EXPECT_NE(bobs.json().at("id"), first.json().at("id"));
  EXPECT_EQ(await_final(c, first.json().at("id")).at("result"), 10);
}

TEST_F(http_api, a_batch_is_stored_in_order) {
  start();
  auto c = connect();
  nlohmann::json batch{{"jobs", nlohmann::json::array()}};
  for (int n = 1; n <= 5; ++n) batch["jobs"].push_back({{"kind", "sum"}, {"args", {{"n", n}}}});
  batch["jobs"].push_back({{"kind", "echo_args"}, {"args", {{"x", "y"}}}});
  auto r = c.request("POST", "/v1/jobs/batch", batch.dump(), ann());
  ASSERT_EQ(r.status, 201u) << r.body;
  auto jobs = r.json().at("jobs");
  ASSERT_EQ(jobs.size(), 6u);
  std::uint64_t previous = 0;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ(jobs[i].at("kind"), batch["jobs"][i]["kind"]);
    EXPECT_EQ(jobs[i].at("args"), batch["jobs"][i]["args"]);
    auto id = jobs[i].at("id").get<std::uint64_t>();
    EXPECT_GT(id, previous);
    previous = id;
  }
  for (std::size_t i = 0; i < 5; ++i) {
    int n = static_cast<int>(i) + 1;
    EXPECT_EQ(await_final(c, jobs[i].at("id")).at("result"), n * (n + 1) / 2);
  }
  EXPECT_EQ(await_final(c, jobs[5].at("id")).at("result"), nlohmann::json({{"x", "y"}}));
}

TEST_F(http_api, listing_filters_by_state_and_kind_and_pages_by_id) {
  start();
  auto c = connect();
  std::vector<std::uint64_t> anns;
  for (int n = 1; n <= 5; ++n) anns.push_back(submit(c, {{"kind", "sum"}, {"args", {{"n", n}}}}).at("id"));
  anns.push_back(submit(c, {{"kind", "echo_args"}}).at("id"));
  anns.push_back(submit(c, {{"kind", "sum"}, {"args", {{"n", 13}}}, {"max_attempts", 1}}).at("id"));  // dead
  auto bobs = submit(c, {{"kind", "sum"}, {"args", {{"n", 2}}}}, bob()).at("id").get<std::uint64_t>();
  for (auto id : anns) await_final(c, id);
  await_final(c, bobs, bob());

  // Every page of 2, in id order, each of ann's jobs exactly once, none of bob's.
  std::vector<std::uint64_t> seen;
  std::string after = "0";
  for (int page = 0; page < 10; ++page) {
    auto r = c.request("GET", "/v1/jobs?limit=2&after_id=" + after, {}, ann());
    ASSERT_EQ(r.status, 200u) << r.body;
    auto body = r.json();
    for (auto& j : body.at("jobs")) seen.push_back(j.at("id"));
    auto next = body.at("next_after_id");
    if (next.is_null()) break;
    after = std::to_string(next.get<std::uint64_t>());
  }
  EXPECT_EQ(seen, anns);

  auto dead = c.request("GET", "/v1/jobs?state=dead", {}, ann()).json().at("jobs");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].at("id"), anns.back());
  auto echo = c.request("GET", "/v1/jobs?kind=echo_args&state=succeeded", {}, ann()).json().at("jobs");
  ASSERT_EQ(echo.size(), 1u);
  EXPECT_EQ(echo[0].at("id"), anns[5]);
  auto bob_list = c.request("GET", "/v1/jobs", {}, bob()).json();
  ASSERT_EQ(bob_list.at("jobs").size(), 1u);
  EXPECT_EQ(bob_list.at("jobs")[0].at("id"), bobs);
  EXPECT_TRUE(bob_list.at("next_after_id").is_null());
}

TEST_F(http_api, cancel_ends_a_running_job_and_is_409_for_a_job_that_already_succeeded) {
  start();
  auto c = connect();
  auto id = submit(c, {{"kind", "sleep"}, {"args", {{"ms", 60000}}}}).at("id").get<std::uint64_t>();
  ASSERT_TRUE(eventually(
      [&] { return c.request("GET", "/v1/jobs/" + std::to_string(id), {}, ann()).json().at("state") == "running"; }));
  auto r = c.request("POST", "/v1/jobs/" + std::to_string(id) + "/cancel", {}, ann());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.json().at("cancel_requested") == true || r.json().at("state") == "cancelled") << r.body;
  EXPECT_EQ(await_final(c, id).at("state"), "cancelled");
  // Again: the job, as it is.
  auto again = c.request("POST", "/v1/jobs/" + std::to_string(id) + "/cancel", {}, ann());
  EXPECT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(again.json().at("state"), "cancelled");

  auto quick = submit(c, {{"kind", "noop"}}).at("id").get<std::uint64_t>();
  await_final(c, quick);
  auto late = c.request("POST", "/v1/jobs/" + std::to_string(quick) + "/cancel", {}, ann());
  EXPECT_EQ(late.status, 409u) << late.body;
  EXPECT_EQ(late.error_code(), "already_final");
}

TEST_F(http_api, another_users_job_is_404_and_cannot_be_cancelled_or_streamed) {
  start();
  auto c = connect();
  auto id = std::to_string(submit(c, {{"kind", "sleep"}, {"args", {{"ms", 60000}}}}).at("id").get<std::uint64_t>());
  for (auto [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/jobs/" + id},
                                                        {"POST", "/v1/jobs/" + id + "/cancel"},
                                                        {"GET", "/v1/jobs/" + id + "/events"},
                                                        {"POST", "/v1/jobs/" + id + "/input"}}) {
    auto r = c.request(method, target, {}, bob());
    EXPECT_EQ(r.status, 404u) << method << " " << target << ": " << r.body;
    EXPECT_EQ(r.error_code(), "not_found");
  }
  EXPECT_TRUE(c.request("GET", "/v1/jobs", {}, bob()).json().at("jobs").empty());
  auto mine = c.request("GET", "/v1/jobs/" + id, {}, ann());
  EXPECT_EQ(mine.status, 200u);
  EXPECT_FALSE(mine.json().at("cancel_requested").get<bool>());
  EXPECT_NE(mine.json().at("state"), "cancelled");
  EXPECT_EQ(c.request("POST", "/v1/jobs/" + id + "/cancel", {}, ann()).status, 200u);  // ends it
}

TEST_F(http_api, healthz_needs_no_token_and_readyz_is_503_until_ready) {
  ready_ = false;
  start();
  auto c = connect();
  auto health = c.request("GET", "/healthz");
  EXPECT_EQ(health.status, 200u);
  EXPECT_EQ(health.json().at("status"), "alive");
  auto not_ready = c.request("GET", "/readyz");
  EXPECT_EQ(not_ready.status, 503u);
  EXPECT_EQ(not_ready.error_code(), "not_ready");
  EXPECT_TRUE(not_ready.header("Retry-After").has_value());
  ready_ = true;
  EXPECT_EQ(c.request("GET", "/readyz").status, 200u);
}

TEST_F(http_api, an_overloaded_engine_is_429_with_retry_after) {
  auto ec = engine_config();
  ec.queue.held_max = 2;
  ec.queue.held_per_user_max = 2;
  start(std::move(ec), http_config());
  auto c = connect();
  nlohmann::json batch{{"jobs", nlohmann::json::array()}};
  for (int i = 0; i < 3; ++i) batch["jobs"].push_back({{"kind", "sleep"}, {"args", {{"ms", 60000}}}});
  auto r = c.request("POST", "/v1/jobs/batch", batch.dump(), ann());
  EXPECT_EQ(r.status, 429u) << r.body;
  EXPECT_EQ(r.error_code(), "overloaded");
  EXPECT_EQ(r.header("Retry-After"), std::optional<std::string>{"1"});
}

TEST_F(http_api, one_connection_serves_many_requests_and_many_connections_work_at_once) {
  start();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto c = connect();
      for (int i = 0; i < 10; ++i) {
        auto r =
            c.request("POST", "/v1/jobs",
                      nlohmann::json{{"kind", "noop"}, {"idempotency_key", std::to_string(t * 100 + i)}}.dump(), ann());
        if (r.status == 201 && c.request("GET", "/healthz").status == 200) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
}

TEST_F(http_api, after_stop_accepting_open_connections_are_served_and_new_ones_refused) {
  start();
  auto c = connect();
  ASSERT_EQ(c.request("GET", "/healthz").status, 200u);
  server_->stop_accepting();
  EXPECT_THROW(connect().request("GET", "/healthz"), std::runtime_error);
  EXPECT_EQ(c.request("GET", "/v1/jobs", {}, ann()).status, 200u);  // the kept-alive one still works
}

}  // namespace
}  // namespace respawn::http::test

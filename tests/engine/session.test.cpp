// Session jobs in the engine (docs/sessions.md, seed 004): the `echo` kind runs only while a
// stream is attached, answers every input exactly once (in a worker process), is paused and
// dropped from memory when the last stream ends, takes input while paused, and is rebuilt from
// the log when a client comes back — after its process crashed, and after the node died.
#include <algorithm>
#include <map>

#include "engine_fixture.hpp"

namespace {

using namespace respawn_engine_test;
using namespace std::chrono_literals;
using respawn::engine::session_attachment;
using respawn::engine::session_reply;
using respawn::engine::session_request;
using respawn::jobs::event_type;
using respawn::jobs::job_status;

class session : public engine {
 protected:
  respawn::engine::engine_config session_config() {
    auto c = config();
    c.is_session_kind = [](const std::string& kind) { return kind == "echo"; };
    c.session_linger = 30ms;
    return c;
  }

  std::unique_ptr<session_attachment> attach(respawn::jobs::job_id id) {
    session_reply reply;
    auto a = session_attachment::open(*rt_, [this] { return handle_.dispatcher; }, id, patience, reply);
    EXPECT_TRUE(reply.ok) << reply.error_code << ": " << reply.error;
    EXPECT_EQ(reply.status, job_status::running);
    return a;
  }
  session_reply input(respawn::jobs::job_id id, std::uint64_t seq, nlohmann::json data, bool end = false) {
    session_request r;
    r.what = session_request::op::input;
    r.seq = seq;
    r.data = std::move(data);
    r.end = end;
    return respawn::engine::call_session(*rt_, handle_.dispatcher, id, r, patience);
  }
  std::size_t sessions_in_memory() {
    auto s = rt_->call<respawn::engine::engine_stats>(handle_.dispatcher, respawn::engine::engine_stats_request{}, patience);
    EXPECT_TRUE(s.ok());
    return s.ok() ? s.value().sessions : 0;
  }
  // seq -> the answers logged for it (each must have exactly one).
  std::map<std::uint64_t, std::vector<nlohmann::json>> answers(respawn::jobs::job_id id) {
    std::map<std::uint64_t, std::vector<nlohmann::json>> out;
    auto events = store_->events(id, 0, 10000);
    EXPECT_TRUE(events.ok());
    for (auto& e : events.value()) {
      if (e.type != event_type::output) continue;
      const auto& chunk = e.payload.at("chunk");
      out[chunk.at("seq").get<std::uint64_t>()].push_back(chunk.contains("data") ? chunk.at("data") : chunk);
    }
    return out;
  }
  std::size_t count(respawn::jobs::job_id id, event_type type) {
    auto types = event_types(id);
    return static_cast<std::size_t>(std::count(types.begin(), types.end(), type));
  }
  bool answered(respawn::jobs::job_id id, std::uint64_t seq) { return answers(id).count(seq) != 0; }
};

TEST_F(session, runs_only_while_attached_answers_each_input_once_and_pauses_out_of_memory) {
  start_node(session_config());
  auto id = submit_one(request("ann", "echo"));
  // Submitted, not queued for a worker: nobody streams it.
  auto other = await_final(submit_one(request("ann", "sum", {{"n", 2}})));
  EXPECT_EQ(other.status, job_status::succeeded);
  EXPECT_EQ(state(id).status, job_status::queued);
  EXPECT_EQ(sessions_in_memory(), 0u);

  auto stream = attach(id);
  EXPECT_EQ(state(id).status, job_status::running);
  ASSERT_TRUE(input(id, 1, "hello").ok);
  ASSERT_TRUE(eventually([&] { return answered(id, 1); }));
  EXPECT_EQ(answers(id).at(1), (std::vector<nlohmann::json>{"hello"}));

  // Idempotent by seq: the same input is a duplicate, other data under its seq a conflict.
  auto again = input(id, 1, "hello");
  EXPECT_TRUE(again.ok);
  EXPECT_TRUE(again.duplicate);
  auto conflict = input(id, 1, "other");
  EXPECT_FALSE(conflict.ok);
  EXPECT_EQ(conflict.error_code, "input_conflict");

  // The stream ends: paused (logged) and out of memory.
  stream.reset();
  ASSERT_TRUE(eventually([&] { return state(id).status == job_status::paused && sessions_in_memory() == 0; }));

  // Input while paused is accepted (durable) but not answered.
  auto while_paused = input(id, 2, {{"n", 2}});
  ASSERT_TRUE(while_paused.ok) << while_paused.error;
  EXPECT_EQ(while_paused.status, job_status::paused);
  ASSERT_TRUE(eventually([&] { return sessions_in_memory() == 0; }));
  EXPECT_FALSE(answered(id, 2));

  // A client comes back: the session is rebuilt from the log and answers what is pending.
  stream = attach(id);
  ASSERT_TRUE(eventually([&] { return answered(id, 2); }));
  ASSERT_TRUE(input(id, 3, "bye", true).ok);
  auto end = await_final(id);
  EXPECT_EQ(end.status, job_status::succeeded);
  EXPECT_EQ(end.result, (nlohmann::json{{"inputs", 3}}));
  auto all = answers(id);
  EXPECT_EQ(all.size(), 2u);
  for (auto& [seq, list] : all) EXPECT_EQ(list.size(), 1u) << "input " << seq << " answered " << list.size() << " times";
  EXPECT_EQ(count(id, event_type::claimed), 1u);
  EXPECT_EQ(count(id, event_type::paused), 1u);
  EXPECT_EQ(count(id, event_type::resumed), 1u);
  // Final: no more input.
  auto late = input(id, 4, "late");
  EXPECT_FALSE(late.ok);
  EXPECT_EQ(late.error_code, "job_finished");
}

// Soak anomaly 2: an answer under way when the last stream detaches is finished and logged, not
// dropped and made again on the next visit (a backlog longer than a client's visits never moved).
TEST_F(session, an_answer_under_way_when_the_stream_detaches_is_logged_anyway_and_once) {
  auto c = session_config();
  c.cancel_grace = 200ms;
  start_node(c);
  // Both workers up (else the two sleeps could share the first one to say hello).
  ASSERT_TRUE(eventually([&] {
    auto p = rt_->call<respawn::pool_stats>(rt_->whereis("jobs.pool"), respawn::pool_stats_request{}, patience);
    return p.ok() && p.value().workers == 2;
  }));
  // Both workers busy: the session's answer waits for one, under way but not done.
  auto blocker = request("bob", "sleep", {{"ms", 60000}});
  blocker.timeout_ms = 120000;
  auto a = submit_one(blocker);
  auto b = submit_one(blocker);
  ASSERT_TRUE(eventually([&] { return state(a).status == job_status::running && state(b).status == job_status::running; }));
  auto id = submit_one(request("ann", "echo"));
  auto stream = attach(id);
  ASSERT_TRUE(input(id, 1, "under way").ok);
  ASSERT_TRUE(eventually([&] {
    auto p = rt_->call<respawn::pool_stats>(rt_->whereis("jobs.pool"), respawn::pool_stats_request{}, patience);
    return p.ok() && p.value().queued + p.value().in_flight == 3;
  })) << "the answer's task never reached the pool";
  EXPECT_FALSE(answered(id, 1));

  stream.reset();  // the client goes away mid-answer
  // A worker frees up: the answer runs and is logged although nobody streams the session.
  for (auto blocker_id : {a, b}) {
    ASSERT_TRUE(rt_->call<bool>(handle_.dispatcher, respawn::engine::cancel_job{blocker_id}, patience).value());
  }
  ASSERT_TRUE(eventually([&] { return answered(id, 1); })) << "the answer was dropped with the stream";
  ASSERT_TRUE(eventually([&] { return state(id).status == job_status::paused && sessions_in_memory() == 0; }));
  // The answer is in the log before the pause.
  auto types = event_types(id);
  auto output = std::find(types.begin(), types.end(), event_type::output);
  auto paused = std::find(types.begin(), types.end(), event_type::paused);
  EXPECT_LT(output - types.begin(), paused - types.begin());

  // The client comes back: the answer is there, once, and not made again.
  stream = attach(id);
  ASSERT_TRUE(input(id, 2, "end", true).ok);
  EXPECT_EQ(await_final(id).status, job_status::succeeded);
  auto all = answers(id);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all.at(1), (std::vector<nlohmann::json>{"under way"}));
}

TEST_F(session, a_crashed_session_process_is_rebuilt_and_the_stream_stays_attached) {
  start_node(session_config());
  auto id = submit_one(request("ann", "echo"));
  auto stream = attach(id);
  ASSERT_TRUE(input(id, 1, "one").ok);
  ASSERT_TRUE(eventually([&] { return answered(id, 1); }));

  auto where = rt_->call<respawn::pid>(handle_.dispatcher, respawn::engine::locate_session{id}, patience);
  ASSERT_TRUE(where.ok());
  rt_->exit(where.value(), respawn::exit_reason::kill());
  // The stream notices on its next poll and attaches to the rebuilt process.
  ASSERT_TRUE(eventually([&] {
    EXPECT_TRUE(stream->keep());
    return stream->attaches() == 2;
  }));
  auto now = rt_->call<respawn::pid>(handle_.dispatcher, respawn::engine::locate_session{id}, patience);
  ASSERT_TRUE(now.ok());
  EXPECT_NE(now.value(), where.value());
  EXPECT_EQ(state(id).status, job_status::running);
  ASSERT_TRUE(input(id, 2, "two").ok);
  ASSERT_TRUE(eventually([&] { return answered(id, 2); }));
  for (auto& [seq, list] : answers(id)) EXPECT_EQ(list.size(), 1u) << "input " << seq;
}

TEST_F(session, after_a_node_death_every_input_is_answered_once) {
  start_node(session_config());
  auto id = submit_one(request("ann", "echo"));
  auto stream = attach(id);
  for (std::uint64_t seq = 1; seq <= 20; ++seq) ASSERT_TRUE(input(id, seq, seq * 10).ok);
  // The node dies with the stream attached and answers under way.
  stream.reset();  // (its process dies with the runtime anyway)
  stop_node();
  store_.reset();
  open_store();
  start_node(session_config());
  // Recovery pauses the session whose stream died with the node; nothing answers meanwhile.
  ASSERT_TRUE(eventually([&] { return state(id).status == job_status::paused && sessions_in_memory() == 0; }));
  auto before = answers(id).size();
  ASSERT_TRUE(input(id, 21, 210).ok);  // inputs that arrived before the node died are kept
  EXPECT_EQ(answers(id).size(), before);

  stream = attach(id);
  ASSERT_TRUE(input(id, 22, "end", true).ok);
  auto end = await_final(id);
  EXPECT_EQ(end.status, job_status::succeeded);
  auto all = answers(id);
  ASSERT_EQ(all.size(), 21u);
  for (std::uint64_t seq = 1; seq <= 21; ++seq) {
    ASSERT_EQ(all[seq].size(), 1u) << "input " << seq << " answered " << all[seq].size() << " times";
    EXPECT_EQ(all[seq][0], seq * 10);
  }
}

TEST_F(session, cancel_ends_a_paused_session) {
  start_node(session_config());
  auto id = submit_one(request("ann", "echo"));
  ASSERT_TRUE(input(id, 1, "queued input").ok);  // a session not started yet takes input too
  EXPECT_EQ(state(id).status, job_status::queued);
  session_request cancel;
  cancel.what = session_request::op::cancel;
  auto r = respawn::engine::call_session(*rt_, handle_.dispatcher, id, cancel, patience);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, job_status::cancelled);
  EXPECT_EQ(state(id).status, job_status::cancelled);
  session_reply refused;
  auto a = session_attachment::open(*rt_, [this] { return handle_.dispatcher; }, id, patience, refused);
  EXPECT_EQ(a, nullptr);
  EXPECT_EQ(refused.error_code, "job_finished");
}

TEST_F(session, a_batch_job_is_never_driven_as_a_session) {
  start_node(session_config());
  auto id = submit_one(request("ann", "sleep", {{"ms", 100}}));
  session_reply refused;
  auto a = session_attachment::open(*rt_, [this] { return handle_.dispatcher; }, id, patience, refused);
  EXPECT_EQ(a, nullptr);
  EXPECT_EQ(refused.error_code, "not_a_session_job");
  EXPECT_FALSE(input(id, 1, "x").ok);
  auto s = await_final(id);  // its own process ran it, alone: one claim, one outcome
  EXPECT_EQ(s.status, job_status::succeeded);
  EXPECT_EQ(event_types(id), (std::vector{event_type::submitted, event_type::claimed, event_type::succeeded}));
}

}  // namespace

namespace {

// Review F6: session jobs hold memory (and a worker while attached) like any job, so admission
// counts them: a user at held_per_user_max session jobs cannot submit more of anything.
TEST_F(session, unfinished_session_jobs_count_toward_admission) {
  auto c = session_config();
  c.queue.held_per_user_max = 2;
  c.queue.held_max = 3;
  start_node(c);
  submit_one(request("ann", "echo"));
  submit_one(request("ann", "echo"));
  auto refused = submit({request("ann", "echo")});
  EXPECT_FALSE(refused.ok) << "a third session job was admitted past held_per_user_max";
  EXPECT_EQ(refused.error_code, respawn::engine::engine_errc::overloaded);
  refused = submit({request("ann", "sleep", {{"ms", 1}})});
  EXPECT_FALSE(refused.ok);
  // Another user still gets in, up to the node's bound.
  submit_one(request("bob", "echo"));
  refused = submit({request("cid", "echo")});
  EXPECT_FALSE(refused.ok) << "a session job was admitted past held_max";
  EXPECT_EQ(refused.error_code, respawn::engine::engine_errc::overloaded);
}

}  // namespace

namespace {

// Review F20: a session's unanswered inputs are held in memory, so they are bounded in count and
// bytes; past either, an input is refused (overloaded) until the session answers.
TEST_F(session, unanswered_inputs_are_bounded_in_count_and_bytes) {
  auto c = session_config();
  c.session_inputs_pending_max = 3;
  c.session_pending_bytes_max = 1000;
  start_node(c);
  auto id = submit_one(request("ann", "echo"));  // nobody streams it: inputs wait unanswered
  for (std::uint64_t seq = 1; seq <= 3; ++seq) ASSERT_TRUE(input(id, seq, "x").ok);
  auto refused = input(id, 4, "x");
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.error_code, "overloaded") << refused.error;
  EXPECT_TRUE(input(id, 3, "x").duplicate) << "a duplicate is still recognised";

  auto big = submit_one(request("ann", "echo"));
  ASSERT_TRUE(input(big, 1, std::string(600, 'a')).ok);
  refused = input(big, 2, std::string(600, 'b'));
  EXPECT_FALSE(refused.ok) << "past session_pending_bytes_max";
  EXPECT_EQ(refused.error_code, "overloaded");

  // Once answered, room again.
  auto stream = attach(id);
  ASSERT_TRUE(eventually([&] { return answered(id, 3); }));
  EXPECT_TRUE(input(id, 4, "x").ok);
}

}  // namespace

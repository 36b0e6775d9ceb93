// Unit tests of the fold: every (state, event) pair of the state machine as a matrix, then each
// check apply makes (first event, sequence, job, payload) and what each event does to the state.
#include <gtest/gtest.h>

#include <map>

#include "event_walk.hpp"
#include "respawn/jobs/fold.hpp"

namespace respawn::jobs {
namespace {

using testing::make_event;
const job_id id = 7;
const job_time t0 = from_microseconds(1'700'000'000'000'000);

// A state reached through valid events: the prefix that leads to `status`.
job_state state_in(job_status status) {
  std::vector<event> log{make_submitted(id, t0, job_request{.user = "ann", .kind = "sum"})};
  auto add = [&](event_type type) {
    const job_state s = fold(log);
    log.push_back(make_event(type, id, log.size() + 1, t0, s.attempts));
  };
  switch (status) {
    case job_status::queued: break;
    case job_status::running: add(event_type::claimed); break;
    case job_status::succeeded: add(event_type::claimed); add(event_type::succeeded); break;
    case job_status::failed: add(event_type::claimed); add(event_type::attempt_failed); break;
    case job_status::dead: add(event_type::claimed); add(event_type::dead); break;
    case job_status::cancelled: add(event_type::cancelled); break;
    case job_status::paused: add(event_type::claimed); add(event_type::paused); break;
  }
  job_state s = fold(log);
  EXPECT_EQ(s.status, status);
  return s;
}

struct matrix_row {
  job_status from;
  event_type type;
  std::optional<job_status> to;  // nullopt: rejected
};

// The whole state machine, spelled out pair by pair.
const std::vector<matrix_row>& matrix() {
  using s = job_status;
  using t = event_type;
  static const std::vector<matrix_row> rows = [] {
    std::vector<matrix_row> r;
    const std::map<std::pair<s, t>, s> allowed = {
        {{s::queued, t::claimed}, s::running},
        {{s::queued, t::cancel_requested}, s::queued},
        {{s::queued, t::cancelled}, s::cancelled},
        {{s::running, t::progress}, s::running},
        {{s::running, t::output}, s::running},
        {{s::running, t::snapshot}, s::running},
        {{s::running, t::succeeded}, s::succeeded},
        {{s::running, t::attempt_failed}, s::failed},
        {{s::running, t::dead}, s::dead},
        {{s::running, t::cancel_requested}, s::running},
        {{s::running, t::cancelled}, s::cancelled},
        {{s::failed, t::claimed}, s::running},
        {{s::failed, t::dead}, s::dead},
        {{s::failed, t::cancel_requested}, s::failed},
        {{s::failed, t::cancelled}, s::cancelled},
        // Session jobs: input in any unfinished state; paused <-> running.
        {{s::queued, t::input}, s::queued},
        {{s::running, t::input}, s::running},
        {{s::failed, t::input}, s::failed},
        {{s::paused, t::input}, s::paused},
        {{s::running, t::paused}, s::paused},
        {{s::paused, t::resumed}, s::running},
        {{s::paused, t::cancel_requested}, s::paused},
        {{s::paused, t::cancelled}, s::cancelled},
    };
    for (s from : {s::queued, s::running, s::succeeded, s::failed, s::dead, s::cancelled, s::paused}) {
      for (t type : all_event_types) {
        auto it = allowed.find({from, type});
        r.push_back({from, type, it == allowed.end() ? std::nullopt : std::optional(it->second)});
      }
    }
    return r;
  }();
  return rows;
}

TEST(Fold, EveryStateAndEventPairFollowsTheStateMachine) {
  for (const matrix_row& row : matrix()) {
    SCOPED_TRACE(std::string(to_string(row.from)) + " + " + std::string(to_string(row.type)));
    job_state state = state_in(row.from);
    const job_state before = state;
    event e = make_event(row.type, id, state.last_sequence + 1, t0, state.attempts);
    e.sequence = state.last_sequence + 1;  // make_event gives `submitted` sequence 1
    auto error = apply(state, e);
    EXPECT_EQ(next_status(row.from, row.type), row.to);
    if (row.to) {
      ASSERT_FALSE(error) << error->message;
      EXPECT_EQ(state.status, *row.to);
      EXPECT_EQ(state.last_sequence, before.last_sequence + 1);
    } else {
      ASSERT_TRUE(error);
      EXPECT_EQ(error->what, is_final(row.from) ? transition_error::code::after_final_state
                                                : transition_error::code::invalid_transition);
      EXPECT_EQ(state, before) << "a rejected event must leave the state untouched";
      EXPECT_NE(error->message.find("job 7"), std::string::npos) << error->message;
    }
  }
}

TEST(Fold, SubmittedMakesAQueuedJobWithItsRequest) {
  const job_request request{.user = "ann", .kind = "sum", .args = {{"n", 3}}, .priority = 2,
                            .attempts_max = 4, .idempotency_key = "key-1"};
  job_state s = fold(std::vector{make_submitted(id, t0, request)});
  EXPECT_EQ(s.id, id);
  EXPECT_EQ(s.status, job_status::queued);
  EXPECT_EQ(s.request, request);
  EXPECT_EQ(s.created_at, t0);
  EXPECT_EQ(s.updated_at, t0);
  EXPECT_EQ(s.last_sequence, 1u);
  EXPECT_EQ(s.attempts, 0u);
}

TEST(Fold, TheFirstEventMustBeSubmitted) {
  job_state s;
  auto error = apply(s, make_claimed(id, 1, t0, 1));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->what, transition_error::code::not_submitted_first);
  EXPECT_TRUE(s.empty());
}

TEST(Fold, SubmittedTwiceIsRejected) {
  job_state s = state_in(job_status::queued);
  event again = make_submitted(id, t0, s.request);
  again.sequence = 2;
  auto error = apply(s, again);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->what, transition_error::code::invalid_transition);
}

TEST(Fold, ASequenceGapOrADuplicateIsRejected) {
  job_state s = state_in(job_status::queued);
  auto gap = apply(s, make_claimed(id, 3, t0, 1));
  ASSERT_TRUE(gap);
  EXPECT_EQ(gap->what, transition_error::code::sequence_gap);
  EXPECT_NE(gap->message.find("expected sequence 2"), std::string::npos) << gap->message;
  auto duplicate = apply(s, make_claimed(id, 1, t0, 1));
  ASSERT_TRUE(duplicate);
  EXPECT_EQ(duplicate->what, transition_error::code::sequence_gap);
}

TEST(Fold, AnEventOfAnotherJobIsRejected) {
  job_state s = state_in(job_status::queued);
  auto error = apply(s, make_claimed(id + 1, 2, t0, 1));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->what, transition_error::code::wrong_job);
}

TEST(Fold, AClaimCountsTheAttemptBeforeTheJobRuns) {
  job_state s = state_in(job_status::queued);
  ASSERT_FALSE(apply(s, make_claimed(id, 2, t0, 1)));
  EXPECT_EQ(s.attempts, 1u);
  EXPECT_EQ(s.status, job_status::running);
}

TEST(Fold, AClaimWithTheWrongAttemptNumberIsRejected) {
  job_state s = state_in(job_status::queued);
  auto error = apply(s, make_claimed(id, 2, t0, 2));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->what, transition_error::code::bad_payload);
}

TEST(Fold, AttemptFailedRecordsTheErrorAndTheRetryTimeAndTheNextClaimClearsIt) {
  job_state s = state_in(job_status::running);
  const job_time due = t0 + std::chrono::seconds(5);
  ASSERT_FALSE(apply(s, make_attempt_failed(id, 3, t0, "worker crashed with SIGSEGV", due)));
  EXPECT_EQ(s.status, job_status::failed);
  EXPECT_EQ(s.last_error, "worker crashed with SIGSEGV");
  EXPECT_EQ(s.retry_at, due);
  ASSERT_FALSE(apply(s, make_claimed(id, 4, t0, 2)));
  EXPECT_EQ(s.attempts, 2u);
  EXPECT_FALSE(s.retry_at);
}

TEST(Fold, AttemptFailedWithoutARetryTimeIsABadPayload) {
  job_state s = state_in(job_status::running);
  event e = make_attempt_failed(id, 3, t0, "x", t0);
  e.payload.erase("retry_at_us");
  auto error = apply(s, e);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->what, transition_error::code::bad_payload);
  EXPECT_EQ(s.status, job_status::running);
}

TEST(Fold, ProgressOutputAndSnapshotKeepTheJobRunning) {
  job_state s = state_in(job_status::running);
  ASSERT_FALSE(apply(s, make_progress(id, 3, t0, {{"percent", 40}})));
  ASSERT_FALSE(apply(s, make_output(id, 4, t0, "hello")));
  ASSERT_FALSE(apply(s, make_output(id, 5, t0, "world")));
  ASSERT_FALSE(apply(s, make_snapshot(id, 6, t0, {{"counter", 254}})));
  EXPECT_EQ(s.status, job_status::running);
  EXPECT_EQ(s.progress, (nlohmann::json{{"percent", 40}}));
  EXPECT_EQ(s.outputs, 2u);
  EXPECT_EQ(s.snapshot, (nlohmann::json{{"counter", 254}}));
}

TEST(Fold, SucceededKeepsTheResult) {
  job_state s = state_in(job_status::running);
  ASSERT_FALSE(apply(s, make_succeeded(id, 3, t0, {{"sum", 55}})));
  EXPECT_EQ(s.status, job_status::succeeded);
  EXPECT_EQ(s.result, (nlohmann::json{{"sum", 55}}));
}

TEST(Fold, CancelRequestedOnlySetsTheFlagUntilCancelled) {
  job_state s = state_in(job_status::running);
  ASSERT_FALSE(apply(s, make_cancel_requested(id, 3, t0, "user")));
  EXPECT_TRUE(s.cancel_requested);
  EXPECT_EQ(s.status, job_status::running);
  ASSERT_FALSE(apply(s, make_cancelled(id, 4, t0)));
  EXPECT_EQ(s.status, job_status::cancelled);
}

TEST(Fold, FoldThrowsOnAnInvalidLogNamingTheEvent) {
  std::vector<event> log{make_submitted(id, t0, job_request{.user = "u", .kind = "k"}),
                         make_succeeded(id, 2, t0, nullptr)};
  try {
    (void)fold(log);
    FAIL() << "fold accepted succeeded straight after submitted";
  } catch (const invalid_event_log& e) {
    EXPECT_EQ(e.error().what, transition_error::code::invalid_transition);
    EXPECT_EQ(e.error().sequence, 2u);
  }
}

TEST(Fold, StateAndEventsRoundTripThroughJson) {
  job_state s = state_in(job_status::failed);
  EXPECT_EQ(nlohmann::json(s).get<job_state>(), s);
  const event e = make_attempt_failed(id, 3, t0, "x", t0 + std::chrono::seconds(1));
  EXPECT_EQ(nlohmann::json(e).get<event>(), e);
}

}  // namespace
}  // namespace respawn::jobs

// The conformance suite's tests (see conformance.hpp): ids, submission and its idempotency,
// appends checked by the fold and written with their state row in one transaction, reads,
// keyset pagination, what recovery lists, concurrent writers, and durability across reopening.
#include "conformance.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "jobs/event_walk.hpp"
#include "respawn/jobs/fold.hpp"

namespace respawn::store::testing {

using jobs::event_type;
using jobs::job_status;
using namespace std::chrono_literals;

namespace {
const jobs::job_time t0 = jobs::from_microseconds(1'700'000'000'000'000);

std::string describe(const store_error& e) {
  return std::string(to_string(e.code)) + ": " + e.message;
}

std::vector<jobs::event> all_events(job_store& s, job_id id) {
  auto r = s.events(id, 0, 10'000);
  EXPECT_TRUE(r.ok()) << describe(r.error());
  return r.ok() ? r.value() : std::vector<jobs::event>{};
}
}  // namespace

void JobStoreConformance::SetUp() {
  store_ = GetParam().open(dir_.path());
  ASSERT_TRUE(store_);
}

void JobStoreConformance::reopen() {
  store_.reset();
  store_ = GetParam().open(dir_.path());
  ASSERT_TRUE(store_);
}

job_id JobStoreConformance::submit_one(const std::string& user, const std::string& kind,
                                       std::optional<std::string> idempotency_key,
                                       std::int32_t priority) {
  auto id = store().allocate_id();
  EXPECT_TRUE(id.ok()) << describe(id.error());
  if (!id.ok()) return 0;
  auto r = store().submit({submission{
      .id = id.value(),
      .request = {.user = user, .kind = kind, .args = {{"n", 1}}, .priority = priority,
                  .idempotency_key = std::move(idempotency_key)},
      .time = t0}});
  EXPECT_TRUE(r.ok()) << describe(r.error());
  if (!r.ok()) return 0;
  return r.value().at(0).id;
}

void JobStoreConformance::advance(job_id id, event_type type) {
  auto state = store().get(id);
  ASSERT_TRUE(state.ok()) << describe(state.error());
  const auto& s = state.value();
  auto r = store().append({jobs::testing::make_event(type, id, s.last_sequence + 1,
                                                     t0 + std::chrono::seconds(s.last_sequence),
                                                     s.attempts)});
  ASSERT_TRUE(r.ok()) << describe(r.error());
}

TEST_P(JobStoreConformance, AllocatedIdsAreDistinctAndIncreasing) {
  job_id last = 0;
  for (int i = 0; i < 3'000; ++i) {  // more than one reserved block
    auto id = store().allocate_id();
    ASSERT_TRUE(id.ok()) << describe(id.error());
    ASSERT_GT(id.value(), last);
    last = id.value();
  }
}

TEST_P(JobStoreConformance, AllocatedIdsAreNotReusedAfterReopening) {
  if (!GetParam().durable) GTEST_SKIP() << "not a durable backend";
  std::set<job_id> seen;
  for (int i = 0; i < 10; ++i) seen.insert(store().allocate_id().value());
  reopen();
  for (int i = 0; i < 10; ++i) {
    auto id = store().allocate_id();
    ASSERT_TRUE(id.ok());
    EXPECT_TRUE(seen.insert(id.value()).second) << "id " << id.value() << " handed out twice";
  }
}

TEST_P(JobStoreConformance, ASubmittedJobIsQueuedWithItsSubmittedEvent) {
  const job_id id = submit_one("ann", "sum");
  auto state = store().get(id);
  ASSERT_TRUE(state.ok()) << describe(state.error());
  EXPECT_EQ(state.value().status, job_status::queued);
  EXPECT_EQ(state.value().request.user, "ann");
  EXPECT_EQ(state.value().request.args, (nlohmann::json{{"n", 1}}));
  const auto log = all_events(store(), id);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].type, event_type::submitted);
  EXPECT_EQ(log[0].sequence, 1u);
  EXPECT_EQ(jobs::fold(log), state.value());
}

TEST_P(JobStoreConformance, ABatchIsStoredInOrderInOneTransaction) {
  std::vector<submission> batch;
  for (int i = 0; i < 5; ++i) {
    batch.push_back({.id = store().allocate_id().value(),
                     .request = {.user = "ann", .kind = "k" + std::to_string(i)},
                     .time = t0});
  }
  auto r = store().submit(batch);
  ASSERT_TRUE(r.ok()) << describe(r.error());
  ASSERT_EQ(r.value().size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(r.value()[i], (submit_outcome{.id = batch[i].id, .existing = false}));
    EXPECT_EQ(store().get(batch[i].id).value().request.kind, "k" + std::to_string(i));
  }
}

TEST_P(JobStoreConformance, ABatchWithOneConflictStoresNothing) {
  submit_one("ann", "sum", "key-1");
  std::vector<submission> batch;
  for (int i = 0; i < 3; ++i) {
    batch.push_back({.id = store().allocate_id().value(),
                     .request = {.user = "ann", .kind = "other"},
                     .time = t0});
  }
  batch[2].request.idempotency_key = "key-1";  // names the first job, with another kind
  auto r = store().submit(batch);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, store_errc::idempotency_conflict);
  for (const auto& s : batch) {
    auto got = store().get(s.id);
    ASSERT_FALSE(got.ok()) << "job " << s.id << " of a refused batch was stored";
    EXPECT_EQ(got.error().code, store_errc::not_found);
  }
}

TEST_P(JobStoreConformance, TheSameIdempotencyKeyAndRequestReturnTheExistingJob) {
  const job_id first = submit_one("ann", "sum", "key-1");
  const job_id again_id = store().allocate_id().value();
  auto r = store().submit({{.id = again_id,
                            .request = {.user = "ann", .kind = "sum", .args = {{"n", 1}},
                                        .idempotency_key = "key-1"},
                            .time = t0 + 5s}});
  ASSERT_TRUE(r.ok()) << describe(r.error());
  EXPECT_EQ(r.value().at(0), (submit_outcome{.id = first, .existing = true}));
  EXPECT_EQ(store().get(again_id).error().code, store_errc::not_found);
  EXPECT_EQ(all_events(store(), first).size(), 1u) << "nothing written for a duplicate";
}

TEST_P(JobStoreConformance, TheSameKeyTwiceInOneBatchIsOneJob) {
  const job_id a = store().allocate_id().value();
  const job_id b = store().allocate_id().value();
  const jobs::job_request request{.user = "ann", .kind = "sum", .idempotency_key = "k"};
  auto r = store().submit({{.id = a, .request = request, .time = t0},
                           {.id = b, .request = request, .time = t0}});
  ASSERT_TRUE(r.ok()) << describe(r.error());
  EXPECT_EQ(r.value()[0], (submit_outcome{.id = a, .existing = false}));
  EXPECT_EQ(r.value()[1], (submit_outcome{.id = a, .existing = true}));
}

TEST_P(JobStoreConformance, TheSameIdempotencyKeyWithAnotherRequestIsAConflict) {
  const job_id first = submit_one("ann", "sum", "key-1");
  auto r = store().submit({{.id = store().allocate_id().value(),
                            .request = {.user = "ann", .kind = "sum", .args = {{"n", 2}},
                                        .idempotency_key = "key-1"},
                            .time = t0}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, store_errc::idempotency_conflict);
  EXPECT_NE(r.error().message.find("key-1"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(std::to_string(first)), std::string::npos) << r.error().message;
}

TEST_P(JobStoreConformance, IdempotencyKeysAreScopedPerUser) {
  const job_id a = submit_one("ann", "sum", "shared-key");
  const job_id b = submit_one("bob", "sum", "shared-key");
  EXPECT_NE(a, b);
}

TEST_P(JobStoreConformance, AReusedJobIdIsRefused) {
  const job_id id = submit_one("ann", "sum");
  auto r = store().submit({{.id = id, .request = {.user = "bob", .kind = "x"}, .time = t0}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, store_errc::invalid_request);
  EXPECT_EQ(store().get(id).value().request.user, "ann");
}

TEST_P(JobStoreConformance, TheIdOfAFinishedJobIsNotReusedEither) {
  const job_id id = submit_one("ann", "sum");
  ASSERT_TRUE(store().append({jobs::make_cancelled(id, 2, t0)}).ok());
  const job_id other = submit_one("ann", "sum");
  // One batch: a fresh job, then the finished job's id. Nothing of it is stored.
  const job_id fresh = store().allocate_id().value();
  auto r = store().submit({{.id = fresh, .request = {.user = "bob", .kind = "x"}, .time = t0},
                           {.id = id, .request = {.user = "bob", .kind = "x"}, .time = t0}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, store_errc::invalid_request);
  EXPECT_EQ(store().get(id).value().status, job_status::cancelled);
  EXPECT_EQ(store().get(fresh).error().code, store_errc::not_found);
  EXPECT_EQ(store().get(other).value().status, job_status::queued);
}

TEST_P(JobStoreConformance, AppendWritesTheLogAndTheStateRowTogether) {
  const job_id id = submit_one("ann", "sum");
  advance(id, event_type::claimed);
  advance(id, event_type::progress);
  advance(id, event_type::succeeded);
  auto state = store().get(id);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state.value().status, job_status::succeeded);
  EXPECT_EQ(state.value().attempts, 1u);
  EXPECT_EQ(jobs::fold(all_events(store(), id)), state.value());
}

TEST_P(JobStoreConformance, AnInvalidAppendWritesNothing) {
  const job_id id = submit_one("ann", "sum");
  const auto before = store().get(id).value();
  auto r = store().append({jobs::make_claimed(id, 2, t0, 1),
                           jobs::make_succeeded(id, 4, t0, 1)});  // a gap at 3
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, store_errc::invalid_transition);
  EXPECT_NE(r.error().message.find("expected sequence 3"), std::string::npos) << r.error().message;
  EXPECT_EQ(store().get(id).value(), before);
  EXPECT_EQ(all_events(store(), id).size(), 1u);
}

TEST_P(JobStoreConformance, AnEventAfterAFinalStateIsRefused) {
  const job_id id = submit_one("ann", "sum");
  advance(id, event_type::cancelled);
  auto r = store().append({jobs::make_claimed(id, 3, t0, 1)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, store_errc::invalid_transition);
  EXPECT_EQ(store().get(id).value().status, job_status::cancelled);
}

TEST_P(JobStoreConformance, ADuplicateEventIsRefused) {
  const job_id id = submit_one("ann", "sum");
  const auto claim = jobs::make_claimed(id, 2, t0, 1);
  ASSERT_TRUE(store().append({claim}).ok());
  auto r = store().append({claim});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, store_errc::invalid_transition);
}

TEST_P(JobStoreConformance, AppendToAnUnknownJobIsNotFound) {
  auto r = store().append({jobs::make_claimed(123'456'789, 2, t0, 1)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, store_errc::not_found);
}

TEST_P(JobStoreConformance, OneAppendMaySpanSeveralJobs) {
  const job_id a = submit_one("ann", "sum");
  const job_id b = submit_one("bob", "sum");
  ASSERT_TRUE(store().append({jobs::make_claimed(a, 2, t0, 1), jobs::make_claimed(b, 2, t0, 1),
                              jobs::make_succeeded(a, 3, t0, 7)})
                  .ok());
  EXPECT_EQ(store().get(a).value().status, job_status::succeeded);
  EXPECT_EQ(store().get(b).value().status, job_status::running);
}

TEST_P(JobStoreConformance, EventsAfterASequenceNumber) {
  const job_id id = submit_one("ann", "sum");
  advance(id, event_type::claimed);
  advance(id, event_type::progress);
  advance(id, event_type::output);
  auto r = store().events(id, 2, 100);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.value().size(), 2u);
  EXPECT_EQ(r.value()[0].sequence, 3u);
  EXPECT_EQ(r.value()[0].type, event_type::progress);
  EXPECT_EQ(r.value()[1].sequence, 4u);
  auto limited = store().events(id, 0, 2);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited.value().size(), 2u);
  EXPECT_TRUE(store().events(id, 4, 10).value().empty());
  EXPECT_EQ(store().events(999'999'999, 0, 10).error().code, store_errc::not_found);
}

TEST_P(JobStoreConformance, GetOfAnUnknownJobIsNotFound) {
  auto r = store().get(987'654'321);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, store_errc::not_found);
}

TEST_P(JobStoreConformance, ListFiltersByUserStatusAndKindWithKeysetPagination) {
  std::vector<job_id> ann_sum;
  for (int i = 0; i < 7; ++i) ann_sum.push_back(submit_one("ann", "sum"));
  const job_id ann_fib = submit_one("ann", "fib");
  const job_id bob_sum = submit_one("bob", "sum");
  advance(ann_sum[0], event_type::claimed);

  std::vector<job_id> seen;
  job_filter filter{.user = "ann", .kind = "sum", .limit = 3};
  for (int page = 0; page < 10; ++page) {
    auto r = store().list(filter);
    ASSERT_TRUE(r.ok()) << describe(r.error());
    for (const auto& j : r.value().jobs) seen.push_back(j.id);
    if (!r.value().next_after_id) break;
    filter.after_id = *r.value().next_after_id;
  }
  EXPECT_EQ(seen, ann_sum);

  auto running = store().list({.status = job_status::running});
  ASSERT_TRUE(running.ok());
  ASSERT_EQ(running.value().jobs.size(), 1u);
  EXPECT_EQ(running.value().jobs[0].id, ann_sum[0]);

  auto fib = store().list({.kind = "fib"});
  ASSERT_EQ(fib.value().jobs.size(), 1u);
  EXPECT_EQ(fib.value().jobs[0].id, ann_fib);

  auto bob = store().list({.user = "bob", .status = job_status::queued});
  ASSERT_EQ(bob.value().jobs.size(), 1u);
  EXPECT_EQ(bob.value().jobs[0].id, bob_sum);

  auto everything = store().list({.limit = 100});
  EXPECT_EQ(everything.value().jobs.size(), 9u);
  EXPECT_FALSE(everything.value().next_after_id);
}

TEST_P(JobStoreConformance, ListUnfinishedReturnsWhatRecoveryRebuilds) {
  const job_id queued = submit_one("ann", "a");
  const job_id running = submit_one("ann", "b");
  const job_id failed = submit_one("ann", "c");
  const job_id done = submit_one("ann", "d");
  const job_id cancelled = submit_one("ann", "e");
  advance(running, event_type::claimed);
  advance(failed, event_type::claimed);
  advance(failed, event_type::attempt_failed);
  advance(done, event_type::claimed);
  advance(done, event_type::succeeded);
  advance(cancelled, event_type::cancelled);
  std::vector<job_id> seen;
  job_id after = 0;
  for (int page = 0; page < 10; ++page) {
    auto r = store().list_unfinished(after, 2);
    ASSERT_TRUE(r.ok()) << describe(r.error());
    for (const auto& j : r.value().jobs) seen.push_back(j.id);
    if (!r.value().next_after_id) break;
    after = *r.value().next_after_id;
  }
  EXPECT_EQ(seen, (std::vector<job_id>{queued, running, failed}));
}

TEST_P(JobStoreConformance, OutOfRangeLimitsAreRefused) {
  EXPECT_EQ(store().list({.limit = 0}).error().code, store_errc::invalid_request);
  EXPECT_EQ(store().list_unfinished(0, 1'000'000).error().code, store_errc::invalid_request);
  EXPECT_EQ(store().events(1, 0, 0).error().code, store_errc::invalid_request);
}

TEST_P(JobStoreConformance, EmptyWritesAreRefused) {
  EXPECT_EQ(store().submit({}).error().code, store_errc::invalid_request);
  EXPECT_EQ(store().append({}).error().code, store_errc::invalid_request);
}

// A caller may queue a job's next events without waiting for the previous write's
// acknowledgement: writes run, and call back, in the order they were queued.
TEST_P(JobStoreConformance, WritesRunAndCallBackInTheOrderTheyWereQueued) {
  std::mutex m;
  std::vector<std::string> order;
  std::vector<std::future<void>> acks;
  std::vector<job_id> ids;
  for (int i = 0; i < 20; ++i) {
    const job_id id = store().allocate_id().value();
    ids.push_back(id);
    auto note = [&, id](const char* what, bool ok) {
      std::lock_guard lock(m);
      order.push_back(std::to_string(id) + what + (ok ? "" : " failed"));
    };
    auto p1 = std::make_shared<std::promise<void>>();
    auto p2 = std::make_shared<std::promise<void>>();
    auto p3 = std::make_shared<std::promise<void>>();
    acks.push_back(p1->get_future());
    acks.push_back(p2->get_future());
    acks.push_back(p3->get_future());
    store().submit_async({{.id = id, .request = {.user = "ann", .kind = "sum"}, .time = t0}},
                         [note, p1](auto r) { note(" submitted", r.ok()); p1->set_value(); });
    store().append_async({jobs::make_claimed(id, 2, t0, 1)},
                         [note, p2](auto r) { note(" claimed", r.ok()); p2->set_value(); });
    store().append_async({jobs::make_succeeded(id, 3, t0, i)},
                         [note, p3](auto r) { note(" succeeded", r.ok()); p3->set_value(); });
  }
  for (auto& ack : acks) ASSERT_EQ(ack.wait_for(30s), std::future_status::ready);
  std::vector<std::string> expected;
  for (job_id id : ids) {
    expected.push_back(std::to_string(id) + " submitted");
    expected.push_back(std::to_string(id) + " claimed");
    expected.push_back(std::to_string(id) + " succeeded");
  }
  EXPECT_EQ(order, expected);
  for (job_id id : ids) EXPECT_EQ(store().get(id).value().status, job_status::succeeded);
}

TEST_P(JobStoreConformance, AsyncWritesCallBackOnceCommitted) {
  const job_id id = store().allocate_id().value();
  std::promise<store_result<std::vector<submit_outcome>>> submitted;
  store().submit_async({{.id = id, .request = {.user = "ann", .kind = "sum"}, .time = t0}},
                       [&](auto r) { submitted.set_value(std::move(r)); });
  auto f = submitted.get_future();
  ASSERT_EQ(f.wait_for(30s), std::future_status::ready) << "no callback within 30 s";
  ASSERT_TRUE(f.get().ok());
  // Once the callback ran, a read sees the write.
  std::promise<store_result<committed>> appended;
  store().append_async({jobs::make_claimed(id, 2, t0, 1)},
                       [&](auto r) { appended.set_value(std::move(r)); });
  auto g = appended.get_future();
  ASSERT_EQ(g.wait_for(30s), std::future_status::ready) << "no callback within 30 s";
  ASSERT_TRUE(g.get().ok());
  EXPECT_EQ(store().get(id).value().status, job_status::running);
}

TEST_P(JobStoreConformance, ConcurrentWritersAllLand) {
  constexpr int threads = 8;
  constexpr int jobs_per_thread = 25;
  std::vector<std::thread> writers;
  std::vector<std::vector<job_id>> ids(threads);
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < jobs_per_thread; ++i) {
        auto id = store().allocate_id();
        if (!id.ok()) { ++failures; continue; }
        auto r = store().submit({{.id = id.value(),
                                  .request = {.user = "u" + std::to_string(t), .kind = "k"},
                                  .time = t0}});
        if (!r.ok()) { ++failures; continue; }
        if (!store().append({jobs::make_claimed(id.value(), 2, t0, 1)}).ok()) ++failures;
        ids[t].push_back(id.value());
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<job_id> distinct;
  for (const auto& v : ids) {
    for (job_id id : v) {
      EXPECT_TRUE(distinct.insert(id).second);
      EXPECT_EQ(store().get(id).value().status, job_status::running);
    }
  }
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(threads * jobs_per_thread));
}

TEST_P(JobStoreConformance, TheStateRowIsAlwaysTheFoldOfTheLog) {
  // Random valid histories (the fold's own generator), appended a few events at a time.
  std::uint64_t seed = 12345;
  auto next = [&] { return seed = seed * 6364136223846793005ULL + 1442695040888963407ULL; };
  std::vector<job_id> ids;
  for (int j = 0; j < 12; ++j) {
    std::vector<std::uint8_t> choices(20);
    for (auto& c : choices) c = static_cast<std::uint8_t>(next() >> 56);
    const job_id id = store().allocate_id().value();
    const auto w = jobs::testing::walk_state_machine(id, choices);
    jobs::job_request request = jobs::fold(std::span(w.events).first(1)).request;
    ASSERT_TRUE(store().submit({{.id = id, .request = request, .time = w.events[0].time}}).ok());
    for (std::size_t i = 1; i < w.events.size(); i += 3) {
      const std::size_t n = std::min<std::size_t>(3, w.events.size() - i);
      std::vector<jobs::event> chunk(w.events.begin() + static_cast<std::ptrdiff_t>(i),
                                     w.events.begin() + static_cast<std::ptrdiff_t>(i + n));
      auto r = store().append(chunk);
      ASSERT_TRUE(r.ok()) << describe(r.error());
    }
    EXPECT_EQ(store().get(id).value(), jobs::fold(w.events));
    ids.push_back(id);
  }
  for (job_id id : ids) EXPECT_EQ(jobs::fold(all_events(store(), id)), store().get(id).value());
}

// Job code may put any bytes in an error or an output (F24): the store keeps the event, with
// invalid UTF-8 replaced (U+FFFD), instead of failing the append (which crashed the job process).
TEST_P(JobStoreConformance, InvalidUtf8InAnEventIsStoredReplacedNotRefused) {
  const job_id id = submit_one("ann", "sum");
  advance(id, event_type::claimed);
  const std::string bad = "cannot open /tmp/\xff\xfe.txt";
  auto out = store().append({jobs::make_output(id, 3, t0, nlohmann::json{{"text", bad}})});
  ASSERT_TRUE(out.ok()) << describe(out.error());
  auto failed = store().append({jobs::make_attempt_failed(id, 4, t0, bad, t0 + 1s)});
  ASSERT_TRUE(failed.ok()) << describe(failed.error());
  auto state = store().get(id);
  ASSERT_TRUE(state.ok()) << describe(state.error());
  EXPECT_EQ(state.value().status, job_status::failed);
  EXPECT_EQ(state.value().last_error, "cannot open /tmp/\xEF\xBF\xBD\xEF\xBF\xBD.txt");
  const auto log = all_events(store(), id);
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[2].payload.at("chunk").at("text"), "cannot open /tmp/\xEF\xBF\xBD\xEF\xBF\xBD.txt");
}

TEST_P(JobStoreConformance, AcknowledgedWritesSurviveReopening) {
  if (!GetParam().durable) GTEST_SKIP() << "not a durable backend";
  const job_id a = submit_one("ann", "sum", "key-9");
  advance(a, event_type::claimed);
  advance(a, event_type::attempt_failed);
  const auto before = store().get(a).value();
  reopen();
  EXPECT_EQ(store().get(a).value(), before);
  EXPECT_EQ(jobs::fold(all_events(store(), a)), before);
  // The idempotency key still names the job.
  auto r = store().submit({{.id = store().allocate_id().value(),
                            .request = {.user = "ann", .kind = "sum", .args = {{"n", 1}},
                                        .idempotency_key = "key-9"},
                            .time = t0}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value()[0], (submit_outcome{.id = a, .existing = true}));
}

}  // namespace respawn::store::testing

// Countdown fault injection on the store (SQLite's habit, STYLE.md): a fixed workload — submits
// (a batch, singles, an idempotent resubmission), claims, progress, completions, failed attempts
// retried with the retry policy until dead, cancels, reads — runs against a store whose Nth
// statement or commit fails, once or from then on, for N = 1, 2, ... until a run reaches no
// fault. Every run must end in success or clean errors (values, never a crash or a hang), and
// afterwards the file, reopened without faults, must be intact: every job's events fold to
// exactly its current-state row, no event belongs to a job without a row, and everything that
// was acknowledged is there.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>

#include "respawn/jobs/fold.hpp"
#include "respawn/jobs/retry_policy.hpp"
#include "store/sqlite_job_store.hpp"
#include "temp_dir.hpp"

namespace respawn::store {
namespace {

using jobs::event_type;
const jobs::job_time t0 = jobs::from_microseconds(1'700'000'000'000'000);

struct acknowledged_event {
  job_id job;
  std::uint64_t sequence;
  event_type type;
};

struct run_record {
  std::vector<job_id> submitted;               // acknowledged submissions
  std::vector<acknowledged_event> appended;    // acknowledged events
  int errors = 0;                              // clean errors seen
};

// One step of a job's script: the event the engine would log next, built from the stored state
// (as the engine would after any failure: re-read, then decide).
enum class step : std::uint8_t { claim, progress, succeed, fail, cancel_request, cancel };

void run_workload(job_store& store, run_record& record) {
  const jobs::retry_policy policy{.attempts_max = 3, .seed = 7};
  // The driver builds each event from freshly read committed state, so the only error a fault
  // may cause is io_error: any other (a refused transition, an unknown job) means the store's
  // view went out of step with its file.
  auto note = [&](const store_error& e) {
    ++record.errors;
    EXPECT_EQ(e.code, store_errc::io_error) << e.message;
  };

  // Ids first (seed 000's order), then the submissions.
  std::vector<job_id> ids;
  for (int i = 0; i < 6; ++i) {
    auto id = store.allocate_id();
    if (id.ok()) ids.push_back(id.value()); else note(id.error());
  }
  auto request = [](int i) {
    return jobs::job_request{.user = i % 2 == 0 ? "ann" : "bob", .kind = "work",
                             .args = {{"i", i}}, .priority = i % 3,
                             .idempotency_key = i == 4 ? std::optional<std::string>("idem-4")
                                                       : std::nullopt};
  };
  std::vector<submission> batch;
  for (std::size_t i = 0; i < ids.size() && i < 3; ++i) {
    batch.push_back({.id = ids[i], .request = request(static_cast<int>(i)), .time = t0});
  }
  if (!batch.empty()) {
    auto r = store.submit(batch);
    if (r.ok()) {
      for (const auto& o : r.value()) record.submitted.push_back(o.id);
    } else {
      note(r.error());
    }
  }
  for (std::size_t i = 3; i < ids.size(); ++i) {
    auto r = store.submit({{.id = ids[i], .request = request(static_cast<int>(i)), .time = t0}});
    if (r.ok()) record.submitted.push_back(r.value()[0].id); else note(r.error());
  }
  // The client resubmits job 4 with its key, as after a client crash: the same job comes back.
  if (ids.size() == 6) {
    auto again = store.allocate_id();
    if (again.ok()) {
      auto r = store.submit({{.id = again.value(), .request = request(4), .time = t0}});
      if (!r.ok()) note(r.error());
    }
  }

  const std::map<int, std::vector<step>> scripts = {
      {0, {step::claim, step::progress, step::succeed}},
      {1, {step::claim, step::fail, step::claim, step::succeed}},
      {2, {step::claim, step::fail, step::claim, step::fail, step::claim, step::fail}},
      {3, {step::cancel}},
      {4, {step::claim, step::cancel_request, step::cancel}},
      {5, {step::claim, step::progress, step::fail, step::claim, step::succeed}},
  };
  // Interleave the jobs' scripts, one step of each job per round, like a dispatcher would.
  for (std::size_t round = 0; round < 6; ++round) {
    for (const auto& [index, script] : scripts) {
      if (round >= script.size() || static_cast<std::size_t>(index) >= ids.size()) continue;
      const job_id id = ids[static_cast<std::size_t>(index)];
      // A submission that failed wrote nothing: there is no such job to drive.
      if (std::find(record.submitted.begin(), record.submitted.end(), id) == record.submitted.end()) {
        continue;
      }
      auto state = store.get(id);
      if (!state.ok()) { note(state.error()); continue; }
      const jobs::job_state& s = state.value();
      const std::uint64_t seq = s.last_sequence + 1;
      const jobs::job_time now = t0 + std::chrono::seconds(seq);
      std::optional<jobs::event> e;
      switch (script[round]) {
        case step::claim:
          if (s.status == jobs::job_status::queued || s.status == jobs::job_status::failed) {
            e = jobs::make_claimed(id, seq, now, s.attempts + 1);
          }
          break;
        case step::progress:
          if (s.status == jobs::job_status::running) e = jobs::make_progress(id, seq, now, round);
          break;
        case step::succeed:
          if (s.status == jobs::job_status::running) e = jobs::make_succeeded(id, seq, now, 42);
          break;
        case step::fail:
          if (s.status == jobs::job_status::running) {
            const auto decision = jobs::after_failed_attempt(policy, s, now);
            e = decision.dead ? jobs::make_dead(id, seq, now, "worker crashed")
                              : jobs::make_attempt_failed(id, seq, now, "worker crashed",
                                                          decision.retry_at);
          }
          break;
        case step::cancel_request:
          if (!jobs::is_final(s.status)) e = jobs::make_cancel_requested(id, seq, now, "user");
          break;
        case step::cancel:
          if (!jobs::is_final(s.status)) e = jobs::make_cancelled(id, seq, now);
          break;
      }
      if (!e) continue;  // an earlier step failed: this one no longer applies
      auto r = store.append({*e});
      if (r.ok()) record.appended.push_back({id, seq, e->type}); else note(r.error());
    }
  }
  // Reads take faults too.
  if (auto r = store.list({.user = "ann"}); !r.ok()) note(r.error());
  if (auto r = store.list_unfinished(0, 100); !r.ok()) note(r.error());
}

// Reopens the file without faults and checks the log against the state table.
void check_intact(const std::string& path, const run_record& record) {
  auto opened = sqlite_job_store::open(
      {.path = path, .synchronous = sqlite_options::synchronous_mode::off});
  ASSERT_TRUE(opened.ok()) << "reopening after the run: " << opened.error().message;
  job_store& store = *opened.value();
  std::size_t jobs_seen = 0;
  job_filter filter{.limit = 1'000};
  for (;;) {
    auto page = store.list(filter);
    ASSERT_TRUE(page.ok()) << page.error().message;
    for (const auto& state : page.value().jobs) {
      ++jobs_seen;
      auto log = store.events(state.id, 0, 10'000);
      ASSERT_TRUE(log.ok());
      jobs::job_state folded;
      try {
        folded = jobs::fold(log.value());
      } catch (const jobs::invalid_event_log& e) {
        FAIL() << "job " << state.id << "'s log does not fold: " << e.what();
      }
      EXPECT_EQ(folded, state) << "job " << state.id << ": the state row is not the fold of its log";
    }
    if (!page.value().next_after_id) break;
    filter.after_id = *page.value().next_after_id;
  }
  for (job_id id : record.submitted) EXPECT_TRUE(store.get(id).ok()) << "acknowledged job " << id << " lost";
  for (const auto& a : record.appended) {
    auto log = store.events(a.job, a.sequence - 1, 1);
    ASSERT_TRUE(log.ok());
    ASSERT_EQ(log.value().size(), 1u) << "acknowledged event " << a.sequence << " of job " << a.job << " lost";
    EXPECT_EQ(log.value()[0].type, a.type);
  }
  // No orphan events: every event's job has a row.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT COUNT(*) FROM events WHERE job_id NOT IN (SELECT id FROM jobs)",
                               -1, &s, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(s, 0), 0) << "events of jobs that have no row";
  sqlite3_finalize(s);
  sqlite3_close(db);
  (void)jobs_seen;
}

void countdown(countdown_fault::mode mode) {
  testing::temp_dir dir(testing::memory_backed_base());  // hundreds of files: keep off the disk
  int clean_failures = 0;
  for (std::uint64_t n = 1;; ++n) {
    ASSERT_LT(n, 5'000u) << "the workload never ran out of statements";
    SCOPED_TRACE("fault at statement " + std::to_string(n));
    const std::string path = (dir.path() / ("run-" + std::to_string(n) + ".db")).string();
    auto fault = std::make_shared<countdown_fault>(n, mode);
    run_record record;
    {
      // synchronous=OFF: these runs check logic under failures, not the disk; they stay fast.
      auto opened = sqlite_job_store::open({.path = path,
                                            .synchronous = sqlite_options::synchronous_mode::off,
                                            .fault = fault});
      if (opened.ok()) {
        run_workload(*opened.value(), record);
      } else {
        EXPECT_EQ(opened.error().code, store_errc::io_error) << opened.error().message;
        ++record.errors;
      }
    }
    if (record.errors > 0) ++clean_failures;
    if (!fault->fired()) {
      EXPECT_EQ(record.errors, 0) << "errors without an injected fault";
      EXPECT_GT(n, 50u) << "suspiciously few statements in the workload";
      std::printf("countdown (%s): %llu runs, a fault in %llu of them, %d ended with clean errors\n",
                  mode == countdown_fault::mode::once ? "once" : "persistent",
                  static_cast<unsigned long long>(n), static_cast<unsigned long long>(n - 1),
                  clean_failures);
      break;
    }
    EXPECT_GT(record.errors, 0) << "a fault fired but no caller heard of it";
    check_intact(path, record);
    if (::testing::Test::HasFatalFailure()) return;
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
  }
  EXPECT_GT(clean_failures, 0);
}

// Group commit runs the writes of a transaction without savepoints and, when a statement fails,
// rolls back and runs the others again each in its own savepoint. Here 10 submits and 10 appends
// share transactions (another connection holds the write lock while they queue up) and the Nth
// statement fails once, for every N that lands in them: the write that met the fault fails alone
// (or, at BEGIN or COMMIT, the whole transaction does), every other write is acknowledged, and the
// file is intact.
TEST(StoreFaultInjection, AFaultInsideAGroupCommitFailsOnlyTheWriteThatMetIt) {
  testing::temp_dir dir(testing::memory_backed_base());
  auto open = [&](const std::string& path, std::shared_ptr<countdown_fault> fault) {
    return sqlite_job_store::open(
        {.path = path, .synchronous = sqlite_options::synchronous_mode::off, .fault = std::move(fault)});
  };
  constexpr int writes = 10;
  // Statements before the batched writes, counted once without a fault.
  std::uint64_t setup_calls = 0;
  int reruns_with_company = 0;
  for (std::uint64_t k = 0;; ++k) {
    ASSERT_LT(k, 200u) << "the writes never ran out of statements";
    SCOPED_TRACE("fault at batched statement " + std::to_string(k));
    const std::string path = (dir.path() / ("group-" + std::to_string(k) + ".db")).string();
    auto fault = std::make_shared<countdown_fault>(k == 0 ? ~0ull : setup_calls + k,
                                                   countdown_fault::mode::once);
    run_record record;
    std::uint64_t reruns = 0;
    int failures = 0;
    {
      auto opened = open(path, fault);
      ASSERT_TRUE(opened.ok()) << opened.error().message;
      auto& store = *opened.value();
      std::vector<job_id> ids;
      for (int i = 0; i < 2 * writes; ++i) ids.push_back(store.allocate_id().value());
      for (int i = writes; i < 2 * writes; ++i) {  // jobs the appends go to
        ASSERT_TRUE(store.submit({{.id = ids[i], .request = {.user = "ann", .kind = "w"}, .time = t0}}).ok());
        record.submitted.push_back(ids[i]);
      }
      if (k == 0) setup_calls = fault->calls();
      const std::uint64_t transactions_before = store.stats().transactions;
      sqlite3* other = nullptr;
      ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
      ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
      std::mutex m;
      std::vector<std::future<void>> acks;
      for (int i = 0; i < writes; ++i) {
        auto p = std::make_shared<std::promise<void>>();
        acks.push_back(p->get_future());
        const job_id id = ids[i];
        store.submit_async({{.id = id, .request = {.user = "bob", .kind = "w"}, .time = t0}},
                           [&, p, id](store_result<std::vector<submit_outcome>> r) {
                             std::lock_guard lock(m);
                             if (r.ok()) record.submitted.push_back(id); else ++failures;
                             p->set_value();
                           });
        auto q = std::make_shared<std::promise<void>>();
        acks.push_back(q->get_future());
        const job_id target = ids[writes + i];
        store.append_async({jobs::make_claimed(target, 2, t0, 1)},
                           [&, q, target](store_result<committed> r) {
                             std::lock_guard lock(m);
                             if (r.ok()) record.appended.push_back({target, 2, event_type::claimed}); else ++failures;
                             q->set_value();
                           });
      }
      ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
      sqlite3_close(other);
      for (auto& ack : acks) ack.wait();
      reruns = store.stats().reruns;
      if (reruns > 0) {
        EXPECT_EQ(failures, 1) << "a failed statement must fail only its own write";
        // 20 writes in at most 3 transactions: the failed one had company.
        if (store.stats().transactions - transactions_before <= 3) ++reruns_with_company;
      }
    }
    check_intact(path, record);
    if (::testing::Test::HasFatalFailure()) return;
    if (k > 0 && !fault->fired()) {  // past the last statement of the writes
      std::printf("group commit faults: %llu runs, %d rolled back and reran a shared transaction\n",
                  static_cast<unsigned long long>(k), reruns_with_company);
      break;
    }
  }
  EXPECT_GT(reruns_with_company, 0) << "no fault landed inside a shared transaction";
}

TEST(StoreFaultInjection, EveryRunEndsCleanlyWithItsLogIntactWhenTheNthStatementFailsOnce) {
  countdown(countdown_fault::mode::once);
}

TEST(StoreFaultInjection, EveryRunEndsCleanlyWithItsLogIntactWhenEveryStatementFromTheNthFails) {
  countdown(countdown_fault::mode::persistent);
}

}  // namespace
}  // namespace respawn::store

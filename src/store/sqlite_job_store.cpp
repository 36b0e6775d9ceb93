// The SQLite backend: opening, the writer thread (group commit, gathering, the rerun in savepoints
// after a failed statement), background checkpoints, the write bodies (submit with idempotency,
// append checked by the fold, id reservation: each checks before it writes) and the reads. See
// sqlite_job_store.hpp and docs/store.md.
#include "store/sqlite_job_store.hpp"

#include <sqlite3.h>

#include <cassert>
#include <charconv>
#include <cstdio>
#include <future>
#include <iterator>
#include <unordered_map>
#include <utility>

#include "respawn/jobs/fold.hpp"
#include "respawn/jobs/json_limits.hpp"
#include "store/sqlite_schema.hpp"

namespace respawn::store {
namespace {

// Thrown by a write's body to fail that write alone with a store_error. Before the write changed
// anything (scope.changed unset) the transaction simply goes on; after, it is rolled back and the
// other writes run again, each in a savepoint (run_transaction).
struct write_failure {
  store_error error;
};

store_error io_error(const sqlite_failure& failure) {
  return store_error{store_errc::io_error, std::string("database error: ") + failure.what()};
}

const char* synchronous_pragma(sqlite_options::synchronous_mode mode) {
  switch (mode) {
    case sqlite_options::synchronous_mode::off: return "PRAGMA synchronous = OFF";
    case sqlite_options::synchronous_mode::normal: return "PRAGMA synchronous = NORMAL";
    case sqlite_options::synchronous_mode::full: return "PRAGMA synchronous = FULL";
    case sqlite_options::synchronous_mode::extra: return "PRAGMA synchronous = EXTRA";
  }
  return "PRAGMA synchronous = FULL";
}

void configure(sqlite_connection& db, const sqlite_options& options, bool wal) {
  sqlite3_busy_timeout(db.handle(), static_cast<int>(options.busy_timeout.count()));
  if (wal) {
    const std::string mode = db.query_text("PRAGMA journal_mode = WAL");
    if (mode != "wal") {
      throw sqlite_failure(SQLITE_ERROR, "cannot switch " + options.path +
                                             " to WAL mode (journal_mode is " + mode + ")");
    }
  }
  db.exec(synchronous_pragma(options.synchronous));
}

// The writer's connection only. A larger page cache (32 MiB instead of 2) keeps the hot pages of
// the tables and the five indexes in memory as the file grows; savepoint journals (used only when
// a transaction is run again write by write) stay in memory instead of a temporary file.
void configure_writer(sqlite_connection& db) {
  db.exec("PRAGMA cache_size = -32768");
  db.exec("PRAGMA temp_store = MEMORY");
}

jobs::job_state parse_state(const std::string& text) {
  return jobs::parse_stored_json(text).get<jobs::job_state>();
}

// The state row of `id` as seen inside the current transaction, or nullopt.
std::optional<jobs::job_state> load_state(sqlite_connection& db, job_id id) {
  auto s = db.prepare("SELECT state FROM jobs WHERE id = ?1");
  s->bind(1, static_cast<std::int64_t>(id));
  if (!s->step()) return std::nullopt;
  return parse_state(s->column_text(0));
}

std::optional<std::int64_t> retry_at_column(const jobs::job_state& state) {
  if (!state.retry_at) return std::nullopt;
  return jobs::to_microseconds(*state.retry_at);
}

void append_integer(std::string& out, std::int64_t value) {
  char digits[24];
  const auto end = std::to_chars(std::begin(digits), std::end(digits), value).ptr;
  out.append(digits, end);
}

void append_unsigned(std::string& out, std::uint64_t value) {
  char digits[24];
  const auto end = std::to_chars(std::begin(digits), std::end(digits), value).ptr;
  out.append(digits, end);
}

// `null` costs no DOM walk; anything else is nlohmann's own dump.
void append_json(std::string& out, const nlohmann::json& value) {
  if (value.is_null()) {
    out += "null";
  } else {
    out += value.dump();
  }
}

// The state row's JSON: the same document as nlohmann::json(state).dump() (reads parse it with
// jobs::from_json, the tests compare the parse with the fold), written straight into `out` with
// the request's JSON given. Building the document as a nlohmann tree first cost a dozen heap
// allocations and most of a write's CPU; every event rewrites this row.
void write_state_json(std::string& out, const jobs::job_state& state, std::string_view request_json) {
  out.clear();
  out += "{\"id\":";
  append_unsigned(out, state.id);
  out += ",\"request\":";
  out += request_json;
  out += ",\"status\":\"";
  out += jobs::to_string(state.status);
  out += "\",\"last_sequence\":";
  append_unsigned(out, state.last_sequence);
  out += ",\"attempts\":";
  append_unsigned(out, state.attempts);
  out += ",\"created_at_us\":";
  append_integer(out, jobs::to_microseconds(state.created_at));
  out += ",\"updated_at_us\":";
  append_integer(out, jobs::to_microseconds(state.updated_at));
  out += ",\"retry_at_us\":";
  if (state.retry_at) {
    append_integer(out, jobs::to_microseconds(*state.retry_at));
  } else {
    out += "null";
  }
  out += ",\"last_error\":";
  if (state.last_error.empty()) {
    out += "\"\"";
  } else {
    out += nlohmann::json(state.last_error).dump();  // escaping
  }
  out += ",\"result\":";
  append_json(out, state.result);
  out += ",\"progress\":";
  append_json(out, state.progress);
  out += ",\"snapshot\":";
  append_json(out, state.snapshot);
  out += ",\"outputs\":";
  append_unsigned(out, state.outputs);
  out += ",\"cancel_requested\":";
  out += state.cancel_requested ? "true" : "false";
  out += '}';
}

std::string request_json(const jobs::job_request& request) { return nlohmann::json(request).dump(); }


void insert_event_text(sqlite_connection& db, job_id job, std::uint64_t sequence, jobs::job_time time,
                       jobs::event_type type, std::string_view payload) {
  auto s = db.prepare(
      "INSERT INTO events (job_id, sequence, time_us, type, payload) VALUES (?1, ?2, ?3, ?4, ?5)");
  s->bind(1, static_cast<std::int64_t>(job))
      .bind(2, static_cast<std::int64_t>(sequence))
      .bind(3, jobs::to_microseconds(time))
      .bind_static(4, jobs::to_string(type))
      .bind_static(5, payload);
  s->step();
}

void insert_event(sqlite_connection& db, const jobs::event& e, sqlite_job_store_text& text) {
  if (e.payload.is_object() && e.payload.empty()) {
    text.payload = "{}";
  } else {
    text.payload = e.payload.dump();
  }
  insert_event_text(db, e.job, e.sequence, e.time, e.type, text.payload);
}

write_failure already_used(job_id id) {
  return write_failure{{store_errc::invalid_request, "job id " + std::to_string(id) + " is already used"}};
}

void insert_job(sqlite_connection& db, const jobs::job_state& state, std::string_view request,
                sqlite_job_store_text& text) {
  auto s = db.prepare(
      "INSERT INTO jobs (id, user_name, kind, priority, idempotency_key, status, attempts, "
      "last_sequence, created_at_us, updated_at_us, retry_at_us, state) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  write_state_json(text.state, state, request);
  s->bind(1, static_cast<std::int64_t>(state.id))
      .bind_static(2, std::string_view(state.request.user))
      .bind_static(3, std::string_view(state.request.kind))
      .bind(4, std::int64_t{state.request.priority})
      .bind(5, state.request.idempotency_key)
      .bind_static(6, jobs::to_string(state.status))
      .bind(7, std::int64_t{state.attempts})
      .bind(8, static_cast<std::int64_t>(state.last_sequence))
      .bind(9, jobs::to_microseconds(state.created_at))
      .bind(10, jobs::to_microseconds(state.updated_at))
      .bind(11, retry_at_column(state))
      .bind_static(12, std::string_view(text.state));
  try {
    s->step();
  } catch (const sqlite_failure& failure) {
    if (failure.code() == SQLITE_CONSTRAINT_PRIMARYKEY) throw already_used(state.id);
    throw;
  }
}

void update_job(sqlite_connection& db, const jobs::job_state& state, std::string_view request,
                sqlite_job_store_text& text) {
  auto s = db.prepare(
      "UPDATE jobs SET status = ?2, attempts = ?3, last_sequence = ?4, updated_at_us = ?5, "
      "retry_at_us = ?6, state = ?7 WHERE id = ?1");
  write_state_json(text.state, state, request);
  s->bind(1, static_cast<std::int64_t>(state.id))
      .bind_static(2, jobs::to_string(state.status))
      .bind(3, std::int64_t{state.attempts})
      .bind(4, static_cast<std::int64_t>(state.last_sequence))
      .bind(5, jobs::to_microseconds(state.updated_at))
      .bind(6, retry_at_column(state))
      .bind_static(7, std::string_view(text.state));
  s->step();
}

store_error bad_limit(std::size_t limit) {
  return store_error{store_errc::invalid_request,
                     "limit " + std::to_string(limit) + " is out of range: use 1 to 10000"};
}

bool limit_ok(std::size_t limit) { return limit >= 1 && limit <= 10'000; }

}  // namespace

struct sqlite_job_store::write_scope {
  const state_map& transaction;  // states written by the earlier writes of the open transaction
  const state_map& committed;    // the writer's cache of committed states
  sqlite_job_store_text& text;            // the writer's reusable buffers
  state_map own{};               // states this write has written so far
  // Set by a write just before its first statement that changes the database. A write refused
  // before that (write_failure) has nothing to undo; after it, only a rollback can undo it.
  bool changed = false;

  job_entry* find_own(job_id id) {
    auto it = own.find(id);
    return it == own.end() ? nullptr : &it->second;
  }
  const job_entry* find_earlier(job_id id) const {
    if (auto it = transaction.find(id); it != transaction.end()) return &it->second;
    if (auto it = committed.find(id); it != committed.end()) return &it->second;
    return nullptr;
  }
};

store_result<std::unique_ptr<sqlite_job_store>> sqlite_job_store::open(sqlite_options options) {
  if (options.path.empty()) {
    return store_error{store_errc::bad_configuration,
                       "sqlite_options.path is empty: give a file path or \":memory:\""};
  }
  if (options.id_block_size == 0 || options.queue_max == 0 || options.batch_max == 0) {
    return store_error{store_errc::bad_configuration,
                       "sqlite_options.id_block_size, queue_max and batch_max must be at least 1"};
  }
  std::unique_ptr<sqlite_job_store> store(new sqlite_job_store(std::move(options)));
  const sqlite_options& o = store->options_;
  const bool memory = o.path == ":memory:";
  try {
    store->writer_db_ = std::make_unique<sqlite_connection>(o.path, o.fault.get());
    configure(*store->writer_db_, o, !memory);
    configure_writer(*store->writer_db_);
    if (auto error = prepare_sqlite_schema(*store->writer_db_)) return *error;
    if (!memory) {
      store->reader_db_ = std::make_unique<sqlite_connection>(o.path, o.fault.get());
      configure(*store->reader_db_, o, false);
    }
    if (!memory && o.checkpoint_pages > 0) {
      // Not under the fault hook: checkpoints are not part of any write, and the countdown must
      // count the same statements whatever the background thread is doing.
      store->checkpoint_db_ = std::make_unique<sqlite_connection>(o.path, nullptr);
      configure(*store->checkpoint_db_, o, false);  // the same synchronous: a checkpoint syncs
    }
  } catch (const sqlite_failure& failure) {
    return io_error(failure);
  }
  if (!memory) {
    // Replaces SQLite's autocheckpoint (itself a WAL hook) on the writer's connection.
    sqlite3_wal_hook(
        store->writer_db_->handle(),
        [](void* self, sqlite3*, const char*, int pages) {
          static_cast<sqlite_job_store*>(self)->after_commit(pages);
          return SQLITE_OK;
        },
        store.get());
  }
  if (store->checkpoint_db_) {
    store->checkpointer_ = std::thread([s = store.get()] { s->checkpoint_loop(); });
  }
  store->writer_ = std::thread([s = store.get()] { s->writer_loop(); });
  return store;
}

sqlite_job_store::sqlite_job_store(sqlite_options options) : options_(std::move(options)) {}

sqlite_job_store::~sqlite_job_store() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_ready_.notify_one();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(checkpoint_mutex_);
    checkpoint_stopping_ = true;
  }
  checkpoint_wanted_.notify_one();
  if (checkpointer_.joinable()) checkpointer_.join();
}

sqlite_store_stats sqlite_job_store::stats() const {
  return sqlite_store_stats{.transactions = transactions_.load(),
                            .writes = writes_.load(),
                            .writes_failed = writes_failed_.load(),
                            .reruns = reruns_.load(),
                            .checkpoints = checkpoints_.load(),
                            .wal_pages = wal_pages_.load()};
}

// Writer thread, after each commit, with the WAL's size in pages. Each time the WAL has grown by
// checkpoint_pages since the last request, the background thread is asked to checkpoint. While
// the writer keeps committing, a passive checkpoint rarely catches up with the WAL's end, so the
// WAL is not started again and stays past the threshold: asking after every commit would run a
// checkpoint (two fsyncs) per commit. Far past the threshold the writer checkpoints itself, as
// SQLite's autocheckpoint would; with the background thread's work done, little is left to copy,
// and the WAL starts again. Without a background thread (checkpoint_pages 0) it is SQLite's
// autocheckpoint exactly.
void sqlite_job_store::after_commit(int wal_pages) {
  const auto pages = static_cast<std::uint64_t>(wal_pages);
  // The WAL only grows, except when a transaction starts it again from the beginning.
  const std::uint64_t added = pages >= wal_size_seen_ ? pages - wal_size_seen_ : pages;
  wal_pages_.fetch_add(added, std::memory_order_relaxed);
  wal_size_seen_ = pages;
  if (!checkpoint_db_) {
    if (pages >= 1'000) {
      sqlite3_wal_checkpoint_v2(writer_db_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                nullptr);
    }
    return;
  }
  if (pages >= 8ull * options_.checkpoint_pages) {
    sqlite3_wal_checkpoint_v2(writer_db_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                              nullptr);
    wal_pages_since_checkpoint_ = 0;
    return;
  }
  wal_pages_since_checkpoint_ += added;
  if (pages < options_.checkpoint_pages ||
      wal_pages_since_checkpoint_ < options_.checkpoint_pages) {
    return;
  }
  wal_pages_since_checkpoint_ = 0;
  {
    std::lock_guard lock(checkpoint_mutex_);
    checkpoint_due_ = true;
  }
  checkpoint_wanted_.notify_one();
}

// A PASSIVE checkpoint copies what it can of the WAL into the database without taking the write
// lock, so the writer keeps committing meanwhile; once a checkpoint has caught up, the writer's
// next transaction starts the WAL again from its beginning. The database file's fsync happens
// here, not on the writer's path.
void sqlite_job_store::checkpoint_loop() {
  for (;;) {
    {
      std::unique_lock lock(checkpoint_mutex_);
      checkpoint_wanted_.wait(lock, [&] { return checkpoint_due_ || checkpoint_stopping_; });
      if (checkpoint_stopping_) return;
      checkpoint_due_ = false;
    }
    sqlite3_wal_checkpoint_v2(checkpoint_db_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                              nullptr, nullptr);
    checkpoints_.fetch_add(1, std::memory_order_relaxed);
  }
}

// thread-safe
void sqlite_job_store::enqueue(write w) {
  std::unique_lock lock(queue_mutex_);
  if (stopping_) {
    lock.unlock();
    w.done(store_error{store_errc::closed, "the store is closing"});
    return;
  }
  if (queue_.size() >= options_.queue_max) {
    lock.unlock();
    w.done(store_error{store_errc::overloaded,
                       "the store's write queue holds " + std::to_string(options_.queue_max) +
                           " writes, its bound: try again later"});
    return;
  }
  queue_.push_back(std::move(w));
  // While the writer gathers a batch it wants waking only once the batch is complete.
  const bool wake = queue_.size() >= wake_at_;
  lock.unlock();
  if (wake) queue_ready_.notify_one();
}

void sqlite_job_store::writer_loop() {
  std::deque<write> batch;
  std::size_t last_batch = 0;
  auto last_end = std::chrono::steady_clock::time_point::min();
  for (;;) {
    {
      std::unique_lock lock(queue_mutex_);
      queue_ready_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      // Concurrent writers answer a commit with their next writes a few microseconds after its
      // acknowledgements. When the previous transaction had company and ended less than
      // gather_wait ago, wait until then for as many writes as it had, rather than commit a
      // handful now and the rest one fsync later. A write that finds the writer idle for longer
      // (or after a lone write) goes at once: idle latency is one commit, as before.
      const std::size_t want = std::min(last_batch, options_.batch_max);
      const auto deadline = last_end + options_.gather_wait;
      if (want > 1 && queue_.size() < want && !stopping_ &&
          std::chrono::steady_clock::now() < deadline) {
        wake_at_ = want;
        queue_ready_.wait_until(lock, deadline, [&] { return queue_.size() >= want || stopping_; });
        wake_at_ = 1;
      }
      // Everything that arrived while the previous commit was in flight (up to batch_max): all
      // of it by a swap of the containers when it fits, which moves no write.
      if (queue_.size() <= options_.batch_max) {
        batch.swap(queue_);
      } else {
        while (batch.size() < options_.batch_max) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    last_batch = batch.size();
    run_transaction(batch);  // commits, then acknowledges every write
    last_end = std::chrono::steady_clock::now();
    batch.clear();
  }
}

// One transaction for the whole batch. First pass: the writes run one after the other with no
// savepoint. A write refused before it changed anything (write_failure with scope.changed unset:
// every refusal the seam defines is found that way) fails alone and the pass goes on. A write
// that failed after changing the database (a statement failed: an I/O error, an injected fault)
// can only be undone with the whole transaction: then the transaction is rolled back and run
// again with every other write in its own savepoint, as SQLite's statement journal allows, so the
// failure stays that write's alone. Savepoints cost a copy of every page a write touches into
// the statement journal, which is why the first pass does without them.
void sqlite_job_store::run_transaction(std::deque<write>& batch) {
  std::vector<std::optional<store_error>> outcomes(batch.size());
  state_map transaction_states;
  bool commit_succeeded = false;
  {
    std::lock_guard db_lock(writer_db_mutex_);
    sqlite_connection& db = *writer_db_;
    auto fail_all = [&](const store_error& error) {
      for (auto& outcome : outcomes) {
        if (!outcome) outcome = error;
      }
    };
    // A failed rollback leaves the connection in a state we cannot reason about: stop writing
    // (every later write fails cleanly) rather than guess. Reopening the store recovers.
    auto rollback = [&](const char* sql) {
      if (!db.exec_unfaulted(sql)) broken_ = true;
    };
    auto begin = [&] {
      try {
        db.run("BEGIN IMMEDIATE");
        return true;
      } catch (const sqlite_failure& failure) {
        fail_all(io_error(failure));
        if (db.in_transaction()) rollback("ROLLBACK");
        return false;
      }
    };
    auto keep = [&](write_scope& scope) {
      for (auto& [id, entry] : scope.own) transaction_states.insert_or_assign(id, std::move(entry));
    };

    bool began = false;
    if (broken_) {
      fail_all(store_error{store_errc::io_error,
                           "the store stopped writing after a failed rollback: reopen it"});
    } else {
      began = begin();
    }
    // Runs write i's body, then `finish` (RELEASE of its savepoint, when it has one), and keeps
    // the states it wrote; or records why it failed and returns false.
    auto attempt = [&](std::size_t i, write_scope& scope, auto&& finish) {
      try {
        batch[i].run(db, scope);
        finish();
        keep(scope);
        return true;
      } catch (const write_failure& failure) {
        outcomes[i] = failure.error;
      } catch (const sqlite_failure& failure) {
        outcomes[i] = io_error(failure);
        scope.changed = true;  // a failed statement may have left part of its work behind
      } catch (const std::exception& e) {  // e.g. a malformed state row: the write fails alone
        outcomes[i] = store_error{store_errc::io_error, std::string("unreadable data: ") + e.what()};
      }
      return false;
    };

    std::optional<std::size_t> failed_in_place;  // the write whose statement failed, if one did
    for (std::size_t i = 0; began && i < batch.size(); ++i) {
      write_scope scope{.transaction = transaction_states, .committed = state_cache_, .text = text_};
      if (attempt(i, scope, [] {})) continue;
      if (scope.changed) {
        failed_in_place = i;
        break;
      }
    }
    if (began && failed_in_place) {
      // Undo everything, then run every write but the failed one again, each in a savepoint.
      // The writes refused in the first pass run again too: what they were checked against may
      // differ now that the failed write is not in the transaction.
      reruns_.fetch_add(1, std::memory_order_relaxed);
      rollback("ROLLBACK");
      transaction_states.clear();
      for (std::size_t i = 0; i < outcomes.size(); ++i) {
        if (i != *failed_in_place) outcomes[i].reset();
      }
      began = !broken_ && begin();
      for (std::size_t i = 0; began && i < batch.size() && !broken_; ++i) {
        if (i == *failed_in_place) continue;
        try {
          db.run("SAVEPOINT w");
        } catch (const sqlite_failure& failure) {
          outcomes[i] = io_error(failure);
          continue;
        }
        write_scope scope{.transaction = transaction_states, .committed = state_cache_, .text = text_};
        if (attempt(i, scope, [&] { db.run("RELEASE w"); })) continue;
        rollback("ROLLBACK TO w; RELEASE w");
      }
      if (broken_) {
        fail_all(store_error{store_errc::io_error, "a rollback failed: the store stopped writing"});
      }
    }
    if (began) {
      try {
        if (broken_) throw sqlite_failure(SQLITE_ERROR, "a rollback failed");
        db.run("COMMIT");
        commit_succeeded = true;
      } catch (const sqlite_failure& failure) {
        // Nothing of this transaction is durable: every write in it fails.
        for (auto& outcome : outcomes) {
          if (!outcome) outcome = store_error{store_errc::io_error,
                                              std::string("commit failed: ") + failure.what()};
        }
        if (db.in_transaction()) rollback("ROLLBACK");
      }
      transactions_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  // Only committed states enter the cache; a final job takes no more events, so it leaves it.
  if (commit_succeeded && options_.state_cache_max > 0) {
    for (auto& [id, entry] : transaction_states) {
      if (jobs::is_final(entry.state.status)) {
        state_cache_.erase(id);
      } else {
        state_cache_.insert_or_assign(id, std::move(entry));
      }
    }
    if (state_cache_.size() > options_.state_cache_max) state_cache_.clear();
  }
  writes_.fetch_add(batch.size(), std::memory_order_relaxed);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (outcomes[i]) writes_failed_.fetch_add(1, std::memory_order_relaxed);
    batch[i].done(std::move(outcomes[i]));
  }
}

store_result<job_id> sqlite_job_store::allocate_id() {
  std::lock_guard lock(id_mutex_);
  if (id_next_ == id_end_) {
    // Reserve the next block durably before handing any of it out, so that no id is handed out
    // twice across a crash (ids skipped by a crash are simply never used).
    const std::int64_t block = options_.id_block_size;
    auto first = std::make_shared<std::int64_t>(0);
    std::promise<std::optional<store_error>> promise;
    auto future = promise.get_future();
    enqueue(write{
        .run =
            [first, block](sqlite_connection& db, write_scope& scope) {
              {
                auto s = db.prepare("SELECT value FROM meta WHERE key = 'next_job_id'");
                if (!s->step()) {
                  throw write_failure{{store_errc::io_error, "meta has no next_job_id"}};
                }
                *first = s->column_int64(0);
              }
              scope.changed = true;
              auto s = db.prepare("UPDATE meta SET value = ?1 WHERE key = 'next_job_id'");
              s->bind(1, *first + block);
              s->step();
            },
        .done = [&promise](std::optional<store_error> error) { promise.set_value(std::move(error)); },
    });
    if (auto error = future.get()) return *error;
    id_next_ = static_cast<job_id>(*first);
    id_end_ = id_next_ + static_cast<job_id>(block);
  }
  return id_next_++;
}

void sqlite_job_store::submit_async(std::vector<submission> batch, submit_callback done) {
  if (batch.empty()) {
    done(store_error{store_errc::invalid_request, "submit of an empty batch"});
    return;
  }
  auto outcomes = std::make_shared<std::vector<submit_outcome>>();
  auto run = [outcomes, submissions = std::move(batch)](sqlite_connection& db,
                                                        write_scope& scope) {
    outcomes->clear();
    // First everything that may refuse the batch (nothing is written yet), then the inserts.
    // Jobs of this batch that earlier ones in it must see: their keys and ids.
    std::vector<const submission*> fresh;
    for (const submission& s : submissions) {
      if (s.id == 0) throw write_failure{{store_errc::invalid_request, "job id 0: allocate ids first"}};
      if (s.request.idempotency_key) {
        const submission* earlier = nullptr;
        for (const submission* f : fresh) {
          if (f->request.user == s.request.user && f->request.idempotency_key == s.request.idempotency_key) {
            earlier = f;
            break;
          }
        }
        std::optional<jobs::job_state> existing;
        if (earlier != nullptr) {
          existing = scope.find_own(earlier->id)->state;
        } else {
          auto q = db.prepare("SELECT state FROM jobs WHERE user_name = ?1 AND idempotency_key = ?2");
          q->bind_static(1, std::string_view(s.request.user)).bind_static(2, std::string_view(*s.request.idempotency_key));
          if (q->step()) existing = parse_state(q->column_text(0));
        }
        if (existing) {
          if (!existing->request.same_request_as(s.request)) {
            throw write_failure{{store_errc::idempotency_conflict,
                                 "user " + s.request.user + "'s idempotency key \"" +
                                     *s.request.idempotency_key + "\" names job " +
                                     std::to_string(existing->id) +
                                     ", submitted with a different request"}};
          }
          outcomes->push_back(submit_outcome{.id = existing->id, .existing = true});
          continue;
        }
      }
      // An id in use by an unfinished job is known here; one of a finished job only to the
      // INSERT's primary key (insert_job), which saves every submission a lookup.
      if (scope.find_own(s.id) != nullptr || scope.find_earlier(s.id) != nullptr) {
        throw already_used(s.id);
      }
      jobs::event submitted = jobs::make_submitted(s.id, s.time, s.request);
      job_entry entry;
      if (auto error = jobs::apply(entry.state, submitted)) {
        throw write_failure{{store_errc::invalid_request, error->message}};
      }
      entry.request_json = submitted.payload.at("request").dump();
      scope.own.insert_or_assign(s.id, std::move(entry));
      fresh.push_back(&s);
      outcomes->push_back(submit_outcome{.id = s.id, .existing = false});
    }
    scope.changed = true;
    for (const submission* s : fresh) {
      const job_entry& entry = *scope.find_own(s->id);
      insert_job(db, entry.state, entry.request_json, scope.text);  // first: it checks the id
      // The `submitted` event's payload is {"request": <the request>}: its JSON is at hand.
      scope.text.payload.assign("{\"request\":").append(entry.request_json).append("}");
      insert_event_text(db, s->id, 1, s->time, jobs::event_type::submitted, scope.text.payload);
    }
  };
  enqueue(write{.run = std::move(run),
                .done = [outcomes, callback = std::move(done)](std::optional<store_error> error) {
                  if (error) {
                    callback(std::move(*error));
                  } else {
                    callback(std::move(*outcomes));
                  }
                }});
}

void sqlite_job_store::append_async(std::vector<jobs::event> events, append_callback done) {
  if (events.empty()) {
    done(store_error{store_errc::invalid_request, "append of no events"});
    return;
  }
  auto run = [appended = std::move(events)](sqlite_connection& db, write_scope& scope) {
    // First the fold (which may refuse the append: nothing is written yet), then the writes.
    std::vector<job_id> order;  // jobs whose rows this write rewrites, once each
    for (const jobs::event& e : appended) {
      job_entry* entry = scope.find_own(e.job);
      if (entry == nullptr) {
        job_entry base;
        if (const job_entry* earlier = scope.find_earlier(e.job)) {
          base = *earlier;
        } else if (auto loaded = load_state(db, e.job)) {
          base.request_json = request_json(loaded->request);
          base.state = std::move(*loaded);
        } else {
          throw write_failure{{store_errc::not_found,
                               "append to job " + std::to_string(e.job) + ", which does not exist"}};
        }
        entry = &scope.own.emplace(e.job, std::move(base)).first->second;
        order.push_back(e.job);
      }
      if (auto error = jobs::apply(entry->state, e)) {
        throw write_failure{{store_errc::invalid_transition, error->message}};
      }
    }
    scope.changed = true;
    for (const jobs::event& e : appended) insert_event(db, e, scope.text);
    for (job_id id : order) {
      const job_entry& entry = *scope.find_own(id);
      update_job(db, entry.state, entry.request_json, scope.text);
    }
  };
  enqueue(write{.run = std::move(run),
                .done = [callback = std::move(done)](std::optional<store_error> error) {
                  if (error) {
                    callback(std::move(*error));
                  } else {
                    callback(committed{});
                  }
                }});
}

template <class F>
auto sqlite_job_store::read(F&& f) -> decltype(f(std::declval<sqlite_connection&>())) {
  std::unique_lock lock(reader_db_ ? reader_db_mutex_ : writer_db_mutex_);
  sqlite_connection& db = reader_db_ ? *reader_db_ : *writer_db_;
  try {
    return f(db);
  } catch (const sqlite_failure& failure) {
    return io_error(failure);
  } catch (const std::exception& e) {
    return store_error{store_errc::io_error, std::string("unreadable data: ") + e.what()};
  }
}

store_result<jobs::job_state> sqlite_job_store::get(job_id id) {
  return read([&](sqlite_connection& db) -> store_result<jobs::job_state> {
    auto state = load_state(db, id);
    if (!state) return store_error{store_errc::not_found, "no job " + std::to_string(id)};
    return std::move(*state);
  });
}

store_result<std::vector<jobs::event>> sqlite_job_store::events(job_id id,
                                                                std::uint64_t after_sequence,
                                                                std::size_t limit) {
  if (!limit_ok(limit)) return bad_limit(limit);
  return read([&](sqlite_connection& db) -> store_result<std::vector<jobs::event>> {
    std::vector<jobs::event> out;
    {
      auto s = db.prepare(
          "SELECT sequence, time_us, type, payload FROM events WHERE job_id = ?1 AND sequence > ?2 "
          "ORDER BY sequence LIMIT ?3");
      s->bind(1, static_cast<std::int64_t>(id))
          .bind(2, static_cast<std::int64_t>(after_sequence))
          .bind(3, static_cast<std::int64_t>(limit));
      while (s->step()) {
        auto type = jobs::parse_event_type(s->column_text(2));
        if (!type) throw std::runtime_error("unknown event type " + s->column_text(2));
        out.push_back(jobs::event{.job = id,
                                  .sequence = static_cast<std::uint64_t>(s->column_int64(0)),
                                  .time = jobs::from_microseconds(s->column_int64(1)),
                                  .type = *type,
                                  .payload = jobs::parse_stored_json(s->column_text(3))});
      }
    }
    if (out.empty() && !load_state(db, id)) {
      return store_error{store_errc::not_found, "no job " + std::to_string(id)};
    }
    return out;
  });
}

store_result<job_page> sqlite_job_store::list(const job_filter& filter) {
  if (!limit_ok(filter.limit)) return bad_limit(filter.limit);
  // One statement per combination of filters (8 at most, each prepared once), so that each can
  // use its index instead of a catch-all query that would use none.
  std::string sql = "SELECT state FROM jobs WHERE id > ?1";
  int next_parameter = 2;
  if (filter.user) sql += " AND user_name = ?" + std::to_string(next_parameter++);
  if (filter.status) sql += " AND status = ?" + std::to_string(next_parameter++);
  if (filter.kind) sql += " AND kind = ?" + std::to_string(next_parameter++);
  sql += " ORDER BY id LIMIT ?" + std::to_string(next_parameter);
  return read([&](sqlite_connection& db) -> store_result<job_page> {
    auto s = db.prepare(sql);
    int parameter = 1;
    s->bind(parameter++, static_cast<std::int64_t>(filter.after_id));
    if (filter.user) s->bind_static(parameter++, std::string_view(*filter.user));
    if (filter.status) s->bind_static(parameter++, jobs::to_string(*filter.status));
    if (filter.kind) s->bind_static(parameter++, std::string_view(*filter.kind));
    s->bind(parameter, static_cast<std::int64_t>(filter.limit));
    job_page page;
    while (s->step()) page.jobs.push_back(parse_state(s->column_text(0)));
    if (page.jobs.size() == filter.limit) page.next_after_id = page.jobs.back().id;
    return page;
  });
}

store_result<job_page> sqlite_job_store::list_unfinished(job_id after_id, std::size_t limit) {
  if (!limit_ok(limit)) return bad_limit(limit);
  // By the partial index, in id order: a page costs the same at any depth. The condition is the
  // index's own, word for word, which is how SQLite knows the index covers the query; INDEXED BY
  // because without statistics the planner prefers jobs_by_status and sorts.
  return read([&](sqlite_connection& db) -> store_result<job_page> {
    auto s = db.prepare(
        "SELECT state FROM jobs INDEXED BY jobs_unfinished "
        "WHERE (status = 'queued' OR status = 'running' OR status = 'failed') AND id > ?1 "
        "ORDER BY id LIMIT ?2");
    s->bind(1, static_cast<std::int64_t>(after_id)).bind(2, static_cast<std::int64_t>(limit));
    job_page page;
    while (s->step()) page.jobs.push_back(parse_state(s->column_text(0)));
    if (page.jobs.size() == limit) page.next_after_id = page.jobs.back().id;
    return page;
  });
}

// The owner from its column (the primary key's row, no JSON parsed): as cheap for a large job as
// for a small one, so its cost tells another user nothing (review F18).
store_result<std::string> sqlite_job_store::owner_of(job_id id) {
  return read([&](sqlite_connection& db) -> store_result<std::string> {
    auto s = db.prepare("SELECT user_name FROM jobs WHERE id = ?1");
    s->bind(1, static_cast<std::int64_t>(id));
    if (!s->step()) return store_error{store_errc::not_found, "no job " + std::to_string(id)};
    return s->column_text(0);
  });
}

}  // namespace respawn::store

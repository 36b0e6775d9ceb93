// The SQLite backend: opening, the writer thread (group commit, gathering, the rerun in savepoints
// after a failed statement), background checkpoints, the write bodies (submit with idempotency,
// append checked by the fold, id reservation: each checks before it writes) and the reads. See
// sqlite_job_store.hpp and docs/store.md.
#include "store/sqlite_job_store.hpp"

#include <sqlite3.h>

#include <cassert>
#include <charconv>
#include <cstdio>
#include <filesystem>
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
  return store_error{classify(failure), std::string("database error: ") + failure.what()};
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
void configure_writer(sqlite_connection& db, const sqlite_options& options) {
  db.exec("PRAGMA cache_size = -32768");
  db.exec("PRAGMA temp_store = MEMORY");
  // After a checkpoint lets the WAL start again, the file is cut back to this size rather than
  // keeping its high-water mark (F21).
  db.exec("PRAGMA journal_size_limit = " + std::to_string(options.journal_size_limit));
}

jobs::job_state parse_state(const std::string& text) {
  return jobs::parse_stored_json(text).get<jobs::job_state>();
}

// nlohmann's dump, with invalid UTF-8 replaced (U+FFFD) instead of thrown: a job's error string
// or output may carry any bytes, and the writer must never fail on them (F24).
void dump_into(std::string& out, const nlohmann::json& value) {
  out += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A state row's JSON (v4: without the request) with the request's JSON spliced in: the document
// jobs::from_json reads.
std::string row_json(std::string_view state, std::string_view request) {
  if (state.size() < 2 || state.front() != '{') {
    throw std::runtime_error("the state row is not a JSON object");
  }
  std::string out;
  out.reserve(state.size() + request.size() + 16);
  out += "{\"request\":";
  out += request;
  out += ',';
  out.append(state.substr(1));
  return out;
}

// The request the writer's states carry: none (it never needs one after the submission).
constexpr std::string_view no_request_json = R"({"user":"","kind":""})";

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
    dump_into(out, value);
  }
}

// The state row's JSON: the document nlohmann::json(state).dump() gives, without "request" (that
// is stored once, in job_requests: F9), written straight into `out`. Building the document as a
// nlohmann tree first cost a dozen heap allocations and most of a write's CPU; every event
// rewrites this row.
void write_state_json(std::string& out, const jobs::job_state& state) {
  out.clear();
  out += "{\"id\":";
  append_unsigned(out, state.id);
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
    dump_into(out, nlohmann::json(state.last_error));  // escaping
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

// An event's payload JSON into `out` (the writer's reused buffer).
void payload_json(std::string& out, const jobs::event& e) {
  out.clear();
  if (e.payload.is_object() && e.payload.empty()) {
    out = "{}";
  } else {
    dump_into(out, e.payload);
  }
}

write_failure already_used(job_id id) {
  return write_failure{{store_errc::invalid_request, "job id " + std::to_string(id) + " is already used"}};
}

// Each cached entry is counted as its state row's JSON plus this much (the map's node, the
// state's strings and JSON values).
constexpr std::size_t entry_overhead = 512;

// Inserts the job's row and its request; returns the row's JSON size.
std::size_t insert_job(sqlite_connection& db, const jobs::job_state& state,
                       const jobs::job_request& request, std::string_view request_text,
                       std::int64_t stored_at_us, sqlite_job_store_text& text) {
  auto s = db.prepare(
      "INSERT INTO jobs (id, user_name, kind, priority, idempotency_key, status, attempts, "
      "last_sequence, created_at_us, updated_at_us, retry_at_us, stored_at_us, finished_at_us, "
      "output_bytes, state) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, 0, ?13)");
  write_state_json(text.state, state);
  s->bind(1, static_cast<std::int64_t>(state.id))
      .bind_static(2, std::string_view(request.user))
      .bind_static(3, std::string_view(request.kind))
      .bind(4, std::int64_t{request.priority})
      .bind(5, request.idempotency_key)
      .bind_static(6, jobs::to_string(state.status))
      .bind(7, std::int64_t{state.attempts})
      .bind(8, static_cast<std::int64_t>(state.last_sequence))
      .bind(9, jobs::to_microseconds(state.created_at))
      .bind(10, jobs::to_microseconds(state.updated_at))
      .bind(11, retry_at_column(state))
      .bind(12, stored_at_us)
      .bind_static(13, std::string_view(text.state));
  try {
    s->step();
  } catch (const sqlite_failure& failure) {
    if (failure.code() == SQLITE_CONSTRAINT_PRIMARYKEY) throw already_used(state.id);
    throw;
  }
  auto r = db.prepare("INSERT OR REPLACE INTO job_requests (job_id, request) VALUES (?1, ?2)");
  r->bind(1, static_cast<std::int64_t>(state.id)).bind_static(2, request_text);
  r->step();
  return text.state.size();
}

// Rewrites the job's row: its small derived state only, never its request (F9). When the status
// did not change (progress, output, snapshot, input: most events), the statement does not name
// the status or finished_at_us, so SQLite leaves the four indexes on them alone: an event then
// writes its own row and the job's row, and nothing else. Returns the row's JSON size.
std::size_t update_job(sqlite_connection& db, const jobs::job_state& state, bool status_changed,
                       std::uint64_t output_bytes, std::int64_t now_us,
                       sqlite_job_store_text& text) {
  write_state_json(text.state, state);
  if (!status_changed) {
    auto s = db.prepare(
        "UPDATE jobs SET attempts = ?2, last_sequence = ?3, updated_at_us = ?4, retry_at_us = ?5, "
        "output_bytes = ?6, state = ?7 WHERE id = ?1");
    s->bind(1, static_cast<std::int64_t>(state.id))
        .bind(2, std::int64_t{state.attempts})
        .bind(3, static_cast<std::int64_t>(state.last_sequence))
        .bind(4, jobs::to_microseconds(state.updated_at))
        .bind(5, retry_at_column(state))
        .bind(6, static_cast<std::int64_t>(output_bytes))
        .bind_static(7, std::string_view(text.state));
    s->step();
    return text.state.size();
  }
  auto s = db.prepare(
      "UPDATE jobs SET status = ?2, attempts = ?3, last_sequence = ?4, updated_at_us = ?5, "
      "retry_at_us = ?6, finished_at_us = ?7, output_bytes = ?8, state = ?9 WHERE id = ?1");
  s->bind(1, static_cast<std::int64_t>(state.id))
      .bind_static(2, jobs::to_string(state.status))
      .bind(3, std::int64_t{state.attempts})
      .bind(4, static_cast<std::int64_t>(state.last_sequence))
      .bind(5, jobs::to_microseconds(state.updated_at))
      .bind(6, retry_at_column(state))
      .bind(7, jobs::is_final(state.status) ? std::optional<std::int64_t>(now_us) : std::nullopt)
      .bind(8, static_cast<std::int64_t>(output_bytes))
      .bind_static(9, std::string_view(text.state));
  s->step();
  return text.state.size();
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
  sqlite_job_store& store;
  std::int64_t now_us = 0;       // the store's clock when the transaction began
  state_map own{};               // states this write has written so far
  std::vector<job_id> forget{};  // jobs the cache must drop once this write committed
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
  // The committed row of `id` as the writer needs it (no request), or nullopt if there is none.
  // A quarantined row refuses the write; an unreadable one is quarantined and refuses it.
  std::optional<job_entry> load(sqlite_connection& db, job_id id) {
    auto s = db.prepare("SELECT state, status, output_bytes FROM jobs WHERE id = ?1");
    s->bind(1, static_cast<std::int64_t>(id));
    if (!s->step()) return std::nullopt;
    if (s->column_text(1) == "quarantined") throw quarantined_job(id);
    const std::string row = s->column_text(0);
    job_entry entry;
    try {
      entry.state = parse_state(row_json(row, no_request_json));
    } catch (const std::exception& e) {
      store.quarantine(id, 0, e.what());
      throw quarantined_job(id);
    }
    entry.output_bytes = static_cast<std::uint64_t>(s->column_int64(2));
    entry.bytes = row.size() + entry_overhead;
    return entry;
  }
  static write_failure quarantined_job(job_id id) {
    return write_failure{{store_errc::invalid_request,
                          "job " + std::to_string(id) +
                              " is quarantined: its stored state is unreadable (docs/store.md)"}};
  }
};

jobs::job_time sqlite_job_store::now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

namespace {
bool corrupt_code(int code) {
  const int primary = code & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

store_error corrupt_error(const std::string& path, const std::string& what) {
  return store_error{store_errc::bad_configuration,
                     "the database " + path + " is corrupt (" + what +
                         "): restore it from a backup, or move it away to start empty"};
}

// PRAGMA quick_check at open (F14): the whole file while it is small, else the jobs table and
// its indexes (what recovery reads), so that opening costs a bounded time. "ok" or the first
// problem found.
std::string quick_check(sqlite_connection& db, const std::string& path, std::uint64_t max_bytes) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > max_bytes) return db.query_text("PRAGMA quick_check(jobs)");
  return db.query_text("PRAGMA quick_check");
}
}  // namespace

store_result<std::unique_ptr<sqlite_job_store>> sqlite_job_store::open(sqlite_options options) {
  if (options.path.empty()) {
    return store_error{store_errc::bad_configuration,
                       "sqlite_options.path is empty: give a file path or \":memory:\""};
  }
  if (options.id_block_size == 0 || options.queue_max == 0 || options.batch_max == 0 ||
      options.retention_batch_rows == 0) {
    return store_error{store_errc::bad_configuration,
                       "sqlite_options.id_block_size, queue_max, batch_max and "
                       "retention_batch_rows must be at least 1"};
  }
  if (options.finished_ttl.count() < 0 || options.idempotency_key_ttl.count() < 0 ||
      options.maintenance_interval.count() < 0 || options.journal_size_limit < -1) {
    return store_error{store_errc::bad_configuration,
                       "sqlite_options: finished_ttl, idempotency_key_ttl, maintenance_interval "
                       "and journal_size_limit must not be negative"};
  }
  std::unique_ptr<sqlite_job_store> store(new sqlite_job_store(std::move(options)));
  const sqlite_options& o = store->options_;
  const bool memory = o.path == ":memory:";
  try {
    store->writer_db_ = std::make_unique<sqlite_connection>(o.path, o.fault.get());
    // First, before anything writes the file's header (WAL mode does): in a new database, freed
    // pages can then go back to the file system a few at a time (PRAGMA incremental_vacuum, run
    // by maintenance). In an existing file without it, this only takes effect at the next VACUUM
    // of the whole file, which the store never runs itself (docs/store.md, "Retention").
    store->writer_db_->exec("PRAGMA auto_vacuum = INCREMENTAL");
    configure(*store->writer_db_, o, !memory);
    configure_writer(*store->writer_db_, o);
    if (!memory) {
      const std::string check = quick_check(*store->writer_db_, o.path, o.quick_check_max_bytes);
      if (check != "ok") return corrupt_error(o.path, "PRAGMA quick_check: " + check);
    }
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
    if (!failure.injected() && corrupt_code(failure.code())) return corrupt_error(o.path, failure.what());
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
  std::uint64_t database_bytes = 0;
  if (options_.path != ":memory:") {
    std::error_code ec;
    for (const std::string& file : {options_.path, options_.path + "-wal"}) {
      const auto size = std::filesystem::file_size(file, ec);
      if (!ec) database_bytes += size;
    }
  }
  return sqlite_store_stats{.transactions = transactions_.load(),
                            .writes = writes_.load(),
                            .writes_failed = writes_failed_.load(),
                            .reruns = reruns_.load(),
                            .checkpoints = checkpoints_.load(),
                            .wal_pages = wal_pages_.load(),
                            .state_cache_entries = cache_entries_.load(),
                            .state_cache_bytes = cache_bytes_.load(),
                            .quarantined = quarantined_.load(),
                            .maintenance_runs = maintenance_runs_.load(),
                            .jobs_deleted = jobs_deleted_.load(),
                            .events_deleted = events_deleted_.load(),
                            .database_bytes = database_bytes};
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
  using clock = std::chrono::steady_clock;
  const auto interval = std::chrono::duration_cast<clock::duration>(options_.maintenance_interval);
  auto next_maintenance = interval.count() > 0 ? clock::now() + interval : clock::time_point::max();
  // Runs maintenance: to the end when someone waits for it, else one small transaction (the
  // next one is due at once when retention has more to delete, so that it goes on between the
  // writes, never in one long transaction).
  auto maintenance = [&](bool idle, std::vector<std::shared_ptr<std::promise<void>>> waiters) {
    bool more = maintain(idle);
    if (!waiters.empty()) {
      while (more) more = maintain(idle);
      for (auto& w : waiters) w->set_value();
    }
    if (interval.count() > 0) next_maintenance = more ? clock::now() : clock::now() + interval;
  };
  for (;;) {
    std::vector<std::shared_ptr<std::promise<void>>> waiters;
    {
      std::unique_lock lock(queue_mutex_);
      auto ready = [&] { return !queue_.empty() || stopping_ || !maintenance_waiters_.empty(); };
      if (next_maintenance == clock::time_point::max()) {
        queue_ready_.wait(lock, ready);
      } else {
        queue_ready_.wait_until(lock, next_maintenance, ready);
      }
      waiters.swap(maintenance_waiters_);
      if (queue_.empty()) {
        if (stopping_) {
          for (auto& w : waiters) w->set_value();
          return;  // stopping, and everything queued has run
        }
        lock.unlock();
        // Idle: nothing queued. Maintenance, when it is due or asked for.
        if (!waiters.empty() || clock::now() >= next_maintenance) {
          maintenance(true, std::move(waiters));
        }
        continue;
      }
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
    // Busy: maintenance still runs when due, one small transaction between two of the writes'.
    if (!waiters.empty() || last_end >= next_maintenance) maintenance(false, std::move(waiters));
  }
}

void sqlite_job_store::maintain_now() {
  auto waiter = std::make_shared<std::promise<void>>();
  auto done = waiter->get_future();
  {
    std::lock_guard lock(queue_mutex_);
    if (stopping_) return;
    maintenance_waiters_.push_back(waiter);
  }
  queue_ready_.notify_one();
  done.wait();
}

// Writer thread, between transactions: one retention transaction (at most retention_batch_rows
// rows), a bounded incremental vacuum, and when idle a TRUNCATE checkpoint. Failures are logged
// and left for the next run: maintenance never fails a write.
bool sqlite_job_store::maintain(bool idle) {
  maintenance_runs_.fetch_add(1, std::memory_order_relaxed);
  const bool memory = options_.path == ":memory:";
  std::lock_guard db_lock(writer_db_mutex_);  // ":memory:" reads use the writer's connection
  bool more = false;
  try {
    if (!memory && !maintenance_db_) {
      maintenance_db_ = std::make_unique<sqlite_connection>(options_.path, nullptr);
      configure(*maintenance_db_, options_, false);
      maintenance_db_->exec("PRAGMA journal_size_limit = " +
                            std::to_string(options_.journal_size_limit));
    }
    sqlite_connection& db = memory ? *writer_db_ : *maintenance_db_;
    if (options_.finished_ttl.count() > 0) more = delete_expired(db);
    // Freed pages back to the file system, a few at a time (new databases only: auto_vacuum is
    // INCREMENTAL from their creation; docs/store.md, "Retention").
    if (db.query_text("PRAGMA auto_vacuum") == "2" &&
        std::stoll(db.query_text("PRAGMA freelist_count")) >= 256) {
      db.exec("PRAGMA incremental_vacuum(1024)");
    }
    if (idle && !memory && wal_size_seen_ > 0) {
      // With no busy wait: a reader in the middle of a read makes it give up until next time,
      // rather than stall the writer.
      sqlite3_busy_timeout(db.handle(), 0);
      const int rc = sqlite3_wal_checkpoint_v2(db.handle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE,
                                               nullptr, nullptr);
      sqlite3_busy_timeout(db.handle(), static_cast<int>(options_.busy_timeout.count()));
      if (rc == SQLITE_OK) wal_size_seen_ = 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "respawn store: maintenance of %s failed (retried later): %s\n",
                 options_.path.c_str(), e.what());
    sqlite_connection* db = memory ? writer_db_.get() : maintenance_db_.get();
    if (db != nullptr && db->in_transaction()) db->exec_unfaulted("ROLLBACK");
    return false;
  }
  return more;
}

// One retention transaction: the finished jobs whose TTL is past, oldest first, their events
// first and their rows last (so that a job whose events did not all fit in this transaction keeps
// its row, and the next transaction finds it again). True when more may be due.
bool sqlite_job_store::delete_expired(sqlite_connection& db) {
  constexpr std::int64_t jobs_per_transaction = 64;
  const std::int64_t cut =
      jobs::to_microseconds(now()) -
      std::chrono::duration_cast<std::chrono::microseconds>(options_.finished_ttl).count();
  auto budget = static_cast<std::int64_t>(options_.retention_batch_rows);
  std::uint64_t jobs_deleted = 0;
  std::uint64_t events_deleted = 0;
  bool more = false;
  db.exec("BEGIN IMMEDIATE");
  std::vector<std::int64_t> ids;
  {
    auto s = db.prepare(
        "SELECT id FROM jobs WHERE finished_at_us IS NOT NULL AND finished_at_us <= ?1 "
        "ORDER BY finished_at_us LIMIT ?2");
    s->bind(1, cut).bind(2, jobs_per_transaction);
    while (s->step()) ids.push_back(s->column_int64(0));
  }
  more = static_cast<std::int64_t>(ids.size()) == jobs_per_transaction;
  for (std::int64_t id : ids) {
    if (budget <= 0) {
      more = true;
      break;
    }
    auto e = db.prepare(
        "DELETE FROM events WHERE job_id = ?1 AND sequence IN "
        "(SELECT sequence FROM events WHERE job_id = ?1 ORDER BY sequence LIMIT ?2)");
    const std::int64_t requested = budget;
    e->bind(1, id).bind(2, requested);
    e->step();
    const auto deleted = static_cast<std::int64_t>(sqlite3_changes(db.handle()));
    events_deleted += static_cast<std::uint64_t>(deleted);
    budget -= deleted;
    if (deleted == requested) {
      // The budget ran out on this job's events: there may be more of them; its row stays.
      more = true;
      break;
    }
    {
      auto r = db.prepare("DELETE FROM job_requests WHERE job_id = ?1");
      r->bind(1, id);
      r->step();
    }
    auto j = db.prepare("DELETE FROM jobs WHERE id = ?1");
    j->bind(1, id);
    j->step();
    ++jobs_deleted;
    --budget;
  }
  db.exec("COMMIT");
  jobs_deleted_.fetch_add(jobs_deleted, std::memory_order_relaxed);
  events_deleted_.fetch_add(events_deleted, std::memory_order_relaxed);
  return more;
}

// Writer thread. Keeps at most state_cache_max entries and state_cache_bytes_max bytes: one that
// alone would take more than a sixteenth of the bytes is not kept at all (a miss reads its row);
// past a bound, arbitrary entries are forgotten (cheap, and a miss costs only a read).
void sqlite_job_store::cache_put(job_id id, job_entry entry) {
  if (options_.state_cache_max == 0 || entry.bytes > options_.state_cache_bytes_max / 16) {
    cache_erase(id);
  } else {
    auto [it, inserted] = state_cache_.try_emplace(id);
    if (!inserted) state_cache_bytes_ -= it->second.bytes;
    state_cache_bytes_ += entry.bytes;
    it->second = std::move(entry);
    while (!state_cache_.empty() && (state_cache_.size() > options_.state_cache_max ||
                                     state_cache_bytes_ > options_.state_cache_bytes_max)) {
      auto victim = state_cache_.begin();
      state_cache_bytes_ -= victim->second.bytes;
      state_cache_.erase(victim);
    }
  }
  cache_entries_.store(state_cache_.size(), std::memory_order_relaxed);
  cache_bytes_.store(state_cache_bytes_, std::memory_order_relaxed);
}

void sqlite_job_store::cache_erase(job_id id) {
  if (auto it = state_cache_.find(id); it != state_cache_.end()) {
    state_cache_bytes_ -= it->second.bytes;
    state_cache_.erase(it);
  }
  cache_entries_.store(state_cache_.size(), std::memory_order_relaxed);
  cache_bytes_.store(state_cache_bytes_, std::memory_order_relaxed);
}

void sqlite_job_store::quarantine(job_id id, std::uint64_t sequence, const std::string& reason) {
  {
    std::lock_guard lock(quarantine_mutex_);
    if (!quarantine_seen_.emplace(id, sequence).second) return;
  }
  quarantined_.fetch_add(1, std::memory_order_relaxed);
  if (sequence == 0) {
    std::fprintf(stderr, "respawn store: job %llu's row is unreadable, quarantined: %s\n",
                 static_cast<unsigned long long>(id), reason.c_str());
  } else {
    std::fprintf(stderr, "respawn store: event %llu of job %llu is unreadable, skipped: %s\n",
                 static_cast<unsigned long long>(sequence), static_cast<unsigned long long>(id),
                 reason.c_str());
  }
  enqueue(write{
      .run =
          [id, sequence, reason](sqlite_connection& db, write_scope& scope) {
            scope.changed = true;
            {
              auto s = db.prepare(
                  "INSERT OR IGNORE INTO quarantine (job_id, sequence, reason, at_us) "
                  "VALUES (?1, ?2, ?3, ?4)");
              s->bind(1, static_cast<std::int64_t>(id))
                  .bind(2, static_cast<std::int64_t>(sequence))
                  .bind_static(3, std::string_view(reason))
                  .bind(4, scope.now_us);
              s->step();
            }
            if (sequence == 0) {
              // Out of the unfinished index (recovery no longer meets it) and of retention.
              auto s = db.prepare(
                  "UPDATE jobs SET status = 'quarantined', finished_at_us = NULL WHERE id = ?1");
              s->bind(1, static_cast<std::int64_t>(id));
              s->step();
              scope.forget.push_back(id);
            }
          },
      .done = [](std::optional<store_error>) {},
  });
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
  std::vector<job_id> transaction_forget;
  bool commit_succeeded = false;
  const std::int64_t now_us = jobs::to_microseconds(now());
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
      transaction_forget.insert(transaction_forget.end(), scope.forget.begin(), scope.forget.end());
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
      write_scope scope{.transaction = transaction_states, .committed = state_cache_, .text = text_,
                        .store = *this, .now_us = now_us};
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
      transaction_forget.clear();
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
        write_scope scope{.transaction = transaction_states, .committed = state_cache_, .text = text_,
                        .store = *this, .now_us = now_us};
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
  if (commit_succeeded) {
    for (auto& [id, entry] : transaction_states) {
      if (jobs::is_final(entry.state.status)) {
        cache_erase(id);
      } else {
        cache_put(id, std::move(entry));
      }
    }
    for (job_id id : transaction_forget) cache_erase(id);
  }
  writes_.fetch_add(batch.size(), std::memory_order_relaxed);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (outcomes[i]) writes_failed_.fetch_add(1, std::memory_order_relaxed);
    batch[i].done(std::move(outcomes[i]));
  }
}

// Ids come from blocks reserved durably (meta.next_job_id) before any id in them is handed out, so
// that no id is handed out twice across a crash (ids skipped by a crash are simply never used).
// Once half of the current block is used, the next one is reserved in the background (F28): the
// caller (the dispatcher) waits on the disk only when the writer has fallen a whole half block
// behind.
store_result<job_id> sqlite_job_store::allocate_id() {
  std::unique_lock lock(id_mutex_);
  bool waited = false;
  for (;;) {
    if (id_next_ < id_end_) {
      const job_id id = id_next_++;
      if (!id_reserving_ && !id_spare_ && id_end_ - id_next_ <= options_.id_block_size / 2) {
        reserve_id_block(lock);
      }
      return id;
    }
    if (id_spare_) {
      id_next_ = id_spare_->first;
      id_end_ = id_spare_->second;
      id_spare_.reset();
      continue;
    }
    if (id_error_ && waited) {
      store_error error = std::move(*id_error_);
      id_error_.reset();
      return error;
    }
    id_error_.reset();  // a background reservation's failure: this call tries again
    if (!id_reserving_) reserve_id_block(lock);
    id_ready_.wait(lock, [&] { return !id_reserving_; });
    waited = true;
  }
}

// With id_mutex_ held by `lock`; released while the write is queued (its `done` may run at once,
// on this thread, and takes the mutex).
void sqlite_job_store::reserve_id_block(std::unique_lock<std::mutex>& lock) {
  id_reserving_ = true;
  const std::int64_t block = options_.id_block_size;
  auto first = std::make_shared<std::int64_t>(0);
  lock.unlock();
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
      .done =
          [this, first, block](std::optional<store_error> error) {
            {
              std::lock_guard guard(id_mutex_);
              if (error) {
                id_error_ = std::move(*error);
              } else {
                id_spare_.emplace(static_cast<job_id>(*first), static_cast<job_id>(*first + block));
              }
              id_reserving_ = false;
            }
            id_ready_.notify_all();
          },
  });
  lock.lock();
}

void sqlite_job_store::submit_async(std::vector<submission> batch, submit_callback done) {
  if (batch.empty()) {
    done(store_error{store_errc::invalid_request, "submit of an empty batch"});
    return;
  }
  auto outcomes = std::make_shared<std::vector<submit_outcome>>();
  const std::int64_t key_ttl_us =
      std::chrono::duration_cast<std::chrono::microseconds>(options_.idempotency_key_ttl).count();
  auto run = [outcomes, key_ttl_us, submissions = std::move(batch)](sqlite_connection& db,
                                                                    write_scope& scope) {
    outcomes->clear();
    // First everything that may refuse the batch (nothing is written yet), then the writes.
    // Jobs of this batch that earlier ones in it must see: their keys and ids.
    std::vector<const submission*> fresh;
    std::vector<std::string> fresh_requests;  // their requests' JSON, as stored
    std::vector<std::int64_t> expired;        // jobs whose expired key a submission takes over
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
        std::optional<job_id> existing;
        std::optional<jobs::job_request> existing_request;
        if (earlier != nullptr) {
          existing = earlier->id;
          existing_request = earlier->request;
        } else {
          auto q = db.prepare(
              "SELECT j.id, j.stored_at_us, r.request FROM jobs AS j "
              "LEFT JOIN job_requests AS r ON r.job_id = j.id "
              "WHERE j.user_name = ?1 AND j.idempotency_key = ?2");
          q->bind_static(1, std::string_view(s.request.user)).bind_static(2, std::string_view(*s.request.idempotency_key));
          if (q->step()) {
            const auto id = static_cast<job_id>(q->column_int64(0));
            if (key_ttl_us > 0 && q->column_int64(1) <= scope.now_us - key_ttl_us) {
              // The key has expired: it names no job any more, and this submission takes it.
              expired.push_back(static_cast<std::int64_t>(id));
            } else {
              existing = id;
              try {
                existing_request = jobs::parse_stored_json(q->column_text(2)).get<jobs::job_request>();
              } catch (const std::exception&) {
                existing_request.reset();  // unreadable: no request can be the same as it
              }
            }
          }
        }
        if (existing) {
          if (!existing_request || !existing_request->same_request_as(s.request)) {
            throw write_failure{{store_errc::idempotency_conflict,
                                 "user " + s.request.user + "'s idempotency key \"" +
                                     *s.request.idempotency_key + "\" names job " +
                                     std::to_string(*existing) +
                                     ", submitted with a different request"}};
          }
          outcomes->push_back(submit_outcome{.id = *existing, .existing = true});
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
      std::string request_text;
      dump_into(request_text, submitted.payload.at("request"));
      entry.state.request = jobs::job_request{};  // stored once; the writer needs none of it
      scope.own.insert_or_assign(s.id, std::move(entry));
      fresh.push_back(&s);
      fresh_requests.push_back(std::move(request_text));
      outcomes->push_back(submit_outcome{.id = s.id, .existing = false});
    }
    scope.changed = true;
    for (std::int64_t id : expired) {
      auto u = db.prepare("UPDATE jobs SET idempotency_key = NULL WHERE id = ?1");
      u->bind(1, id);
      u->step();
    }
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      const submission* s = fresh[i];
      job_entry& entry = *scope.find_own(s->id);
      // First: it checks the id.
      entry.bytes = insert_job(db, entry.state, s->request, fresh_requests[i], scope.now_us, scope.text) +
                    entry_overhead;
      // The `submitted` event's payload is {"request": <the request>}: its JSON is at hand.
      scope.text.payload.assign("{\"request\":").append(fresh_requests[i]).append("}");
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
  auto run = [appended = std::move(events), outputs_max = options_.outputs_max,
              output_bytes_max = options_.output_bytes_max](sqlite_connection& db,
                                                            write_scope& scope) {
    // First the fold and the caps (which may refuse the append: nothing is written yet), with
    // every payload's JSON, then the writes.
    std::vector<job_id> order;  // jobs whose rows this write rewrites, once each
    std::vector<jobs::job_status> status_before;  // theirs before this write
    auto& payloads = scope.text.payloads;
    if (payloads.size() < appended.size()) payloads.resize(appended.size());
    for (std::size_t i = 0; i < appended.size(); ++i) {
      const jobs::event& e = appended[i];
      job_entry* entry = scope.find_own(e.job);
      if (entry == nullptr) {
        job_entry base;
        if (const job_entry* earlier = scope.find_earlier(e.job)) {
          base = *earlier;
        } else if (auto loaded = scope.load(db, e.job)) {
          base = std::move(*loaded);
        } else {
          throw write_failure{{store_errc::not_found,
                               "append to job " + std::to_string(e.job) + ", which does not exist"}};
        }
        entry = &scope.own.emplace(e.job, std::move(base)).first->second;
        order.push_back(e.job);
        status_before.push_back(entry->state.status);
      }
      if (auto error = jobs::apply(entry->state, e)) {
        throw write_failure{{store_errc::invalid_transition, error->message}};
      }
      payload_json(payloads[i], e);
      if (e.type == jobs::event_type::output) {
        entry->output_bytes += payloads[i].size();
        if (outputs_max > 0 && entry->state.outputs > outputs_max) {
          throw write_failure{{store_errc::invalid_request,
                               "job " + std::to_string(e.job) + " has reached its limit of " +
                                   std::to_string(outputs_max) + " outputs"}};
        }
        if (output_bytes_max > 0 && entry->output_bytes > output_bytes_max) {
          throw write_failure{{store_errc::invalid_request,
                               "job " + std::to_string(e.job) + " has reached its limit of " +
                                   std::to_string(output_bytes_max) + " bytes of output"}};
        }
      }
    }
    scope.changed = true;
    for (std::size_t i = 0; i < appended.size(); ++i) {
      const jobs::event& e = appended[i];
      insert_event_text(db, e.job, e.sequence, e.time, e.type, payloads[i]);
    }
    for (std::size_t j = 0; j < order.size(); ++j) {
      job_entry& entry = *scope.find_own(order[j]);
      entry.bytes = update_job(db, entry.state, entry.state.status != status_before[j],
                               entry.output_bytes, scope.now_us, scope.text) +
                    entry_overhead;
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

// The job of the current row of `s` (columns: id, status, state, request), or nullopt when its
// row is unreadable (F14): then it is quarantined (logged once, marked) and, given a page, noted
// in it. A bad row costs its own job, never the page, nor recovery.
std::optional<jobs::job_state> sqlite_job_store::job_from_row(sqlite_statement& s, job_page* page) {
  const auto id = static_cast<job_id>(s.column_int64(0));
  std::string reason;
  if (s.column_text(1) == "quarantined") {
    if (page != nullptr) page->quarantined.push_back(id);
    return std::nullopt;
  }
  if (s.column_is_null(3)) {
    reason = "its request row is missing";
  } else {
    try {
      return parse_state(row_json(s.column_text(2), s.column_text(3)));
    } catch (const std::exception& e) {
      reason = e.what();
    }
  }
  quarantine(id, 0, reason);
  if (page != nullptr) page->quarantined.push_back(id);
  return std::nullopt;
}

namespace {
// The columns job_from_row reads, and the join that gives them.
#define RESPAWN_JOB_ROW "SELECT j.id, j.status, j.state, r.request FROM jobs AS j "
#define RESPAWN_JOB_JOIN " LEFT JOIN job_requests AS r ON r.job_id = j.id "

store_error quarantined_error(job_id id) {
  return store_error{store_errc::io_error,
                     "job " + std::to_string(id) +
                         " is quarantined: its stored state is unreadable (docs/store.md)"};
}
}  // namespace

store_result<jobs::job_state> sqlite_job_store::get(job_id id) {
  return read([&](sqlite_connection& db) -> store_result<jobs::job_state> {
    auto s = db.prepare(RESPAWN_JOB_ROW RESPAWN_JOB_JOIN "WHERE j.id = ?1");
    s->bind(1, static_cast<std::int64_t>(id));
    if (!s->step()) return store_error{store_errc::not_found, "no job " + std::to_string(id)};
    auto state = job_from_row(*s, nullptr);
    if (!state) return quarantined_error(id);
    return std::move(*state);
  });
}

store_result<std::vector<jobs::event>> sqlite_job_store::events(job_id id,
                                                                std::uint64_t after_sequence,
                                                                std::size_t limit) {
  if (!limit_ok(limit)) return bad_limit(limit);
  return read([&](sqlite_connection& db) -> store_result<std::vector<jobs::event>> {
    std::vector<jobs::event> out;
    bool any = false;
    {
      auto s = db.prepare(
          "SELECT sequence, time_us, type, payload FROM events WHERE job_id = ?1 AND sequence > ?2 "
          "ORDER BY sequence LIMIT ?3");
      s->bind(1, static_cast<std::int64_t>(id))
          .bind(2, static_cast<std::int64_t>(after_sequence))
          .bind(3, static_cast<std::int64_t>(limit));
      while (s->step()) {
        any = true;
        const auto sequence = static_cast<std::uint64_t>(s->column_int64(0));
        // An unreadable event is skipped and quarantined (logged once), not the whole read.
        try {
          auto type = jobs::parse_event_type(s->column_text(2));
          if (!type) throw std::runtime_error("unknown event type " + s->column_text(2));
          out.push_back(jobs::event{.job = id,
                                    .sequence = sequence,
                                    .time = jobs::from_microseconds(s->column_int64(1)),
                                    .type = *type,
                                    .payload = jobs::parse_stored_json(s->column_text(3))});
        } catch (const std::exception& e) {
          quarantine(id, sequence, e.what());
        }
      }
    }
    if (!any) {
      auto s = db.prepare("SELECT 1 FROM jobs WHERE id = ?1");
      s->bind(1, static_cast<std::int64_t>(id));
      if (!s->step()) return store_error{store_errc::not_found, "no job " + std::to_string(id)};
    }
    return out;
  });
}

// A page of job rows in id order: a row that cannot be read is quarantined (job_from_row) and
// left out, but still counts toward the page, so that a full page always says where to go on.
job_page sqlite_job_store::read_page(sqlite_statement& s, std::size_t limit) {
  job_page page;
  std::size_t rows = 0;
  job_id last = 0;
  while (s.step()) {
    ++rows;
    last = static_cast<job_id>(s.column_int64(0));
    if (auto state = job_from_row(s, &page)) page.jobs.push_back(std::move(*state));
  }
  if (rows == limit) page.next_after_id = last;
  return page;
}

store_result<job_page> sqlite_job_store::list(const job_filter& filter) {
  if (!limit_ok(filter.limit)) return bad_limit(filter.limit);
  // One statement per combination of filters (8 at most, each prepared once), so that each can
  // use its index instead of a catch-all query that would use none.
  std::string sql = RESPAWN_JOB_ROW RESPAWN_JOB_JOIN "WHERE j.id > ?1";
  int next_parameter = 2;
  if (filter.user) sql += " AND j.user_name = ?" + std::to_string(next_parameter++);
  if (filter.status) sql += " AND j.status = ?" + std::to_string(next_parameter++);
  if (filter.kind) sql += " AND j.kind = ?" + std::to_string(next_parameter++);
  sql += " ORDER BY j.id LIMIT ?" + std::to_string(next_parameter);
  return read([&](sqlite_connection& db) -> store_result<job_page> {
    auto s = db.prepare(sql);
    int parameter = 1;
    s->bind(parameter++, static_cast<std::int64_t>(filter.after_id));
    if (filter.user) s->bind_static(parameter++, std::string_view(*filter.user));
    if (filter.status) s->bind_static(parameter++, jobs::to_string(*filter.status));
    if (filter.kind) s->bind_static(parameter++, std::string_view(*filter.kind));
    s->bind(parameter, static_cast<std::int64_t>(filter.limit));
    return read_page(*s, filter.limit);
  });
}

store_result<job_page> sqlite_job_store::list_unfinished(job_id after_id, std::size_t limit) {
  if (!limit_ok(limit)) return bad_limit(limit);
  // By the partial index, in id order: a page costs the same at any depth. The condition is the
  // index's own, word for word, which is how SQLite knows the index covers the query; INDEXED BY
  // because without statistics the planner prefers jobs_by_status and sorts.
  return read([&](sqlite_connection& db) -> store_result<job_page> {
    auto s = db.prepare(
        RESPAWN_JOB_ROW "INDEXED BY jobs_unfinished" RESPAWN_JOB_JOIN
        "WHERE (j.status = 'queued' OR j.status = 'running' OR j.status = 'failed') AND j.id > ?1 "
        "ORDER BY j.id LIMIT ?2");
    s->bind(1, static_cast<std::int64_t>(after_id)).bind(2, static_cast<std::int64_t>(limit));
    return read_page(*s, limit);
  });
}

store_result<std::string> sqlite_job_store::owner_of(job_id id) {
  return read([&](sqlite_connection& db) -> store_result<std::string> {
    auto s = db.prepare("SELECT user_name FROM jobs WHERE id = ?1");
    s->bind(1, static_cast<std::int64_t>(id));
    if (!s->step()) return store_error{store_errc::not_found, "no job " + std::to_string(id)};
    return s->column_text(0);
  });
}

#undef RESPAWN_JOB_ROW
#undef RESPAWN_JOB_JOIN

}  // namespace respawn::store

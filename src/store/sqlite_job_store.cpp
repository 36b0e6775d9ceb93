// The SQLite backend: opening, the writer thread (group commit), the write bodies (submit with
// idempotency, append checked by the fold, id reservation) and the reads. See sqlite_job_store.hpp.
#include "store/sqlite_job_store.hpp"

#include <sqlite3.h>

#include <cassert>
#include <cstdio>
#include <future>
#include <unordered_map>
#include <utility>

#include "respawn/jobs/fold.hpp"
#include "store/sqlite_schema.hpp"

namespace respawn::store {
namespace {

// Thrown by a write's body to fail that write alone with a store_error (its savepoint is rolled
// back, the rest of the transaction goes on).
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

jobs::job_state parse_state(const std::string& text) {
  return nlohmann::json::parse(text).get<jobs::job_state>();
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

void insert_event(sqlite_connection& db, const jobs::event& e) {
  auto s = db.prepare(
      "INSERT INTO events (job_id, sequence, time_us, type, payload) VALUES (?1, ?2, ?3, ?4, ?5)");
  s->bind(1, static_cast<std::int64_t>(e.job))
      .bind(2, static_cast<std::int64_t>(e.sequence))
      .bind(3, jobs::to_microseconds(e.time))
      .bind(4, jobs::to_string(e.type))
      .bind(5, std::string_view(e.payload.dump()));
  s->step();
}

void insert_job(sqlite_connection& db, const jobs::job_state& state) {
  auto s = db.prepare(
      "INSERT INTO jobs (id, user_name, kind, priority, idempotency_key, status, attempts, "
      "last_sequence, created_at_us, updated_at_us, retry_at_us, state) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  s->bind(1, static_cast<std::int64_t>(state.id))
      .bind(2, std::string_view(state.request.user))
      .bind(3, std::string_view(state.request.kind))
      .bind(4, std::int64_t{state.request.priority})
      .bind(5, state.request.idempotency_key)
      .bind(6, jobs::to_string(state.status))
      .bind(7, std::int64_t{state.attempts})
      .bind(8, static_cast<std::int64_t>(state.last_sequence))
      .bind(9, jobs::to_microseconds(state.created_at))
      .bind(10, jobs::to_microseconds(state.updated_at))
      .bind(11, retry_at_column(state))
      .bind(12, std::string_view(nlohmann::json(state).dump()));
  s->step();
}

void update_job(sqlite_connection& db, const jobs::job_state& state) {
  auto s = db.prepare(
      "UPDATE jobs SET status = ?2, attempts = ?3, last_sequence = ?4, updated_at_us = ?5, "
      "retry_at_us = ?6, state = ?7 WHERE id = ?1");
  s->bind(1, static_cast<std::int64_t>(state.id))
      .bind(2, jobs::to_string(state.status))
      .bind(3, std::int64_t{state.attempts})
      .bind(4, static_cast<std::int64_t>(state.last_sequence))
      .bind(5, jobs::to_microseconds(state.updated_at))
      .bind(6, retry_at_column(state))
      .bind(7, std::string_view(nlohmann::json(state).dump()));
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
  state_map own{};               // states this write has written so far

  jobs::job_state* find_own(job_id id) {
    auto it = own.find(id);
    return it == own.end() ? nullptr : &it->second;
  }
  const jobs::job_state* find_earlier(job_id id) const {
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
    if (auto error = prepare_sqlite_schema(*store->writer_db_)) return *error;
    if (!memory) {
      store->reader_db_ = std::make_unique<sqlite_connection>(o.path, o.fault.get());
      configure(*store->reader_db_, o, false);
    }
  } catch (const sqlite_failure& failure) {
    return io_error(failure);
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
}

sqlite_store_stats sqlite_job_store::stats() const {
  return sqlite_store_stats{.transactions = transactions_.load(),
                            .writes = writes_.load(),
                            .writes_failed = writes_failed_.load()};
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
  lock.unlock();
  queue_ready_.notify_one();
}

void sqlite_job_store::writer_loop() {
  std::deque<write> batch;
  for (;;) {
    {
      std::unique_lock lock(queue_mutex_);
      queue_ready_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      // Everything that arrived while the previous commit was in flight (up to batch_max).
      while (!queue_.empty() && batch.size() < options_.batch_max) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    run_transaction(batch);
    batch.clear();
  }
}

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

    bool began = false;
    if (broken_) {
      fail_all(store_error{store_errc::io_error,
                           "the store stopped writing after a failed rollback: reopen it"});
    } else {
      try {
        db.run("BEGIN IMMEDIATE");
        began = true;
      } catch (const sqlite_failure& failure) {
        fail_all(io_error(failure));
        if (db.in_transaction()) rollback("ROLLBACK");
      }
    }
    for (std::size_t i = 0; began && i < batch.size() && !broken_; ++i) {
      try {
        db.run("SAVEPOINT w");
      } catch (const sqlite_failure& failure) {
        outcomes[i] = io_error(failure);
        continue;
      }
      try {
        write_scope scope{.transaction = transaction_states, .committed = state_cache_};
        batch[i].run(db, scope);
        db.run("RELEASE w");
        for (auto& [id, state] : scope.own) transaction_states.insert_or_assign(id, std::move(state));
        continue;
      } catch (const write_failure& failure) {
        outcomes[i] = failure.error;
      } catch (const sqlite_failure& failure) {
        outcomes[i] = io_error(failure);
      } catch (const std::exception& e) {  // e.g. a malformed state row: the write fails alone
        outcomes[i] = store_error{store_errc::io_error, std::string("unreadable data: ") + e.what()};
      }
      rollback("ROLLBACK TO w; RELEASE w");
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
    for (auto& [id, state] : transaction_states) {
      if (jobs::is_final(state.status)) {
        state_cache_.erase(id);
      } else {
        state_cache_.insert_or_assign(id, std::move(state));
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
            [first, block](sqlite_connection& db, write_scope&) {
              {
                auto s = db.prepare("SELECT value FROM meta WHERE key = 'next_job_id'");
                if (!s->step()) {
                  throw write_failure{{store_errc::io_error, "meta has no next_job_id"}};
                }
                *first = s->column_int64(0);
              }
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
    for (const submission& s : submissions) {
      if (s.id == 0) throw write_failure{{store_errc::invalid_request, "job id 0: allocate ids first"}};
      if (s.request.idempotency_key) {
        auto q = db.prepare("SELECT state FROM jobs WHERE user_name = ?1 AND idempotency_key = ?2");
        q->bind(1, std::string_view(s.request.user)).bind(2, std::string_view(*s.request.idempotency_key));
        if (q->step()) {
          const jobs::job_state existing = parse_state(q->column_text(0));
          if (!existing.request.same_request_as(s.request)) {
            throw write_failure{{store_errc::idempotency_conflict,
                                 "user " + s.request.user + "'s idempotency key \"" +
                                     *s.request.idempotency_key + "\" names job " +
                                     std::to_string(existing.id) +
                                     ", submitted with a different request"}};
          }
          outcomes->push_back(submit_outcome{.id = existing.id, .existing = true});
          continue;
        }
      }
      if (load_state(db, s.id)) {
        throw write_failure{{store_errc::invalid_request,
                             "job id " + std::to_string(s.id) + " is already used"}};
      }
      const jobs::event submitted = jobs::make_submitted(s.id, s.time, s.request);
      jobs::job_state state;
      if (auto error = jobs::apply(state, submitted)) {
        throw write_failure{{store_errc::invalid_request, error->message}};
      }
      insert_event(db, submitted);
      insert_job(db, state);
      scope.own.insert_or_assign(s.id, std::move(state));
      outcomes->push_back(submit_outcome{.id = s.id, .existing = false});
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
    std::vector<job_id> order;  // jobs whose rows this write rewrites, once each
    for (const jobs::event& e : appended) {
      jobs::job_state* state = scope.find_own(e.job);
      if (state == nullptr) {
        std::optional<jobs::job_state> base;
        if (const jobs::job_state* earlier = scope.find_earlier(e.job)) {
          base = *earlier;
        } else {
          base = load_state(db, e.job);
        }
        if (!base) {
          throw write_failure{{store_errc::not_found,
                               "append to job " + std::to_string(e.job) + ", which does not exist"}};
        }
        state = &scope.own.emplace(e.job, std::move(*base)).first->second;
        order.push_back(e.job);
      }
      if (auto error = jobs::apply(*state, e)) {
        throw write_failure{{store_errc::invalid_transition, error->message}};
      }
      insert_event(db, e);
    }
    for (job_id id : order) update_job(db, *scope.find_own(id));
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
                                  .payload = nlohmann::json::parse(s->column_text(3))});
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
    if (filter.user) s->bind(parameter++, std::string_view(*filter.user));
    if (filter.status) s->bind(parameter++, jobs::to_string(*filter.status));
    if (filter.kind) s->bind(parameter++, std::string_view(*filter.kind));
    s->bind(parameter, static_cast<std::int64_t>(filter.limit));
    job_page page;
    while (s->step()) page.jobs.push_back(parse_state(s->column_text(0)));
    if (page.jobs.size() == filter.limit) page.next_after_id = page.jobs.back().id;
    return page;
  });
}

store_result<job_page> sqlite_job_store::list_unfinished(job_id after_id, std::size_t limit) {
  if (!limit_ok(limit)) return bad_limit(limit);
  return read([&](sqlite_connection& db) -> store_result<job_page> {
    auto s = db.prepare(
        "SELECT state FROM jobs WHERE status IN ('queued', 'running', 'failed') AND id > ?1 "
        "ORDER BY id LIMIT ?2");
    s->bind(1, static_cast<std::int64_t>(after_id)).bind(2, static_cast<std::int64_t>(limit));
    job_page page;
    while (s->step()) page.jobs.push_back(parse_state(s->column_text(0)));
    if (page.jobs.size() == limit) page.next_after_id = page.jobs.back().id;
    return page;
  });
}

}  // namespace respawn::store

// The SQLite backend of the store seam: one database file in WAL mode, synchronous=FULL unless
// configured otherwise, an append-only `events` table and a `jobs` current-state table written
// in one transaction (docs/store.md).
//
// Group commit: every write goes to one writer thread through a bounded queue. The writer takes
// everything that queued up while its previous commit was in flight and runs it as the next
// transaction, then commits once — one fsync for the lot — and only then calls each write's
// `done`. Throughput thus follows the disk's bandwidth, not its fsync rate. Each write checks
// everything that could refuse it before it changes anything, so an invalid write fails alone
// without a savepoint; only when a statement itself fails is the transaction rolled back and the
// other writes run again, each in its own savepoint (docs/store.md, "Group commit"). Reads use a
// second connection (WAL lets it read while the writer writes) and see only committed
// transactions; a third one may checkpoint the WAL in the background (checkpoint_pages).
//
// Between its transactions the writer runs maintenance (docs/store.md, "Retention"): finished jobs
// past their TTL deleted in small transactions, incremental vacuum, a TRUNCATE checkpoint when
// idle. Unreadable rows are quarantined rather than failing a read ("Quarantine").
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/countdown_fault.hpp"
#include "store/job_store.hpp"
#include "store/sqlite_connection.hpp"

namespace respawn::store {

struct sqlite_options {
  std::string path{};  // the database file, or ":memory:" (no WAL, no durability: tests)
  enum class synchronous_mode : std::uint8_t { off, normal, full, extra };
  // full: every commit is on disk before `done` runs. normal: in WAL mode, a power cut may lose the
  // last commits (never corrupt the file); off: for tests that do not test durability.
  synchronous_mode synchronous = synchronous_mode::full;
  std::chrono::milliseconds busy_timeout{5'000};
  std::uint32_t id_block_size = 1'024;  // ids reserved per durable reservation
  std::size_t queue_max = 65'536;       // writes waiting for the writer; past it: overloaded
  std::size_t batch_max = 4'096;        // writes per transaction at most
  // After a transaction that carried several writes, the writer may wait until this long after
  // it ended for as many writes to queue up before it starts the next: concurrent callers answer
  // an acknowledgement with their next write within microseconds, and joining this transaction
  // saves them a commit. 0: never wait. A write that finds the writer idle for longer, or that
  // follows a lone write, never waits.
  std::chrono::microseconds gather_wait{200};
  // Committed states of unfinished jobs the writer keeps (without their requests), so that an
  // append needs neither a read nor a JSON parse of the row. Bounded by count and by bytes (each
  // entry counted as its state row's JSON plus a fixed overhead); past either bound the writer
  // forgets entries and reads their rows again when it needs them.
  std::size_t state_cache_max = 100'000;
  std::size_t state_cache_bytes_max = 64u << 20;
  // 0 (the default): SQLite's own checkpoint, in the writer, once the WAL holds 1,000 pages.
  // N: each time the WAL has grown by N pages, a background thread checkpoints (copies the WAL
  // into the database, and fsyncs it) so that the writer does not; the writer checkpoints itself
  // only past 8 N pages (a backstop should the background one fall behind, and what lets the WAL
  // start again). Off by default: on the shared disk measured, the background thread's fsyncs
  // slowed a lone writer's commits and no gain showed with many writers (docs/store.md).
  std::uint32_t checkpoint_pages = 0;
  // Retention (docs/store.md, "Retention"). A finished job (succeeded, dead, cancelled) and its
  // events are deleted this long after it finished, by the store's clock. 0: kept forever.
  std::chrono::milliseconds finished_ttl{std::chrono::hours(24 * 7)};
  // An idempotency key names its job this long after the submission; a retry with the same key
  // after that creates a new job. 0: forever (until the job itself is deleted).
  std::chrono::milliseconds idempotency_key_ttl{std::chrono::hours(24)};
  // The writer's maintenance (retention in small transactions, incremental vacuum, and when idle
  // a TRUNCATE checkpoint) runs this often. 0: only when maintain_now is called.
  std::chrono::milliseconds maintenance_interval{std::chrono::seconds(10)};
  std::size_t retention_batch_rows = 2'000;  // rows deleted per maintenance transaction at most
  std::int64_t journal_size_limit = 64ll << 20;  // bytes the WAL keeps after a checkpoint reset it
  // Per job: an append that would take a job past either is refused (invalid_request). 0: no cap.
  std::uint64_t outputs_max = 10'000;
  std::uint64_t output_bytes_max = 16u << 20;  // the `output` events' payload JSON, summed
  // At open, PRAGMA quick_check of the whole file when it is at most this big, else of the jobs
  // table and its indexes only (what recovery reads); corruption refuses the open.
  std::uint64_t quick_check_max_bytes = 256u << 20;
  // The store's clock (retention, key expiry). Empty: the system clock. Tests inject one.
  std::function<jobs::job_time()> clock{};
  std::shared_ptr<countdown_fault> fault{};  // tests: fail the Nth statement or commit
};

// The writer's reusable text buffers (a row's JSON, the events' payloads): allocated once, not per
// write.
struct sqlite_job_store_text {
  std::string state{};
  std::string payload{};
  std::vector<std::string> payloads{};
};

struct sqlite_store_stats {
  std::uint64_t transactions = 0;   // commits attempted
  std::uint64_t writes = 0;         // writes run (submits + appends + id reservations)
  std::uint64_t writes_failed = 0;  // of which failed (rolled back)
  std::uint64_t reruns = 0;         // transactions rolled back and run again write by write
  std::uint64_t checkpoints = 0;    // background checkpoints run
  std::uint64_t wal_pages = 0;      // pages the commits wrote to the WAL (file databases)
  std::uint64_t state_cache_entries = 0;  // the writer's cache of unfinished jobs' states
  std::uint64_t state_cache_bytes = 0;    // its size as counted against state_cache_bytes_max
  std::uint64_t quarantined = 0;     // unreadable rows found (and marked) since the store opened
  std::uint64_t maintenance_runs = 0;
  std::uint64_t jobs_deleted = 0;    // by retention, since the store opened
  std::uint64_t events_deleted = 0;
  std::uint64_t database_bytes = 0;  // the file and its WAL now (0 for ":memory:")
};

class sqlite_job_store final : public job_store {
 public:
  // Opens or creates the database and starts the writer. Fails with bad_configuration,
  // schema_too_new or io_error.
  static store_result<std::unique_ptr<sqlite_job_store>> open(sqlite_options options);

  // Runs every write still queued, then stops the writer.
  ~sqlite_job_store() override;

  store_result<job_id> allocate_id() override;
  void submit_async(std::vector<submission> batch, submit_callback done) override;
  void append_async(std::vector<jobs::event> events, append_callback done) override;
  store_result<jobs::job_state> get(job_id id) override;
  store_result<std::vector<jobs::event>> events(job_id id, std::uint64_t after_sequence,
                                                std::size_t limit) override;
  store_result<job_page> list(const job_filter& filter) override;
  store_result<job_page> list_unfinished(job_id after_id, std::size_t limit) override;

  sqlite_store_stats stats() const;  // thread-safe
  // Runs the writer's maintenance now, to the end (every retention batch due), and returns once
  // it is done. Not from a `done` callback.
  void maintain_now();
  const sqlite_options& options() const { return options_; }

  store_result<std::string> owner_of(job_id id) override;  // from the user_name column only

 private:
  // A job's committed state as the writer keeps it. Its request is left empty: it is stored
  // once, at the submission, and an append needs nothing of it.
  struct job_entry {
    jobs::job_state state{};
    std::uint64_t output_bytes = 0;  // the payloads of its `output` events so far
    std::size_t bytes = 0;           // counted against state_cache_bytes_max
  };
  using state_map = std::unordered_map<job_id, job_entry>;
  // What a write sees of job states, newest first: its own, those of the writes before it in the
  // open transaction, the committed ones the writer keeps (sqlite_job_store.cpp).
  struct write_scope;

  // One write: `run` does its statements inside a savepoint on the writer's connection (throwing
  // to fail), `done` learns whether its transaction committed.
  struct write {
    std::function<void(sqlite_connection&, write_scope&)> run{};
    std::function<void(std::optional<store_error>)> done{};
  };

  explicit sqlite_job_store(sqlite_options options);
  void enqueue(write w);
  void writer_loop();
  void run_transaction(std::deque<write>& batch);
  void checkpoint_loop();
  void after_commit(int wal_pages);  // the writer's WAL hook: counts pages, asks for checkpoints
  void reserve_id_block(std::unique_lock<std::mutex>& lock);
  void cache_put(job_id id, job_entry entry);  // writer thread: keeps the bounds
  void cache_erase(job_id id);
  bool maintain(bool idle);          // writer thread; true: retention has more to delete
  bool delete_expired(sqlite_connection& db);
  jobs::job_time now() const;
  // Logs an unreadable row once and marks it (a write: the quarantine table, and for a job row
  // the status `quarantined`). sequence 0: the job's row; else that event's.
  void quarantine(job_id id, std::uint64_t sequence, const std::string& reason);
  std::optional<jobs::job_state> job_from_row(sqlite_statement& s, job_page* page);
  job_page read_page(sqlite_statement& s, std::size_t limit);
  template <class F>
  auto read(F&& f) -> decltype(f(std::declval<sqlite_connection&>()));

  sqlite_options options_;
  std::unique_ptr<sqlite_connection> writer_db_{};
  std::unique_ptr<sqlite_connection> reader_db_{};  // null for ":memory:": reads use writer_db_
  std::unique_ptr<sqlite_connection> checkpoint_db_{};  // null unless background checkpoints
  // The writer's maintenance, without the fault hook (so that the countdown counts the same
  // statements whenever it runs); opened on first use. ":memory:" uses writer_db_.
  std::unique_ptr<sqlite_connection> maintenance_db_{};
  std::mutex writer_db_mutex_{};  // held by the writer for a whole transaction
  std::mutex reader_db_mutex_{};

  std::mutex queue_mutex_{};
  std::condition_variable queue_ready_{};
  std::deque<write> queue_{};  // bounded by options_.queue_max
  std::size_t wake_at_ = 1;    // queue_mutex_: wake the writer once the queue holds this many
  bool stopping_ = false;
  std::vector<std::shared_ptr<std::promise<void>>> maintenance_waiters_{};  // queue_mutex_
  bool broken_ = false;  // writer thread only: a rollback failed, the connection is unusable
  // Writer thread only: committed states of unfinished jobs, equal to their rows, because only
  // the writer writes and it updates this only after a commit succeeded.
  state_map state_cache_;
  std::size_t state_cache_bytes_ = 0;
  // Writer thread only: buffers reused by every write.
  sqlite_job_store_text text_{};
  std::thread writer_{};

  std::mutex checkpoint_mutex_{};
  std::condition_variable checkpoint_wanted_{};
  bool checkpoint_due_ = false;
  bool checkpoint_stopping_ = false;
  std::thread checkpointer_{};

  std::mutex id_mutex_{};
  std::condition_variable id_ready_{};  // a reservation finished
  job_id id_next_ = 0;  // ids in [id_next_, id_end_) are reserved durably and not handed out
  job_id id_end_ = 0;
  bool id_reserving_ = false;                            // a block's reservation is queued
  std::optional<std::pair<job_id, job_id>> id_spare_{};  // the next block, reserved ahead
  std::optional<store_error> id_error_{};                // the last reservation's failure

  std::atomic<std::uint64_t> transactions_{0};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> writes_failed_{0};
  std::atomic<std::uint64_t> reruns_{0};
  std::atomic<std::uint64_t> checkpoints_{0};
  std::atomic<std::uint64_t> wal_pages_{0};
  std::atomic<std::uint64_t> cache_entries_{0};
  std::atomic<std::uint64_t> cache_bytes_{0};
  std::atomic<std::uint64_t> quarantined_{0};
  std::atomic<std::uint64_t> maintenance_runs_{0};
  std::atomic<std::uint64_t> jobs_deleted_{0};
  std::atomic<std::uint64_t> events_deleted_{0};
  std::mutex quarantine_mutex_{};
  std::set<std::pair<job_id, std::uint64_t>> quarantine_seen_{};  // logged and marked once
  std::uint64_t wal_size_seen_ = 0;  // writer thread only: the WAL's pages after the last commit
  std::uint64_t wal_pages_since_checkpoint_ = 0;  // writer thread only: since the last request
};

}  // namespace respawn::store

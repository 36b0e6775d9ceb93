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
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

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
  // Committed states of unfinished jobs the writer keeps, so that an append needs neither a read
  // nor a JSON parse of the row; past this many the writer forgets them all and reads again.
  std::size_t state_cache_max = 100'000;
  // 0 (the default): SQLite's own checkpoint, in the writer, once the WAL holds 1,000 pages.
  // N: each time the WAL has grown by N pages, a background thread checkpoints (copies the WAL
  // into the database, and fsyncs it) so that the writer does not; the writer checkpoints itself
  // only past 8 N pages (a backstop should the background one fall behind, and what lets the WAL
  // start again). Off by default: on the shared disk measured, the background thread's fsyncs
  // slowed a lone writer's commits and no gain showed with many writers (docs/store.md).
  std::uint32_t checkpoint_pages = 0;
  std::shared_ptr<countdown_fault> fault{};  // tests: fail the Nth statement or commit
};

// The writer's reusable text buffers (a row's JSON, an event's payload): allocated once, not per
// write.
struct sqlite_job_store_text {
  std::string state{};
  std::string payload{};
};

struct sqlite_store_stats {
  std::uint64_t transactions = 0;   // commits attempted
  std::uint64_t writes = 0;         // writes run (submits + appends + id reservations)
  std::uint64_t writes_failed = 0;  // of which failed (rolled back)
  std::uint64_t reruns = 0;         // transactions rolled back and run again write by write
  std::uint64_t checkpoints = 0;    // background checkpoints run
  std::uint64_t wal_pages = 0;      // pages the commits wrote to the WAL (file databases)
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
  const sqlite_options& options() const { return options_; }

  store_result<std::string> owner_of(job_id id) override;  // from the user_name column only

 private:
  // A job's committed state as the writer keeps it, with its request already in JSON: the
  // request never changes after the submission, so the state row's JSON reuses it.
  struct job_entry {
    jobs::job_state state{};
    std::string request_json{};
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
  template <class F>
  auto read(F&& f) -> decltype(f(std::declval<sqlite_connection&>()));

  sqlite_options options_;
  std::unique_ptr<sqlite_connection> writer_db_{};
  std::unique_ptr<sqlite_connection> reader_db_{};  // null for ":memory:": reads use writer_db_
  std::unique_ptr<sqlite_connection> checkpoint_db_{};  // null unless background checkpoints
  std::mutex writer_db_mutex_{};  // held by the writer for a whole transaction
  std::mutex reader_db_mutex_{};

  std::mutex queue_mutex_{};
  std::condition_variable queue_ready_{};
  std::deque<write> queue_{};  // bounded by options_.queue_max
  std::size_t wake_at_ = 1;    // queue_mutex_: wake the writer once the queue holds this many
  bool stopping_ = false;
  bool broken_ = false;  // writer thread only: a rollback failed, the connection is unusable
  // Writer thread only: committed states of unfinished jobs, equal to their rows, because only
  // the writer writes and it updates this only after a commit succeeded.
  state_map state_cache_;
  // Writer thread only: buffers reused by every write.
  sqlite_job_store_text text_{};
  std::thread writer_{};

  std::mutex checkpoint_mutex_{};
  std::condition_variable checkpoint_wanted_{};
  bool checkpoint_due_ = false;
  bool checkpoint_stopping_ = false;
  std::thread checkpointer_{};

  std::mutex id_mutex_{};
  job_id id_next_ = 0;  // ids in [id_next_, id_end_) are reserved durably and not handed out
  job_id id_end_ = 0;

  std::atomic<std::uint64_t> transactions_{0};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> writes_failed_{0};
  std::atomic<std::uint64_t> reruns_{0};
  std::atomic<std::uint64_t> checkpoints_{0};
  std::atomic<std::uint64_t> wal_pages_{0};
  std::uint64_t wal_size_seen_ = 0;  // writer thread only: the WAL's pages after the last commit
  std::uint64_t wal_pages_since_checkpoint_ = 0;  // writer thread only: since the last request
};

}  // namespace respawn::store

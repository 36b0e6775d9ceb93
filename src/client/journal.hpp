// journal: the client's own small log of submissions it has not seen through (seed 000's client,
// which stored its lastJobId on disk; DESIGN.md §4). Before a submit request is sent, its
// idempotency key is written here and fsynced; when the client has what it came for (the job id,
// or with --wait the job's end) the entry is removed. A client killed in between leaves the
// entry, and the same command run again finds it, sends the same key, and the node answers with
// the job it already has: no job is lost and none is made twice.
//
// Which entry a re-run takes (docs/cli.md): one with the same fingerprint (server, kind, args,
// max_attempts, timeout_ms, priority) whose owner process has ended. An entry whose owner still
// runs belongs to a concurrent identical command, which must get a job of its own.
//
// The file is JSON, rewritten whole through a temporary file, fsync and rename (a crash leaves
// the old or the new file, never half of one), under an flock on PATH.lock so that two clients
// never lose each other's entries. Thread-safe and process-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace respawn::client {

// A process, told apart from a later one with the same pid by its start time.
struct journal_owner {
  std::int64_t pid = 0;
  std::uint64_t start_time = 0;  // field 22 of /proc/PID/stat (clock ticks since boot)
  bool operator==(const journal_owner&) const = default;
};
journal_owner current_owner();
// True when that very process still runs.
bool owner_alive(const journal_owner& owner);

struct journal_entry {
  std::string key;
  std::string fingerprint;
  std::optional<std::int64_t> job_id{};  // set once the server has answered
  journal_owner owner{};
  std::int64_t created_at_ms = 0;
};

struct journal_error {
  std::string message;
};

class journal {
 public:
  // Unfinished entries older than this are dropped at the next write: whoever left them has
  // given up, and the server need not keep idempotency keys for ever.
  static constexpr std::chrono::hours abandoned_after{24 * 7};

  explicit journal(std::string path, journal_owner self = current_owner(),
                   std::function<bool(const journal_owner&)> alive = owner_alive);

  struct claim {
    journal_entry entry;
    bool resumed = false;  // an unfinished entry of an ended client, now ours
  };
  // Takes over an unfinished entry with this fingerprint whose owner has ended, or adds a new
  // one with `new_key`. Durable when it returns: the caller may send the request.
  std::variant<claim, journal_error> begin(const std::string& fingerprint, const std::string& new_key);
  // The server answered with this job (durable).
  std::optional<journal_error> record_job(const std::string& key, std::int64_t job_id);
  // The submission is seen through: its entry goes (durable).
  std::optional<journal_error> finish(const std::string& key);
  // What the file holds now.
  std::variant<std::vector<journal_entry>, journal_error> entries() const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  journal_owner self_;
  std::function<bool(const journal_owner&)> alive_;
};

}  // namespace respawn::client

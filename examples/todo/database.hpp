// database: the process registered as "todo_database" (the book's Todo.Database). It owns no
// data itself: it starts a small pool of database_worker processes, linked to it, and routes
// every request to one of them by a hash of the list's name.
//
// Why route by key: all requests for one list then go through one worker's mailbox, in the order
// the database received them. So a list's writes reach its file in order, and a load that follows
// a store (a server restarted after a crash) always sees that store. A pool instead of one
// process lets slow disk I/O for different lists proceed side by side.
//
// Why the workers are linked to the database, rather than supervised on their own: the database
// routes by the workers' pids, so the pool is one unit. A worker that crashes takes the database
// (and the other workers) down with it instead of leaving the database routing requests to a
// dead pid; the root supervisor (system.hpp) then restarts the database, which starts a fresh
// pool. Restarting one worker alone, as a supervisor of the workers would, hands the new worker
// a new pid the router does not know (it would need a registry of workers, as the book's later
// chapters add). A whole-pool restart costs little: workers keep nothing but open files, and a
// request in flight is lost either way (a server whose load is lost crashes at its load timeout
// and comes back on demand). The database is deliberately not linked to the cache or the
// servers: a crash there must not lose the storage layer.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <respawn/respawn.hpp>

#include "todo_list.hpp"

namespace todo {

inline constexpr const char* database_name = "todo_database";

// --- the database protocol (also what the database forwards to its workers) ---

// A cast: replace the stored list `list_name` with `list`.
struct database_store {
  std::string list_name;
  todo_list list;
};

// A cast: load list `list_name` and send the answer, a database_loaded, to `reply_to`.
// (It carries the reply address itself, instead of being a call, because the database hands the
// request on to a worker and the worker is the one that answers.)
struct database_get {
  std::string list_name;
  respawn::pid reply_to;
};

// The answer to database_get: the list as stored (empty if it was never stored).
struct database_loaded {
  std::string list_name;
  todo_list list;
};

class database final : public respawn::process {
 public:
  database(std::filesystem::path folder, std::size_t pool_size);

  void init() override;
  void handle(respawn::message& m) override;

 private:
  respawn::pid worker_for(const std::string& list_name) const;

  std::filesystem::path folder_;
  std::size_t pool_size_;
  std::vector<respawn::pid> workers_;
};

// The database as a child of the root supervisor: permanent, registered as "todo_database", with
// `pool_size` workers (linked to it) that keep their files under `folder` (created if missing).
// A worker type of child although it has processes of its own: they are linked helpers, not
// supervised children, so the supervision tree shows the database as a leaf.
respawn::child_spec database_child_spec(const std::filesystem::path& folder, std::size_t pool_size = 3);

}  // namespace todo

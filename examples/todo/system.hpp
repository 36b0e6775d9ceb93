// system: the to-do system as one supervision tree (the book's Todo.System), registered as
// "todo_system":
//
//   todo_system     supervisor, one_for_one, at most 3 restarts in 5 s (OTP's default)
//   ├─ database     "todo_database", with its pool of database workers linked to it
//   └─ cache        "todo_cache", with one server per list linked to it
//
// one_for_one because the two children do not depend on each other's state: a restarted cache
// finds the database by name, and a restarted database serves the servers that already exist
// (they too find it by name, on every use). The database starts first so that the first servers
// find it; when the system is shut down it stops last, after the cache and its servers, which
// are the ones that send it writes.
//
// start_system is OTP's start_link: an acknowledged start (respawn::start_supervisor), so it
// returns once the database (with its workers) and the cache have run init() and registered
// their names, and every client call below may be made at once. In deterministic mode it drives
// the system while it waits.
#pragma once

#include <cstddef>
#include <filesystem>

#include <respawn/respawn.hpp>

namespace todo {

inline constexpr const char* system_name = "todo_system";

// The root supervisor's spec: the database (with `pool_size` workers writing under `folder`),
// then the cache.
respawn::supervisor_spec system_spec(const std::filesystem::path& folder, std::size_t pool_size = 3);

// Starts the root supervisor, registered as "todo_system". Call from outside any process (main,
// a test). Ending it (rt.exit(root, shutdown)) stops the cache and its servers, then the database.
respawn::pid start_system(respawn::runtime& rt, const std::filesystem::path& folder, std::size_t pool_size = 3);

}  // namespace todo

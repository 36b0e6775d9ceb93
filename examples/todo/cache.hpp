// cache: the process registered as "todo_cache" (the book's Todo.Cache). It maps a list's name to
// the server process that holds it, and starts that server on first use.
//
// Every server is started with spawn_link, so the cache and its servers live and die together:
// if the cache is killed or crashes, each server gets the exit signal and ends with the same
// reason, and no server is left running that nobody can reach any more (the "orphan" processes
// the book warns about: a restarted cache would otherwise start a second server for the same
// list next to the old one). The other way round, a crashing server takes the cache down too;
// a supervisor, in a later issue, restarts the cache, and the servers come back on demand with
// their lists loaded from the database.
//
// The cache does not trap exits: it is meant to die with its servers, not to outlive them.
#pragma once

#include <chrono>
#include <string>
#include <unordered_map>

#include <respawn/respawn.hpp>

namespace todo {

inline constexpr const char* cache_name = "todo_cache";

// A call, answered with the server's pid (a respawn::pid). An empty name is a client's bug: the
// cache crashes on it, taking its servers with it (this is how the tests make "an error inside
// the cache" happen).
struct server_process_request {
  std::string list_name;
};

class cache final : public respawn::process {
 public:
  void handle(respawn::message& m) override;

 private:
  std::unordered_map<std::string, respawn::pid> servers_;
};

// Starts the cache, registered as "todo_cache". Call from outside any process (main, a test).
respawn::pid start_cache(respawn::runtime& rt);

// The server of list `list_name`, started if need be: a call to the cache found by name.
respawn::result<respawn::pid> server_process(respawn::runtime& rt, const std::string& list_name,
                                             std::chrono::milliseconds timeout = std::chrono::seconds{5});

}  // namespace todo

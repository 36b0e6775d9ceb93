// cache: the process registered as "todo_cache" (the book's Todo.Cache). It maps a list's name to
// the server process that holds it, and starts that server on first use. It runs under the
// root supervisor (system.hpp), which restarts it, under the same name, whenever it ends.
//
// Every server is started with spawn_link, so the cache and its servers live and die together:
// if the cache is killed or crashes, each server gets the exit signal and ends with the same
// reason, and no server is left running that nobody can reach any more (the "orphan" processes
// the book warns about: the restarted cache would otherwise start a second server for the same
// list next to the old one). The other way round, a crashing server takes the cache down too;
// the supervisor restarts the cache, and the servers come back on demand with their lists
// loaded from the database.
//
// Why the servers stay linked to the cache rather than become children of a dynamic_supervisor:
// the cache's map is the only way to find a server. A dynamic_supervisor would restart a crashed
// server under a new pid that the map does not know, so it would also need a registry of servers
// by list name (the book's Todo.ProcessRegistry) and the cache would have to outlive them; and
// restarting a server eagerly buys nothing, since it is cheap to start again on demand and its
// list is on disk. The price of links is that one crashing server restarts every list's server;
// for a cache of processes that reload their state on demand, that is acceptable.
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

// The cache as a child of the root supervisor: permanent, registered as "todo_cache" by every
// start (callers find the current one by name; a pid kept from before a restart is dead).
respawn::child_spec cache_child_spec();

// The server of list `list_name`, started if need be: a call to the cache found by name.
respawn::result<respawn::pid> server_process(respawn::runtime& rt, const std::string& list_name,
                                             std::chrono::milliseconds timeout = std::chrono::seconds{5});

}  // namespace todo

// server: the process that holds one to-do list (the book's Todo.Server). The cache starts one
// per list, linked to the cache, the first time someone asks for that list. The server keeps
// the list in memory, answers reads from memory, and sends the whole list to the database after
// every change, so that a new server for the same list (after a crash) starts where this one
// stopped.
//
// Loading is asynchronous. init() only asks the database for the list; the answer arrives later
// as a message. Until it does, the server holds every request in arrival order and replays them
// once the list is loaded, so a client never sees an empty list that is merely not loaded yet.
// (The book loads inside init with a blocking call; here a blocking call inside a process would
// hold a scheduler thread, and with a few servers starting at once every thread could be waiting
// on a database that has no thread left to run on.) If the database does not answer within
// load_timeout, the server crashes rather than serve a list it does not have.
//
// Because a read may be answered after the handler that received it has returned, a read is not
// a runtime call() (reply() answers only the message being handled) but a request that carries
// its reply address, as gen_server's {From, Request} does. entries() below wraps that into
// something that reads like a call.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <respawn/respawn.hpp>

#include "todo_list.hpp"

namespace todo {

// --- the server protocol ---

// A cast: add `item` to the list.
struct add_entry_request {
  entry item;
};

// Answered by an entries_reply to `reply_to` carrying the same `ref`.
struct entries_request {
  std::string date;
  respawn::pid reply_to;
  std::uint64_t ref = 0;
};

struct entries_reply {
  std::uint64_t ref = 0;
  std::vector<entry> entries;
};

class server final : public respawn::process {
 public:
  static constexpr std::chrono::milliseconds load_timeout{5000};

  explicit server(std::string list_name) : list_name_{std::move(list_name)} {}

  void init() override;
  void handle(respawn::message& m) override;

 private:
  struct load_timed_out {};
  using pending_request = std::variant<add_entry_request, entries_request>;

  void serve(add_entry_request& request);
  void serve(entries_request& request);

  std::string list_name_;
  bool loaded_ = false;
  todo_list list_;
  std::vector<pending_request> pending_;  // requests that arrived before the list was loaded
  respawn::timer_ref load_timer_;
};

// --- the client side (callable from any thread that is not a process: main, a test) ---

// Adds an entry: a cast, it returns at once. Casts from one thread reach the server in order,
// and a later entries() from the same thread sees them.
void add_entry(respawn::runtime& rt, respawn::pid server_pid, entry item);

// The entries of one date, or why there are none: "timeout", or "callee exited with REASON" as
// soon as the server dies (it is monitored for the duration of the request, as call() does).
respawn::result<std::vector<entry>> entries(respawn::runtime& rt, respawn::pid server_pid, const std::string& date,
                                            std::chrono::milliseconds timeout = std::chrono::seconds{5});

}  // namespace todo

// server: see the header.
#include "server.hpp"

#include <atomic>
#include <cassert>
#include <stdexcept>

#include "database.hpp"

namespace todo {

void server::init() {
  // The database is found by name on every use, not kept as a pid: a database restarted by a
  // supervisor gets a new pid under the same name (the point the book makes about registered
  // names).
  respawn::pid db = system().whereis(database_name);
  if (send(db, database_get{list_name_, self()}) != respawn::send_result::ok) {
    throw std::runtime_error{"todo::server '" + list_name_ + "': no process is registered as " + database_name};
  }
  load_timer_ = send_after(load_timeout, load_timed_out{});
}

void server::handle(respawn::message& m) {
  if (auto* loaded = m.get_if<database_loaded>()) {
    // Exactly one load is ever asked for, for our own list: anything else is a bug.
    assert(!loaded_ && loaded->list_name == list_name_);
    cancel_timer(load_timer_);
    list_ = std::move(loaded->list);
    loaded_ = true;
    for (pending_request& request : pending_) std::visit([this](auto& r) { serve(r); }, request);
    pending_.clear();
  } else if (auto* add = m.get_if<add_entry_request>()) {
    if (loaded_) serve(*add); else pending_.emplace_back(std::move(*add));
  } else if (auto* read = m.get_if<entries_request>()) {
    if (loaded_) serve(*read); else pending_.emplace_back(std::move(*read));
  } else if (m.is<load_timed_out>() && !loaded_) {
    throw std::runtime_error{"todo::server '" + list_name_ + "': the database did not load the list in time"};
  }
}

void server::serve(add_entry_request& request) {
  list_.add_entry(std::move(request.item));
  // Stored after every change, as the book does: simple, and a new server for this list sees
  // every entry this one accepted. A database that is gone loses the write (the send fails);
  // the server carries on with its copy in memory.
  send(system().whereis(database_name), database_store{list_name_, list_});
}

void server::serve(entries_request& request) {
  send(request.reply_to, entries_reply{request.ref, list_.entries(request.date)});
}

void add_entry(respawn::runtime& rt, respawn::pid server_pid, entry item) {
  rt.send(server_pid, add_entry_request{std::move(item)});
}

respawn::result<std::vector<entry>> entries(respawn::runtime& rt, respawn::pid server_pid, const std::string& date,
                                            std::chrono::milliseconds timeout) {
  using respawn::call_error;
  static std::atomic<std::uint64_t> next_ref{1};
  std::uint64_t ref = next_ref.fetch_add(1, std::memory_order_relaxed);

  // A process of our own for the reply: it gives this thread a pid to be answered at and a
  // monitor on the server, and it ends (with its monitor) when this function returns.
  respawn::scoped_process me{rt};
  respawn::monitor_ref watch = me.monitor(server_pid);
  me.send(server_pid, entries_request{date, me.self(), ref});

  auto deadline = rt.now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - rt.now());
    if (left.count() < 0) left = std::chrono::milliseconds{0};
    respawn::message_ptr m = me.receive(left);
    if (!m) return call_error{call_error::code::timeout, {}, {}};
    if (auto* reply = m->get_if<entries_reply>(); reply != nullptr && reply->ref == ref) {
      return std::move(reply->entries);
    }
    if (auto* gone = m->get_if<respawn::down>(); gone != nullptr && gone->ref == watch) {
      return call_error{call_error::code::callee_exited, gone->reason, {}};
    }
  }
}

}  // namespace todo

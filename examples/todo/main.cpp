// todo: a scripted session with the to-do system of "Elixir in Action" (seed 001) running on
// Respawn under a supervision tree (system.hpp, the book's Todo.System). It is what scripts/demo
// shows a newcomer: the system starts, lists are filled and read back, the live processes are
// listed with their links, then the cache is killed and we watch its linked servers go down with
// it while the database survives; the supervisor restarts the cache under its name by itself,
// and the new cache serves the same lists again, loaded from the files the database workers
// wrote. Crash reports (runtime_config::log) are printed as they happen, and the supervision
// tree, with its restart counts, is printed last, as text and as JSON.
//
// The runtime runs in deterministic mode: one thread, stepped by this program (every call and
// receive below drives it), so the pids and the output are the same on every run. The library
// itself does not know which mode it runs in; todo_tests also runs it on scheduler threads.
//
// Usage: todo [DATA_DIR]   (default: a fresh temporary folder, removed at the end)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <respawn/respawn.hpp>

#include "cache.hpp"
#include "database.hpp"
#include "list_file.hpp"
#include "server.hpp"
#include "system.hpp"

namespace {

using respawn::pid;

constexpr std::size_t pool_size = 3;
const std::vector<std::string> list_names{"alice", "bob", "shopping"};

void heading(const std::string& text) { std::cout << "\n== " << text << '\n'; }

template <class T>
T must(respawn::result<T> r, const std::string& what) {
  if (!r) throw std::runtime_error{what + ": " + r.error().message()};
  return std::move(r).value();
}

std::string join_titles(const std::vector<todo::entry>& entries) {
  if (entries.empty()) return "(nothing)";
  std::string out;
  for (const todo::entry& e : entries) out += (out.empty() ? "" : "; ") + e.title;
  return out;
}

// What each process is, for the listing: the registry tells the supervisor, the database and the
// cache; links tell their workers and servers; `servers` maps a server's pid to its list.
std::string role_of(const respawn::process_info& p, const std::vector<respawn::process_info>& all,
                    const std::map<pid, std::string>& servers) {
  if (p.name == todo::system_name) return "root supervisor";
  if (p.name == todo::database_name) return "database";
  if (p.name == todo::cache_name) return "cache";
  if (auto it = servers.find(p.pid); it != servers.end()) return "server of \"" + it->second + "\"";
  for (const respawn::process_info& other : all) {
    if (other.name == todo::database_name && std::count(other.links.begin(), other.links.end(), p.pid)) {
      return "database worker";
    }
  }
  return "?";
}

void print_processes(respawn::runtime& rt, const std::map<pid, std::string>& servers) {
  std::vector<respawn::process_info> all = rt.processes();
  std::printf("   %-10s %-14s %-20s %s\n", "PID", "NAME", "WHAT", "LINKED TO");
  for (const respawn::process_info& p : all) {
    std::string links;
    for (pid l : p.links) links += (links.empty() ? "" : " ") + l.to_string();
    std::printf("   %-10s %-14s %-20s %s\n", p.pid.to_string().c_str(), p.name.empty() ? "-" : p.name.c_str(),
                role_of(p, all, servers).c_str(), links.empty() ? "-" : links.c_str());
  }
  std::cout << "   (" << rt.process_count() << " processes)\n";
}

// Kills (or crashes) the cache while a process of ours monitors it and every server, and prints
// each `down` as it arrives: the monitor is how we *see* the links at work.
void watch_cache_end(respawn::runtime& rt, const std::map<pid, std::string>& servers, auto end_the_cache) {
  respawn::scoped_process observer{rt};
  std::map<std::uint64_t, std::string> watched;  // monitor reference -> what it watches
  pid cache = rt.whereis(todo::cache_name);
  watched[observer.monitor(cache).value] = "todo_cache " + cache.to_string();
  for (const auto& [server, list] : servers) {
    watched[observer.monitor(server).value] = "server of \"" + list + "\" " + server.to_string();
  }
  // A kill overtakes whatever the cache has not handled yet, our monitor request among them (it
  // would then be answered "noproc"). One call through the cache first makes sure the cache has
  // handled the request: its mailbox is one queue, and our monitor went in before the call.
  must(todo::server_process(rt, servers.begin()->second), "server_process");
  end_the_cache();
  while (!watched.empty()) {
    auto gone = observer.receive<respawn::down>(std::chrono::seconds{5});
    if (!gone) throw std::runtime_error{"a process we watched did not end"};
    auto it = watched.find(gone->ref.value);
    if (it == watched.end()) continue;
    std::printf("   down: %-28s ended with reason: %s\n", it->second.c_str(), gone->reason.to_string().c_str());
    watched.erase(it);
  }
}

// The supervision tree as the supervisors see it (supervision_tree asks each one which_children).
void print_tree(const respawn::supervision_node& node, const std::string& indent, bool last, bool root) {
  std::string line = root ? "   " : "   " + indent + (last ? "`- " : "|- ");
  line += (root ? node.name : node.id) + " " + (node.pid ? node.pid.to_string() : "(not running)");
  if (!root && !node.name.empty()) line += " \"" + node.name + "\"";
  line += std::string{" "} + to_string(node.type);
  if (!root) line += std::string{", "} + to_string(node.restart) + ", restarts " + std::to_string(node.restarts);
  if (!node.last_exit_reason.empty()) line += ", last exit: " + node.last_exit_reason;
  std::cout << line << '\n';
  for (std::size_t i = 0; i < node.children.size(); ++i) {
    print_tree(node.children[i], root ? "" : indent + (last ? "   " : "|  "), i + 1 == node.children.size(), false);
  }
}

void check_no_server_left(respawn::runtime& rt, const std::map<pid, std::string>& servers) {
  std::size_t alive = 0;
  for (const auto& [server, list] : servers) alive += rt.alive(server) ? 1 : 0;
  std::cout << "   servers still alive: " << alive << " of " << servers.size()
            << (alive == 0 ? "  -> no orphan process is left behind\n" : "  -> ORPHANS!\n");
}

int run(const std::filesystem::path& folder) {
  respawn::runtime_config config;
  config.deterministic = true;
  // Crash reports and the runtime's other log lines, printed where they happen in the story.
  config.log = [](std::string_view line) { std::cout << "   log: " << line << '\n'; };
  respawn::runtime rt{config};

  heading("1. Starting the system: a root supervisor, todo_system, starts the database, then the cache");
  pid root = todo::start_system(rt, folder, pool_size);
  rt.run_until_idle();  // deterministic mode: let the started processes settle
  pid db = rt.whereis(todo::database_name);
  pid cache = rt.whereis(todo::cache_name);
  std::cout << "   todo_system   " << root.to_string() << " one_for_one, at most 3 restarts in 5 s\n"
            << "   todo_database " << db.to_string() << " started " << pool_size
            << " database workers with spawn_link; they write one file per list under\n   " << folder.string()
            << "\n   todo_cache    " << cache.to_string() << " starts one server per list, on first use\n";

  heading("2. Adding entries (cache: a call that returns the list's server; server: add_entry casts)");
  std::map<pid, std::string> servers;
  const std::vector<std::pair<std::string, todo::entry>> additions{
      {"alice", {"2024-05-01", "Dentist"}},       {"alice", {"2024-05-01", "Call mum"}},
      {"alice", {"2024-05-02", "Tax return"}},    {"bob", {"2024-05-01", "Fix the bike"}},
      {"shopping", {"2024-05-01", "Milk"}},       {"shopping", {"2024-05-01", "Bread"}},
  };
  for (const auto& [list, item] : additions) {
    pid server = must(todo::server_process(rt, list), "server_process");
    if (servers.emplace(server, list).second) {
      std::cout << "   cache started server " << server.to_string() << " for \"" << list << "\"\n";
    }
    todo::add_entry(rt, server, item);
    std::cout << "   " << list << " += " << item.date << " " << item.title << '\n';
  }

  heading("3. Reading them back (entries(date) asks the list's server)");
  for (const std::string& list : list_names) {
    pid server = must(todo::server_process(rt, list), "server_process");
    std::cout << "   " << list << ", 2024-05-01: " << join_titles(must(todo::entries(rt, server, "2024-05-01"), "entries"))
              << '\n';
  }
  rt.run_until_idle();  // let the database workers finish writing before we count anything

  heading("4. The live processes (rt.processes())");
  print_processes(rt, servers);

  heading("5. Killing the cache: rt.exit(cache, exit_reason::kill())");
  const std::size_t full = rt.process_count();
  watch_cache_end(rt, servers, [&] { rt.exit(cache, respawn::exit_reason::kill()); });
  rt.run_until_idle();
  pid old_cache = cache;
  cache = rt.whereis(todo::cache_name);
  std::cout << "   todo_system restarted the cache: whereis(\"todo_cache\") is now " << cache.to_string()
            << " (was " << old_cache.to_string() << ")\n";
  std::cout << "   processes: " << full << " before, " << rt.process_count() << " after (no servers yet)\n";
  check_no_server_left(rt, servers);
  print_processes(rt, servers);
  std::cout << "   The database and its workers are the same processes: nothing links them to the cache,\n"
               "   and one_for_one restarts only the child that ended.\n";

  heading("6. Reading the lists again: the new cache starts new servers, which load from the files");
  std::map<pid, std::string> new_servers;
  for (const std::string& list : list_names) {
    pid server = must(todo::server_process(rt, list), "server_process");
    new_servers.emplace(server, list);
    std::cout << "   " << list << " (new server " << server.to_string() << "), 2024-05-01: "
              << join_titles(must(todo::entries(rt, server, "2024-05-01"), "entries")) << '\n';
  }
  std::cout << "   The new servers loaded their lists through the database from these files:\n";
  for (const std::string& list : list_names) {
    std::filesystem::path file = todo::list_file_path(folder, list);
    std::cout << "   --- " << file.filename().string() << '\n';
    std::ifstream in{file};
    for (std::string line; std::getline(in, line);) std::cout << "       " << line << '\n';
  }

  rt.run_until_idle();
  std::cout << "   processes: " << rt.process_count() << (rt.process_count() == full ? ", as before the kill\n" : "\n");

  heading("7. An error inside the cache: asking it for a list with no name makes it throw");
  std::size_t before = rt.process_count();
  watch_cache_end(rt, new_servers, [&] {
    auto r = todo::server_process(rt, "");
    std::cout << "   server_process(\"\") failed: " << (r ? std::string{"(it did not!)"} : r.error().message()) << '\n';
  });
  rt.run_until_idle();
  std::cout << "   processes: " << before << " before, " << rt.process_count() << " after; todo_cache is now "
            << rt.whereis(todo::cache_name).to_string() << '\n';
  check_no_server_left(rt, new_servers);
  pid server = must(todo::server_process(rt, "alice"), "server_process");
  std::cout << "   alice (new server " << server.to_string()
            << "), 2024-05-02: " << join_titles(must(todo::entries(rt, server, "2024-05-02"), "entries")) << '\n';
  rt.run_until_idle();

  heading("8. The supervision tree (supervision_tree(rt, root), then to_json)");
  respawn::supervision_node tree = respawn::supervision_tree(rt, root, std::chrono::seconds{1});
  print_tree(tree, "", true, true);
  std::cout << "   (servers and database workers are linked to their owner, not supervised: not in the tree)\n";
  std::cout << "   " << respawn::to_json(tree) << '\n';

  heading("Done");
  std::cout << "   Links took each server down with its cache; the database kept the data; the supervisor\n"
               "   restarted the cache under its name each time, and the servers came back on demand.\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2) {
    std::cerr << "usage: todo [DATA_DIR]\n";
    return 2;
  }
  bool own_folder = argc < 2;
  std::filesystem::path folder;
  if (own_folder) {
    folder = std::filesystem::temp_directory_path() / ("respawn-todo-" + std::to_string(std::random_device{}()));
  } else {
    folder = argv[1];
  }
  int status = 1;
  try {
    status = run(folder);
  } catch (const std::exception& e) {
    std::cerr << "todo: " << e.what() << '\n';
  }
  if (own_folder) std::filesystem::remove_all(folder);
  return status;
}

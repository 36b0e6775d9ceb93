// database: see the header.
#include "database.hpp"

#include <functional>
#include <stdexcept>

#include "database_worker.hpp"

namespace todo {

database::database(std::filesystem::path folder, std::size_t pool_size)
    : folder_{std::move(folder)}, pool_size_{pool_size} {
  // Bad configuration is rejected at start, with what to change.
  if (pool_size_ == 0) throw std::invalid_argument{"todo::database: pool_size must be at least 1"};
}

void database::init() {
  // Created here rather than by each worker so that a folder we cannot create fails the database
  // at start, once, with the filesystem's own message as the exit reason.
  std::filesystem::create_directories(folder_);
  for (std::size_t i = 0; i < pool_size_; ++i) {
    workers_.push_back(spawn_link<database_worker>(folder_));
  }
}

void database::handle(respawn::message& m) {
  if (auto* store = m.get_if<database_store>()) {
    respawn::pid worker = worker_for(store->list_name);
    send(worker, std::move(*store));
  } else if (auto* get = m.get_if<database_get>()) {
    respawn::pid worker = worker_for(get->list_name);
    send(worker, std::move(*get));
  }
  // Anything else is not for us: dropped, as an Erlang process drops what it never matches.
}

respawn::pid database::worker_for(const std::string& list_name) const {
  // std::hash<std::string> is stable for the life of the program, which is all routing needs:
  // the files do not depend on which worker wrote them.
  return workers_[std::hash<std::string>{}(list_name) % workers_.size()];
}

respawn::child_spec database_child_spec(const std::filesystem::path& folder, std::size_t pool_size) {
  respawn::child_spec spec;
  spec.id = "database";
  spec.start = respawn::child_spec::make<database>(folder, pool_size);
  spec.restart = respawn::restart_type::permanent;
  spec.name = database_name;
  return spec;
}

}  // namespace todo

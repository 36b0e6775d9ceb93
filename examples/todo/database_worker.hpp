// database_worker: one of the database's pool of processes (the book's Todo.DatabaseWorker), and
// the only code in the system that touches the disk. It stores and loads whole lists, one file
// per list (see list_file.hpp). It runs one request at a time, so while one worker waits on the
// disk the others keep serving their own lists.
//
// A worker does not handle errors: a disk that fails or a file that is corrupt throws, the worker
// crashes with that error, and its link to the database takes the database down too ("let it
// crash"; the root supervisor restarts the database, which starts a fresh pool).
#pragma once

#include <filesystem>

#include <respawn/respawn.hpp>

namespace todo {

class database_worker final : public respawn::process {
 public:
  explicit database_worker(std::filesystem::path folder) : folder_{std::move(folder)} {}

  void handle(respawn::message& m) override;

 private:
  std::filesystem::path folder_;
};

}  // namespace todo

// registry: process names (Erlang's register/whereis/unregister). A reader-writer lock: lookups
// (whereis) are frequent and concurrent, changes are rare. A name is released when its process
// ends (process_ops::exit calls release()).
#pragma once

#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "respawn/pid.hpp"

namespace respawn::detail {

class process_table;

class registry {
 public:
  // All thread-safe.
  bool add(const std::string& name, pid p, process_table& table);
  bool remove(const std::string& name, process_table& table);
  pid whereis(const std::string& name) const;
  // The process `p` has ended: drop `name` if it still names `p`.
  void release(const std::string& name, pid p);

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, pid> names_;
};

}  // namespace respawn::detail

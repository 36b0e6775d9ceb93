// process_extras: the parts of a process most processes never use (links, monitors, a name).
// Kept out of line so that an idle process stays small (the memory benchmark counts every byte),
// and made on first use. A mutex guards it because introspection and the registry read it from
// other threads; the owner is the only writer of links and monitors.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "respawn/exit_reason.hpp"
#include "respawn/pid.hpp"
#include "respawn/snapshot.hpp"

namespace respawn::detail {

struct process_extras {
  std::mutex mutex;
  std::vector<pid> links;
  std::vector<std::pair<monitor_ref, pid>> monitors;      // whom this process monitors
  std::vector<std::pair<monitor_ref, pid>> monitored_by;  // who monitors this process
  std::string name;
  bool exiting = false;  // set under the mutex as the process ends: no new name after it
  exit_reason stop_reason;
  snapshot latest;  // the last recovery snapshot; goes to the parent with the exit signal
  std::chrono::milliseconds handler_budget{0};  // the watchdog's budget for this process; 0: default
  std::shared_ptr<class dedicated_runner> dedicated;  // spawn_options::dedicated_thread
  pid ack_to;                 // spawn_options::ack_to, until the start is acknowledged
  bool ack_deferred = false;  // init() called defer_start_ack()
};

}  // namespace respawn::detail

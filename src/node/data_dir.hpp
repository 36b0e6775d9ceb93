// data_dir: the node's data directory made private and owned by one node (issue 12, F8 and F12).
//
// Private: the node sets umask 077 before it creates or opens anything, creates DIR with mode
// 0700, and warns when an existing DIR is group- or world-accessible (it is the operator's
// directory: the node does not chmod it). So jobs.db, users.db, their -wal and -shm files and
// demo.token are 0600.
//
// Owned: the node holds flock(DIR/lock, LOCK_EX | LOCK_NB) for its whole life, through a
// close-on-exec descriptor (workers never hold it). A second node on the same DIR would recover
// the same unfinished jobs and run them twice; it is refused instead, with the holder's pid,
// which the lock file holds. The kernel drops the lock when the node dies, however it dies.
#pragma once

#include <string>

#include "respawn/value_or_error.hpp"

namespace respawn::node {

enum class data_dir_errc : unsigned char {
  unusable,  // DIR cannot be created, is not a directory, or DIR/lock cannot be opened
  locked,    // another node holds DIR/lock
};
struct data_dir_error {
  data_dir_errc code = data_dir_errc::unusable;
  std::string message{};
};

class data_dir_lock {
 public:
  data_dir_lock() = default;
  explicit data_dir_lock(int fd) : fd_{fd} {}
  data_dir_lock(data_dir_lock&& o) noexcept : fd_{o.fd_} { o.fd_ = -1; }
  data_dir_lock& operator=(data_dir_lock&& o) noexcept;
  data_dir_lock(const data_dir_lock&) = delete;
  data_dir_lock& operator=(const data_dir_lock&) = delete;
  ~data_dir_lock();

 private:
  int fd_ = -1;
};

// Sets umask 077, then creates `dir` (and any missing parents) with mode 0700. A `dir` that is
// group- or world-accessible is reported on stderr, not refused.
value_or_error<bool, data_dir_error> make_private_dir(const std::string& dir);

// Takes DIR/lock for this process's life; the error names the pid that holds it, if known.
value_or_error<data_dir_lock, data_dir_error> lock_data_dir(const std::string& dir);

}  // namespace respawn::node

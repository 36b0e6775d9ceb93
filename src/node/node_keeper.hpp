// node_keeper: the runtime process through which the node's main thread and heart see the node's
// supervision tree (DESIGN.md §5, "let it crash all the way up"). It beats heart's pipe every
// second, and it monitors the engine's root supervisor: when that root exits (it reached its
// restart intensity, or was killed), the keeper stops beating and writes to `down_fd` (an
// eventfd the main thread polls), and the node exits non-zero so that heart starts a new one.
// A node whose tree is gone must not linger: it would answer /healthz while every job call fails.
//
// The keeper's own end -- whatever the cause -- wakes the main thread the same way (its
// destructor writes down_fd), so a dead watcher never leaves an unwatched node.
#pragma once

#include <atomic>
#include <string>

#include "respawn/process.hpp"

namespace respawn::node {

// To the keeper: watch this root (the engine's supervisor) from now on.
struct watch_root {
  respawn::pid root;
};

class node_keeper final : public process {
 public:
  // heart_fd: heart's pipe (non-blocking), or -1 when not under heart. down_fd: an eventfd.
  // `why` receives a description of the root's end (read it after down_fd fired).
  node_keeper(int heart_fd, int down_fd, std::shared_ptr<std::string> why);
  ~node_keeper() override;

  void init() override;
  void handle(message& m) override;

 private:
  void signal_down();

  int heart_fd_;
  int down_fd_;
  std::shared_ptr<std::string> why_;
  respawn::pid root_{};
  bool down_ = false;
};

}  // namespace respawn::node

// worker_task_context: the task_context a handler gets inside a worker: its task's frame, the
// cancelled flag the reader sets, and the outbox its reports go out through.
//
// Arguments are parsed on first use (a no-op task never pays for JSON); the restored snapshot is
// parsed up front, when there is one, because restored_snapshot() cannot fail. Nothing is
// throttled here: a kind that reports in a tight loop throttles itself.
#pragma once

#include <atomic>
#include <optional>
#include <stdexcept>
#include <string>

#include "frame.hpp"
#include "outbox.hpp"
#include "respawn/kinds.hpp"

namespace respawn::detail {

// What a task's reports and result may not exceed: the node would take a bigger frame for a
// malformed one and end the worker, so the task fails instead (std::length_error).
inline void check_frame_size(const std::string& payload, const char* what) {
  if (payload.size() > wire::max_payload) {
    throw std::length_error{std::string{what} + " of " + std::to_string(payload.size()) +
                            " bytes, over the frame limit of " + std::to_string(wire::max_payload)};
  }
}

class worker_task_context final : public task_context {
 public:
  // Throws std::invalid_argument if the snapshot to restore is not valid JSON.
  worker_task_context(std::uint64_t id, const wire::task_frame& task, outbox& out,
                      const std::atomic<bool>& cancelled)
      : id_{id}, task_{task}, out_{out}, cancelled_{cancelled} {
    if (!task.snapshot.empty()) {
      try {
        restored_ = nlohmann::json::parse(task.snapshot);
      } catch (const nlohmann::json::parse_error& e) {
        throw std::invalid_argument{"the snapshot to restore from is not valid JSON: " + std::string{e.what()}};
      }
    }
  }

  const nlohmann::json& args() override {
    if (!args_) {
      try {
        args_ = nlohmann::json::parse(task_.args);
      } catch (const nlohmann::json::parse_error& e) {
        throw std::invalid_argument{"the task's arguments are not valid JSON: " + std::string{e.what()}};
      }
    }
    return *args_;
  }
  std::uint32_t attempt() const noexcept override { return task_.attempt; }
  const std::optional<nlohmann::json>& restored_snapshot() const noexcept override { return restored_; }
  bool cancelled() const noexcept override { return cancelled_.load(std::memory_order_relaxed); }

  // Progress is advisory and may be frequent: it goes out asynchronously (and dies with the
  // worker if it crashes first). Outputs and snapshots are on the socket when these return, so
  // that a crash right after cannot lose them (outbox.hpp).
  void progress(const nlohmann::json& value) override {
    out_.post_bounded(wire::frame_type::progress, id_, checked_dump(value, "a progress report"));
  }
  void emit(const nlohmann::json& value) override {
    out_.send_now(wire::frame_type::output, id_, checked_dump(value, "an output"));
  }
  void save_snapshot(const nlohmann::json& state) override {
    out_.send_now(wire::frame_type::snapshot, id_, checked_dump(state, "a snapshot"));
  }

 private:
  static std::string checked_dump(const nlohmann::json& value, const char* what) {
    std::string text = value.dump();
    check_frame_size(text, what);
    return text;
  }

  const std::uint64_t id_;
  const wire::task_frame& task_;
  outbox& out_;
  const std::atomic<bool>& cancelled_;
  std::optional<nlohmann::json> args_;
  std::optional<nlohmann::json> restored_;
};

}  // namespace respawn::detail

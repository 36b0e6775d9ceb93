// kinds: how users define job kinds, the code that runs inside a `respawn worker` process.
//
// A kind is a name and a handler. The handler runs in a worker process (never in the node), one
// task at a time, and gets a task_context: its arguments (JSON), its attempt number, the snapshot
// it was restored from, and ways to report progress, emit outputs, save a snapshot and see
// whether it was cancelled. Whatever it returns is the task's result; an exception it throws
// fails the task (the worker lives on); a crash, a hang or a runaway allocation ends only the
// worker process, and the node sees it as the worker's exit reason.
//
// A program of your own registers its kinds and hands over to respawn::main, so that one binary
// is both the node and its workers (the node starts workers by exec'ing its own file):
//
//   int main(int argc, char** argv) {
//     respawn::kind_registry kinds = respawn::builtin_kinds();
//     kinds.add("greet", [](respawn::task_context& ctx) {
//       return nlohmann::json{{"hello", ctx.args().value("name", "world")}};
//     });
//     return respawn::main(argc, argv, kinds);
//   }
//
// docs/job-kinds.md has the whole story.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace respawn {

class task_context {
 public:
  virtual ~task_context() = default;

  // The task's arguments (parsed on first use). A task whose arguments are not valid JSON
  // fails with a clear error the first time it asks for them.
  virtual const nlohmann::json& args() = 0;
  // 1 for the first run of a job, 2 for its first retry, ...
  virtual std::uint32_t attempt() const noexcept = 0;
  // The snapshot this run was restored from (the latest save_snapshot of an earlier attempt),
  // or nullopt for a fresh start.
  virtual const std::optional<nlohmann::json>& restored_snapshot() const noexcept = 0;
  // True once the node asked this task to stop; a handler that checks it returns early.
  virtual bool cancelled() const noexcept = 0;

  // Reports progress (any JSON; a number in 0..1 is what dashboards draw as a bar).
  virtual void progress(const nlohmann::json& value) = 0;
  // Emits an output: a partial result the node records and passes on as it comes.
  virtual void emit(const nlohmann::json& value) = 0;
  // Saves a recovery snapshot: if this worker dies, the next attempt starts from the latest one.
  virtual void save_snapshot(const nlohmann::json& state) = 0;
};

using kind_handler = std::function<nlohmann::json(task_context&)>;

class kind_registry {
 public:
  // Adds (or replaces) the kind `name`.
  kind_registry& add(std::string name, kind_handler handler);
  // Adds (or replaces) the session kind `name` (docs/sessions.md): a job of this kind runs while
  // a client streams its events and answers each input the client sends. The handler runs once
  // per input, in a worker, with args() = {"seq": N, "data": the input, "session": the job's
  // args}; what it returns is the output that answers the input.
  kind_registry& add_session(std::string name, kind_handler handler);
  bool is_session(const std::string& name) const;
  const kind_handler* find(const std::string& name) const;
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  std::vector<std::string> names() const;

 private:
  std::map<std::string, kind_handler, std::less<>> kinds_;
  std::set<std::string, std::less<>> sessions_;
};

// The demo kinds: sum, noop, sleep, fib, fail, loop, crash, oom, counter, and the session kind
// echo (docs/job-kinds.md, docs/sessions.md).
kind_registry builtin_kinds();

// The build identity a worker reports in its hello (the node logs it on hot code upgrade):
// compile date and time of the library plus RESPAWN_BUILD_TAG if the build defines one.
std::string build_id();

// Respawn's command line: `PROGRAM worker --fd N` runs a worker serving `kinds` over fd N;
// `PROGRAM run KIND [--arg k=v ...]` runs one task in a pool of workers and prints its outcome.
// Returns the process's exit code.
int main(int argc, char** argv, const kind_registry& kinds);

// Runs a worker on the connected socket `fd` until the node closes it (what `worker` does).
int worker_main(int fd, const kind_registry& kinds);

}  // namespace respawn

// engine_messages: what the dispatcher and the job processes tell each other, and what the
// store's writer thread sends back when a write has committed. Internal to the engine.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "respawn/engine.hpp"
#include "respawn/jobs/event.hpp"
#include "respawn/jobs/job_state.hpp"
#include "store/job_store.hpp"

namespace respawn::engine::detail {

// Everything a job process needs; given to the job supervisor's start_child.
struct job_start {
  jobs::job_state state;  // as folded from the store (or just submitted)
  std::shared_ptr<store::job_store> store;
  respawn::pid dispatcher;
  respawn::pid pool;
  jobs::retry_policy retry;
  std::chrono::milliseconds attempt_timeout{60000};
  std::function<jobs::job_time()> clock;  // never empty here
  std::chrono::milliseconds cancel_grace{5000};
  std::chrono::milliseconds store_retry_initial{10};
  std::chrono::milliseconds store_retry_max{2000};
  std::uint64_t outputs_max = 10'000;  // engine_config::outputs_max
  std::chrono::milliseconds progress_interval{200};  // engine_config::progress_interval
  // Rebuilt from the store (recovery, a revive), not just submitted: a predecessor's task may
  // still be in the pool (the dispatcher died, the pool did not), so fence before submitting.
  bool recovered = false;
};

// dispatcher -> job: run an attempt now.
struct run_attempt {};
// dispatcher -> job: it was removed from the queue; log `cancelled` and stop.
struct cancel_queued {};
// dispatcher -> job: cancel while running or waiting for a retry.
struct cancel_live {};

// job -> dispatcher
struct job_ready {  // the job process started (first start or restart): where it is
  jobs::job_id id;
  respawn::pid process;
  jobs::job_status status;
};
struct attempt_ended {  // a running attempt's outcome is durable: its queue slot is free
  jobs::job_id id;
};
struct attempt_unstarted {  // its task came back from the pool unstarted: queued again, slot free
  jobs::job_id id;
};
struct retry_due {  // the job (failed) may run again: back into the queue
  jobs::job_id id;
};
struct job_final {  // the job reached a final state (durable); its process stops
  jobs::job_id id;
  jobs::job_status status;
};
// A job's write met a full disk (it retries with backoff): admission pauses node-wide.
struct store_disk_full {};
// A job's write succeeded after failing: the store writes again, admission may resume.
struct store_recovered {};

// store writer thread -> job: an append committed (or failed).
struct append_done {
  std::uint64_t tag;
  bool ok;
  std::string error;
  store::store_errc code = store::store_errc::io_error;  // when !ok
};
// Transient store failures: the same write may succeed later (retried with backoff by the
// process that met them). The others are bugs or a store going away: let it crash.
inline bool is_transient(store::store_errc code) {
  return code == store::store_errc::busy || code == store::store_errc::disk_full ||
         code == store::store_errc::io_error || code == store::store_errc::overloaded;
}
// store writer thread -> dispatcher: a submission committed (or failed).
struct submit_done {
  respawn::pid caller;
  std::uint64_t call_ref;
  std::vector<jobs::job_request> requests;
  std::vector<jobs::job_id> ids;
  store::store_result<std::vector<store::submit_outcome>> result;
  respawn::pid dispatcher{};  // the one that sent it to the store (another may get the answer)
  bool probe = false;         // sent while admission was paused for a full disk
};

// Where the store's writer thread leaves submit_done, for whichever dispatcher lives: one that
// crashed while a submission was committing would otherwise take the answer with it, leaving an
// acknowledged-to-the-store job that nothing runs until the next node start (the orphan of the
// mission audit's F1). It outlives dispatcher incarnations (the engine's spec holds it); each
// dispatcher drains it at start and whenever the writer pokes it (by name). thread-safe.
class submit_inbox {
 public:
  void put(submit_done d) {
    std::lock_guard lock{mutex_};
    items_.push_back(std::move(d));
  }
  std::vector<submit_done> take() {
    std::lock_guard lock{mutex_};
    std::vector<submit_done> out;
    out.swap(items_);
    return out;
  }

 private:
  std::mutex mutex_;
  std::vector<submit_done> items_;
};
struct inbox_poke {};
// Appends `e` to the store; the store's writer thread tells `to` with append_done{tag} when it
// committed (or failed). What job and session processes do before they act on an event.
void append_then_tell(runtime& rt, store::job_store& store, jobs::event e, respawn::pid to, std::uint64_t tag);

// dispatcher -> itself: recover the next page of unfinished jobs.
struct recover_page {
  jobs::job_id after_id;
};

}  // namespace respawn::engine::detail

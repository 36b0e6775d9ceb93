// faulty_store: a job store that passes everything to a real one, except that while `failing`
// is set every write (submit, append) fails with `code` and writes nothing, as the seam
// promises of a failed write. A fault that lasts as long as the test wants, then clears: a full
// disk that an operator frees, a lock another process holds. (The countdown hook in
// src/store/countdown_fault.hpp fails the Nth statement once or for ever; this one ends.)
#pragma once

#include <atomic>
#include <memory>

#include "store/job_store.hpp"

namespace respawn_engine_test {

class faulty_store final : public respawn::store::job_store {
 public:
  explicit faulty_store(std::shared_ptr<respawn::store::job_store> inner) : inner_{std::move(inner)} {}

  std::atomic<bool> failing{false};
  std::atomic<respawn::store::store_errc> code{respawn::store::store_errc::disk_full};
  std::atomic<std::uint64_t> failed_writes{0};

  respawn::store::store_result<respawn::jobs::job_id> allocate_id() override { return inner_->allocate_id(); }
  void submit_async(std::vector<respawn::store::submission> batch, respawn::store::submit_callback done) override {
    if (fail()) {
      done(respawn::store::store_error{code.load(), "injected: no space left on device"});
      return;
    }
    inner_->submit_async(std::move(batch), std::move(done));
  }
  void append_async(std::vector<respawn::jobs::event> events, respawn::store::append_callback done) override {
    if (fail()) {
      done(respawn::store::store_error{code.load(), "injected: no space left on device"});
      return;
    }
    inner_->append_async(std::move(events), std::move(done));
  }
  respawn::store::store_result<respawn::jobs::job_state> get(respawn::jobs::job_id id) override {
    return inner_->get(id);
  }
  respawn::store::store_result<std::vector<respawn::jobs::event>> events(respawn::jobs::job_id id, std::uint64_t after,
                                                                         std::size_t limit) override {
    return inner_->events(id, after, limit);
  }
  respawn::store::store_result<respawn::store::job_page> list(const respawn::store::job_filter& f) override {
    return inner_->list(f);
  }
  respawn::store::store_result<respawn::store::job_page> list_unfinished(respawn::jobs::job_id after,
                                                                         std::size_t limit) override {
    return inner_->list_unfinished(after, limit);
  }

 private:
  bool fail() {
    if (!failing.load()) return false;
    ++failed_writes;
    return true;
  }
  std::shared_ptr<respawn::store::job_store> inner_;
};

}  // namespace respawn_engine_test

// The synchronous wrappers of the seam, and store_errc's names.
#include "store/job_store.hpp"

#include <future>
#include <memory>

namespace respawn::store {

std::string_view to_string(store_errc code) {
  switch (code) {
    case store_errc::idempotency_conflict: return "idempotency_conflict";
    case store_errc::not_found: return "not_found";
    case store_errc::invalid_transition: return "invalid_transition";
    case store_errc::invalid_request: return "invalid_request";
    case store_errc::io_error: return "io_error";
    case store_errc::schema_too_new: return "schema_too_new";
    case store_errc::bad_configuration: return "bad_configuration";
    case store_errc::overloaded: return "overloaded";
    case store_errc::closed: return "closed";
    case store_errc::busy: return "busy";
    case store_errc::disk_full: return "disk_full";
  }
  return "unknown";
}

store_result<std::vector<submit_outcome>> job_store::submit(std::vector<submission> batch) {
  auto promise = std::make_shared<std::promise<store_result<std::vector<submit_outcome>>>>();
  auto future = promise->get_future();
  submit_async(std::move(batch), [promise](store_result<std::vector<submit_outcome>> r) {
    promise->set_value(std::move(r));
  });
  return future.get();
}

store_result<committed> job_store::append(std::vector<jobs::event> events) {
  auto promise = std::make_shared<std::promise<store_result<committed>>>();
  auto future = promise->get_future();
  append_async(std::move(events),
               [promise](store_result<committed> r) { promise->set_value(std::move(r)); });
  return future.get();
}

}  // namespace respawn::store

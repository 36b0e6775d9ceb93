// The routes of the HTTP API v1: from an api_request to an api_response, synchronously. They
// block (engine calls up to call_timeout, store reads), which is why the server runs them on its
// handler threads, never on an I/O thread. Free of Beast and of sockets: the whole API's
// behaviour can be driven by a test that builds api_requests by hand.
#pragma once

#include <cstddef>
#include <memory>

#include "api_message.hpp"
#include "slot_count.hpp"
#include "respawn/http_server.hpp"  // server_config; declares runtime and store::job_store
#include "respawn/pid.hpp"

namespace respawn::http {

class api_routes {
 public:
  // `config` must outlive this object (the server owns both).
  api_routes(runtime& rt, const server_config& config, respawn::pid dispatcher,
             std::shared_ptr<store::job_store> store);

  // Never throws: an unexpected exception becomes 500 internal. thread-safe.
  api_response handle(const api_request& request) const;

  // The next events of an open stream (from handle()'s response), at most `limit`. thread-safe.
  stream_poll poll(const event_stream& stream, std::size_t limit) const;

 private:
  api_response route(const api_request& request) const;
  // The dispatcher now: the engine's core (one_for_all) may have restarted it under its name.
  respawn::pid current_dispatcher() const;

  runtime& rt_;
  const server_config& config_;
  respawn::pid dispatcher_;
  std::shared_ptr<store::job_store> store_;
  std::shared_ptr<slot_count> streams_;  // open event streams, in all and per user
};

}  // namespace respawn::http

// http_server: the HTTP API v1 of `respawn serve` (issue 6; docs/http-api.md), as a library that
// the node binary embeds. It speaks JSON over HTTP/1.1 with keep-alive, authenticates every /v1
// request with a bearer token, submits and cancels jobs through the engine's dispatcher (calls)
// and reads jobs and their event logs straight from the store, which is thread-safe and shows
// only committed writes. Event logs stream to clients as Server-Sent Events.
//
// Why a library with a small config of callbacks: the node owns the user store, the kind
// registry and the notion of "ready" (recovery finished); the server only asks. Boost.Beast stays
// inside one translation unit (src/http/http_server.cpp), so including this header costs nothing.
//
// Threads: `io_threads` Asio threads own the sockets; they never block on the engine or the
// store. Requests run on `handler_threads` handler threads (a bounded queue of `pending_max`;
// full: 503 with Retry-After), whose answers are posted back to the connection's strand.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "respawn/pid.hpp"

namespace respawn {
class runtime;
}
namespace respawn::store {
class job_store;
}

namespace respawn::http {

struct server_config {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;                           // 0: any free port (tests); port() tells which
  std::size_t max_body_bytes = 1 << 20;                // a larger request body: 413
  std::size_t max_batch = 1000;                        // jobs in one POST /v1/jobs/batch; more: 422
  std::size_t io_threads = 1;                          // Asio threads (sockets, timers, SSE)
  std::size_t handler_threads = 2;                     // threads that run requests (engine calls, store reads)
  std::size_t pending_max = 1024;                      // requests and SSE polls waiting for a handler thread
  std::chrono::milliseconds call_timeout{10000};       // an engine call past this: 503
  std::chrono::milliseconds stream_poll_interval{25};  // how often an open SSE stream reads the log
  std::chrono::milliseconds stream_keep_alive{15000};  // a ": keep-alive" comment after this silence
  std::chrono::milliseconds idle_timeout{60000};       // a kept-alive connection silent this long is closed
  // A request's headers must have arrived this long after its first byte (after the connection
  // opened, for its first request): a client that opens connections and sends nothing, or a
  // header a byte at a time, holds a connection this long, not idle_timeout.
  std::chrono::milliseconds header_timeout{10000};
  // Open connections, in all and from one client address (IPv4 or IPv6). A connection beyond
  // either is closed as soon as it is accepted, so that idle sockets cannot use up the node's
  // descriptors (the workers and SQLite need them too).
  std::size_t max_connections = 512;
  std::size_t max_connections_per_address = 64;
  // Descriptors kept for everything else: start() lowers max_connections to the soft
  // RLIMIT_NOFILE minus this, if that is less.
  std::size_t fd_reserve = 128;
  // Sizes, separate from max_body_bytes (the whole request): a job's args (JSON text) and a
  // session input's data; larger: 413 args_too_large / input_too_large.
  std::size_t max_args_bytes = 64 * 1024;
  std::size_t max_input_bytes = 64 * 1024;
  // A GET /v1/jobs page and one SSE write hold at most about this many bytes (and their count
  // limit): the rest is on the next page (next_after_id) or the next write. One job or event is
  // always sent whole, even if larger.
  std::size_t max_page_bytes = 1 << 20;
  // Open event streams, in all and per user; beyond: 429 too_many_streams.
  std::size_t streams_max = 256;
  std::size_t streams_per_user_max = 32;
  // An open stream checks its bearer token again this often, and ends when the token no longer
  // names its user (revoked, expired).
  std::chrono::milliseconds stream_reauthenticate_interval{1000};
  // What GET shows as max_attempts for a job submitted without one (the engine's retry policy's
  // attempts_max; the engine stores 0 for "the default").
  std::uint32_t default_max_attempts = 5;
  // The other limits a job runs with, shown in its "limits" (docs/jobs.md, "Limits"): a request's
  // timeout_ms, else this (the engine's attempt_timeout); the worker's per-task memory and CPU
  // limits (0: none); how long after a cancel a task that ignores it is killed.
  std::uint32_t default_timeout_ms = 60000;
  std::uint32_t task_memory_mb = 0;
  std::uint32_t task_cpu_seconds = 0;
  std::uint32_t cancel_grace_ms = 5000;
  // The dispatcher's registered name: when the pid given to the server has ended (a restart of
  // the engine's core), requests go to whoever holds the name now. Empty: the pid only.
  std::string dispatcher_name{};

  // Required. The user a bearer token names, or nullopt (401). Called on handler threads: thread-safe.
  std::function<std::optional<std::string>(std::string_view token)> authenticate;
  // Optional (absent: every kind exists). false: 422 unknown_kind at submission. Thread-safe.
  std::function<bool(std::string_view kind)> kind_exists;
  // Optional (absent: no session kinds). true: jobs of this kind are session jobs (docs/
  // sessions.md): POST /v1/jobs/ID/input feeds them, an events stream attaches to them. The
  // engine must be configured with the same kinds (engine_config::is_session_kind).
  std::function<bool(std::string_view kind)> is_session_kind;
  // Optional (absent: always ready). GET /readyz is 503 until it says true. Thread-safe.
  std::function<bool()> ready;
};

// One HTTP server. Stop it (or destroy it) before the runtime and the store it uses.
class server {
 public:
  // Rejects a bad configuration here (std::invalid_argument, saying what to change).
  server(runtime& rt, server_config config, respawn::pid dispatcher, std::shared_ptr<store::job_store> store);
  ~server();  // stop()
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds, listens and starts the threads. Throws a std::runtime_error (boost::system::system_error)
  // if the address cannot be bound.
  void start();
  // The port it listens on (the one bound when config.port was 0). thread-safe.
  std::uint16_t port() const;
  // Accepts no new connections once it returns; open ones (and their SSE streams) go on. For
  // draining. thread-safe, but not from an I/O thread (it waits for the acceptor's strand).
  void stop_accepting();
  // Closes every connection and joins every thread. A request being handled finishes first (at
  // most call_timeout); its answer is dropped. Idempotent. Not from a handler or an I/O thread.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace respawn::http

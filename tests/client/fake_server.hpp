// PROTOCOL FAKE — test-only. A tiny HTTP server (Beast, loopback, one thread per connection) that
// speaks just enough of the node's /v1 API (issue 6, being built in parallel) for the client's
// end-to-end tests: submit with idempotency keys, get, list, cancel, and the event stream with
// Last-Event-ID, plus knobs to be down, busy or drop a stream. It stands in until the real server
// lands; the lead adds tests against the real one. Nothing here is shipped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace respawn::client::testing {

struct fake_request {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::optional<std::string> header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    if (it == headers.end()) return std::nullopt;
    return it->second;
  }
};

// One connection's answer. Written by hand (not with Beast's serializer) so that a stream can be
// cut mid-chunk, as a crashing server would.
class fake_exchange {
 public:
  explicit fake_exchange(int fd) : fd_(fd) {}
  void respond(int status, const nlohmann::json& body,
               const std::vector<std::pair<std::string, std::string>>& headers = {});
  void start_events();  // 200, text/event-stream, chunked
  void send_event(const std::string& id, const std::string& type, const std::string& data);
  void send_comment(const std::string& text);  // ": TEXT", as the node's keep-alive
  void end_events();    // the last chunk: a clean end
  // The connection is cut (no last chunk): the client sees a dropped stream.
  void drop();
  bool closed() const { return closed_; }

 private:
  bool write(const std::string& bytes);
  int fd_;
  bool closed_ = false;
};

class fake_server {
 public:
  using handler = std::function<void(const fake_request&, fake_exchange&)>;
  // Listens on 127.0.0.1:port (0: any free port).
  explicit fake_server(handler h, unsigned short port = 0);
  ~fake_server();
  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // A port that was free a moment ago (for "the server comes up later").
  static unsigned short free_port();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  unsigned short port_ = 0;
};

// The job API over a fake_server: jobs in memory, each with a scripted list of events.
class fake_api {
 public:
  struct job {
    std::int64_t id = 0;
    std::string key;
    nlohmann::json request;
    std::string state = "queued";
    std::vector<std::pair<std::string, std::string>> events;  // (type, data); ids are 1, 2, ...
  };

  explicit fake_api(unsigned short port = 0);
  ~fake_api() { release(); }
  std::string url() const { return server_.url(); }

  // Knobs, set before the client runs (under the lock: use configure).
  struct knobs {
    std::string token = "secret";                   // the one accepted bearer token
    int unavailable = 0;                            // answer this many requests 503 Retry-After: 1
    int drop_streams_after = -1;                    // the first stream sends this many events, then drops
    int hold_streams_after = -1;                    // the first stream sends this many, then waits for release()
    // The first stream sends this many events, then pauses — until release(), or for pause_ms if
    // set — and then sends the rest: a job still running, its stream open and quiet.
    int pause_streams_after = -1;
    int pause_ms = 0;
    int keep_alive_every_ms = 0;                    // > 0: a keep-alive comment this often in a pause
    // The first stream sends this many events, then its token is revoked: the stream ends (as
    // the node ends it within a second) and every later request is answered 401.
    int revoke_streams_after = -1;
    std::vector<std::pair<std::string, std::string>> script{};  // events for new jobs; default: a success
  };
  void configure(const std::function<void(knobs&)>& change);

  // Observations.
  struct post {
    std::string body_key;
    std::optional<std::string> header_key;
    std::int64_t job_id = 0;
    int status = 0;
  };
  std::vector<post> posts();
  std::vector<std::optional<std::string>> stream_requests();  // the Last-Event-ID of each
  std::size_t job_count();
  int keep_alives_sent();
  // Called with each POST before it is answered (the journal check of write-before-send).
  void on_post(std::function<void(const nlohmann::json& body)> f);
  // Waits (up to a deadline) until a stream is holding; release() lets it go on.
  bool wait_until_holding(std::chrono::milliseconds deadline);
  void release();
  // Waits (up to a deadline) until a stream has paused (pause_streams_after).
  bool wait_until_paused(std::chrono::milliseconds deadline) { return wait_until_holding(deadline); }
  // Adds a job directly (as if submitted earlier).
  std::int64_t add_job(const std::string& key, const nlohmann::json& request, const std::string& state,
                       std::vector<std::pair<std::string, std::string>> events);

 private:
  void handle(const fake_request& r, fake_exchange& x);
  void stream_events(std::int64_t id, const fake_request& r, fake_exchange& x);
  void pause_stream(fake_exchange& x, std::chrono::milliseconds pause, std::chrono::milliseconds keep_alive_every);
  nlohmann::json view(const job& j) const;

  std::mutex mutex_;
  std::condition_variable changed_;
  knobs knobs_{};
  std::map<std::int64_t, job> jobs_;
  std::vector<post> posts_;
  std::vector<std::optional<std::string>> stream_requests_;
  std::function<void(const nlohmann::json&)> on_post_;
  bool holding_ = false;
  int keep_alives_sent_ = 0;
  bool released_ = false;
  fake_server server_;  // last: its threads use the members above
};

}  // namespace respawn::client::testing

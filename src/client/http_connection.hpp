// http_connection: the client's whole use of HTTP, behind an interface without Boost, so that the
// one translation unit that includes Beast (http_connection.cpp) is the only slow one to compile
// and the rest of the client can be tested without a network. Plain TCP (http:// only), one
// request per connection (Connection: close): the client makes few requests, and a fresh
// connection per request is what makes "retry on a new connection" simple after a server restart.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace respawn::client {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_request {
  std::string method;  // "GET", "POST"
  std::string target;  // "/v1/jobs?limit=10"
  header_list headers{};
  std::string body{};
};

struct http_head {
  int status = 0;
  header_list headers{};
  // The first header of that name (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
};

struct http_response : http_head {
  std::string body{};
};

// The server could not be reached, or the connection failed before the answer was complete.
struct transport_error {
  std::string message;
};

struct http_timeouts {
  std::chrono::milliseconds connect{5000};
  std::chrono::milliseconds io{30000};  // per read or write of a plain request
  // An event stream's longest silence before the client takes it for dead and resumes (a dead
  // machine sends no FIN). Any byte counts, so the server's keep-alive comment (every 15 s,
  // docs/http-api.md) keeps a stream without events open for as long as its job runs; three
  // missed keep-alives mean the connection is gone.
  std::chrono::milliseconds stream_idle{45000};
  // How often `stream` calls its on_tick while it waits for bytes (the progress line's clock).
  std::chrono::milliseconds stream_tick{1000};
};

// One request, the whole answer read. Blocking.
std::variant<http_response, transport_error> exchange(const std::string& host, const std::string& port,
                                                      const http_request& request,
                                                      const http_timeouts& timeouts);

// One request whose body is handed over as it arrives (an event stream): `on_head` once, then
// `on_body` with whatever bytes each read from the socket brought — at once, never held back to
// fill a buffer, so an event is shown when it comes (issue 13). While it waits, `on_tick` (if
// set) is called every `timeouts.stream_tick`. Returns nullopt when the server ended the body or
// a callback returned false (stop reading), a transport_error when the connection failed, dropped
// mid-body or stayed silent for `timeouts.stream_idle`.
std::optional<transport_error> stream(const std::string& host, const std::string& port,
                                      const http_request& request, const http_timeouts& timeouts,
                                      const std::function<bool(const http_head&)>& on_head,
                                      const std::function<bool(std::string_view)>& on_body,
                                      const std::function<void()>& on_tick = {});

}  // namespace respawn::client

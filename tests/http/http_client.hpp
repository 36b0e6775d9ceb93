// A small synchronous HTTP/1.1 client for the server's tests (Boost.Beast over loopback). It
// keeps its connection alive across requests, as real clients do. Every operation has a deadline
// (Beast's tcp_stream timeout, run to completion on the client's own io_context), so a server
// that hangs fails the test with an exception instead of hanging it. (A blocking socket with
// SO_RCVTIMEO would not do: Asio's synchronous reads wait again after EAGAIN.)
//
// Beast and Asio stay in http_client.cpp, compiled once: this header is included by every HTTP
// and serve test, and parsing Beast in each of them cost minutes of a cold CI build.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace respawn::http::test {

struct reply {
  unsigned status = 0;
  std::string body{};
  std::vector<std::pair<std::string, std::string>> headers{};

  nlohmann::json json() const {
    auto j = nlohmann::json::parse(body, nullptr, false);
    return j.is_discarded() ? nlohmann::json{{"unparsable", body}} : j;
  }
  std::optional<std::string> header(std::string_view name) const;  // case-insensitive
  std::string error_code() const { return json().value("/error/code"_json_pointer, std::string{}); }
};

// One SSE message as read by the client.
struct sse_message {
  std::uint64_t id = 0;
  std::string event{};
  nlohmann::json data{};
};

class client {
 public:
  // `source`: the local address to connect from ("127.0.0.2": another client address on loopback).
  explicit client(std::uint16_t port, std::chrono::seconds deadline = std::chrono::seconds{30}, std::string source = {});
  ~client();
  client(client&&) noexcept;
  client& operator=(client&&) noexcept;

  reply request(std::string method, std::string target, std::string body = {},
                std::vector<std::pair<std::string, std::string>> headers = {});

  // GET of an event stream, read to its end (the server closes it after the job's final event).
  std::pair<reply, std::vector<sse_message>> stream(std::string target,
                                                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto r = request("GET", std::move(target), {}, std::move(headers));
    return {r, parse_sse(r.body)};
  }

  // Raw bytes, for requests a well-behaved client cannot produce; reads until the server closes.
  std::string raw(const std::string& bytes);

  // For streams read piecemeal: sends bytes on the kept-alive connection, then reads until a
  // marker is in what was read, or to the end. Both return everything read so far.
  void send_raw(const std::string& bytes);
  std::string read_until(const std::string& marker);
  std::string read_to_end();

  static std::vector<sse_message> parse_sse(const std::string& text);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace respawn::http::test

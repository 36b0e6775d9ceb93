// A small synchronous HTTP/1.1 client for the server's tests (Boost.Beast over loopback). It
// keeps its connection alive across requests, as real clients do. Every operation has a deadline
// (Beast's tcp_stream timeout, run to completion on the client's own io_context), so a server
// that hangs fails the test with an exception instead of hanging it. (A blocking socket with
// SO_RCVTIMEO would not do: Asio's synchronous reads wait again after EAGAIN.)
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace respawn::http::test {

namespace bhttp = boost::beast::http;

struct reply {
  unsigned status = 0;
  std::string body{};
  std::vector<std::pair<std::string, std::string>> headers{};

  nlohmann::json json() const {
    auto j = nlohmann::json::parse(body, nullptr, false);
    return j.is_discarded() ? nlohmann::json{{"unparsable", body}} : j;
  }
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (boost::beast::iequals(n, name)) return v;
    }
    return std::nullopt;
  }
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
  explicit client(std::uint16_t port, std::chrono::seconds deadline = std::chrono::seconds{30}, std::string source = {})
      : port_{port}, deadline_{deadline}, source_{std::move(source)} {}

  reply request(std::string method, std::string target, std::string body = {},
                std::vector<std::pair<std::string, std::string>> headers = {}) {
    connect_if_needed();
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    if (req.method() == bhttp::verb::unknown) req.method_string(method);
    req.set(bhttp::field::host, "127.0.0.1");
    for (auto& [n, v] : headers) req.set(n, v);
    req.body() = std::move(body);
    req.prepare_payload();
    boost::beast::error_code ec;
    socket_->expires_after(deadline_);
    bhttp::async_write(*socket_, req, [&](boost::beast::error_code e, std::size_t) { ec = e; });
    run(ec, "write");
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    socket_->expires_after(deadline_);
    bhttp::async_read(*socket_, buffer_, parser, [&](boost::beast::error_code e, std::size_t) { ec = e; });
    run(ec, "read");
    auto& res = parser.get();
    reply out;
    out.status = res.result_int();
    out.body = res.body();
    for (const auto& f : res) out.headers.emplace_back(std::string{f.name_string()}, std::string{f.value()});
    if (!res.keep_alive()) socket_.reset();
    return out;
  }

  // GET of an event stream, read to its end (the server closes it after the job's final event).
  std::pair<reply, std::vector<sse_message>> stream(std::string target,
                                                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto r = request("GET", std::move(target), {}, std::move(headers));
    return {r, parse_sse(r.body)};
  }

  // Raw bytes, for requests a well-behaved client cannot produce; reads until the server closes.
  std::string raw(const std::string& bytes) {
    socket_.reset();
    send_raw(bytes);
    return read_to_end();
  }

  // For streams read piecemeal: sends bytes on the kept-alive connection, then reads until a
  // marker is in what was read, or to the end. Both return everything read so far.
  void send_raw(const std::string& bytes) {
    connect_if_needed();
    pending_.clear();
    boost::beast::error_code ec;
    socket_->expires_after(deadline_);
    boost::asio::async_write(*socket_, boost::asio::buffer(bytes),
                             [&](boost::beast::error_code e, std::size_t) { ec = e; });
    run(ec, "write");
  }
  std::string read_until(const std::string& marker) {
    boost::beast::error_code ec;
    socket_->expires_after(deadline_);
    boost::asio::async_read_until(*socket_, boost::asio::dynamic_buffer(pending_), marker,
                                  [&](boost::beast::error_code e, std::size_t) { ec = e; });
    run(ec, "read");
    return pending_;
  }
  std::string read_to_end() {
    boost::beast::error_code ec;
    socket_->expires_after(deadline_);
    boost::asio::async_read(*socket_, boost::asio::dynamic_buffer(pending_),
                            [&](boost::beast::error_code e, std::size_t) { ec = e; });
    run_to_end(ec);
    socket_.reset();
    return pending_;
  }

  static std::vector<sse_message> parse_sse(const std::string& text) {
    std::vector<sse_message> out;
    std::size_t start = 0;
    while (start < text.size()) {
      auto end = text.find("\n\n", start);
      if (end == std::string::npos) end = text.size();
      std::string block = text.substr(start, end - start);
      start = end + 2;
      sse_message m;
      bool any = false;
      std::size_t line_start = 0;
      while (line_start < block.size()) {
        auto line_end = block.find('\n', line_start);
        if (line_end == std::string::npos) line_end = block.size();
        auto line = block.substr(line_start, line_end - line_start);
        line_start = line_end + 1;
        if (line.rfind("id: ", 0) == 0) {
          m.id = std::stoull(line.substr(4));
          any = true;
        } else if (line.rfind("event: ", 0) == 0) {
          m.event = line.substr(7);
        } else if (line.rfind("data: ", 0) == 0) {
          m.data = nlohmann::json::parse(line.substr(6), nullptr, false);
        }
      }
      if (any) out.push_back(std::move(m));  // comments (": keep-alive") carry no id
    }
    return out;
  }

 private:
  void connect_if_needed() {
    if (socket_) return;
    socket_.emplace(io_);
    boost::beast::error_code ec;
    if (!source_.empty()) {
      socket_->socket().open(boost::asio::ip::tcp::v4());
      socket_->socket().bind({boost::asio::ip::make_address(source_), 0});
    }
    socket_->expires_after(deadline_);
    socket_->async_connect(boost::asio::ip::tcp::endpoint{boost::asio::ip::make_address("127.0.0.1"), port_},
                           [&](boost::beast::error_code e) { ec = e; });
    run(ec, "connect");
    buffer_.clear();
  }

  // Runs the pending operation to its end (its deadline included); throws on its error.
  void run(const boost::beast::error_code& ec, const char* what) {
    io_.restart();
    io_.run();
    if (ec) {
      socket_.reset();
      throw std::runtime_error{std::string{"http client: "} + what + " failed: " + ec.message()};
    }
  }
  // For a read to the end of the stream: end of file is the expected end, a timeout is not.
  void run_to_end(const boost::beast::error_code& ec) {
    io_.restart();
    io_.run();
    if (ec && ec != boost::asio::error::eof && ec != boost::asio::error::connection_reset) {
      socket_.reset();
      throw std::runtime_error{"http client: read failed: " + ec.message()};
    }
  }

  std::uint16_t port_;
  std::chrono::seconds deadline_;
  std::string source_;
  boost::asio::io_context io_{};
  std::optional<boost::beast::tcp_stream> socket_{};
  boost::beast::flat_buffer buffer_{};
  std::string pending_{};
};

}  // namespace respawn::http::test

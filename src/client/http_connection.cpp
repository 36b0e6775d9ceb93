// http_connection: the only file of the client that includes Boost.Beast (see the header).
//
// The interface is blocking, but each step runs as an asynchronous operation on a private
// io_context until it completes: Beast's tcp_stream applies its timeouts only to asynchronous
// operations, and a synchronous read on a server that went silent (a dead machine, a cable pulled:
// no FIN ever comes) would block the client forever.
#include "http_connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <strings.h>

#include <array>

namespace respawn::client {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::uint64_t body_limit = 64ull << 20;

class connection {
 public:
  explicit connection(const http_timeouts& timeouts) : timeouts_(timeouts) {}

  // Resolves, connects and writes the request; returns an error message, or "" on success.
  std::string open_and_send(const std::string& host, const std::string& port, const http_request& r) {
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(host, port, ec);
    if (ec) return "cannot resolve " + host + ": " + ec.message();
    stream_.expires_after(timeouts_.connect);
    ec = run([&](auto handler) { stream_.async_connect(endpoints, handler); });
    if (ec) return "cannot connect to " + host + ":" + port + ": " + ec.message();

    const http::verb verb = http::string_to_verb(r.method);
    http::request<http::string_body> request{verb, r.target, 11};
    const bool ipv6 = host.find(':') != std::string::npos;
    request.set(http::field::host, (ipv6 ? "[" + host + "]" : host) + ":" + port);
    request.set(http::field::user_agent, "respawn-cli");
    request.set(http::field::connection, "close");
    for (const auto& [name, value] : r.headers) request.set(name, value);
    if (!r.body.empty() || verb == http::verb::post) {
      request.body() = r.body;
      request.prepare_payload();
    }
    stream_.expires_after(timeouts_.io);
    ec = run([&](auto handler) { http::async_write(stream_, request, handler); });
    if (ec) return "cannot send the request: " + ec.message();
    return "";
  }

  template <class Parser>
  beast::error_code read_header(Parser& parser) {
    stream_.expires_after(timeouts_.io);
    return run([&](auto handler) { http::async_read_header(stream_, buffer_, parser, handler); });
  }

  template <class Parser>
  beast::error_code read(Parser& parser, std::chrono::milliseconds timeout) {
    stream_.expires_after(timeout);
    return run([&](auto handler) { http::async_read(stream_, buffer_, parser, handler); });
  }

  // One read from the socket (or what the buffer already holds), parsed: it completes as soon as
  // any bytes come, where async_read would wait until the body buffer is full or the body ends,
  // holding back every event of a live stream (issue 13). The deadline is armed afresh for each
  // read, so it measures silence: a keep-alive comment restarts it. `on_tick` runs every `tick`
  // until the read completes.
  template <class Parser>
  beast::error_code read_some(Parser& parser, std::chrono::milliseconds timeout, std::chrono::milliseconds tick,
                              const std::function<void()>& on_tick) {
    stream_.expires_after(timeout);
    bool done = false;
    beast::error_code result;
    net::steady_timer ticker(ioc_);
    http::async_read_some(stream_, buffer_, parser, [&](beast::error_code ec, std::size_t) {
      result = ec;
      done = true;
      ticker.cancel();
    });
    std::function<void(beast::error_code)> on_timer = [&](beast::error_code ec) {
      if (ec || done) return;
      on_tick();
      ticker.expires_after(tick);
      ticker.async_wait(on_timer);
    };
    if (on_tick) {
      ticker.expires_after(tick);
      ticker.async_wait(on_timer);
    }
    ioc_.restart();
    ioc_.run();
    return result;
  }

  ~connection() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

 private:
  // Starts one asynchronous operation and runs the io_context until it completes.
  template <class Start>
  beast::error_code run(Start start) {
    beast::error_code result;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  http_timeouts timeouts_;
  net::io_context ioc_{};
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_{};
};

template <class Fields>
void copy_head(const http::response_header<Fields>& from, http_head& to) {
  to.status = static_cast<int>(from.result_int());
  for (const auto& field : from) {
    to.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
}

}  // namespace

std::optional<std::string> http_head::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) return v;
  }
  return std::nullopt;
}

std::variant<http_response, transport_error> exchange(const std::string& host, const std::string& port,
                                                      const http_request& request,
                                                      const http_timeouts& timeouts) {
  connection c(timeouts);
  if (std::string problem = c.open_and_send(host, port, request); !problem.empty()) {
    return transport_error{problem};
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  if (beast::error_code ec = c.read(parser, timeouts.io)) {
    return transport_error{"no complete answer from the server: " + ec.message()};
  }
  http_response response;
  copy_head(parser.get().base(), response);
  response.body = std::move(parser.get().body());
  return response;
}

std::optional<transport_error> stream(const std::string& host, const std::string& port,
                                      const http_request& request, const http_timeouts& timeouts,
                                      const std::function<bool(const http_head&)>& on_head,
                                      const std::function<bool(std::string_view)>& on_body,
                                      const std::function<void()>& on_tick) {
  connection c(timeouts);
  if (std::string problem = c.open_and_send(host, port, request); !problem.empty()) {
    return transport_error{problem};
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);  // an event stream has no end we could know in advance
  if (beast::error_code ec = c.read_header(parser)) {
    return transport_error{"no answer from the server: " + ec.message()};
  }
  http_head head;
  copy_head(parser.get().base(), head);
  if (!on_head(head)) return std::nullopt;
  std::array<char, 8192> piece{};
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    beast::error_code ec = c.read_some(parser, timeouts.stream_idle, timeouts.stream_tick, on_tick);
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = piece.size() - parser.get().body().size;
    if (got > 0 && !on_body(std::string_view(piece.data(), got))) return std::nullopt;
    if (ec == beast::error::timeout) {
      return transport_error{"silent for " + std::to_string(timeouts.stream_idle.count()) + " ms"};
    }
    if (ec) return transport_error{"connection lost: " + ec.message()};
  }
  return std::nullopt;
}

}  // namespace respawn::client

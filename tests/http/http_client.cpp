// http_client.cpp: the test client's Beast and Asio half (see http_client.hpp).
#include "http_client.hpp"

#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace respawn::http::test {

namespace bhttp = boost::beast::http;

std::optional<std::string> reply::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (boost::beast::iequals(n, name)) return v;
  }
  return std::nullopt;
}

struct client::impl {
  impl(std::uint16_t port, std::chrono::seconds deadline, std::string source)
      : port_{port}, deadline_{deadline}, source_{std::move(source)} {}

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

client::client(std::uint16_t port, std::chrono::seconds deadline, std::string source)
    : impl_{std::make_unique<impl>(port, deadline, std::move(source))} {}
client::~client() = default;
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

reply client::request(std::string method, std::string target, std::string body,
                      std::vector<std::pair<std::string, std::string>> headers) {
  auto& i = *impl_;
  i.connect_if_needed();
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  if (req.method() == bhttp::verb::unknown) req.method_string(method);
  req.set(bhttp::field::host, "127.0.0.1");
  for (auto& [n, v] : headers) req.set(n, v);
  req.body() = std::move(body);
  req.prepare_payload();
  boost::beast::error_code ec;
  i.socket_->expires_after(i.deadline_);
  bhttp::async_write(*i.socket_, req, [&](boost::beast::error_code e, std::size_t) { ec = e; });
  i.run(ec, "write");
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  i.socket_->expires_after(i.deadline_);
  bhttp::async_read(*i.socket_, i.buffer_, parser, [&](boost::beast::error_code e, std::size_t) { ec = e; });
  i.run(ec, "read");
  auto& res = parser.get();
  reply out;
  out.status = res.result_int();
  out.body = res.body();
  for (const auto& f : res) out.headers.emplace_back(std::string{f.name_string()}, std::string{f.value()});
  if (!res.keep_alive()) i.socket_.reset();
  return out;
}

std::string client::raw(const std::string& bytes) {
  impl_->socket_.reset();
  send_raw(bytes);
  return read_to_end();
}

void client::send_raw(const std::string& bytes) {
  auto& i = *impl_;
  i.connect_if_needed();
  i.pending_.clear();
  boost::beast::error_code ec;
  i.socket_->expires_after(i.deadline_);
  boost::asio::async_write(*i.socket_, boost::asio::buffer(bytes), [&](boost::beast::error_code e, std::size_t) { ec = e; });
  i.run(ec, "write");
}

std::string client::read_until(const std::string& marker) {
  auto& i = *impl_;
  boost::beast::error_code ec;
  i.socket_->expires_after(i.deadline_);
  boost::asio::async_read_until(*i.socket_, boost::asio::dynamic_buffer(i.pending_), marker,
                                [&](boost::beast::error_code e, std::size_t) { ec = e; });
  i.run(ec, "read");
  return i.pending_;
}

std::string client::read_to_end() {
  auto& i = *impl_;
  boost::beast::error_code ec;
  i.socket_->expires_after(i.deadline_);
  boost::asio::async_read(*i.socket_, boost::asio::dynamic_buffer(i.pending_),
                          [&](boost::beast::error_code e, std::size_t) { ec = e; });
  i.run_to_end(ec);
  i.socket_.reset();
  return i.pending_;
}

std::vector<sse_message> client::parse_sse(const std::string& text) {
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

}  // namespace respawn::http::test

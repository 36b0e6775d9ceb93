// http_server: the one translation unit that knows Boost.Beast and Asio (compiling them is slow;
// everything else in src/http is plain C++ on api_request/api_response). It owns the sockets:
// it accepts connections, reads HTTP/1.1 requests (keep-alive; a body over max_body_bytes is 413
// before it is read), hands each request to a handler thread (work_pool) and writes the answer
// back from the connection's strand. An answer that opens an event stream turns the connection
// into a Server-Sent Events stream, polled on a timer (the store has no change notification).
//
// Threads: an I/O thread never blocks on the engine or the store — route handlers and stream
// polls run on the work pool and post their results to the connection's strand, so at most one
// handler runs per connection and the connection's state is only touched on its strand.
#include "respawn/http_server.hpp"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api_error.hpp"
#include "api_routes.hpp"
#include "slot_count.hpp"
#include "work_pool.hpp"

namespace respawn::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr std::size_t header_limit_bytes = 16 * 1024;
constexpr std::size_t stream_page = 256;  // events per SSE poll
// After an error answer that closes the connection, how long unread request bytes are drained:
// closing a socket with unread data sends a reset, which can destroy the answer before the
// client reads it (the 413 for a body that is still arriving).
constexpr std::chrono::seconds linger_max{5};

// What every connection shares with the server. The server outlives its connections' handlers:
// stop() joins the work pool and the I/O threads before any of this is destroyed.
struct server_parts {
  const server_config& config;
  const api_routes& routes;
  work_pool& pool;
};

class session : public std::enable_shared_from_this<session> {
 public:
  // `slot`: this connection's place under max_connections; given back when the session ends.
  session(tcp::socket socket, server_parts parts, std::shared_ptr<void> slot)
      : stream_{std::move(socket)}, timer_{stream_.get_executor()}, parts_{parts}, slot_{std::move(slot)} {}

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_request(true); });
  }

  // Closes the socket from outside the strand: only once no I/O thread runs (server::stop). Its
  // pending handlers stay queued in the stopped io_context and are destroyed with it.
  void abort() { close_now(); }

 private:
  // Three deadlines (review F5): a kept-alive connection may wait idle_timeout for its next
  // request's first byte; from that byte (from the accept, for a new connection) the headers
  // must be in within header_timeout; the body then has idle_timeout. So a client that opens
  // sockets and sends nothing, or headers a byte at a time, holds each for header_timeout only.
  void read_request(bool fresh) {
    parser_.emplace();
    parser_->header_limit(header_limit_bytes);
    parser_->body_limit(parts_.config.max_body_bytes);
    if (fresh || buffer_.size() > 0) return read_header();  // pipelined: the next one is here
    stream_.expires_after(parts_.config.idle_timeout);
    stream_.async_read_some(buffer_.prepare(header_limit_bytes),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->buffer_.commit(n);
                              if (ec == asio::error::eof && self->buffer_.size() == 0) {
                                return self->on_read(bhttp::error::end_of_stream);
                              }
                              if (ec) return self->on_read(ec);
                              self->read_header();
                            });
  }
  void read_header() {
    stream_.expires_after(parts_.config.header_timeout);
    auto on_header = [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec || self->parser_->is_done()) return self->on_read(ec);
      self->stream_.expires_after(self->parts_.config.idle_timeout);
      bhttp::async_read(self->stream_, self->buffer_, *self->parser_,
                        [self](beast::error_code body_ec, std::size_t) { self->on_read(body_ec); });
    };
    bhttp::async_read_header(stream_, buffer_, *parser_, std::move(on_header));
  }

  void on_read(beast::error_code ec) {
    stream_.expires_never();  // a handler may take up to call_timeout; the write sets its own
    if (ec == bhttp::error::end_of_stream) return shut_down();
    if (ec == bhttp::error::body_limit) {
      return reply_and_close(
          to_response({413, "body_too_large",
                       "the body is larger than " + std::to_string(parts_.config.max_body_bytes) + " bytes"}));
    }
    if (ec == bhttp::error::header_limit) {
      return reply_and_close(to_response({431, "headers_too_large", "the request's headers are too large"}));
    }
    if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
      return reply_and_close(to_response(bad_request("malformed_request", "malformed HTTP request: " + ec.message())));
    }
    if (ec) return close_now();  // timeout, reset: nobody to answer

    auto& message = parser_->get();
    keep_alive_ = message.keep_alive();
    version_ = message.version();
    api_request request;
    request.method = std::string{message.method_string()};
    request.target = std::string{message.target()};
    if (auto it = message.find(bhttp::field::authorization); it != message.end()) {
      request.authorization = std::string{it->value()};
    }
    if (auto it = message.find("Idempotency-Key"); it != message.end()) {
      request.idempotency_key = std::string{it->value()};
    }
    if (auto it = message.find("Last-Event-ID"); it != message.end()) {
      request.last_event_id = std::string{it->value()};
    }
    request.body = std::move(message.body());

    auto executor = stream_.get_executor();
    bool posted = parts_.pool.try_post([self = shared_from_this(), executor, request = std::move(request),
                                        &routes = parts_.routes]() {
      auto response = routes.handle(request);
      asio::post(executor, [self, response = std::move(response)]() mutable { self->on_handled(std::move(response)); });
    });
    if (!posted) on_handled(to_response(unavailable("busy", "the server is busy; try again later")));
  }

  void on_handled(api_response response) {
    if (response.stream) return start_stream(*response.stream);
    write_response(std::move(response), keep_alive_);
  }

  void write_response(api_response response, bool keep_alive) {
    response_ = {};
    response_.version(version_);
    response_.result(response.status);
    response_.set(bhttp::field::server, "respawn");
    response_.set(bhttp::field::content_type, "application/json");
    for (auto& [name, value] : response.headers) response_.set(name, value);
    response_.body() = std::move(response.body);
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    stream_.expires_after(parts_.config.idle_timeout);  // a client that does not read is dropped
    bhttp::async_write(stream_, response_, [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
      self->stream_.expires_never();
      if (ec) return self->close_now();
      if (!keep_alive) return self->linger();
      self->read_request(false);
    });
  }

  // An answer after which the request's remaining bytes cannot be trusted (or skipped): close.
  void reply_and_close(api_response response) {
    if (version_ == 0) version_ = 11;
    write_response(std::move(response), false);
  }

  // --- Server-Sent Events ---

  void start_stream(event_stream stream) {
    event_stream_ = stream;
    idle_delay_ = std::chrono::milliseconds{1};
    // The body has no length and ends when the server closes the connection, after the job's
    // final event (so Connection: close); no Content-Length, no chunking needed.
    out_ =
        "HTTP/1.1 200 OK\r\nServer: respawn\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "X-Accel-Buffering: no\r\nConnection: close\r\n\r\n";
    write_stream(false);
    watch_client();
  }

  // A stream's client sends nothing more; a read that ends says it went away (EOF, reset) — at
  // once, not at the next write — so that a session job it was attached to pauses at once.
  // The read is on the socket itself, not on the tcp_stream: the stream's deadline (armed by each
  // write for a client that does not read) must not apply to it. Through the tcp_stream it took
  // the deadline armed by the first write, which later writes never refresh (Beast skips a pending
  // read), and every stream was cut at idle_timeout despite its keep-alives (review F7).
  void watch_client() {
    watching_ = true;
    auto on_read_some = [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->watching_ = false;
        return self->close_now();
      }
      self->watch_client();  // bytes after the request: ignored
    };
    stream_.socket().async_read_some(asio::buffer(drain_buffer_), std::move(on_read_some));
  }

  void write_stream(bool last) {
    stream_.expires_after(parts_.config.idle_timeout);
    asio::async_write(stream_, asio::buffer(out_),
                      [self = shared_from_this(), last](beast::error_code ec, std::size_t) {
                        self->stream_.expires_never();
                        if (ec) return self->close_now();  // the client went away: it resumes with Last-Event-ID
                        self->last_write_ = std::chrono::steady_clock::now();
                        if (last) return self->linger();
                        // Events just went out: the job is active, look again soon.
                        self->idle_delay_ = std::chrono::milliseconds{1};
                        self->schedule_poll(self->poll_again_now_ ? std::chrono::milliseconds{0}
                                                                  : self->next_idle_delay());
                      });
  }

  // The log has no change notification (yet): a stream reads it again after 1 ms, then 2, 4, ...
  // up to stream_poll_interval while nothing comes, and from 1 ms again after each event. So a
  // fresh or active job's events reach the client within a few milliseconds, and an idle stream
  // costs a read per stream_poll_interval.
  std::chrono::milliseconds next_idle_delay() {
    auto delay = std::min(idle_delay_, parts_.config.stream_poll_interval);
    idle_delay_ = std::min(idle_delay_ * 2, parts_.config.stream_poll_interval);
    return delay;
  }

  void schedule_poll(std::chrono::milliseconds delay) {
    timer_.expires_after(delay);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->poll();
    });
  }

  void poll() {
    if (std::chrono::steady_clock::now() - last_write_ >= parts_.config.stream_keep_alive) {
      // A comment line: clients ignore it; proxies and the client's own idle timers see life, and
      // a client that has gone away is noticed here at the latest. The log is read right after
      // it (poll_again_now_), so a keep-alive shorter than the poll interval cannot starve events.
      out_ = ": keep-alive\n\n";
      poll_again_now_ = true;
      return write_stream(false);
    }
    auto executor = stream_.get_executor();
    bool posted =
        parts_.pool.try_post([self = shared_from_this(), executor, stream = *event_stream_, &routes = parts_.routes] {
          auto found = routes.poll(stream, stream_page);
          asio::post(executor, [self, found = std::move(found)]() mutable { self->on_poll(std::move(found)); });
        });
    if (!posted) schedule_poll(parts_.config.stream_poll_interval);  // busy: try at the next tick
  }

  void on_poll(stream_poll found) {
    if (!stream_.socket().is_open()) return;
    if (found.failed || found.revoked) return close_now();
    event_stream_->after_sequence = found.last_sequence;
    event_stream_->authenticated_at = found.authenticated_at;
    poll_again_now_ = found.more;
    if (found.text.empty()) {
      if (found.finished) return linger();
      return schedule_poll(next_idle_delay());
    }
    out_ = std::move(found.text);
    write_stream(found.finished);
  }

  // --- closing ---

  void shut_down() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  // Sends FIN, then reads and discards until the client closes too (or linger_max), so that our
  // last answer is not destroyed by a reset (see linger_max).
  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (event_stream_) event_stream_->slot.reset();  // the stream has ended: it counts no more
    if (!watching_) {
      stream_.expires_after(linger_max);
      return drain();
    }
    // The stream's watching read drains (one read at a time); it has no deadline of its own.
    timer_.expires_after(linger_max);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->close_now();
    });
  }
  void drain() {
    stream_.async_read_some(asio::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->close_now();
                              self->drain();
                            });
  }

  void close_now() {
    beast::error_code ignored;
    timer_.cancel();
    stream_.socket().close(ignored);
    // Detached now, not when the last handler lets go of this connection.
    if (event_stream_) {
      event_stream_->attachment.reset();
      event_stream_->slot.reset();
    }
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  server_parts parts_;
  std::shared_ptr<void> slot_;
  beast::flat_buffer buffer_{};
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_{};
  bhttp::response<bhttp::string_body> response_{};
  bool keep_alive_ = true;
  unsigned version_ = 11;
  std::optional<event_stream> event_stream_{};
  std::string out_{};
  bool poll_again_now_ = false;
  bool watching_ = false;  // watch_client's read is pending
  std::chrono::milliseconds idle_delay_{1};  // next_idle_delay()
  std::chrono::steady_clock::time_point last_write_{};
  std::array<char, 4096> drain_buffer_{};
};

void validate(const server_config& c) {
  auto fail = [](const std::string& what) { throw std::invalid_argument{"respawn::http::server_config: " + what}; };
  if (!c.authenticate) fail("authenticate is required (a function from bearer token to user name)");
  if (c.io_threads == 0) fail("io_threads must be at least 1");
  if (c.handler_threads == 0) fail("handler_threads must be at least 1");
  if (c.pending_max == 0) fail("pending_max must be at least 1");
  if (c.max_batch == 0) fail("max_batch must be at least 1");
  if (c.max_body_bytes == 0) fail("max_body_bytes must be at least 1");
  if (c.stream_poll_interval.count() <= 0) fail("stream_poll_interval must be positive");
  if (c.stream_keep_alive.count() <= 0) fail("stream_keep_alive must be positive");
  if (c.call_timeout.count() <= 0) fail("call_timeout must be positive");
  if (c.idle_timeout.count() <= 0) fail("idle_timeout must be positive");
  if (c.header_timeout.count() <= 0) fail("header_timeout must be positive");
  if (c.max_connections == 0) fail("max_connections must be at least 1");
  if (c.max_connections_per_address == 0) fail("max_connections_per_address must be at least 1");
  if (c.max_args_bytes == 0) fail("max_args_bytes must be at least 1");
  if (c.max_input_bytes == 0) fail("max_input_bytes must be at least 1");
  if (c.max_page_bytes == 0) fail("max_page_bytes must be at least 1");
  if (c.streams_max == 0) fail("streams_max must be at least 1");
  if (c.streams_per_user_max == 0) fail("streams_per_user_max must be at least 1");
  if (c.stream_reauthenticate_interval.count() <= 0) fail("stream_reauthenticate_interval must be positive");
}

// max_connections, lowered so that fd_reserve descriptors stay free for the workers' socket pairs
// and pidfds and for SQLite (when descriptors ran out, workers could not be replaced: F5).
std::size_t effective_max_connections(const server_config& c) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return c.max_connections;
  auto soft = static_cast<std::size_t>(limit.rlim_cur);
  std::size_t available = soft > c.fd_reserve ? soft - c.fd_reserve : soft / 2;
  return std::max<std::size_t>(1, std::min(c.max_connections, available));
}

}  // namespace

struct server::impl {
  impl(runtime& rt, server_config c, respawn::pid dispatcher, std::shared_ptr<store::job_store> store)
      : config{std::move(c)}, routes{rt, config, dispatcher, std::move(store)} {}

  // Accepts with accept4(SOCK_CLOEXEC) rather than Asio's accept, which leaves the descriptor
  // inheritable until a later fcntl (a worker spawned in between would keep it: F4).
  void accept() {
    acceptor.async_wait(tcp::acceptor::wait_read, [this](beast::error_code ec) {
      if (!acceptor.is_open()) return;
      if (ec) return accept_later();
      int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        admit(fd);
        return accept();
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return accept();
      accept_later();  // out of descriptors, say: try again shortly rather than spin on the error
    });
  }
  void accept_later() {
    accept_retry.expires_after(std::chrono::milliseconds{50});
    accept_retry.async_wait([this](beast::error_code) {
      if (acceptor.is_open()) accept();
    });
  }

  // A connection beyond max_connections (in all, or from its address) is closed at once: it
  // costs a descriptor for microseconds, not until a timeout (review F5).
  void admit(int fd) {
    tcp::socket socket{asio::make_strand(ioc)};
    beast::error_code ec;
    socket.assign(acceptor.local_endpoint(ec).protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      return;
    }
    auto remote = socket.remote_endpoint(ec);
    if (ec) return;  // already gone; the socket closes with it
    auto taken = connections->try_take(remote.address().to_string());
    if (!taken.slot) return;  // the socket closes here
    auto s = std::make_shared<session>(std::move(socket), server_parts{config, routes, *pool}, std::move(taken.slot));
    remember(s);
    s->start();
  }

  // Every session, so that stop() can close their sockets: stopping the io_context alone would
  // leave clients (an open SSE stream above all) connected to nobody until the server is
  // destroyed. Expired entries are swept as the list grows, so it stays about as long as the
  // number of open connections.
  void remember(const std::shared_ptr<session>& s) {
    std::lock_guard lock(sessions_mutex);
    if (sessions.size() >= sessions_sweep_at) {
      std::erase_if(sessions, [](const std::weak_ptr<session>& w) { return w.expired(); });
      sessions_sweep_at = std::max<std::size_t>(64, sessions.size() * 2);
    }
    sessions.push_back(s);
  }

  server_config config;
  api_routes routes;
  std::shared_ptr<slot_count> connections{};  // set by start()
  std::mutex sessions_mutex{};
  std::vector<std::weak_ptr<session>> sessions{};
  std::size_t sessions_sweep_at = 64;
  asio::io_context ioc{};
  asio::strand<asio::io_context::executor_type> acceptor_strand{asio::make_strand(ioc)};
  tcp::acceptor acceptor{acceptor_strand};
  asio::steady_timer accept_retry{acceptor_strand};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{};
  std::optional<work_pool> pool{};
  std::vector<std::thread> threads{};
  std::atomic<std::uint16_t> port{0};
  std::mutex lifecycle{};  // start, stop_accepting and stop
  bool started = false;
  bool accepting = false;
  bool stopped = false;
};

server::server(runtime& rt, server_config config, respawn::pid dispatcher, std::shared_ptr<store::job_store> store) {
  validate(config);
  if (!store) throw std::invalid_argument{"respawn::http::server: a job store is required"};
  impl_ = std::make_unique<impl>(rt, std::move(config), dispatcher, std::move(store));
}

server::~server() { stop(); }

void server::start() {
  std::lock_guard lock(impl_->lifecycle);
  auto& s = *impl_;
  if (s.started) throw std::logic_error{"respawn::http::server: started twice"};
  tcp::endpoint endpoint{asio::ip::make_address(s.config.address), s.config.port};
  // Opened here with SOCK_CLOEXEC, so that no worker process inherits the listening socket (F4).
  int fd = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
  if (fd < 0) throw boost::system::system_error{errno, boost::system::system_category(), "socket"};
  beast::error_code ec;
  s.acceptor.assign(endpoint.protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    throw boost::system::system_error{ec, "assign"};
  }
  s.acceptor.native_non_blocking(true);  // accept4 after a wait must not block on a vanished client
  s.acceptor.set_option(asio::socket_base::reuse_address(true));
  s.acceptor.bind(endpoint);
  s.acceptor.listen(asio::socket_base::max_listen_connections);
  s.port = s.acceptor.local_endpoint().port();
  s.connections = slot_count::make(effective_max_connections(s.config), s.config.max_connections_per_address);
  s.pool.emplace(s.config.handler_threads, s.config.pending_max);
  s.work.emplace(s.ioc.get_executor());
  s.started = true;
  s.accepting = true;
  asio::post(s.acceptor_strand, [&s] { s.accept(); });
  for (std::size_t i = 0; i < s.config.io_threads; ++i) s.threads.emplace_back([&s] { s.ioc.run(); });
}

std::uint16_t server::port() const { return impl_->port.load(); }

void server::stop_accepting() {
  std::lock_guard lock(impl_->lifecycle);
  auto& s = *impl_;
  if (!s.accepting) return;
  s.accepting = false;
  // The acceptor belongs to its strand; close it there and wait, so that no connection is
  // accepted once this returns.
  std::promise<void> closed;
  asio::post(s.acceptor_strand, [&s, &closed] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    s.accept_retry.cancel();
    closed.set_value();
  });
  closed.get_future().wait();
}

void server::stop() {
  if (!impl_) return;
  stop_accepting();
  std::lock_guard lock(impl_->lifecycle);
  auto& s = *impl_;
  if (s.stopped || !s.started) return;
  s.stopped = true;
  // The I/O threads stop first, then the handler threads (a running handler finishes and posts
  // into the stopped io_context, where its answer is dropped). With no thread left that could
  // touch a session, their sockets are closed here; their pending handlers are destroyed with
  // the io_context.
  s.work.reset();
  s.ioc.stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  s.pool->stop();
  std::lock_guard sessions_lock(s.sessions_mutex);
  for (auto& w : s.sessions) {
    if (auto live = w.lock()) live->abort();
  }
  s.sessions.clear();
}

}  // namespace respawn::http

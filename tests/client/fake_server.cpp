// PROTOCOL FAKE — test-only (see fake_server.hpp).
#include "fake_server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>

namespace respawn::client::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

std::string hex(std::size_t n) {
  char text[20];
  auto [end, ec] = std::to_chars(text, text + sizeof text, n, 16);
  (void)ec;
  return std::string(text, end);
}

}  // namespace

bool fake_exchange::write(const std::string& bytes) {
  if (closed_) return false;
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

void fake_exchange::respond(int status, const json& body,
                            const std::vector<std::pair<std::string, std::string>>& headers) {
  const std::string text = body.dump();
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) +
                     "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                     std::to_string(text.size()) + "\r\n";
  for (const auto& [n, v] : headers) head += n + ": " + v + "\r\n";
  write(head + "\r\n" + text);
}

void fake_exchange::start_events() {
  write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string comment = ": stream open\n\n";
  write(hex(comment.size()) + "\r\n" + comment + "\r\n");
}

void fake_exchange::send_event(const std::string& id, const std::string& type, const std::string& data) {
  std::string event = "id: " + id + "\nevent: " + type + "\n";
  std::size_t start = 0;
  for (;;) {  // one data: line per line of data
    const auto nl = data.find('\n', start);
    event += "data: " + data.substr(start, nl - start) + "\n";
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  event += "\n";
  // Two chunks cut mid-line, as TCP may deliver them.
  const std::size_t half = event.size() / 2;
  write(hex(half) + "\r\n" + event.substr(0, half) + "\r\n");
  write(hex(event.size() - half) + "\r\n" + event.substr(half) + "\r\n");
}

void fake_exchange::send_comment(const std::string& text) {
  const std::string comment = ": " + text + "\n\n";
  write(hex(comment.size()) + "\r\n" + comment + "\r\n");
}

void fake_exchange::end_events() { write("0\r\n\r\n"); }

void fake_exchange::drop() {
  ::shutdown(fd_, SHUT_RDWR);
  closed_ = true;
}

struct fake_server::impl {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  handler on_request;
  std::atomic<bool> stopping{false};
  std::thread accept_thread;
  std::mutex mutex;
  std::vector<std::thread> connections;

  void serve(tcp::socket socket) {
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    beast::error_code ec;
    http::read(socket, buffer, request, ec);
    if (ec) return;
    fake_request r{std::string(request.method_string()), std::string(request.target()), {}, request.body()};
    for (const auto& field : request) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(field.value());
    }
    fake_exchange x(socket.native_handle());
    on_request(r, x);
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }
};

fake_server::fake_server(handler h, unsigned short port) : impl_(std::make_unique<impl>()) {
  impl_->on_request = std::move(h);
  const tcp::endpoint at(net::ip::make_address("127.0.0.1"), port);
  impl_->acceptor.open(at.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(at);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([p = impl_.get()] {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket(p->ioc);
      p->acceptor.accept(socket, ec);
      if (p->stopping.load()) return;
      if (ec) continue;
      std::lock_guard lock(p->mutex);
      p->connections.emplace_back([p, s = std::move(socket)]() mutable { p->serve(std::move(s)); });
    }
  });
}

fake_server::~fake_server() {
  impl_->stopping = true;
  {  // wake the blocked accept with a connection of our own
    beast::error_code ec;
    tcp::socket waker(impl_->ioc);
    waker.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
  }
  impl_->accept_thread.join();
  std::lock_guard lock(impl_->mutex);
  for (auto& t : impl_->connections) t.join();
}

unsigned short fake_server::free_port() {
  net::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

// ---- fake_api ----

fake_api::fake_api(unsigned short port)
    : server_([this](const fake_request& r, fake_exchange& x) { handle(r, x); }, port) {}

void fake_api::configure(const std::function<void(knobs&)>& change) {
  std::lock_guard lock(mutex_);
  change(knobs_);
}

std::vector<fake_api::post> fake_api::posts() {
  std::lock_guard lock(mutex_);
  return posts_;
}

std::vector<std::optional<std::string>> fake_api::stream_requests() {
  std::lock_guard lock(mutex_);
  return stream_requests_;
}

std::size_t fake_api::job_count() {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

int fake_api::keep_alives_sent() {
  std::lock_guard lock(mutex_);
  return keep_alives_sent_;
}

void fake_api::on_post(std::function<void(const json&)> f) {
  std::lock_guard lock(mutex_);
  on_post_ = std::move(f);
}

bool fake_api::wait_until_holding(std::chrono::milliseconds deadline) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, deadline, [&] { return holding_; });
}

void fake_api::release() {
  std::lock_guard lock(mutex_);
  released_ = true;
  changed_.notify_all();
}

std::int64_t fake_api::add_job(const std::string& key, const json& request, const std::string& state,
                               std::vector<std::pair<std::string, std::string>> events) {
  std::lock_guard lock(mutex_);
  const std::int64_t id = static_cast<std::int64_t>(jobs_.size()) + 1;
  jobs_[id] = job{id, key, request, state, std::move(events)};
  return id;
}

json fake_api::view(const job& j) const {
  return {{"id", j.id},          {"kind", j.request.value("kind", "")},
          {"args", j.request.value("args", json::object())},
          {"state", j.state},    {"attempts", 1},
          {"max_attempts", j.request.value("max_attempts", 3)},
          {"result", nullptr},   {"error", nullptr},
          {"created_at", "2026-01-01T00:00:00Z"}, {"updated_at", "2026-01-01T00:00:01Z"}};
}

void fake_api::handle(const fake_request& r, fake_exchange& x) {
  std::unique_lock lock(mutex_);
  if (knobs_.unavailable > 0) {
    --knobs_.unavailable;
    lock.unlock();
    x.respond(503, {{"error", {{"code", "unavailable"}, {"message", "starting"}}}}, {{"Retry-After", "1"}});
    return;
  }
  if (r.header("authorization") != "Bearer " + knobs_.token) {
    lock.unlock();
    x.respond(401, {{"error", {{"code", "unauthorized"}, {"message", "bad token"}}}});
    return;
  }
  auto job_id_in = [&](const std::string& prefix) -> std::int64_t {
    std::int64_t id = 0;
    const std::string rest = r.target.substr(prefix.size());
    std::from_chars(rest.data(), rest.data() + rest.size(), id);
    return id;
  };
  if (r.method == "POST" && r.target == "/v1/jobs") {
    const json body = json::parse(r.body, nullptr, false);
    if (on_post_) on_post_(body);
    post p{body.value("idempotency_key", ""), r.header("idempotency-key"), 0, 0};
    json request = body;
    request.erase("idempotency_key");
    for (auto& [id, j] : jobs_) {
      if (j.key == p.body_key && !p.body_key.empty()) {
        p.job_id = id;
        p.status = j.request == request ? 200 : 409;
        posts_.push_back(p);
        const json answer = p.status == 200 ? view(j)
                                            : json{{"error", {{"code", "idempotency_conflict"},
                                                              {"message", "key used for another job"}}}};
        lock.unlock();
        x.respond(p.status, answer);
        return;
      }
    }
    const std::int64_t id = static_cast<std::int64_t>(jobs_.size()) + 1;
    auto script = knobs_.script;
    if (script.empty()) {
      script = {{"queued", R"({"state":"queued"})"},
                {"running", R"({"state":"running","attempt":1,"max_attempts":3})"},
                {"progress", R"({"percent":50})"},
                {"output", "line one\nline two"},
                {"succeeded", R"({"state":"succeeded","result":832040})"}};
    }
    jobs_[id] = job{id, p.body_key, request, "queued", script};
    p.job_id = id;
    p.status = 201;
    posts_.push_back(p);
    const json answer = view(jobs_[id]);
    lock.unlock();
    x.respond(201, answer);
    return;
  }
  if (r.method == "GET" && r.target.rfind("/v1/jobs/", 0) == 0 && r.target.find("/events") != std::string::npos) {
    const std::int64_t id = job_id_in("/v1/jobs/");
    lock.unlock();
    stream_events(id, r, x);
    return;
  }
  if (r.method == "POST" && r.target.rfind("/v1/jobs/", 0) == 0 && r.target.find("/cancel") != std::string::npos) {
    auto it = jobs_.find(job_id_in("/v1/jobs/"));
    if (it == jobs_.end()) {
      lock.unlock();
      x.respond(404, {{"error", {{"code", "not_found"}, {"message", "no such job"}}}});
      return;
    }
    it->second.state = "cancelled";
    const json answer = view(it->second);
    lock.unlock();
    x.respond(200, answer);
    return;
  }
  if (r.method == "GET" && r.target.rfind("/v1/jobs/", 0) == 0) {
    auto it = jobs_.find(job_id_in("/v1/jobs/"));
    const json answer = it == jobs_.end() ? json{{"error", {{"code", "not_found"}, {"message", "no such job"}}}}
                                          : view(it->second);
    lock.unlock();
    x.respond(it == jobs_.end() ? 404 : 200, answer);
    return;
  }
  if (r.method == "GET" && r.target.rfind("/v1/jobs", 0) == 0) {
    json list = json::array();
    for (auto& [id, j] : jobs_) list.push_back(view(j));
    lock.unlock();
    x.respond(200, {{"jobs", list}, {"next_after_id", nullptr}, {"query", r.target}});
    return;
  }
  lock.unlock();
  x.respond(404, {{"error", {{"code", "not_found"}, {"message", "no route"}}}});
}

// Pauses a stream: until release() (at most 30 s) or, with `pause` set, for that long; with
// `keep_alive_every` set, a keep-alive comment goes out that often meanwhile.
void fake_api::pause_stream(fake_exchange& x, std::chrono::milliseconds pause,
                            std::chrono::milliseconds keep_alive_every) {
  std::unique_lock held(mutex_);
  holding_ = true;
  changed_.notify_all();
  const auto until = std::chrono::steady_clock::now() + (pause.count() > 0 ? pause : std::chrono::milliseconds(30s));
  auto done = [&] { return (pause.count() <= 0 && released_) || std::chrono::steady_clock::now() >= until; };
  while (!done()) {
    const auto wake = keep_alive_every.count() > 0 ? std::min(until, std::chrono::steady_clock::now() + keep_alive_every)
                                                   : until;
    changed_.wait_until(held, wake, [&] { return pause.count() <= 0 && released_; });
    if (keep_alive_every.count() > 0 && !done()) {
      held.unlock();
      x.send_comment("keep-alive");
      held.lock();
      ++keep_alives_sent_;
    }
  }
}

void fake_api::stream_events(std::int64_t id, const fake_request& r, fake_exchange& x) {
  std::unique_lock lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    lock.unlock();
    x.respond(404, {{"error", {{"code", "not_found"}, {"message", "no such job"}}}});
    return;
  }
  const auto last = r.header("last-event-id");
  stream_requests_.push_back(last);
  std::size_t next = 0;
  if (last) std::from_chars(last->data(), last->data() + last->size(), next);  // ids are 1-based
  const auto events = it->second.events;
  int drop_after = knobs_.drop_streams_after;
  knobs_.drop_streams_after = -1;
  int hold_after = knobs_.hold_streams_after;
  knobs_.hold_streams_after = -1;
  int pause_after = knobs_.pause_streams_after;
  knobs_.pause_streams_after = -1;
  const auto pause = std::chrono::milliseconds(knobs_.pause_ms);
  const auto keep_alive_every = std::chrono::milliseconds(knobs_.keep_alive_every_ms);
  int revoke_after = knobs_.revoke_streams_after;
  knobs_.revoke_streams_after = -1;
  lock.unlock();

  x.start_events();
  int sent = 0;
  for (std::size_t i = next; i < events.size(); ++i) {
    if (sent == drop_after) {
      x.drop();
      return;
    }
    if (sent == hold_after) {
      std::unique_lock held(mutex_);
      holding_ = true;
      changed_.notify_all();
      changed_.wait_for(held, 10s, [&] { return released_; });
      x.drop();
      return;
    }
    if (sent == revoke_after) {
      {
        std::lock_guard revoked(mutex_);
        knobs_.token = "revoked";
      }
      x.end_events();  // the node closes the stream of a revoked token cleanly
      return;
    }
    if (sent == pause_after) pause_stream(x, pause, keep_alive_every);
    x.send_event(std::to_string(i + 1), events[i].first, events[i].second);
    ++sent;
    if (events[i].first == "succeeded" || events[i].first == "dead" || events[i].first == "cancelled") {
      std::lock_guard state(mutex_);
      jobs_[id].state = events[i].first;
    }
  }
  x.end_events();
}

}  // namespace respawn::client::testing

// Every resource a client can make the server hold is bounded (review F5, F6, F19): connections
// in all and per client address, the time a connection may take to send its headers, the size of
// a job's args and of a session input's data, the bytes of a list page and of an SSE write, and
// positions (ids, Last-Event-ID) to what the store can hold. Past a bound: a clear 4xx, or a
// connection closed at once; never a hang or a crash.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "api_routes.hpp"
#include "http_fixture.hpp"

namespace respawn::http::test {
namespace {

const std::string close_request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

TEST_F(http_api, connections_beyond_the_per_address_and_global_caps_are_closed_at_once) {
  auto config = http_config();
  config.max_connections = 5;
  config.max_connections_per_address = 3;
  start(engine_config(), std::move(config));
  auto port = server_->port();
  // Three kept-alive connections from 127.0.0.1: the address's cap.
  std::vector<std::unique_ptr<client>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<client>(port, 10s, "127.0.0.1"));
    ASSERT_EQ(held.back()->request("GET", "/healthz").status, 200u);
  }
  // A fourth from that address is closed unanswered, at once (the client's deadline is far
  // shorter than any of the server's timeouts that would otherwise end it).
  client fourth{port, 10s, "127.0.0.1"};
  std::string answer;
  ASSERT_NO_THROW(answer = fourth.raw(close_request));
  EXPECT_EQ(answer, "");
  // Another address still gets in, up to the global cap of 5...
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<client>(port, 10s, "127.0.0.2"));
    ASSERT_EQ(held.back()->request("GET", "/healthz").status, 200u);
  }
  // ...and past it nobody does.
  client sixth{port, 10s, "127.0.0.3"};
  ASSERT_NO_THROW(answer = sixth.raw(close_request));
  EXPECT_EQ(answer, "");
  // The kept-alive ones still work.
  EXPECT_EQ(held.front()->request("GET", "/healthz").status, 200u);
  // A closed connection gives its place back.
  held.erase(held.begin());
  EXPECT_TRUE(eventually([&] {
    client again{port, 10s, "127.0.0.1"};
    return again.raw(close_request).rfind("HTTP/1.1 200", 0) == 0;
  }));
}

TEST_F(http_api, a_client_that_sends_no_complete_headers_is_dropped_after_the_header_timeout) {
  auto config = http_config();
  config.header_timeout = 200ms;  // the idle timeout stays 60 s
  start(engine_config(), std::move(config));
  // Headers a few bytes short of their end, then nothing: closed without an answer, long before
  // idle_timeout (the client's 10 s deadline would throw).
  client slow{server_->port(), 10s};
  slow.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n");
  std::string answer;
  ASSERT_NO_THROW(answer = slow.read_to_end());
  EXPECT_EQ(answer, "");
  // A connection that sends nothing at all: the same.
  client silent{server_->port(), 10s};
  silent.send_raw("");
  ASSERT_NO_THROW(answer = silent.read_to_end());
  EXPECT_EQ(answer, "");
  // A kept-alive connection between requests is idle, not slow: it outlives the header timeout.
  auto c = connect();
  ASSERT_EQ(c.request("GET", "/healthz").status, 200u);
  std::this_thread::sleep_for(4 * 200ms);  // past the header timeout on purpose, not a wait for work
  EXPECT_EQ(c.request("GET", "/healthz").status, 200u);
}

// Every socket of the server — the listening one, and the accepted ones — is close-on-exec, so
// that no worker process inherits it (review F4).
TEST_F(http_api, the_servers_sockets_are_not_inherited_by_worker_processes) {
#if defined(__SANITIZE_THREAD__)
  // TSan treats a file descriptor as a shared object: this scan's fstat of every fd of the
  // process "races" with a runtime thread creating its own (an epoll fd). The flags checked here
  // are the same in every build; the release and ASan runs check them.
  GTEST_SKIP() << "scans every fd of the process, which TSan reports as a race on fds it does not check";
#endif
  start();
  auto c = connect();
  ASSERT_EQ(c.request("GET", "/healthz").status, 200u);  // one accepted socket, kept alive
  int checked = 0;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    int fd = std::stoi(entry.path().filename().string());
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 || address.ss_family != AF_INET) {
      continue;
    }
    if (ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port) != server_->port()) continue;  // the client's
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC) << "fd " << fd;
    ++checked;
  }
  EXPECT_GE(checked, 2);  // the listener and the accepted connection
}

TEST_F(http_api, args_and_input_data_over_their_caps_are_413) {
  auto config = http_config();
  config.max_args_bytes = 1024;
  config.max_input_bytes = 512;
  start(engine_config(), std::move(config));
  auto c = connect();
  std::string pad(2000, 'x');
  auto r = c.request("POST", "/v1/jobs", nlohmann::json{{"kind", "noop"}, {"args", {{"pad", pad}}}}.dump(), ann());
  EXPECT_EQ(r.status, 413u) << r.body;
  EXPECT_EQ(r.error_code(), "args_too_large");
  EXPECT_NE(r.body.find("1024"), std::string::npos) << r.body;
  nlohmann::json batch{{"jobs", {{{"kind", "noop"}}, {{"kind", "noop"}, {"args", {{"pad", pad}}}}}}};
  r = c.request("POST", "/v1/jobs/batch", batch.dump(), ann());
  EXPECT_EQ(r.status, 413u) << r.body;
  EXPECT_EQ(r.error_code(), "args_too_large");
  EXPECT_NE(r.body.find("jobs[1]"), std::string::npos) << r.body;
  // Just under the cap is fine.
  EXPECT_EQ(c.request("POST", "/v1/jobs", nlohmann::json{{"kind", "noop"}, {"args", {{"pad", std::string(900, 'x')}}}}.dump(), ann()).status, 201u);
  auto session = submit(c, {{"kind", "echo"}}).at("id").get<std::uint64_t>();
  auto path = "/v1/jobs/" + std::to_string(session) + "/input";
  r = c.request("POST", path, nlohmann::json{{"seq", 1}, {"data", std::string(600, 'y')}}.dump(), ann());
  EXPECT_EQ(r.status, 413u) << r.body;
  EXPECT_EQ(r.error_code(), "input_too_large");
  EXPECT_EQ(c.request("POST", path, nlohmann::json{{"seq", 1}, {"data", std::string(400, 'y')}}.dump(), ann()).status, 202u);
}

TEST_F(http_api, a_list_page_stops_at_its_byte_budget_and_the_cursor_gives_the_rest) {
  auto config = http_config();
  config.max_page_bytes = 4096;
  start(engine_config(), std::move(config));
  auto c = connect();
  std::set<std::uint64_t> submitted;
  for (int i = 0; i < 12; ++i) {
    submitted.insert(
        submit(c, {{"kind", "sleep"}, {"args", {{"ms", 1}, {"pad", std::string(1000, 'p')}}}}).at("id").get<std::uint64_t>());
  }
  std::set<std::uint64_t> listed;
  std::string after = "0";
  int pages = 0;
  for (;;) {
    auto r = c.request("GET", "/v1/jobs?limit=100&after_id=" + after, {}, ann());
    ASSERT_EQ(r.status, 200u) << r.body.substr(0, 300);
    auto page = r.json();
    ++pages;
    // The budget, plus at most the one job that crossed it.
    EXPECT_LT(r.body.size(), 4096u + 2000u);
    ASSERT_FALSE(page.at("jobs").empty());
    for (auto& job : page.at("jobs")) EXPECT_TRUE(listed.insert(job.at("id").get<std::uint64_t>()).second);
    if (page.at("next_after_id").is_null()) break;
    after = std::to_string(page.at("next_after_id").get<std::uint64_t>());
    ASSERT_LT(pages, 20);
  }
  EXPECT_EQ(listed, submitted);
  EXPECT_GE(pages, 3);
  // With a count limit and no byte limit reached, the cursor is the store's.
  auto small = c.request("GET", "/v1/jobs?limit=2", {}, ann()).json();
  EXPECT_EQ(small.at("jobs").size(), 2u);
  EXPECT_EQ(small.at("next_after_id"), small.at("jobs").at(1).at("id"));
}

TEST_F(http_api, an_event_stream_write_stops_at_its_byte_budget_and_polls_again_for_the_rest) {
  auto config = http_config();
  config.max_page_bytes = 4096;
  start(engine_config(), config);
  auto c = connect();
  auto id = submit(c, {{"kind", "echo"}}).at("id").get<std::uint64_t>();  // a session: not run, takes input
  for (int seq = 1; seq <= 10; ++seq) {
    auto r = c.request("POST", "/v1/jobs/" + std::to_string(id) + "/input",
                       nlohmann::json{{"seq", seq}, {"data", std::string(1000, 'd')}}.dump(), ann());
    ASSERT_EQ(r.status, 202u) << r.body;
  }
  api_routes routes{*rt_, config, handle_.dispatcher, store_};
  event_stream stream;
  stream.job = id;
  std::uint64_t seen = 0;
  int polls = 0;
  for (;;) {
    auto found = routes.poll(stream, 256);
    ASSERT_FALSE(found.failed);
    ++polls;
    EXPECT_LT(found.text.size(), 4096u + 1500u);
    if (found.text.empty()) break;
    auto messages = client::parse_sse(found.text);
    for (auto& m : messages) EXPECT_EQ(m.id, ++seen);
    stream.after_sequence = found.last_sequence;
    if (!found.more) break;
    ASSERT_LT(polls, 20);
  }
  EXPECT_EQ(seen, 11u);  // queued and the ten inputs
  EXPECT_GE(polls, 3);
}

TEST_F(http_api, positions_past_int64_are_refused_not_wrapped_to_the_start) {
  start();
  auto c = connect();
  auto id = std::to_string(submit(c, {{"kind", "noop"}}).at("id").get<std::uint64_t>());
  await_final(c, std::stoull(id));
  for (std::string huge : {"18446744073709551615", "9223372036854775808"}) {
    SCOPED_TRACE(huge);
    auto r = c.request("GET", "/v1/jobs/" + id + "/events", {}, with(ann(), "Last-Event-ID", huge));
    EXPECT_EQ(r.status, 400u) << r.body.substr(0, 200);
    EXPECT_EQ(r.error_code(), "invalid_header");
    r = c.request("GET", "/v1/jobs/" + id + "/events?after=" + huge, {}, ann());
    EXPECT_EQ(r.status, 422u) << r.body.substr(0, 200);
    EXPECT_EQ(r.error_code(), "invalid_parameter");
    r = c.request("GET", "/v1/jobs?after_id=" + huge, {}, ann());
    EXPECT_EQ(r.status, 422u) << r.body.substr(0, 200);
    EXPECT_EQ(r.error_code(), "invalid_parameter");
    EXPECT_EQ(c.request("GET", "/v1/jobs/" + huge, {}, ann()).status, 404u);
  }
  // The largest position is fine, and there is nothing after it.
  auto [head, messages] = c.stream("/v1/jobs/" + id + "/events", with(ann(), "Last-Event-ID", "9223372036854775807"));
  EXPECT_EQ(head.status, 200u);
  EXPECT_TRUE(messages.empty());
  auto list = c.request("GET", "/v1/jobs?after_id=9223372036854775807", {}, ann());
  EXPECT_EQ(list.status, 200u);
  EXPECT_TRUE(list.json().at("jobs").empty());
}

}  // namespace
}  // namespace respawn::http::test

// serve_fixture: the serve tests' fixture -- a data directory and a free port per test, `respawn
// serve` started as a real child process (under heart), its banner read for the node's pid and
// the demo user's token, and small HTTP helpers.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "http_client.hpp"

namespace respawn::serve_test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using respawn::http::test::client;


// A port that was free a moment ago (the node binds it with SO_REUSEADDR after its restarts).
inline std::uint16_t free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

class serve : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("respawn-serve-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    port_ = free_port();
  }
  void TearDown() override {
    node_.reset();
    fs::remove_all(dir_);
  }

  std::vector<std::string> serve_argv(std::vector<std::string> extra = {}) const {
    std::vector<std::string> argv{RESPAWN_BINARY, "serve", "--data-dir", (dir_ / "data").string(), "--listen",
                                  "127.0.0.1:" + std::to_string(port_), "--workers", "2", "--drain-timeout", "20"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  // Starts `respawn serve --demo` under heart and reads its banner: the node's pid and the demo
  // token (from DIR/demo.token: a banner on a pipe does not print it).
  void start(std::vector<std::string> extra = {}, const std::vector<std::string>& env = {}) {
    extra.insert(extra.begin(), "--demo");
    node_ = std::make_unique<child_process>(serve_argv(extra), env);
    read_banner();
  }
  void read_banner(bool demo = true) {
    auto listening = node_->line_starting("respawn serve: listening on", 60s);
    ASSERT_FALSE(listening.empty()) << "no banner from respawn serve";
    auto at = listening.find("(node ");
    ASSERT_NE(at, std::string::npos) << listening;
    node_pid_ = std::stoi(listening.substr(at + 6));
    if (!demo) return;
    auto token_line = node_->line_starting("demo user token: ", 10s);
    ASSERT_FALSE(token_line.empty());
    EXPECT_EQ(token_line, "demo user token: in " + (dir_ / "data" / "demo.token").string())
        << "the token itself is printed only on a terminal";
    std::ifstream token_file{dir_ / "data" / "demo.token"};
    std::getline(token_file, token_);
    ASSERT_EQ(token_.size(), 36u);
  }

  std::vector<std::pair<std::string, std::string>> auth() const { return {{"Authorization", "Bearer " + token_}}; }
  respawn::http::test::reply post(client& c, const std::string& target, const nlohmann::json& body) {
    return c.request("POST", target, body.dump(), auth());
  }
  nlohmann::json get_job(client& c, std::uint64_t id) {
    auto r = c.request("GET", "/v1/jobs/" + std::to_string(id), {}, auth());
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.json();
  }
  // Waits until the job is final (bounded by the client's deadline); returns it.
  nlohmann::json await_final(client& c, std::uint64_t id) {
    // The event stream ends at the job's final event: read it, then the job.
    auto [r, events] = c.stream("/v1/jobs/" + std::to_string(id) + "/events", auth());
    EXPECT_EQ(r.status, 200u);
    return get_job(c, id);
  }

  fs::path dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<child_process> node_;
  int node_pid_ = 0;
  std::string token_;
};

}  // namespace respawn::serve_test

// Tests of the client's command line and settings: --arg values, options, usage errors, and the
// precedence flags > environment > config file > defaults.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "command_line.hpp"
#include "settings.hpp"
#include "store/temp_dir.hpp"

namespace respawn::client {
namespace {

std::variant<command_line, usage_error> parse(std::vector<std::string> words) {
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

command_line ok(std::vector<std::string> words) {
  auto r = parse(std::move(words));
  if (auto* e = std::get_if<usage_error>(&r)) ADD_FAILURE() << e->message;
  return std::get<command_line>(r);
}

std::string problem(std::vector<std::string> words) {
  auto r = parse(std::move(words));
  return std::holds_alternative<usage_error>(r) ? std::get<usage_error>(r).message : "";
}

environment env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ArgValues, ParseAsJsonWhereTheyParseElseStrings) {
  EXPECT_EQ(parse_arg_value("30"), nlohmann::json(30));
  EXPECT_EQ(parse_arg_value("-2.5"), nlohmann::json(-2.5));
  EXPECT_EQ(parse_arg_value("true"), nlohmann::json(true));
  EXPECT_EQ(parse_arg_value("null"), nlohmann::json(nullptr));
  EXPECT_EQ(parse_arg_value("[1,2]"), nlohmann::json::parse("[1,2]"));
  EXPECT_EQ(parse_arg_value("SEGV"), nlohmann::json("SEGV"));
  EXPECT_EQ(parse_arg_value("hello world"), nlohmann::json("hello world"));
  EXPECT_EQ(parse_arg_value("\"30\""), nlohmann::json("30"));  // quoted: a string
  EXPECT_EQ(parse_arg_value(""), nlohmann::json(""));
}

TEST(CommandLine, ReadsASubmission) {
  auto c = ok({"submit", "fib", "--arg", "n=30", "--arg=name=x=y", "--args-json", "{\"n\":1,\"k\":2}",
               "--max-attempts", "3", "--timeout-ms=10000", "--priority", "-1", "--wait",
               "--server", "http://h:1", "--token", "t", "--journal", "/j", "--retry-for", "0"});
  EXPECT_EQ(c.command, "submit");
  EXPECT_EQ(c.kind, "fib");
  EXPECT_EQ(c.args, nlohmann::json::parse(R"({"n":30,"k":2,"name":"x=y"})"));  // --arg wins
  EXPECT_EQ(c.max_attempts, 3);
  EXPECT_EQ(c.timeout_ms, 10000);
  EXPECT_EQ(c.priority, -1);
  EXPECT_TRUE(c.wait);
  EXPECT_EQ(c.server, "http://h:1");
  EXPECT_EQ(c.token, "t");
  EXPECT_EQ(c.journal, "/j");
  EXPECT_EQ(c.retry_for_s, 0);
}

TEST(CommandLine, ReadsWatchJobsAndCancel) {
  EXPECT_EQ(ok({"watch", "42"}).job_id, 42);
  EXPECT_EQ(ok({"cancel", "7"}).job_id, 7);
  auto j = ok({"jobs", "--state", "dead", "--kind", "fib", "--limit", "5", "--after-id", "10"});
  EXPECT_EQ(j.state, "dead");
  EXPECT_EQ(j.kind_filter, "fib");
  EXPECT_EQ(j.limit, 5);
  EXPECT_EQ(j.after_id, 10);
}

TEST(CommandLine, ReadsASessionInput) {
  auto i = ok({"input", "42", "3", "{\"x\":1}"});
  EXPECT_EQ(i.job_id, 42);
  EXPECT_EQ(i.seq, 3);
  EXPECT_EQ(i.data, (nlohmann::json{{"x", 1}}));
  EXPECT_FALSE(i.end);
  EXPECT_EQ(ok({"input", "42", "4", "hello there"}).data, nlohmann::json("hello there"));  // text stays text
  auto end = ok({"input", "42", "5", "--end"});
  EXPECT_TRUE(end.end);
  EXPECT_FALSE(end.data.has_value());
  EXPECT_EQ(ok({"jobs", "--state", "paused"}).state, "paused");
  EXPECT_NE(problem({"input", "42"}), "");             // no SEQ
  EXPECT_NE(problem({"input", "42", "1"}), "");        // no DATA, not the end
  EXPECT_NE(problem({"input", "42", "0", "x"}), "");   // SEQ > 0
  EXPECT_NE(problem({"input", "x", "1", "y"}), "");
  EXPECT_NE(problem({"input", "42", "1", "a", "b"}), "");
  EXPECT_NE(problem({"watch", "1", "--end"}), "");
}

TEST(CommandLine, RejectsWhatItCannotRead) {
  EXPECT_NE(problem({"submit"}), "");
  EXPECT_NE(problem({"submit", "a", "b"}), "");
  EXPECT_NE(problem({"submit", "fib", "--arg", "n"}), "");
  EXPECT_NE(problem({"submit", "fib", "--arg", "=3"}), "");
  EXPECT_NE(problem({"submit", "fib", "--args-json", "[1]"}), "");
  EXPECT_NE(problem({"submit", "fib", "--max-attempts", "0"}), "");
  EXPECT_NE(problem({"submit", "fib", "--timeout-ms", "soon"}), "");
  EXPECT_NE(problem({"submit", "fib", "--arg"}), "");
  EXPECT_NE(problem({"watch"}), "");
  EXPECT_NE(problem({"watch", "x"}), "");
  EXPECT_NE(problem({"watch", "0"}), "");
  EXPECT_NE(problem({"cancel", "1", "--wait"}), "");
  EXPECT_NE(problem({"jobs", "--state", "sleeping"}), "");
  EXPECT_NE(problem({"jobs", "extra"}), "");
  EXPECT_NE(problem({"jobs", "--bogus"}), "");
  EXPECT_NE(problem({"frobnicate"}), "");
}

TEST(ServerUrl, ReadsHostPortAndPath) {
  auto u = std::get<server_url>(parse_server_url("http://127.0.0.1:8080"));
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, "8080");
  EXPECT_EQ(u.base_path, "");
  u = std::get<server_url>(parse_server_url("http://example.test/respawn/"));
  EXPECT_EQ(u.port, "80");
  EXPECT_EQ(u.base_path, "/respawn");
  u = std::get<server_url>(parse_server_url("http://[::1]:9000"));
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, "9000");
  EXPECT_TRUE(std::holds_alternative<usage_error>(parse_server_url("https://h")));
  EXPECT_TRUE(std::holds_alternative<usage_error>(parse_server_url("h:80")));
  EXPECT_TRUE(std::holds_alternative<usage_error>(parse_server_url("http://h:port")));
}

class Settings : public ::testing::Test {
 protected:
  store::testing::temp_dir dir;
  void write_config(const std::string& text) {
    std::filesystem::create_directories(dir.path() / "config/respawn");
    std::ofstream(dir.path() / "config/respawn/client.json") << text;
  }
  std::map<std::string, std::string> base() {
    return {{"XDG_CONFIG_HOME", (dir.path() / "config").string()},
            {"XDG_STATE_HOME", (dir.path() / "state").string()},
            {"RESPAWN_DATA_DIR", (dir.path() / "data").string()}};
  }
  settings resolve(const command_line& c, std::map<std::string, std::string> vars) {
    auto r = resolve_settings(c, env_of(std::move(vars)));
    if (auto* e = std::get_if<usage_error>(&r)) ADD_FAILURE() << e->message;
    return std::get<settings>(r);
  }
};

TEST_F(Settings, FlagsBeatTheEnvironmentWhichBeatsTheConfigFile) {
  write_config(R"({"server": "http://file:1", "token": "file-token"})");
  auto vars = base();
  command_line c = ok({"jobs"});
  auto s = resolve(c, vars);
  EXPECT_EQ(s.server, "http://file:1");
  EXPECT_EQ(s.token, "file-token");

  vars["RESPAWN_SERVER"] = "http://env:2";
  vars["RESPAWN_TOKEN"] = "env-token";
  s = resolve(c, vars);
  EXPECT_EQ(s.server, "http://env:2");
  EXPECT_EQ(s.token, "env-token");
  EXPECT_EQ(s.token_source, "RESPAWN_TOKEN");

  c = ok({"jobs", "--server", "http://flag:3", "--token", "flag-token"});
  s = resolve(c, vars);
  EXPECT_EQ(s.server, "http://flag:3");
  EXPECT_EQ(s.address.host, "flag");
  EXPECT_EQ(s.token, "flag-token");
}

TEST_F(Settings, DefaultsAndTheLocalDemoToken) {
  auto s = resolve(ok({"submit", "noop"}), base());
  EXPECT_EQ(s.server, default_server);
  EXPECT_EQ(s.token, std::nullopt);
  EXPECT_EQ(s.journal_path, (dir.path() / "state/respawn/journal").string());
  EXPECT_EQ(s.retry_for, std::chrono::seconds(300));

  std::filesystem::create_directories(dir.path() / "data");
  std::ofstream(dir.path() / "data/demo.token") << "demo-token\n";
  s = resolve(ok({"submit", "noop"}), base());
  EXPECT_EQ(s.token, "demo-token");
}

TEST_F(Settings, HomeIsTheFallbackForConfigAndJournal) {
  auto vars = env_of({{"HOME", "/home/u"}});
  EXPECT_EQ(config_file_path(vars), "/home/u/.config/respawn/client.json");
  EXPECT_EQ(default_journal_path(vars), "/home/u/.local/state/respawn/journal");
  EXPECT_EQ(config_file_path(env_of({})), "");
  auto r = resolve_settings(ok({"submit", "noop"}), env_of({}));
  EXPECT_TRUE(std::holds_alternative<usage_error>(r));  // nowhere for the journal
  EXPECT_TRUE(std::holds_alternative<settings>(resolve_settings(ok({"jobs"}), env_of({}))));
}

TEST_F(Settings, ATokenFileKeepsTheTokenOutOfTheCommandLine) {
  std::filesystem::create_directories(dir.path());
  auto file = (dir.path() / "my.token").string();
  std::ofstream(file) << "file-flag-token\nignored second line\n";
  auto vars = base();
  vars["RESPAWN_TOKEN"] = "env-token";
  auto s = resolve(ok({"jobs", "--token-file", file}), vars);  // the flag beats the environment
  EXPECT_EQ(s.token, "file-flag-token");
  EXPECT_EQ(s.token_source, file);
  // A file that does not exist or has no token is a usage error, not a request without a token.
  auto missing = resolve_settings(ok({"jobs", "--token-file", file + ".nope"}), env_of(base()));
  EXPECT_TRUE(std::holds_alternative<usage_error>(missing));
  EXPECT_NE(std::string{client_usage()}.find("--token-file"), std::string::npos);
}

TEST_F(Settings, ABadConfigFileIsAUsageError) {
  write_config("{not json");
  EXPECT_TRUE(std::holds_alternative<usage_error>(resolve_settings(ok({"jobs"}), env_of(base()))));
  write_config(R"({"server": 8080})");
  EXPECT_TRUE(std::holds_alternative<usage_error>(resolve_settings(ok({"jobs"}), env_of(base()))));
  write_config(R"({"server": "ftp://x"})");
  EXPECT_TRUE(std::holds_alternative<usage_error>(resolve_settings(ok({"jobs"}), env_of(base()))));
}

}  // namespace
}  // namespace respawn::client

// command_line: the words of `respawn submit | watch | jobs | cancel | input` as a value, checked once
// before anything is sent (STYLE.md: bad configuration is rejected at start, saying what to fix).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

namespace respawn::client {

struct command_line {
  std::string command;  // submit, watch, jobs, cancel, input
  // connection: flags win over the environment and the config file (settings.hpp)
  std::optional<std::string> server{};
  std::optional<std::string> token{};       // --token: visible to every local user in `ps`
  std::optional<std::string> token_file{};  // --token-file PATH: its first line (not in `ps`)
  std::optional<std::string> journal{};
  std::optional<std::int64_t> retry_for_s{};  // give up on an unreachable server after this; 0: never
  // submit
  std::string kind{};
  nlohmann::json args = nlohmann::json::object();
  std::optional<std::int64_t> max_attempts{};
  std::optional<std::int64_t> timeout_ms{};
  std::optional<std::int64_t> priority{};
  bool wait = false;
  // watch, cancel, input
  std::int64_t job_id = 0;
  // input (a session job's, docs/sessions.md)
  std::int64_t seq = 0;
  std::optional<nlohmann::json> data{};
  bool end = false;
  // jobs
  std::optional<std::string> state{};
  std::optional<std::string> kind_filter{};
  std::optional<std::int64_t> limit{};
  std::optional<std::int64_t> after_id{};
};

struct usage_error {
  std::string message;
};

// argv[0] is the command. --arg KEY=VALUE parses VALUE as JSON where it parses (30, true, null,
// [1,2], {"a":1}) and keeps it a string otherwise; --args-json gives the base object and each
// --arg sets one key on top of it, whatever their order. Options take `--name VALUE` or
// `--name=VALUE`.
std::variant<command_line, usage_error> parse_command_line(int argc, char** argv);

// The JSON value of an --arg VALUE.
nlohmann::json parse_arg_value(const std::string& text);

// What makes two submissions "the same command" for the journal (journal.hpp, docs/cli.md): the
// server, kind, args (as JSON: key order and number spelling do not matter) and the options
// max_attempts, timeout_ms and priority (absent differs from given). --wait does not count.
std::string submission_fingerprint(const command_line& c, const std::string& server);

// The usage text of all five commands.
const char* client_usage();

}  // namespace respawn::client

// settings: where the client finds its server, its token and its journal. Each comes from the
// first that has it of: the command line, the environment, the config file (docs/cli.md), so a
// one-off flag always wins and a shell's export beats the file written once.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <variant>

#include "command_line.hpp"

namespace respawn::client {

// The environment, injectable for tests: the value of a variable, or nullopt if unset or empty.
using environment = std::function<std::optional<std::string>(const std::string&)>;
environment process_environment();

struct server_url {
  std::string host;
  std::string port;
  std::string base_path;  // "" or "/prefix" (no trailing slash): prepended to every target
};

// http://HOST[:PORT][/PATH]; https is refused with a message that says so.
std::variant<server_url, usage_error> parse_server_url(const std::string& url);

struct settings {
  std::string server;                 // as given, for messages and the journal's fingerprint
  server_url address;
  std::optional<std::string> token;   // no token: requests go without Authorization
  std::string token_source;           // where the token came from, for the 401 message
  std::string journal_path;
  std::chrono::seconds retry_for{300};  // 0: forever
};

inline constexpr const char* default_server = "http://127.0.0.1:8080";

// $XDG_CONFIG_HOME/respawn/client.json, else $HOME/.config/respawn/client.json ("" if neither).
std::string config_file_path(const environment& env);
// $XDG_STATE_HOME/respawn/journal, else $HOME/.local/state/respawn/journal ("" if neither).
std::string default_journal_path(const environment& env);

// Server: --server, RESPAWN_SERVER, "server" in the config file, default_server.
// Token: --token, --token-file (its first line), RESPAWN_TOKEN, "token" in the config file, then
// the local node's demo token (the first line of $RESPAWN_DATA_DIR/demo.token or
// ./respawn-data/demo.token), if any.
// Journal: --journal, default_journal_path. A config file that exists but is not a JSON object
// of strings is a usage error.
std::variant<settings, usage_error> resolve_settings(const command_line& c, const environment& env);

}  // namespace respawn::client

// settings: see settings.hpp.
#include "settings.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

namespace respawn::client {
namespace {

std::optional<std::string> first_line_of(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || line.empty()) return std::nullopt;
  return line;
}

}  // namespace

environment process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

std::variant<server_url, usage_error> parse_server_url(const std::string& url) {
  constexpr std::string_view scheme = "http://";
  if (url.rfind("https://", 0) == 0) {
    return usage_error{"the client speaks plain http:// only, not " + url + " (use a TLS proxy's plain side)"};
  }
  if (url.rfind(scheme, 0) != 0) return usage_error{"a server URL starts with http://, not \"" + url + "\""};
  std::string rest = url.substr(scheme.size());
  server_url out;
  const auto slash = rest.find('/');
  if (slash != std::string::npos) {
    out.base_path = rest.substr(slash);
    rest = rest.substr(0, slash);
    while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
  }
  const auto colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']', colon) == std::string::npos) {
    out.host = rest.substr(0, colon);
    out.port = rest.substr(colon + 1);
  } else {
    out.host = rest;
    out.port = "80";
  }
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  const bool port_ok = !out.port.empty() && out.port.size() <= 5 &&
                       out.port.find_first_not_of("0123456789") == std::string::npos;
  if (out.host.empty() || !port_ok) return usage_error{"cannot read the server URL \"" + url + "\""};
  return out;
}

std::string config_file_path(const environment& env) {
  if (auto xdg = env("XDG_CONFIG_HOME")) return *xdg + "/respawn/client.json";
  if (auto home = env("HOME")) return *home + "/.config/respawn/client.json";
  return "";
}

std::string default_journal_path(const environment& env) {
  if (auto xdg = env("XDG_STATE_HOME")) return *xdg + "/respawn/journal";
  if (auto home = env("HOME")) return *home + "/.local/state/respawn/journal";
  return "";
}

std::variant<settings, usage_error> resolve_settings(const command_line& c, const environment& env) {
  nlohmann::json file = nlohmann::json::object();
  const std::string config = config_file_path(env);
  if (!config.empty()) {
    std::ifstream in(config);
    if (in) {
      std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      file = nlohmann::json::parse(text, nullptr, false);
      bool strings = file.is_object();
      for (const auto& key : {"server", "token"}) {
        strings = strings && (!file.contains(key) || file[key].is_string());
      }
      if (!strings) {
        return usage_error{"config file " + config +
                           " must be a JSON object like {\"server\": \"http://host:8080\", \"token\": \"...\"}"};
      }
    }
  }
  auto from_file = [&](const char* key) -> std::optional<std::string> {
    if (!file.contains(key) || file[key].get<std::string>().empty()) return std::nullopt;
    return file[key].get<std::string>();
  };

  settings s;
  if (c.server) {
    s.server = *c.server;
  } else if (auto e = env("RESPAWN_SERVER")) {
    s.server = *e;
  } else if (auto f = from_file("server")) {
    s.server = *f;
  } else {
    s.server = default_server;
  }
  auto address = parse_server_url(s.server);
  if (auto* problem = std::get_if<usage_error>(&address)) return *problem;
  s.address = std::get<server_url>(address);

  const std::string data_dir = env("RESPAWN_DATA_DIR").value_or("./respawn-data");
  if (c.token) {
    s.token = *c.token;
    s.token_source = "--token";
  } else if (c.token_file) {
    // A token in a file stays out of `ps` (--token does not): the way to give one per command.
    auto line = first_line_of(*c.token_file);
    if (!line) return usage_error{"--token-file " + *c.token_file + ": cannot read a token from its first line"};
    s.token = *line;
    s.token_source = *c.token_file;
  } else if (auto e = env("RESPAWN_TOKEN")) {
    s.token = *e;
    s.token_source = "RESPAWN_TOKEN";
  } else if (auto f = from_file("token")) {
    s.token = *f;
    s.token_source = config;
  } else if (auto demo = first_line_of(data_dir + "/demo.token")) {
    s.token = *demo;
    s.token_source = data_dir + "/demo.token";
  }

  s.journal_path = c.journal ? *c.journal : default_journal_path(env);
  if (s.journal_path.empty() && c.command == "submit") {
    return usage_error{"no place for the journal: set --journal PATH, XDG_STATE_HOME or HOME"};
  }
  if (c.retry_for_s) s.retry_for = std::chrono::seconds(*c.retry_for_s);
  return s;
}

}  // namespace respawn::client

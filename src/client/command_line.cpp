// command_line: see command_line.hpp.
#include "command_line.hpp"

#include <charconv>
#include <set>
#include <vector>

namespace respawn::client {
namespace {

const std::set<std::string> job_states = {"queued", "running", "succeeded", "failed", "dead", "cancelled", "paused"};

bool parse_int(const std::string& text, std::int64_t& out) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc{} && end == text.data() + text.size();
}

}  // namespace

const char* client_usage() {
  return "usage: respawn submit KIND [--arg KEY=VALUE ...] [--args-json JSON] [--max-attempts N]\n"
         "                      [--timeout-ms N] [--priority N] [--wait] [--journal PATH]\n"
         "       respawn watch ID\n"
         "       respawn jobs [--state S] [--kind K] [--limit N] [--after-id N]\n"
         "       respawn cancel ID\n"
         "       respawn input ID SEQ [DATA] [--end]   (a session job's input; DATA is JSON or text)\n"
         "every command also takes --server URL (http://127.0.0.1:8080), --token-file PATH\n"
         "(or RESPAWN_TOKEN; --token T shows the token in ps) and --retry-for SECONDS (300;\n"
         "0: retry forever); see docs/cli.md\n";
}

nlohmann::json parse_arg_value(const std::string& text) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(text) : parsed;
}

std::string submission_fingerprint(const command_line& c, const std::string& server) {
  auto optional_number = [](const std::optional<std::int64_t>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  return nlohmann::json{{"server", server},
                        {"kind", c.kind},
                        {"args", c.args},
                        {"max_attempts", optional_number(c.max_attempts)},
                        {"timeout_ms", optional_number(c.timeout_ms)},
                        {"priority", optional_number(c.priority)}}
      .dump();
}

std::variant<command_line, usage_error> parse_command_line(int argc, char** argv) {
  command_line c;
  if (argc < 1) return usage_error{"missing command"};
  c.command = argv[0];
  const bool submit = c.command == "submit";
  const bool jobs = c.command == "jobs";
  const bool input = c.command == "input";
  if (!submit && !jobs && !input && c.command != "watch" && c.command != "cancel") {
    return usage_error{"unknown command \"" + c.command + "\""};
  }
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, nlohmann::json>> arg_pairs;
  std::optional<nlohmann::json> args_json;
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word.rfind("--", 0) != 0 || word == "--") {
      positional.push_back(word);
      continue;
    }
    std::string name = word;
    std::optional<std::string> inline_value;
    if (const auto eq = word.find('='); eq != std::string::npos) {
      name = word.substr(0, eq);
      inline_value = word.substr(eq + 1);
    }
    if (name == "--wait" && submit && !inline_value) {
      c.wait = true;
      continue;
    }
    if (name == "--end" && input && !inline_value) {
      c.end = true;
      continue;
    }
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 < argc) return std::string(argv[++i]);
      return std::nullopt;
    };
    auto integer = [&](std::optional<std::int64_t>& into, std::int64_t min) -> std::optional<usage_error> {
      auto v = value();
      std::int64_t n = 0;
      if (!v || !parse_int(*v, n) || n < min) {
        return usage_error{name + " takes a whole number" + (min == 0 ? " >= 0" : min == 1 ? " >= 1" : "")};
      }
      into = n;
      return std::nullopt;
    };
    std::optional<usage_error> problem;
    if (name == "--server" || name == "--token" || name == "--token-file" || (name == "--journal" && submit) ||
        (jobs && (name == "--state" || name == "--kind"))) {
      auto v = value();
      if (!v || v->empty()) return usage_error{name + " needs a value"};
      auto& into = name == "--server"    ? c.server
                   : name == "--token"   ? c.token
                   : name == "--token-file" ? c.token_file
                   : name == "--journal" ? c.journal
                   : name == "--state"   ? c.state
                                         : c.kind_filter;
      into = *v;
    } else if (name == "--retry-for") {
      problem = integer(c.retry_for_s, 0);
    } else if (submit && name == "--arg") {
      auto v = value();
      const auto eq = v ? v->find('=') : std::string::npos;
      if (!v || eq == std::string::npos || eq == 0) return usage_error{"--arg takes KEY=VALUE"};
      arg_pairs.emplace_back(v->substr(0, eq), parse_arg_value(v->substr(eq + 1)));
    } else if (submit && name == "--args-json") {
      auto v = value();
      nlohmann::json j = v ? nlohmann::json::parse(*v, nullptr, false) : nlohmann::json();
      if (!j.is_object()) return usage_error{"--args-json takes a JSON object, e.g. '{\"n\":30}'"};
      args_json = j;
    } else if (submit && name == "--max-attempts") {
      problem = integer(c.max_attempts, 1);
    } else if (submit && name == "--timeout-ms") {
      problem = integer(c.timeout_ms, 0);
    } else if (submit && name == "--priority") {
      problem = integer(c.priority, INT64_MIN);
    } else if (jobs && name == "--limit") {
      problem = integer(c.limit, 1);
    } else if (jobs && name == "--after-id") {
      problem = integer(c.after_id, 0);
    } else {
      return usage_error{"unknown option " + name + " for " + c.command};
    }
    if (problem) return *problem;
  }
  if (args_json) c.args = *args_json;
  for (auto& [key, v] : arg_pairs) c.args[key] = std::move(v);
  if (c.state && job_states.count(*c.state) == 0) {
    return usage_error{"--state is one of queued, running, succeeded, failed, dead, cancelled, paused"};
  }
  if (jobs) {
    if (!positional.empty()) return usage_error{"jobs takes no positional argument"};
    return c;
  }
  if (input) {
    if (positional.size() < 2 || positional.size() > 3) return usage_error{"input takes ID SEQ [DATA]"};
    if (!parse_int(positional[0], c.job_id) || c.job_id <= 0) {
      return usage_error{"a job ID is a positive whole number, not \"" + positional[0] + "\""};
    }
    if (!parse_int(positional[1], c.seq) || c.seq <= 0) {
      return usage_error{"SEQ is a positive whole number, not \"" + positional[1] + "\""};
    }
    if (positional.size() == 3) c.data = parse_arg_value(positional[2]);
    if (!c.data && !c.end) return usage_error{"input needs DATA (or --end for the last input)"};
    return c;
  }
  if (positional.size() != 1) {
    return usage_error{c.command + (submit ? " takes exactly one KIND" : " takes exactly one job ID")};
  }
  if (submit) {
    c.kind = positional[0];
  } else if (!parse_int(positional[0], c.job_id) || c.job_id <= 0) {
    return usage_error{"a job ID is a positive whole number, not \"" + positional[0] + "\""};
  }
  return c;
}

}  // namespace respawn::client

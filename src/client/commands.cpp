// commands: `respawn submit | watch | jobs | cancel | input` (docs/cli.md): each reads its command line
// and settings, then talks to the node through api_client. submit goes through the journal
// (journal.hpp): the key is on disk before the request leaves.
#include <unistd.h>

#include <iomanip>
#include <iostream>

#include "api_client.hpp"
#include "respawn/jobs/json_limits.hpp"
#include "client_context.hpp"
#include "command_line.hpp"
#include "journal.hpp"
#include "respawn/client.hpp"
#include "respawn/users.hpp"
#include "watch.hpp"

namespace respawn::client {
namespace {

using json = nlohmann::json;

int fail(client_context& context, const command_line& c, const std::string& message, int code) {
  context.err << "respawn " << c.command << ": " << message << "\n";
  return code;
}

// Prints a final refusal and returns its exit code; a 401 says where the token came from.
int refused(client_context& context, const command_line& c, const settings& s, const api_answer& a) {
  std::string message = error_text(a.status, a.body);
  if (a.status == 401 || a.status == 403) {
    message += s.token ? " (token from " + s.token_source + ")"
                       : " (no token: set --token, RESPAWN_TOKEN or \"token\" in " +
                             config_file_path(context.env) + ")";
  }
  return fail(context, c, message, exit_code_for_status(a.status));
}

std::string percent_encode(const std::string& text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : text) {
    if (std::isalnum(ch) != 0 || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 0xf];
    }
  }
  return out;
}

std::string new_key(client_context& context) {
  if (context.new_key) return context.new_key();
  auto token = users::new_token();
  return token ? token.value() : std::string();
}

int submit(client_context& context, const command_line& c, const settings& s) {
  journal log(s.journal_path);
  const std::string fresh_key = new_key(context);
  if (fresh_key.empty()) return fail(context, c, "cannot make an idempotency key (getrandom failed)", exit_code::error);
  auto claimed = log.begin(submission_fingerprint(c, s.server), fresh_key);
  if (auto* e = std::get_if<journal_error>(&claimed)) return fail(context, c, e->message, exit_code::error);
  const auto& entry = std::get<journal::claim>(claimed).entry;
  if (std::get<journal::claim>(claimed).resumed) {
    context.err << "respawn submit: resuming an unfinished submission from the journal (key "
                << entry.key << (entry.job_id ? ", job " + std::to_string(*entry.job_id) : std::string())
                << ")\n";
  }

  json body = {{"kind", c.kind}, {"args", c.args}, {"idempotency_key", entry.key}};
  if (c.max_attempts) body["max_attempts"] = *c.max_attempts;
  if (c.timeout_ms) body["timeout_ms"] = *c.timeout_ms;
  if (c.priority) body["priority"] = *c.priority;
  api_client api(s, context);
  http_request request = api.make_request("POST", "/v1/jobs", body);
  request.headers.emplace_back("Idempotency-Key", entry.key);
  auto answer = api.call(std::move(request));
  if (std::holds_alternative<gave_up>(answer)) {
    context.err << "respawn submit: not submitted yet; run the same command again to resume (key "
                << entry.key << ")\n";
    return exit_code::unreachable;
  }
  auto& a = std::get<api_answer>(answer);
  if (a.status != 200 && a.status != 201) {
    // A 4xx is a definite "no": nothing was made, so the entry goes. After a server error the
    // outcome is unknown and the entry stays for a re-run.
    if (a.status >= 400 && a.status < 500) log.finish(entry.key);
    return refused(context, c, s, a);
  }
  if (!a.body.is_object() || !a.body.contains("id") || !a.body["id"].is_number_integer()) {
    return fail(context, c, "the server's answer has no job id: " + a.body.dump(), exit_code::error);
  }
  const std::int64_t id = jobs::integer_value<std::int64_t>(a.body["id"]);
  context.out << a.body.dump() << "\n";
  context.out.flush();
  if (!c.wait) {
    if (auto e = log.finish(entry.key)) return fail(context, c, e->message, exit_code::error);
    return exit_code::ok;
  }
  if (auto e = log.record_job(entry.key, id)) return fail(context, c, e->message, exit_code::error);
  const int code = follow_events(api, id);
  // Seen through once the job has ended (or cannot be followed for good); an unreachable server
  // leaves the entry, so that the same command resumes watching.
  if (code != exit_code::unreachable && code != exit_code::error) log.finish(entry.key);
  return code;
}

int list_jobs(client_context& context, const command_line& c, const settings& s) {
  std::string query;
  auto add = [&](const char* name, const std::string& value) {
    query += (query.empty() ? "?" : "&") + std::string(name) + "=" + percent_encode(value);
  };
  if (c.state) add("state", *c.state);
  if (c.kind_filter) add("kind", *c.kind_filter);
  if (c.after_id) add("after_id", std::to_string(*c.after_id));
  if (c.limit) add("limit", std::to_string(*c.limit));
  api_client api(s, context);
  auto answer = api.call(api.make_request("GET", "/v1/jobs" + query));
  if (std::holds_alternative<gave_up>(answer)) return exit_code::unreachable;
  auto& a = std::get<api_answer>(answer);
  if (a.status != 200) return refused(context, c, s, a);
  if (!a.body.is_object() || !a.body.contains("jobs") || !a.body["jobs"].is_array()) {
    return fail(context, c, "unexpected answer: " + a.body.dump(), exit_code::error);
  }
  auto text = [](const json& job, const char* key) {
    if (!job.contains(key) || job[key].is_null()) return std::string("-");
    return job[key].is_string() ? job[key].get<std::string>() : job[key].dump();
  };
  context.out << std::left << std::setw(8) << "ID" << std::setw(11) << "STATE" << std::setw(16) << "KIND"
              << std::setw(10) << "ATTEMPTS" << "UPDATED_AT\n";
  for (const auto& job : a.body["jobs"]) {
    context.out << std::setw(8) << text(job, "id") << std::setw(11) << text(job, "state") << std::setw(16)
                << text(job, "kind") << std::setw(10)
                << (text(job, "attempts") + "/" + text(job, "max_attempts")) << text(job, "updated_at")
                << "\n";
  }
  if (a.body.contains("next_after_id") && a.body["next_after_id"].is_number_integer()) {
    context.err << "more: respawn jobs --after-id " << jobs::integer_value<std::int64_t>(a.body["next_after_id"]) << "\n";
  }
  return exit_code::ok;
}

int cancel(client_context& context, const command_line& c, const settings& s) {
  api_client api(s, context);
  auto answer = api.call(api.make_request("POST", "/v1/jobs/" + std::to_string(c.job_id) + "/cancel", json::object()));
  if (std::holds_alternative<gave_up>(answer)) return exit_code::unreachable;
  auto& a = std::get<api_answer>(answer);
  if (a.status != 200) return refused(context, c, s, a);
  context.out << a.body.dump() << "\n";
  return exit_code::ok;
}

// A session job's input (docs/sessions.md): idempotent by seq, so retrying after a lost answer
// is safe (the server says "duplicate").
int send_input(client_context& context, const command_line& c, const settings& s) {
  api_client api(s, context);
  json body = {{"seq", c.seq}};
  if (c.data) body["data"] = *c.data;
  if (c.end) body["end"] = true;
  auto answer = api.call(api.make_request("POST", "/v1/jobs/" + std::to_string(c.job_id) + "/input", body));
  if (std::holds_alternative<gave_up>(answer)) return exit_code::unreachable;
  auto& a = std::get<api_answer>(answer);
  if (a.status != 202) return refused(context, c, s, a);
  context.out << a.body.dump() << "\n";
  return exit_code::ok;
}

}  // namespace

int run_client(int argc, char** argv, client_context& context) {
  auto parsed = parse_command_line(argc, argv);
  if (auto* e = std::get_if<usage_error>(&parsed)) {
    context.err << "respawn " << (argc > 0 ? argv[0] : "") << ": " << e->message << "\n" << client_usage();
    return exit_code::usage;
  }
  const command_line& c = std::get<command_line>(parsed);
  auto resolved = resolve_settings(c, context.env);
  if (auto* e = std::get_if<usage_error>(&resolved)) return fail(context, c, e->message, exit_code::usage);
  const settings& s = std::get<settings>(resolved);
  if (c.command == "submit") return submit(context, c, s);
  if (c.command == "jobs") return list_jobs(context, c, s);
  if (c.command == "cancel") return cancel(context, c, s);
  if (c.command == "input") return send_input(context, c, s);
  api_client api(s, context);
  return follow_events(api, c.job_id);
}

int client_command(int argc, char** argv) {
  client_context context{std::cout, std::cerr};
  // The progress line is drawn on stderr, and only when stdout is a terminal too: `watch | jq`
  // and `watch 2>log` get plain lines without control characters. RESPAWN_PROGRESS=always|never
  // overrides (docs/cli.md): for a wrapper that relays a terminal through pipes, and for tests.
  const auto progress = context.env("RESPAWN_PROGRESS");
  if (progress == "always") {
    context.tty = true;
  } else if (progress == "never") {
    context.tty = false;
  } else {
    context.tty = ::isatty(STDOUT_FILENO) == 1 && ::isatty(STDERR_FILENO) == 1;
  }
  return run_client(argc, argv, context);
}

}  // namespace respawn::client

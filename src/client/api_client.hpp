// api_client: requests to the node's /v1 API with the token, the JSON bodies and the retries.
// A server that is down (connection refused or dropped), busy (503, 502, 504) or overloaded (429)
// is tried again after a backoff (backoff.hpp; a Retry-After is honoured), with a line on stderr
// each time, until `retry_for` has passed since the first failure in a row. Retrying is safe:
// reads and cancels are idempotent, and a submit carries its idempotency key.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "backoff.hpp"
#include "client_context.hpp"
#include "http_connection.hpp"
#include "settings.hpp"

namespace respawn::client {

struct api_answer {
  int status = 0;
  nlohmann::json body{};  // null when the body is not JSON
};

// Retrying stopped: retry_for passed (the caller exits with exit_code::unreachable).
struct gave_up {};

class api_client {
 public:
  api_client(const settings& s, client_context& context);

  // A request with the token and JSON headers; `target` is below the server's base path.
  http_request make_request(const std::string& method, const std::string& target,
                            const std::optional<nlohmann::json>& body = std::nullopt) const;
  // Sends, retrying as described above; any other answer is returned.
  std::variant<api_answer, gave_up> call(http_request request);

  // Waits before the next attempt, saying why on stderr ("server unreachable, retrying in 1.2
  // s..."). False if retry_for has passed: give up.
  bool wait_before_retry(const std::string& why, std::optional<std::chrono::milliseconds> retry_after);
  // Something worked: the next failure starts a fresh backoff and a fresh retry_for.
  void succeeded();

  const settings& config() const { return settings_; }
  client_context& context() { return context_; }

 private:
  const settings& settings_;
  client_context& context_;
  backoff backoff_;
  std::optional<std::chrono::steady_clock::time_point> failing_since_{};
};

// 429, 502, 503 and 504: try again later.
bool retryable_status(int status);
// The Retry-After header in seconds, if present and a number (an HTTP date is ignored).
std::optional<std::chrono::milliseconds> retry_after(const http_head& head);
// "CODE: MESSAGE" from {"error":{"code","message"}}, else the status and body.
std::string error_text(int status, const nlohmann::json& body);
// The exit code for a final refusal: 401/403 unauthorized, 404 not_found, other 4xx refused,
// anything else error.
int exit_code_for_status(int status);

}  // namespace respawn::client

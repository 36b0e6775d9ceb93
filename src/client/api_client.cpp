// api_client: see api_client.hpp.
#include "api_client.hpp"

#include <cstdio>
#include <random>
#include <thread>

#include "respawn/client.hpp"

namespace respawn::client {

bool retryable_status(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

std::optional<std::chrono::milliseconds> retry_after(const http_head& head) {
  auto value = head.header("Retry-After");
  if (!value || value->empty() || value->find_first_not_of("0123456789") != std::string::npos ||
      value->size() > 6) {
    return std::nullopt;
  }
  return std::chrono::seconds(std::stol(*value));
}

std::string error_text(int status, const nlohmann::json& body) {
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const auto& e = body["error"];
    return "HTTP " + std::to_string(status) + " " + e.value("code", std::string("error")) + ": " +
           e.value("message", std::string(""));
  }
  return "HTTP " + std::to_string(status) + (body.is_null() ? std::string() : " " + body.dump());
}

int exit_code_for_status(int status) {
  if (status == 401 || status == 403) return exit_code::unauthorized;
  if (status == 404) return exit_code::not_found;
  if (status >= 400 && status < 500) return exit_code::refused;
  return exit_code::error;
}

api_client::api_client(const settings& s, client_context& context)
    : settings_(s),
      context_(context),
      backoff_(context.retry_backoff, context.seed != 0 ? context.seed : std::random_device{}()) {}

http_request api_client::make_request(const std::string& method, const std::string& target,
                                      const std::optional<nlohmann::json>& body) const {
  http_request r{method, settings_.address.base_path + target, {}, {}};
  r.headers.emplace_back("Accept", "application/json");
  if (settings_.token) r.headers.emplace_back("Authorization", "Bearer " + *settings_.token);
  if (body) {
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = body->dump();
  }
  return r;
}

std::variant<api_answer, gave_up> api_client::call(http_request request) {
  for (;;) {
    auto outcome = exchange(settings_.address.host, settings_.address.port, request, context_.timeouts);
    if (auto* failure = std::get_if<transport_error>(&outcome)) {
      if (!wait_before_retry("server unreachable (" + failure->message + ")", std::nullopt)) return gave_up{};
      continue;
    }
    auto& response = std::get<http_response>(outcome);
    if (retryable_status(response.status)) {
      const std::string why = response.status == 429 ? "server overloaded (429)"
                                                     : "server unavailable (" + std::to_string(response.status) + ")";
      if (!wait_before_retry(why, retry_after(response))) return gave_up{};
      continue;
    }
    succeeded();
    nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
    if (body.is_discarded()) body = nullptr;
    return api_answer{response.status, std::move(body)};
  }
}

bool api_client::wait_before_retry(const std::string& why,
                                   std::optional<std::chrono::milliseconds> retry_after_delay) {
  const auto now = std::chrono::steady_clock::now();
  if (!failing_since_) failing_since_ = now;
  const auto delay = backoff_.next(retry_after_delay);
  if (settings_.retry_for.count() > 0 && now + delay - *failing_since_ > settings_.retry_for) {
    context_.err << "respawn: " << why << "; giving up after " << settings_.retry_for.count()
                 << " s (--retry-for)\n";
    return false;
  }
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f", static_cast<double>(delay.count()) / 1000.0);
  context_.err << "respawn: " << why << ", retrying in " << seconds << " s...\n";
  context_.err.flush();
  if (context_.sleep) {
    context_.sleep(delay);
  } else {
    std::this_thread::sleep_for(delay);
  }
  return true;
}

void api_client::succeeded() {
  backoff_.reset();
  failing_since_.reset();
}

}  // namespace respawn::client

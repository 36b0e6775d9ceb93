// The API's errors as values: an HTTP status, a stable machine-readable code and a message for
// people, rendered as {"error":{"code":"...","message":"..."}}. One place for the vocabulary, so
// that every route answers the same failure with the same status (docs/http-api.md lists them).
#pragma once

#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "api_message.hpp"

namespace respawn::http {

struct api_error {
  unsigned status = 500;
  std::string code{};
  std::string message{};
  std::optional<std::string> retry_after{};  // seconds, for 429 and 503
  std::optional<std::string> allow{};        // the allowed methods, for 405
};

inline api_error bad_request(std::string code, std::string message) {
  return {400, std::move(code), std::move(message)};
}
inline api_error unprocessable(std::string code, std::string message) {
  return {422, std::move(code), std::move(message)};
}
inline api_error not_found(std::string message) { return {404, "not_found", std::move(message)}; }
inline api_error unavailable(std::string code, std::string message) {
  return {503, std::move(code), std::move(message), "1"};
}

inline api_response to_response(const api_error& e) {
  api_response r;
  r.status = e.status;
  // Invalid UTF-8 replaced, never thrown: a message may quote what the client sent (a path with
  // a byte 0xFF was a 500 "invalid UTF-8"; found by tests/fuzz, regressions/api_routes/utf8-*).
  r.body = nlohmann::json{{"error", {{"code", e.code}, {"message", e.message}}}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (e.retry_after) r.headers.emplace_back("Retry-After", *e.retry_after);
  if (e.allow) r.headers.emplace_back("Allow", *e.allow);
  if (e.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace respawn::http

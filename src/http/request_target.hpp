// A request target ("/v1/jobs/7/events?after=3") split into path segments and decoded query
// parameters. Hand-written rather than Boost.URL so the routes stay Beast- and Boost-free; it is
// strict on purpose: a malformed escape is an error (400), not a guess.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace respawn::http {

struct request_target {
  std::vector<std::string> segments{};         // "/v1/jobs/7" -> {"v1", "jobs", "7"}
  std::map<std::string, std::string> query{};  // the last value wins for a repeated name
};

// nullopt: the target is not an origin-form path, or an escape is malformed.
std::optional<request_target> parse_target(std::string_view target);

// Percent-decoding ('+' is a space in queries). nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

}  // namespace respawn::http

// json_limits: the one way the node parses JSON it did not build itself — request bodies, session
// input, worker results and outputs, and rows read back from the store — with a nesting depth
// limit. Why: nlohmann's parser is iterative, but copying, comparing, dumping and destroying a
// value recurse once per level, so a 100 KB body of "[[[[..." nested 50,000 deep overflowed the
// stack and killed the node (review F1). Any value accepted here is at most `depth_max` deep, so
// everything later done to it recurses a bounded number of times.
//
// The check is part of the parse (a SAX handler that refuses the container that would go one level
// too deep), so it costs nothing extra, never recurses itself, and stops reading a hostile input at
// the first level past the limit instead of building it.
#pragma once

#include <cstddef>
#include <concepts>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "respawn/value_or_error.hpp"

namespace respawn::jobs {

// Depth of a value: a scalar is 0, `{}` and `[]` are 1, `{"a":[1]}` is 2. Values from outside the
// node (an HTTP body, a session input, a worker's result or output) may be at most this deep.
inline constexpr std::size_t json_depth_max = 64;
// Rows the node wrote itself wrap such values a few levels deeper (a state row holds
// {"request":{"args":...}}, an output event {"chunk":{"data":...}}); reading them back allows that
// envelope, and still refuses anything a bug or a hand-edited database could nest without bound.
inline constexpr std::size_t stored_json_depth_max = json_depth_max + 16;

enum class json_errc : std::uint8_t {
  invalid,   // not one JSON value (syntax, invalid UTF-8, trailing bytes, empty)
  too_deep,  // valid so far, but nested deeper than the limit: parsing stopped there
};

struct json_error {
  json_errc code = json_errc::invalid;
  std::string message{};  // for people: what was wrong and where
};

using json_result = value_or_error<nlohmann::json, json_error>;

// Parses one JSON value (strict: nothing may follow it). Never throws a parse error, never
// recurses. thread-safe.
json_result parse_json(std::string_view text, std::size_t depth_max = json_depth_max);

// For code whose failures are exceptions already (the store's row readers catch std::exception
// and answer "unreadable data"): the value, or std::runtime_error with parse_json's message.
nlohmann::json parse_stored_json(std::string_view text, std::size_t depth_max = stored_json_depth_max);

// The depth of a value built in memory, measured without recursion (tests; checks of values that
// did not come through parse_json).
std::size_t json_depth(const nlohmann::json& value);

// The integer `value` holds, as T, or nlohmann::json::type_error (not an integer: a float, a
// string, ...) / out_of_range (an integer T cannot hold). Why not value.get<T>(): nlohmann converts
// a float with a static_cast, which is undefined behaviour when it is out of T's range (a stored
// row or a client journal with 1e300 in an integer field; found by tests/fuzz), and wraps a
// negative number into an unsigned T. Use it for every integer read from JSON the node did not
// just build itself.
template <std::integral T>
T integer_value(const nlohmann::json& value) {
  if (!value.is_number_integer()) {
    throw nlohmann::json::type_error::create(302, std::string{"type must be an integer, but is "} + value.type_name(),
                                             &value);
  }
  bool fits = false;
  if (value.is_number_unsigned()) {
    fits = value.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
  } else {
    const auto v = value.get<std::int64_t>();
    if constexpr (std::is_signed_v<T>) {
      fits = v >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
             v <= static_cast<std::int64_t>(std::numeric_limits<T>::max());
    } else {
      fits = v >= 0 && static_cast<std::uint64_t>(v) <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
    }
  }
  if (!fits) throw nlohmann::json::out_of_range::create(406, "integer " + value.dump() + " is out of range", &value);
  return value.is_number_unsigned() ? static_cast<T>(value.get<std::uint64_t>()) : static_cast<T>(value.get<std::int64_t>());
}

// integer_value of `in[key]`, or `fallback` when `in` has no `key` (nlohmann's value(key, fallback)
// with integer_value's checks).
template <std::integral T>
T integer_value(const nlohmann::json& in, const char* key, T fallback) {
  auto it = in.find(key);
  return it == in.end() ? fallback : integer_value<T>(*it);
}

}  // namespace respawn::jobs

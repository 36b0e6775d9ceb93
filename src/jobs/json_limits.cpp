// json_limits: see json_limits.hpp. nlohmann's own DOM builder (the one json::parse uses) wrapped
// in a SAX handler that counts open containers: parsing stops at the first one past the limit.
// The builder lives in nlohmann::detail; it is what json::parse runs, so its behaviour (strings,
// numbers, duplicate keys) is exactly json::parse's.
#include "respawn/jobs/json_limits.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

namespace respawn::jobs {

namespace {

using json = nlohmann::json;
using dom_builder = nlohmann::detail::json_sax_dom_parser<json>;

class depth_limited_builder : public dom_builder {
 public:
  depth_limited_builder(json& into, std::size_t depth_max) : dom_builder{into, /*allow_exceptions=*/false},
                                                             depth_max_{depth_max} {}

  // json::sax_parse calls these by name on this type (a template, no virtual calls), so they
  // hide the builder's and forward to it.
  bool start_object(std::size_t elements) { return open() && dom_builder::start_object(elements); }
  bool start_array(std::size_t elements) { return open() && dom_builder::start_array(elements); }
  bool end_object() {
    --depth_;
    return dom_builder::end_object();
  }
  bool end_array() {
    --depth_;
    return dom_builder::end_array();
  }
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& e) {
    syntax_ = e.what();
    return dom_builder::parse_error(position, token, e);
  }

  bool too_deep() const { return too_deep_; }
  const std::string& syntax() const { return syntax_; }

 private:
  bool open() {
    if (depth_ >= depth_max_) {
      too_deep_ = true;
      return false;  // sax_parse stops here: nothing deeper is read or built
    }
    ++depth_;
    return true;
  }

  std::size_t depth_max_;
  std::size_t depth_ = 0;
  bool too_deep_ = false;
  std::string syntax_{};
};

}  // namespace

json_result parse_json(std::string_view text, std::size_t depth_max) {
  json out;
  depth_limited_builder builder{out, depth_max};
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &builder, json::input_format_t::json,
                         /*strict=*/true);
  } catch (const json::exception& e) {  // the builder's own refusals (none expected without exceptions)
    return json_error{json_errc::invalid, std::string{"not valid JSON: "} + e.what()};
  }
  if (builder.too_deep()) {
    return json_error{json_errc::too_deep, "JSON nested deeper than " + std::to_string(depth_max) + " levels"};
  }
  if (!ok || builder.is_errored()) {
    return json_error{json_errc::invalid,
                      builder.syntax().empty() ? std::string{"not valid JSON"} : "not valid JSON: " + builder.syntax()};
  }
  return out;
}

nlohmann::json parse_stored_json(std::string_view text, std::size_t depth_max) {
  auto parsed = parse_json(text, depth_max);
  if (!parsed.ok()) throw std::runtime_error{parsed.error().message};
  return std::move(parsed).value();
}

std::size_t json_depth(const nlohmann::json& value) {
  std::size_t deepest = 0;
  std::vector<std::pair<const json*, std::size_t>> pending{{&value, 0}};
  while (!pending.empty()) {
    auto [v, depth] = pending.back();
    pending.pop_back();
    if (!v->is_structured()) {
      deepest = std::max(deepest, depth);
      continue;
    }
    deepest = std::max(deepest, depth + 1);
    for (const auto& child : *v) pending.emplace_back(&child, depth + 1);
  }
  return deepest;
}

}  // namespace respawn::jobs

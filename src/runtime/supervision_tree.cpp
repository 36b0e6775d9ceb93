// supervision_tree: the supervision tree as data and as JSON, for operators (respawn tree, the
// dashboard) and tests. Built from which_children calls, so it shows what each supervisor itself
// believes, restart counts and last exit reasons included.
#include <nlohmann/json.hpp>

#include "respawn/runtime.hpp"
#include "respawn/supervisor.hpp"

namespace respawn {

namespace {
void fill(runtime& rt, supervision_node& node, std::chrono::milliseconds timeout, int depth) {
  if (depth > 64) return;  // a cycle would be a bug elsewhere; do not recurse forever
  auto children = rt.call<std::vector<child_info>>(node.pid, which_children{}, timeout);
  if (!children.ok()) return;
  for (const child_info& c : children.value()) {
    supervision_node child{c.id, c.pid, c.name, c.type, c.restart, c.restarts, c.last_exit_reason, {}};
    if (c.type == child_type::supervisor && c.pid) fill(rt, child, timeout, depth + 1);
    node.children.push_back(std::move(child));
  }
}

nlohmann::json as_json(const supervision_node& n) {
  nlohmann::json j = {{"id", n.id},
                      {"pid", n.pid ? n.pid.to_string() : std::string{}},
                      {"name", n.name},
                      {"type", to_string(n.type)},
                      {"restart", to_string(n.restart)},
                      {"restarts", n.restarts},
                      {"last_exit_reason", n.last_exit_reason},
                      {"children", nlohmann::json::array()}};
  for (const auto& c : n.children) j["children"].push_back(as_json(c));
  return j;
}
}  // namespace

supervision_node supervision_tree(runtime& rt, pid root, std::chrono::milliseconds timeout) {
  supervision_node node;
  node.pid = root;
  if (auto info = rt.info(root)) node.name = info->name;
  fill(rt, node, timeout, 0);
  return node;
}

std::string to_json(const supervision_node& node) { return as_json(node).dump(); }

}  // namespace respawn

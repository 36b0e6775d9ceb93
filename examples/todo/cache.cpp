// cache: see the header.
#include "cache.hpp"

#include <stdexcept>

#include "server.hpp"

namespace todo {

void cache::handle(respawn::message& m) {
  if (auto* request = m.get_if<server_process_request>()) {
    if (request->list_name.empty()) throw std::invalid_argument{"todo::cache: a to-do list needs a name"};
    auto it = servers_.find(request->list_name);
    if (it == servers_.end()) {
      // No need to watch for the server's exit: it is linked, so if it ends abnormally we end
      // too, and it never ends normally on its own.
      respawn::pid started = spawn_link<server>(request->list_name);
      it = servers_.emplace(request->list_name, started).first;
    }
    reply(m, it->second);
  }
}

respawn::child_spec cache_child_spec() {
  respawn::child_spec spec;
  spec.id = "cache";
  spec.start = respawn::child_spec::make<cache>();
  spec.restart = respawn::restart_type::permanent;
  spec.name = cache_name;
  return spec;
}

respawn::result<respawn::pid> server_process(respawn::runtime& rt, const std::string& list_name,
                                             std::chrono::milliseconds timeout) {
  return rt.call<respawn::pid>(rt.whereis(cache_name), server_process_request{list_name}, timeout);
}

}  // namespace todo

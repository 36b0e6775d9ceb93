// system: see the header.
#include "system.hpp"

#include "cache.hpp"
#include "database.hpp"

namespace todo {

respawn::supervisor_spec system_spec(const std::filesystem::path& folder, std::size_t pool_size) {
  respawn::supervisor_spec spec;
  spec.flags.strategy = respawn::strategy::one_for_one;
  spec.flags.intensity = 3;
  spec.flags.period = std::chrono::seconds{5};
  // Start order is shutdown order reversed: the cache (and its servers) stop before the database.
  spec.children.push_back(database_child_spec(folder, pool_size));
  spec.children.push_back(cache_child_spec());
  return spec;
}

respawn::pid start_system(respawn::runtime& rt, const std::filesystem::path& folder, std::size_t pool_size) {
  respawn::spawn_options options;
  options.name = system_name;
  // OTP's start_link: returns once the database and the cache have both started.
  return respawn::start_supervisor(rt, system_spec(folder, pool_size), options);
}

}  // namespace todo

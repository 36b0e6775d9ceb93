// kinds.cpp: the kind registry (name -> handler) and the build identity a worker reports in its
// hello. The registry is built once before any worker thread starts and only read afterwards, so
// it needs no lock.
#include "respawn/kinds.hpp"

#include <stdexcept>
#include <utility>

namespace respawn {

kind_registry& kind_registry::add(std::string name, kind_handler handler) {
  // Rejected here, at start: an empty handler would only fail later, inside a worker, far from
  // the mistake.
  if (!handler) throw std::invalid_argument{"kind_registry::add: the kind \"" + name + "\" has an empty handler"};
  sessions_.erase(name);
  kinds_.insert_or_assign(std::move(name), std::move(handler));
  return *this;
}

kind_registry& kind_registry::add_session(std::string name, kind_handler handler) {
  add(name, std::move(handler));
  sessions_.insert(std::move(name));
  return *this;
}

bool kind_registry::is_session(const std::string& name) const { return sessions_.count(name) != 0; }

const kind_handler* kind_registry::find(const std::string& name) const {
  auto it = kinds_.find(name);
  return it == kinds_.end() ? nullptr : &it->second;
}

std::vector<std::string> kind_registry::names() const {
  std::vector<std::string> out;
  out.reserve(kinds_.size());
  for (const auto& [name, handler] : kinds_) out.push_back(name);
  return out;
}

std::string build_id() {
  // Compile time of this file stands for the build: the node compares a reloaded worker's build
  // with the old one on hot code upgrade, and a tag set by the build tells two builds apart even
  // when they were compiled in the same second.
  std::string id = "respawn " __DATE__ " " __TIME__;
#ifdef RESPAWN_BUILD_TAG
  id += " ";
  id += RESPAWN_BUILD_TAG;
#endif
  return id;
}

}  // namespace respawn

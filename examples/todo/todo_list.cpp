// todo_list: see the header.
#include "todo_list.hpp"

namespace todo {

std::vector<entry> todo_list::entries(const std::string& date) const {
  std::vector<entry> out;
  for (const entry& e : entries_) {
    if (e.date == date) out.push_back(e);
  }
  return out;
}

}  // namespace todo

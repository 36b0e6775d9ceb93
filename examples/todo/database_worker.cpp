// database_worker: see the header.
#include "database_worker.hpp"

#include "database.hpp"
#include "list_file.hpp"

namespace todo {

void database_worker::handle(respawn::message& m) {
  if (auto* store = m.get_if<database_store>()) {
    write_list_file(list_file_path(folder_, store->list_name), store->list);
  } else if (auto* get = m.get_if<database_get>()) {
    todo_list list = read_list_file(list_file_path(folder_, get->list_name));
    // The asker may be gone by now (its cache was killed): the answer is then dropped, which is
    // what we want, so the send_result is not checked.
    send(get->reply_to, database_loaded{get->list_name, std::move(list)});
  }
}

}  // namespace todo

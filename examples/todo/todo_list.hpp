// todo_list: the state a to-do server holds, as plain data with no processes in it (the book's
// Todo.List). Kept apart from the server so that the process code is only about messages, and so
// that the database workers can write and read the same value without knowing about servers.
#pragma once

#include <string>
#include <vector>

namespace todo {

// One thing to do on one day. Dates are ISO strings ("2024-05-01"): they sort and compare as text.
struct entry {
  std::string date;
  std::string title;
  friend bool operator==(const entry&, const entry&) = default;
};

class todo_list {
 public:
  todo_list() = default;
  explicit todo_list(std::vector<entry> entries) : entries_{std::move(entries)} {}

  void add_entry(entry e) { entries_.push_back(std::move(e)); }
  // The entries for `date`, in the order they were added.
  std::vector<entry> entries(const std::string& date) const;
  const std::vector<entry>& all() const noexcept { return entries_; }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  std::vector<entry> entries_;
};

}  // namespace todo

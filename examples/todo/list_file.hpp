// list_file: how one to-do list is kept on disk, one file per list under the data directory.
// Only database workers call these (they are the only code that does I/O), and each list is
// always handled by the same worker, so two writers never race on one file.
//
// The format is text a person can read and edit:
//
//   # respawn todo list v1
//   2024-05-01<TAB>Dentist
//
// one entry a line; a backslash, tab or newline inside a field is written as \\, \t or \n.
#pragma once

#include <filesystem>
#include <string>

#include "todo_list.hpp"

namespace todo {

// The file that holds list `list_name` under `folder`. Names are percent-encoded (only letters,
// digits, '-' and '_' are kept) so that "../x" or "a/b" cannot escape the folder.
std::filesystem::path list_file_path(const std::filesystem::path& folder, const std::string& list_name);

// Writes the whole list. It goes to a temporary file that is then renamed over the old one, so a
// crash mid-write leaves the previous version, never half a file. Throws std::runtime_error.
void write_list_file(const std::filesystem::path& file, const todo_list& list);

// Reads a list back; a missing file is an empty list (a list nobody has written to yet).
// Throws std::runtime_error on a file that is not in the format above.
todo_list read_list_file(const std::filesystem::path& file);

}  // namespace todo

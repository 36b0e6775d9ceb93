// list_file: see the header.
#include "list_file.hpp"

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace todo {

namespace {

constexpr const char* header_line = "# respawn todo list v1";

std::string escape(const std::string& field) {
  std::string out;
  for (char c : field) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string unescape(const std::string& field, const std::filesystem::path& file) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] != '\\') {
      out += field[i];
      continue;
    }
    if (++i == field.size()) throw std::runtime_error{file.string() + ": a line ends in a lone backslash"};
    switch (field[i]) {
      case '\\': out += '\\'; break;
      case 't': out += '\t'; break;
      case 'n': out += '\n'; break;
      default: throw std::runtime_error{file.string() + ": unknown escape \\" + std::string(1, field[i])};
    }
  }
  return out;
}

}  // namespace

std::filesystem::path list_file_path(const std::filesystem::path& folder, const std::string& list_name) {
  std::string encoded;
  for (unsigned char c : list_name) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (plain) {
      encoded += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      encoded += hex;
    }
  }
  return folder / (encoded + ".todo");
}

void write_list_file(const std::filesystem::path& file, const todo_list& list) {
  std::filesystem::path temporary = file;
  temporary += ".tmp";
  {
    std::ofstream out{temporary, std::ios::trunc};
    if (!out) throw std::runtime_error{"cannot write " + temporary.string()};
    out << header_line << '\n';
    for (const entry& e : list.all()) out << escape(e.date) << '\t' << escape(e.title) << '\n';
    out.flush();
    if (!out) throw std::runtime_error{"cannot write " + temporary.string()};
  }
  std::filesystem::rename(temporary, file);  // atomic on POSIX: readers see old or new, whole
}

todo_list read_list_file(const std::filesystem::path& file) {
  std::ifstream in{file};
  if (!in) {
    if (!std::filesystem::exists(file)) return todo_list{};
    throw std::runtime_error{"cannot read " + file.string()};
  }
  std::string line;
  if (!std::getline(in, line) || line != header_line) {
    throw std::runtime_error{file.string() + ": not a to-do list file (no '" + header_line + "' line)"};
  }
  todo_list list;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto tab = line.find('\t');
    if (tab == std::string::npos) throw std::runtime_error{file.string() + ": a line without a tab: " + line};
    list.add_entry(entry{unescape(line.substr(0, tab), file), unescape(line.substr(tab + 1), file)});
  }
  return list;
}

}  // namespace todo

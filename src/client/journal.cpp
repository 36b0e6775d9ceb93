// journal: see journal.hpp.
#include "journal.hpp"
#include "respawn/jobs/json_limits.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

namespace respawn::client {
namespace {

using json = nlohmann::json;
using entry_list = std::vector<journal_entry>;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// An exclusive flock on PATH.lock for the life of the object.
class file_lock {
 public:
  explicit file_lock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      error_ = errno_text("cannot open " + path);
      return;
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        error_ = errno_text("cannot lock " + path);
        return;
      }
    }
  }
  ~file_lock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_{};
};

json to_json(const journal_entry& e) {
  return {{"key", e.key},
          {"fingerprint", e.fingerprint},
          {"job_id", e.job_id ? json(*e.job_id) : json(nullptr)},
          {"owner_pid", e.owner.pid},
          {"owner_start_time", e.owner.start_time},
          {"created_at_ms", e.created_at_ms}};
}

std::variant<entry_list, journal_error> read_entries(const std::string& path) {
  std::ifstream in(path);
  if (!in) return entry_list{};  // no journal yet
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  json doc = json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("entries") || !doc["entries"].is_array()) {
    return journal_error{"the journal " + path + " is not readable JSON; move it away to start afresh"};
  }
  entry_list out;
  try {
    for (const auto& j : doc["entries"]) {
      journal_entry e;
      e.key = j.at("key").get<std::string>();
      e.fingerprint = j.at("fingerprint").get<std::string>();
      if (!j.at("job_id").is_null()) e.job_id = jobs::integer_value<std::int64_t>(j.at("job_id"));
      e.owner.pid = jobs::integer_value<std::int64_t>(j.at("owner_pid"));
      e.owner.start_time = jobs::integer_value<std::uint64_t>(j.at("owner_start_time"));
      e.created_at_ms = jobs::integer_value<std::int64_t>(j.at("created_at_ms"));
      out.push_back(std::move(e));
    }
  } catch (const json::exception& ex) {
    return journal_error{"the journal " + path + " has a malformed entry (" + ex.what() + ")"};
  }
  return out;
}

std::optional<journal_error> write_entries(const std::string& path, const entry_list& entries) {
  json doc = {{"version", 1}, {"entries", json::array()}};
  const std::int64_t oldest = now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(
                                             journal::abandoned_after).count();
  for (const auto& e : entries) {
    if (e.created_at_ms >= oldest) doc["entries"].push_back(to_json(e));
  }
  const std::string text = doc.dump(1) + "\n";
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return journal_error{errno_text("cannot write " + temporary)};
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  const std::string problem = ok ? "" : errno_text("cannot write " + temporary);
  ::close(fd);
  if (!ok) return journal_error{problem};
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return journal_error{errno_text("cannot rename " + temporary)};
  }
  // The rename itself is durable only once the directory is synced.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return std::nullopt;
}

// Reads, changes and writes the journal under its lock.
template <class Change>
std::optional<journal_error> update(const std::string& path, Change change) {
  std::error_code ec;
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) return journal_error{"cannot create " + dir.string() + ": " + ec.message()};
  file_lock lock(path + ".lock");
  if (!lock.error().empty()) return journal_error{lock.error()};
  auto read = read_entries(path);
  if (auto* e = std::get_if<journal_error>(&read)) return *e;
  auto& entries = std::get<entry_list>(read);
  change(entries);
  return write_entries(path, entries);
}

// Field 22 of /proc/PID/stat, the process's start time; nullopt if there is no such process.
// The fields after the command name, which is in parentheses and may hold spaces, are 3 onwards.
std::optional<std::uint64_t> start_time_of(const std::string& stat_path) {
  std::ifstream in(stat_path);
  if (!in) return std::nullopt;
  std::string stat{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 > stat.size()) return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  for (int i = 3; fields >> field; ++i) {
    if (i == 22) return std::stoull(field);
  }
  return std::nullopt;
}

}  // namespace

journal_owner current_owner() {
  return {::getpid(), start_time_of("/proc/self/stat").value_or(0)};
}

bool owner_alive(const journal_owner& owner) {
  if (owner.pid <= 0) return false;
  auto start = start_time_of("/proc/" + std::to_string(owner.pid) + "/stat");
  return start && *start == owner.start_time;
}

journal::journal(std::string path, journal_owner self, std::function<bool(const journal_owner&)> alive)
    : path_(std::move(path)), self_(self), alive_(std::move(alive)) {}

std::variant<journal::claim, journal_error> journal::begin(const std::string& fingerprint,
                                                           const std::string& new_key) {
  claim result;
  auto problem = update(path_, [&](entry_list& entries) {
    for (auto& e : entries) {
      if (e.fingerprint == fingerprint && e.owner != self_ && !alive_(e.owner)) {
        e.owner = self_;
        result = {e, true};
        return;
      }
    }
    entries.push_back({new_key, fingerprint, std::nullopt, self_, now_ms()});
    result = {entries.back(), false};
  });
  if (problem) return *problem;
  return result;
}

std::optional<journal_error> journal::record_job(const std::string& key, std::int64_t job_id) {
  return update(path_, [&](entry_list& entries) {
    for (auto& e : entries) {
      if (e.key == key) e.job_id = job_id;
    }
  });
}

std::optional<journal_error> journal::finish(const std::string& key) {
  return update(path_, [&](entry_list& entries) {
    std::erase_if(entries, [&](const journal_entry& e) { return e.key == key; });
  });
}

std::variant<std::vector<journal_entry>, journal_error> journal::entries() const {
  return read_entries(path_);
}

}  // namespace respawn::client

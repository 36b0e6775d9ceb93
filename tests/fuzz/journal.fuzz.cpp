// Fuzz target: the client's submit journal (src/client/journal.*), a JSON file the client reads at
// every submit. A file damaged by a full disk, a crash of an older build or a hand edit must give
// a journal_error (the client says "move it away") or be read, never crash the client. The fuzzed
// bytes are the file; the target then runs what a submit does with it: entries, begin (which may
// resume an entry), record_job, finish.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <variant>

#include "journal.hpp"

namespace {

namespace fs = std::filesystem;

const std::string& journal_path() {
  static const std::string* path = [] {
    const char* base = fs::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string dir = std::string(base) + "/respawn-fuzz-journal-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) std::abort();
    static const std::string* removed_at_exit = new std::string(dir);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(*removed_at_exit, ec);
    });
    return new std::string(dir + "/journal.json");
  }();
  return *path;
}

void write_file(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) std::abort();
  ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& path = journal_path();
  write_file(path, std::string_view(reinterpret_cast<const char*>(data), size));
  // Every recorded owner has ended, so begin() may resume any entry with the fingerprint.
  respawn::client::journal j(path, respawn::client::journal_owner{1, 1}, [](const auto&) { return false; });

  auto before = j.entries();
  auto claimed = j.begin("fp", "key-new");
  if (std::holds_alternative<respawn::client::journal_error>(before) !=
      std::holds_alternative<respawn::client::journal_error>(claimed)) {
    std::abort();  // begin must read the file as entries() does
  }
  if (auto* c = std::get_if<respawn::client::journal::claim>(&claimed)) {
    if (c->entry.fingerprint != "fp") std::abort();
    if (auto e = j.record_job(c->entry.key, 7)) std::abort();  // the file is its own now
    if (auto e = j.finish(c->entry.key)) std::abort();
    auto after = j.entries();
    auto* list = std::get_if<std::vector<respawn::client::journal_entry>>(&after);
    if (list == nullptr) std::abort();  // what it wrote, it must read
    for (const auto& e : *list) {
      if (e.key == c->entry.key) std::abort();  // finished entries are gone
    }
  }
  return 0;
}

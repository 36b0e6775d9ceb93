// A directory of its own for each test, removed afterwards, so that database files of parallel or
// repeated runs never meet.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <unistd.h>

namespace respawn::store::testing {

// A directory in memory (/dev/shm) where there is one, else the usual temporary directory: for
// tests that create hundreds of database files and test logic, not the disk.
inline std::string memory_backed_base() {
  std::error_code ignored;
  return std::filesystem::is_directory("/dev/shm", ignored) && access("/dev/shm", W_OK) == 0
             ? "/dev/shm"
             : "";
}

class temp_dir {
 public:
  // Under `base` if given, else $TMPDIR, else /tmp.
  explicit temp_dir(std::string base = {}) {
    if (base.empty()) {
      const char* tmpdir = std::getenv("TMPDIR");
      base = tmpdir != nullptr ? tmpdir : "/tmp";
    }
    std::string pattern = base + "/respawn-store-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_{};
};

}  // namespace respawn::store::testing
